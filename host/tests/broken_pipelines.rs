//! Every file in `fixtures/broken/` is refused before anything runs: exit
//! code 2, a diagnostic at the line of the mistake with its code and a help
//! line, and nothing written next to the pipeline file. Each fixture says
//! what it expects on a line `# expect: line N, code rapidbyte::…`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ sits in the workspace").to_path_buf()
}

/// Where `cargo xtask build` puts the components; the feature and role cases need them.
fn connector_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), |t| workspace().join(t));
    let dir = target.join("connectors");
    let has_components =
        std::fs::read_dir(&dir).map(|entries| entries.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "wasm"))).unwrap_or(false);
    assert!(has_components, "no connector components in {}: run `cargo xtask build` first", dir.display());
    dir
}

/// A fresh directory holding only a copy of the pipeline file; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn with_file(tag: &str, name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rapidbyte-broken-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
        Scratch(dir)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `rapidbyte run <name>` from inside the scratch directory, so anything it
/// wrote relative to the file or the working directory would show up there.
fn run(scratch: &Scratch, name: &str, connectors: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapidbyte"));
    cmd.current_dir(&scratch.0).arg("--connector-dir").arg(connectors).args(["run", name]);
    // Only this test's settings: an override from the caller's shell would change the outcome.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("RAPIDBYTE_") && k != "RAPIDBYTE_CACHE_DIR") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1").env_remove("NO_GRAPHICS").env("RAPIDBYTE_CONNECTOR_DIR", connectors);
    cmd.envs(env.iter().copied());
    cmd.output().expect("run the rapidbyte binary")
}

/// The fixture's `# expect: line N, code C`.
fn expectation(text: &str) -> Result<(usize, String), String> {
    let line = text.lines().find_map(|l| l.strip_prefix("# expect: line ")).ok_or("no `# expect: line N, code C` line")?;
    let (number, code) = line.split_once(", code ").ok_or("the expect line lacks `, code `")?;
    Ok((number.trim().parse().map_err(|e| format!("bad line number {number:?}: {e}"))?, code.trim().to_string()))
}

fn check_refused(name: &str, output: &Output, scratch: &Scratch, line: Option<usize>, code: &str) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut problems = Vec::new();
    if output.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", output.status.code()));
    }
    if let Some(line) = line
        && !stderr.contains(&format!("{name}:{line}:"))
    {
        problems.push(format!("no `{name}:{line}:<col>` location"));
    }
    if !stderr.contains(code) {
        problems.push(format!("no code `{code}`"));
    }
    if !stderr.contains("help:") {
        problems.push("no help line".into());
    }
    let left = scratch.entries();
    if left != [name] {
        problems.push(format!("the directory holds {left:?}, not just the pipeline file"));
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("{}\n--- stderr ---\n{stderr}", problems.join("; "))) }
}

#[test]
fn every_broken_pipeline_is_refused_at_its_mistake() {
    let connectors = connector_dir();
    let mut corpus: Vec<PathBuf> = std::fs::read_dir(workspace().join("fixtures/broken"))
        .expect("fixtures/broken/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    corpus.sort();
    assert!(corpus.len() >= 20, "fixtures/broken/ holds {} pipeline files, fewer than 20", corpus.len());
    let mut failures = Vec::new();
    for path in &corpus {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let outcome = expectation(&text).and_then(|(line, code)| {
            let scratch = Scratch::with_file(name.trim_end_matches(".yaml"), &name, &text);
            let output = run(&scratch, &name, &connectors, &[]);
            check_refused(&name, &output, &scratch, Some(line), &code)
        });
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} broken pipelines were not refused as expected:\n\n{}", failures.len(), corpus.len(), failures.join("\n\n"));
}

#[test]
fn a_bad_override_from_the_environment_names_the_variable() {
    let connectors = connector_dir();
    let name = "ok.yaml";
    let text = "pipeline: fine\nsource: {use: generator, config: {rows: 10}}\ndestination: {use: verify}\nstreams: [{name: generated}]\n";
    for (value, code) in [("abc", "rapidbyte::config::wrong_type"), ("0", "rapidbyte::config::invalid_value")] {
        let scratch = Scratch::with_file(&format!("env-{value}"), name, text);
        let output = run(&scratch, name, &connectors, &[("RAPIDBYTE_LIMITS__MAX_BATCH_BYTES", value)]);
        check_refused(name, &output, &scratch, None, code).unwrap_or_else(|why| panic!("RAPIDBYTE_LIMITS__MAX_BATCH_BYTES={value}: {why}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("RAPIDBYTE_LIMITS__MAX_BATCH_BYTES"), "the variable is not named:\n{stderr}");
    }
}

/// A connector's config from `${VAR}` is text: the host reads it as the
/// number its schema declares (the generator's strict parsing then gets a
/// number), and text that is no number is refused without being shown.
#[test]
fn config_values_from_the_environment_meet_the_connector_schema() {
    let connectors = connector_dir();
    let name = "env.yaml";
    let text = "pipeline: env\nsource: {use: generator, config: {rows: \"${RB_ROWS}\"}}\ndestination: {use: verify, config: {expect_rows: \"${RB_ROWS}\"}}\nstreams: [{name: generated}]\nstate: {backend: sqlite}\n";
    let scratch = Scratch::with_file("env-ok", name, text);
    let output = run(&scratch, name, &connectors, &[("RB_ROWS", "25")]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    drop(scratch);
    let scratch = Scratch::with_file("env-bad", name, text);
    let output = run(&scratch, name, &connectors, &[("RB_ROWS", "Zq8 not a number")]);
    check_refused(name, &output, &scratch, Some(2), "rapidbyte::config::wrong_type").unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("Zq8"), "the value was shown:\n{stderr}");
}

/// A relative component path in `use:` is read from the pipeline file's
/// folder, whatever the working directory.
#[test]
fn a_relative_use_path_is_the_pipeline_files() {
    let connectors = connector_dir();
    let scratch = Scratch::with_file("relative-use", "unused.yaml", "");
    let sub = scratch.0.join("project");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(connectors.join("dest_verify.wasm"), sub.join("my_sink.wasm")).unwrap();
    std::fs::write(
        sub.join("p.yaml"),
        "pipeline: rel\nsource: {use: generator, config: {rows: 10}}\ndestination: {use: ./my_sink.wasm, config: {expect_rows: 10}}\nstreams: [{name: generated}]\n",
    )
    .unwrap();
    let output = run(&scratch, "project/p.yaml", &connectors, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}
