//! Embeds the first-party connector components (PostgreSQL source and
//! destination) in the binary, so an installed or copied `rapidbyte` runs
//! them with no checkout beside it (ARCHITECTURE.md, connector lookup).
//!
//! They are built here for wasm32-wasip2 by a nested cargo in the
//! workspace's own target directory and connector profile, exactly as
//! `cargo xtask build` builds them (a no-op when that ran), then copied
//! into OUT_DIR. Without the wasm32-wasip2 target the binary is built with
//! no embedded components and says so (`rapidbyte connectors`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, component file) of each embedded connector.
const EMBEDDED: [(&str, &str); 2] = [("source-postgres", "source_postgres.wasm"), ("dest-postgres", "dest_postgres.wasm")];
/// Sources the components are built from: a change rebuilds them.
const INPUTS: [&str; 7] =
    ["connectors/source-postgres", "connectors/dest-postgres", "connectors/pgconnect", "connectors/pgcopy", "connectors/pgquote", "guest-sdk", "wit"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("host/ sits in the workspace").to_path_buf();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-env-changed=RAPIDBYTE_EMBED");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());

    // RAPIDBYTE_EMBED=0 skips the nested build (a quick host-only build).
    let skip = std::env::var("RAPIDBYTE_EMBED").is_ok_and(|v| v == "0");
    let built = if skip { Err("RAPIDBYTE_EMBED=0".to_string()) } else { build(&workspace) };
    let mut entries = String::new();
    match built {
        Ok(dir) => {
            for (_, file) in EMBEDDED {
                let to = out.join(file);
                std::fs::copy(dir.join(file), &to).unwrap_or_else(|e| panic!("cannot copy {file} into OUT_DIR: {e}"));
                entries.push_str(&format!("    ({file:?}, include_bytes!({:?})),\n", to.display().to_string()));
            }
        }
        Err(why) => println!("cargo:warning=rapidbyte is built without its PostgreSQL components ({why}); install the wasm32-wasip2 target (`rustup target add wasm32-wasip2`) and rebuild"),
    }
    std::fs::write(out.join("embedded.rs"), format!("/// The embedded components: (file name, bytes).\npub static EMBEDDED: &[(&str, &[u8])] = &[\n{entries}];\n"))
        .expect("write embedded.rs");
}

/// Builds the components; the folder holding them.
fn build(workspace: &Path) -> Result<PathBuf, String> {
    // The same target directory as the outer build's when one is set, so
    // `cargo xtask build` and this share the compiled components.
    let target = std::env::var_os("RAPIDBYTE_EMBED_TARGET_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map(|t| workspace.join(t))
        .unwrap_or_else(|| workspace.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace).args(["build", "--quiet", "--target", "wasm32-wasip2", "--profile", "connector", "--target-dir"]).arg(&target);
    for (package, _) in EMBEDDED {
        cmd.args(["-p", package]);
    }
    // The outer build's settings are not the guests': their flags come from
    // .cargo/config.toml ([target.wasm32-wasip2]).
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTC_WORKSPACE_WRAPPER", "CARGO_PRIMARY_PACKAGE"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the components for wasm32-wasip2 failed ({status})"));
    }
    Ok(target.join("wasm32-wasip2").join("connector"))
}
