//! The contract's versioning rules: released WIT folders are frozen, and a
//! component of an unknown contract version is refused naming both versions.

use std::path::Path;

use rapidbyte::contract::component::LoadError;
use rapidbyte_tests::{runtime, workspace};
use sha2::{Digest, Sha256};

/// Hashes of released WIT folders. A released contract never changes: make
/// a new folder (wit/v0.2) for a breaking change. Update a hash only for a
/// folder that has not been released yet, and say so in the commit.
const RELEASED: &[(&str, &str)] = &[
    ("wit/v0.1", "b54f938f4c67fb3a4e75dfc6796938c59226f80d1bf3b436f087a470f27a7f2c"),
    ("wit/v0.2", "1db403562ecf0a04af1687b632ceaf94ebf40f1e384ca7ff57ef719e47f29a56"),
];

fn folder_hash(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.file_name().unwrap().to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(&f).unwrap());
        h.update([0]);
    }
    format!("{:x}", h.finalize())
}

/// Every `wit/v*` folder.
fn wit_folders() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(workspace().join("wit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with('v'))
        .collect();
    dirs.sort();
    dirs
}

/// The host loads every contract version it ever shipped: each `wit/v*`
/// folder is pinned, declares the package version its name says, and is one
/// of the host's supported contracts — and the newest is the SDK's.
#[test]
fn every_wit_folder_is_pinned_and_loaded() {
    let folders = wit_folders();
    assert!(folders.len() >= 2, "{folders:?}");
    for dir in &folders {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        assert!(RELEASED.iter().any(|(f, _)| *f == format!("wit/{name}")), "wit/{name} has no pinned hash in RELEASED");
        let text: String = std::fs::read_dir(dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
        let version = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("package rapidbyte:connector@"))
            .and_then(|v| v.strip_suffix(';'))
            .unwrap_or_else(|| panic!("wit/{name} declares no rapidbyte:connector package"));
        assert_eq!(rapidbyte_protocol::wit_folder(version), name, "wit/{name} declares {version}");
        assert!(rapidbyte::Contract::parse(version).is_some(), "the host does not load contract {version} (wit/{name})");
    }
    let newest = rapidbyte::SUPPORTED_CONTRACTS.iter().max().unwrap();
    assert_eq!(newest.version(), rapidbyte_protocol::CONTRACT_VERSION, "the SDK builds the newest contract");
    assert_eq!(rapidbyte::SUPPORTED_CONTRACTS.len(), folders.len(), "one supported contract per WIT folder");
}

#[test]
fn released_wit_folders_are_unchanged() {
    for (folder, expected) in RELEASED {
        let actual = folder_hash(&workspace().join(folder));
        assert_eq!(
            &actual, expected,
            "{folder} changed. A released contract is frozen: revert the edit and put the change in a new version folder"
        );
    }
}

#[test]
fn every_wit_item_has_docs_and_since() {
    for path in wit_folders().iter().flat_map(|d| std::fs::read_dir(d).unwrap()).map(|e| e.unwrap().path()) {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let item = ["interface ", "world ", "record ", "enum ", "variant ", "flags ", "resource ", "type "]
                .iter()
                .any(|k| line.starts_with(k))
                || line.split_once(':').is_some_and(|(name, rest)| !name.contains(' ') && rest.trim_start().starts_with("func("));
            if item {
                assert!(lines[i - 1].starts_with("@since(version = "), "{}:{}: `{line}` lacks @since", path.display(), i + 1);
                assert!(lines[i - 2].starts_with("///"), "{}:{}: `{line}` lacks a doc comment", path.display(), i + 1);
            }
        }
    }
}

/// A component exporting `rapidbyte:connector/source-connector@0.9.0`.
fn future_component() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (@custom "rapidbyte:manifest" "rapidbyte-manifest=1\nname=from-the-future\nversion=9.0.0\nrole=source\ncontract=0.9.0\n")
            (instance $i)
            (export "rapidbyte:connector/source-connector@0.9.0" (instance $i)))"#,
    )
    .expect("valid WAT")
}

#[test]
fn unknown_contract_version_is_refused_naming_both_versions() {
    let rt = runtime();
    let err = rt.load_bytes(Path::new("future.wasm"), &future_component()).unwrap_err();
    assert!(matches!(err, LoadError::UnsupportedContract { .. }), "{err}");
    let msg = err.to_string();
    for v in ["0.9.0", "0.2.0", "0.1.0"] {
        assert!(msg.contains(&format!("rapidbyte:connector@{v}")), "{msg}");
    }
}

#[test]
fn a_core_module_or_foreign_component_is_not_a_connector() {
    let rt = runtime();
    let core = wat::parse_str("(module)").unwrap();
    assert!(matches!(rt.load_bytes(Path::new("core.wasm"), &core).unwrap_err(), LoadError::Invalid { .. }));
    let foreign = wat::parse_str(r#"(component (instance $i) (export "wasi:cli/run@0.2.0" (instance $i)))"#).unwrap();
    assert!(matches!(rt.load_bytes(Path::new("foreign.wasm"), &foreign).unwrap_err(), LoadError::NotAConnector { .. }));
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Generated types never leave the bindings modules (ARCHITECTURE.md).
#[test]
fn generated_types_stay_in_bindings() {
    let root = workspace();
    let rules: &[(&str, &str, &[&str])] = &[
        ("host/src", "host/src/contract/bindings", &["bindgen!", "generated::", "wit::", "wit_host"]),
        ("guest-sdk/src", "guest-sdk/src/__bindings", &["generate!", "wit::", "wit_host", "wit_bindgen"]),
        ("connectors", "<none>", &["wit_bindgen", "__bindings", "__export::"]),
    ];
    let mut checked = 0;
    for (dir, allowed, needles) in rules {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        for f in files.iter().filter(|f| !f.starts_with(root.join(allowed))) {
            checked += 1;
            let text = std::fs::read_to_string(f).unwrap();
            for needle in *needles {
                assert!(!text.contains(needle), "{} uses `{needle}`: generated bindings must stay in {allowed}", f.display());
            }
        }
    }
    assert!(checked > 20, "the scan found only {checked} files");
}
