//! `cargo xtask build`: builds every connector as a wasm32-wasip2 component
//! and copies the results into `target/connectors/`.
//!
//! Connectors are the component crates (`crate-type` with `cdylib`) in
//! [`CONNECTOR_DIRS`]: the product's connectors in `connectors/` and the
//! deliberately broken test fixtures in `tests/connectors/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, Result};

pub const WASM_TARGET: &str = "wasm32-wasip2";
/// The workspace profile for connectors (see the root `Cargo.toml`).
const CONNECTOR_PROFILE: &str = "connector";

/// Folders (relative to the workspace root) whose `*/Cargo.toml` component
/// crates are connectors. A missing folder is skipped.
pub const CONNECTOR_DIRS: [&str; 2] = ["connectors", "tests/connectors"];

/// A connector crate under one of [`CONNECTOR_DIRS`].
#[derive(Debug, PartialEq, Eq)]
pub struct Connector {
    /// Package name, for `cargo -p`.
    pub package: String,
    /// Library name: the file stem of the built `.wasm`.
    pub artifact: String,
}

/// Builds all connectors and copies them to the connector directory.
/// Returns the paths of the copied components.
pub fn build(debug: bool) -> Result<Vec<PathBuf>> {
    ensure_wasm_target()?;
    let connectors = discover(&cmd::workspace_root())?;
    cargo_build(&connectors, debug)?;
    let profile_dir = if debug { "debug" } else { CONNECTOR_PROFILE };
    let built = cmd::target_dir().join(WASM_TARGET).join(profile_dir);
    install(&connectors, &built, &cmd::connector_dir())
}

/// Finds the connector crates: every `<dir>/*/Cargo.toml` with a `cdylib`
/// target, for each of [`CONNECTOR_DIRS`], sorted by package name.
pub fn discover(root: &Path) -> Result<Vec<Connector>> {
    let mut connectors = Vec::new();
    for dir in CONNECTOR_DIRS.map(|d| root.join(d)) {
        if dir.is_dir() {
            connectors.extend(discover_in(&dir)?);
        }
    }
    if connectors.is_empty() {
        return Err(format!(
            "no connector crates found in {} under {}",
            CONNECTOR_DIRS.join(" or "),
            root.display()
        ));
    }
    connectors.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(connectors)
}

/// The component crates directly under `dir`.
fn discover_in(dir: &Path) -> Result<Vec<Connector>> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut connectors = Vec::new();
    for entry in entries {
        let manifest = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path()
            .join("Cargo.toml");
        // Only component crates (cdylib) are connectors; shared libraries
        // such as connectors/testdata are built as their dependencies.
        if manifest.is_file() && fs::read_to_string(&manifest).is_ok_and(|t| t.contains("cdylib")) {
            connectors.push(read_manifest(&manifest)?);
        }
    }
    Ok(connectors)
}

fn read_manifest(path: &Path) -> Result<Connector> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_manifest(&text).ok_or_else(|| {
        format!(
            "{} has no `name = \"...\"` in its [package] section",
            path.display()
        )
    })
}

/// Reads the package name (and `[lib] name`, if any) from a Cargo.toml.
pub fn parse_manifest(text: &str) -> Option<Connector> {
    let mut section = "";
    let mut package = None;
    let mut lib = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some(("name", value)) = key_value(line) else {
            continue;
        };
        match section {
            "[package]" => package = Some(value.to_owned()),
            "[lib]" => lib = Some(value.to_owned()),
            _ => {}
        }
    }
    let package: String = package?;
    let artifact = lib.unwrap_or_else(|| package.replace('-', "_"));
    Some(Connector { package, artifact })
}

/// Splits `key = "value"` (quotes and trailing comment removed).
fn key_value(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let value = value.trim();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = value[1..].split(quote).next()?;
    Some((key.trim(), value))
}

/// Makes sure the wasm32-wasip2 standard library is installed.
fn ensure_wasm_target() -> Result<()> {
    let mut list = Command::new("rustup");
    list.args(["target", "list", "--installed"]);
    let output = match list.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return check_sysroot(),
        Err(e) => return Err(cmd::spawn_error(&list, &e)),
    };
    if !output.status.success() {
        return Err(format!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let installed = String::from_utf8_lossy(&output.stdout);
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    println!("Rust target {WASM_TARGET} is not installed; adding it (one-time download).");
    cmd::run_checked(
        Command::new("rustup").args(["target", "add", WASM_TARGET]),
        &format!("installing the {WASM_TARGET} target"),
    )
}

/// Without rustup, the target must already be in the toolchain's sysroot.
fn check_sysroot() -> Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("neither `rustup` nor `rustc` could be run: {e}"))?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET);
    if lib.is_dir() {
        return Ok(());
    }
    Err(format!(
        "`rustup` was not found and the {WASM_TARGET} standard library is missing \
         (no {}).\nInstall rustup (https://rustup.rs) and run `rustup target add {WASM_TARGET}`, \
         or install the {WASM_TARGET} target for your toolchain another way.",
        lib.display()
    ))
}

/// One cargo invocation per connector: building them together would unify
/// the SDK's role features (`source`, `destination`, …), and each component
/// must implement exactly one world.
fn cargo_build(connectors: &[Connector], debug: bool) -> Result<()> {
    for connector in connectors {
        let mut build = cmd::cargo();
        build.args(["build", "--target", WASM_TARGET]);
        if !debug {
            build.args(["--profile", CONNECTOR_PROFILE]);
        }
        build.args(["-p", &connector.package]);
        cmd::run_checked(&mut build, &format!("building connector {}", connector.package))?;
    }
    Ok(())
}

/// Copies each built component into `dest` and prints its path and size.
fn install(connectors: &[Connector], built: &Path, dest: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let mut installed = Vec::new();
    for connector in connectors {
        let file = format!("{}.wasm", connector.artifact);
        let from = built.join(&file);
        if !from.is_file() {
            return Err(format!(
                "cargo reported success but {} is missing; does {} have \
                 `crate-type = [\"cdylib\"]` in its [lib] section?",
                from.display(),
                connector.package
            ));
        }
        let to = dest.join(&file);
        let size = fs::copy(&from, &to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        println!("  {}  ({})", to.display(), format_size(size));
        installed.push(to);
    }
    Ok(installed)
}

/// `1536` -> `1.5 KiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(package: &str, artifact: &str) -> Connector {
        Connector {
            package: package.into(),
            artifact: artifact.into(),
        }
    }

    #[test]
    fn reads_package_name() {
        let toml = r#"
[package]
name = "source-generator"   # the crate
version.workspace = true

[dependencies]
foo = { version = "1", package = "bar" }
"#;
        assert_eq!(
            parse_manifest(toml),
            Some(connector("source-generator", "source_generator"))
        );
    }

    #[test]
    fn lib_name_overrides_artifact() {
        let toml =
            "[lib]\nname = 'gen'\ncrate-type = [\"cdylib\"]\n[package]\nname = \"source-gen\"\n";
        assert_eq!(parse_manifest(toml), Some(connector("source-gen", "gen")));
    }

    #[test]
    fn ignores_names_outside_package() {
        let toml = "[[bin]]\nname = \"tool\"\n[package.metadata]\nname = \"x\"\n";
        assert_eq!(parse_manifest(toml), None);
    }

    #[test]
    fn discovers_workspace_connectors() {
        let found = discover(&cmd::workspace_root()).expect("connectors/ exists");
        assert!(found.iter().any(|c| c.package == "source-generator"));
        // tests/connectors: the deliberately broken fixtures, named by `[lib] name`.
        assert!(found.contains(&connector("broken-source", "source_broken")));
        assert!(found.contains(&connector("broken-dest", "dest_broken")));
        assert!(found.windows(2).all(|w| w[0].package < w[1].package));
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
