//! Part of `cargo xtask test`: a freshly scaffolded source and destination
//! build as components and pass the protocol conformance cases, so the
//! author kit cannot rot unnoticed.

use std::process::Command;

use crate::cmd::{self, Result};
use crate::connectors::WASM_TARGET;

/// Scaffolds both kinds outside the repository (as an author would), builds
/// them sharing this repository's build cache, and certifies the protocol cases.
pub fn run() -> Result<()> {
    let base = std::env::temp_dir().join(format!("rapidbyte-scaffold-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let result = check(&base);
    let _ = std::fs::remove_dir_all(&base);
    result
}

fn check(base: &std::path::Path) -> Result<()> {
    let root = cmd::workspace_root();
    let rapidbyte = cmd::target_dir().join("debug").join("rapidbyte");
    if !rapidbyte.is_file() {
        cmd::run_checked(cmd::cargo().args(["build", "-p", "rapidbyte"]), "building the host")?;
    }
    for (kind, prefix) in [("source", "source"), ("destination", "dest")] {
        let dir = base.join(kind);
        let args = [kind.to_string(), "scaffold-check".to_string(), "--dir".to_string(), dir.display().to_string()];
        crate::scaffold::run(&args)?;
        let mut build = cmd::cargo();
        build
            .current_dir(&dir)
            .args(["build", "--target", WASM_TARGET, "--profile", "connector"])
            .env("CARGO_TARGET_DIR", cmd::target_dir());
        cmd::run_checked(&mut build, &format!("building the scaffolded {kind}"))?;
        let wasm = cmd::target_dir().join(WASM_TARGET).join("connector").join(format!("{prefix}_scaffold_check.wasm"));
        let mut certify = Command::new(&rapidbyte);
        certify
            .current_dir(&root)
            .arg("--connector-dir")
            .arg(cmd::connector_dir())
            .args(["-q", "conformance"])
            .arg(&wasm)
            .arg("--config")
            .arg(dir.join("conformance.yaml"))
            .args(["--only", "protocol"]);
        cmd::run_checked(&mut certify, &format!("the protocol cases on the scaffolded {kind}"))?;
    }
    println!("scaffold check: a new source and a new destination build and pass the protocol cases");
    Ok(())
}
