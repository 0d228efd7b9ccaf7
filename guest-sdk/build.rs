//! Generates the wit-bindgen invocations for the newest contract, so the
//! WIT folder and the world names come from `rapidbyte_protocol::CONTRACT_VERSION`
//! alone (`wit_bindgen::generate!` takes only literals). `src/__bindings`
//! includes the files written here.

use std::path::PathBuf;

use rapidbyte_protocol::{wit_folder, CONTRACT_VERSION as V};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let wit = manifest_dir.join("../wit").join(wit_folder(V));
    assert!(wit.is_dir(), "the contract {V} has no WIT folder at {}", wit.display());
    println!("cargo:rerun-if-changed={}", wit.display());
    let wit = wit.to_str().expect("a UTF-8 path").replace('\\', "/");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));

    let imports = format!(
        r#"wit_bindgen::generate!({{
    inline: "package rapidbyte:sdk-imports; world imports {{ import rapidbyte:connector/host@{V}; }}",
    path: "{wit}",
    world: "rapidbyte:sdk-imports/imports",
    generate_all,
}});
"#
    );
    std::fs::write(out.join("imports.rs"), imports).expect("write imports.rs");

    for role in ["source", "destination", "transform"] {
        let world = format!(
            r#"wit_bindgen::generate!({{
    world: "rapidbyte:connector/{role}@{V}",
    path: "{wit}",
    pub_export_macro: true,
    export_macro_name: "__export_{role}_world",
    default_bindings_module: "::rapidbyte_sdk::__bindings::{role}",
    with: {{
        "rapidbyte:connector/types@{V}": crate::__bindings::imports::rapidbyte::connector::types,
        "rapidbyte:connector/host@{V}": crate::__bindings::imports::rapidbyte::connector::host,
    }},
}});
"#
        );
        std::fs::write(out.join(format!("{role}.rs")), world).expect("write world bindings");
    }
}
