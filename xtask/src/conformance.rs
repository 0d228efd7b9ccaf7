//! `cargo xtask conformance [-- <args>]`: builds the connectors and the
//! host, then runs `rapidbyte conformance` once per subject file in
//! `fixtures/conformance/subjects/`.
//!
//! A subject file names its component with a top-level `component:` key
//! (a file in the connector directory); the rest of the file (`config`,
//! `stream`, `postgres`, `case_config`) is the harness's to read.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::cmd::{self, Result};
use crate::{connectors, pg, CONNECTOR_DIR_ENV};

/// Where the subject files live, relative to the workspace root.
pub const SUBJECTS_DIR: &str = "fixtures/conformance/subjects";

/// One subject file and the component it names.
#[derive(Debug, PartialEq, Eq)]
pub struct Subject {
    pub path: PathBuf,
    pub component: String,
    /// Whether it has a top-level `postgres:` key (the harness needs PostgreSQL).
    pub uses_postgres: bool,
}

/// The value of a top-level `key:` in a YAML file (quotes and a trailing
/// comment removed), without a YAML parser: xtask stays dependency-free.
pub fn top_level_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        let value = value.split(" #").next().unwrap_or_default().trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        Some(value)
    })
}

/// Reads every `*.yaml` / `*.yml` subject in `dir`, sorted by file name.
pub fn subjects(dir: &Path) -> Result<Vec<Subject>> {
    if !dir.is_dir() {
        return Err(format!(
            "no conformance subjects: {} does not exist.\n\
             Each subject is a YAML file there with `component: <file>.wasm` (a component in the \
             connector directory), `config`, `stream` and optionally `postgres` and `case_config`.",
            dir.display()
        ));
    }
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no conformance subjects: {} holds no *.yaml file", dir.display()));
    }
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let component = top_level_value(&text, "component")
                .filter(|c| !c.is_empty())
                .ok_or_else(|| format!("{} has no top-level `component: <file>.wasm` key", path.display()))?
                .to_owned();
            let uses_postgres = top_level_value(&text, "postgres").is_some();
            Ok(Subject { path, component, uses_postgres })
        })
        .collect()
}

/// `conformance [-- <args for rapidbyte conformance>]`
pub fn run(args: &[String]) -> Result<ExitCode> {
    let extra = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    let root = cmd::workspace_root();
    // Before the (long) build: is there anything to run?
    let subjects = subjects(&root.join(SUBJECTS_DIR))?;
    if subjects.iter().any(|s| s.uses_postgres)
        && let Err(e) = pg::ensure(true)
    {
        eprintln!("warning: {e}\n(subjects with `postgres:` will likely fail)");
    }
    connectors::build(false)?;
    cmd::run_checked(cmd::cargo().args(["build", "-p", "rapidbyte"]), "building the host")?;
    let binary = cmd::target_dir().join("debug").join("rapidbyte");
    let connector_dir = cmd::connector_dir();
    let mut results = Vec::new();
    for subject in &subjects {
        let name = subject.path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        println!("\n=== conformance: {name} ({})", subject.component);
        let wasm = connector_dir.join(&subject.component);
        let outcome = if wasm.is_file() {
            let mut check = Command::new(&binary);
            check
                // The harness finds its cases in fixtures/conformance from here.
                .current_dir(&root)
                .arg("conformance")
                .arg(&wasm)
                .arg("--config")
                .arg(&subject.path)
                .args(extra)
                .env(CONNECTOR_DIR_ENV, &connector_dir);
            let status = cmd::run(&mut check)?;
            if status.success() { Ok(()) } else { Err(format!("exit {}", status.code().map_or("by signal".into(), |c| c.to_string()))) }
        } else {
            let e = format!(
                "component {} not found; no crate in {} builds it",
                wasm.display(),
                connectors::CONNECTOR_DIRS.join(" or ")
            );
            eprintln!("error: {e}");
            Err(e)
        };
        results.push((name, subject.component.clone(), outcome));
    }
    println!("\nConformance results");
    for (name, component, outcome) in &results {
        match outcome {
            Ok(()) => println!("  PASS  {name}  ({component})"),
            Err(why) => println!("  FAIL  {name}  ({component}): {why}"),
        }
    }
    let failed = results.iter().filter(|r| r.2.is_err()).count();
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_top_level_keys_only() {
        let yaml = "# subject\ncomponent: \"dest_broken.wasm\"  # the fixture\nconfig:\n  component: nested\n  mode: none\nstream: items\n";
        assert_eq!(top_level_value(yaml, "component"), Some("dest_broken.wasm"));
        assert_eq!(top_level_value(yaml, "stream"), Some("items"));
        assert_eq!(top_level_value(yaml, "mode"), None, "nested keys are not top-level");
        assert_eq!(top_level_value("component: 'a.wasm'\n", "component"), Some("a.wasm"));
        assert_eq!(top_level_value("components: x\n", "component"), None);
    }

    #[test]
    fn subjects_folder_missing_empty_and_listed() {
        let dir = std::env::temp_dir().join(format!("xtask-subjects-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        assert!(subjects(&dir).unwrap_err().contains("does not exist"));
        fs::create_dir_all(&dir).unwrap();
        assert!(subjects(&dir).unwrap_err().contains("no *.yaml"));
        fs::write(dir.join("b.yaml"), "component: dest_x.wasm\npostgres: postgres://h/db\nconfig: {}\n").unwrap();
        fs::write(dir.join("a.yml"), "component: source_x.wasm\nconfig: {rows: 3}\nstream: s\n").unwrap();
        fs::write(dir.join("notes.txt"), "not a subject").unwrap();
        let found = subjects(&dir).unwrap();
        let summary: Vec<(&str, bool)> = found.iter().map(|s| (s.component.as_str(), s.uses_postgres)).collect();
        assert_eq!(summary, [("source_x.wasm", false), ("dest_x.wasm", true)]);
        fs::write(dir.join("c.yaml"), "config: {}\n").unwrap();
        assert!(subjects(&dir).unwrap_err().contains("component"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
