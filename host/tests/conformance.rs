//! `rapidbyte conformance` over our own connectors: the PostgreSQL source
//! and destination and the test connectors pass every case that applies,
//! and the PostgreSQL destination survives at least 200 crash points.

use std::path::PathBuf;
use std::process::Command;

fn workspace() -> PathBuf {
    rapidbyte_tests::workspace()
}

/// Runs the harness on a subject file and returns its JSON outcomes.
pub fn conformance(component: &str, subject: &str, only: Option<&str>) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let dir = rapidbyte_tests::connector_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapidbyte"));
    cmd.current_dir(workspace())
        .arg("-q")
        .arg("--connector-dir")
        .arg(&dir)
        .arg("conformance")
        .arg(dir.join(component))
        .arg("--config")
        .arg(subject)
        .arg("--json")
        .env("RAPIDBYTE_CACHE_DIR", workspace().join("target/rapidbyte-cache"))
        .env("RAPIDBYTE_TEST_PG", rapidbyte_tests::pg::url());
    if let Some(only) = only {
        cmd.args(["--only", only]);
    }
    let out = cmd.output().expect("run rapidbyte");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let outcomes: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{component}: no JSON report ({e})\n{stderr}"));
    (out.status.code(), outcomes, stderr)
}

fn status<'a>(outcomes: &'a [serde_json::Value], case: &str) -> (&'a str, &'a str) {
    let o = outcomes.iter().find(|o| o["case"] == case).unwrap_or_else(|| panic!("case {case} did not run"));
    (o["status"].as_str().unwrap(), o["reason"].as_str().unwrap())
}

fn assert_all_pass(component: &str, subject: &str, must_run: &[&str]) -> Vec<serde_json::Value> {
    let (code, outcomes, stderr) = conformance(component, &format!("fixtures/conformance/subjects/{subject}"), None);
    let failed: Vec<String> =
        outcomes.iter().filter(|o| o["status"] == "fail").map(|o| format!("{}: {}", o["case"], o["reason"])).collect();
    assert!(failed.is_empty(), "{component} failed cases:\n{}\n{stderr}", failed.join("\n"));
    assert_eq!(code, Some(0), "{stderr}");
    for case in must_run {
        assert_eq!(status(&outcomes, case).0, "pass", "{component}: {case} must run and pass here: {}", status(&outcomes, case).1);
    }
    outcomes
}

#[test]
fn postgres_source_passes_every_case() {
    let all = ["open-info", "lifecycle", "bad-config", "validate-unreachable", "frames-within-limit", "round-trip-types", "nulls-every-column", "empty-table", "huge-row", "incremental-continuation", "standard-metrics", "copy-cut-source"];
    assert_all_pass("source_postgres.wasm", "source_postgres.yaml", &all);
}

#[test]
fn postgres_destination_passes_every_case_with_200_crash_points() {
    let all = [
        "open-info",
        "lifecycle",
        "write-round-trip",
        "standard-metrics",
        "crash-every-host-call",
        "crash-sigkill",
        "commit-answer-lost",
        "upstream-failure",
        // Every write mode, both guarantees, cancels and faults on the wire.
        "at-least-once-crash-every-host-call",
        "at-least-once-crash-sigkill",
        "cancel-sampled",
        "full-refresh-append-crash-every-host-call",
        "full-refresh-append-crash-sigkill",
        "full-refresh-append-commit-answer-lost",
        "full-refresh-append-cancel",
        "replace-crash-every-host-call",
        "replace-crash-sigkill",
        "replace-commit-answer-lost",
        "replace-cancel",
        "replace-upstream-failure",
        "replace-copy-cut",
        "upsert-crash-every-host-call",
        "upsert-crash-sigkill",
        "upsert-commit-answer-lost",
        "upsert-cancel",
        "copy-cut-destination",
        "commit-dropped-before-server",
        // Hostile input.
        "hostile-metadata",
    ];
    let outcomes = assert_all_pass("dest_postgres.wasm", "dest_postgres.yaml", &all);
    let (_, reason) = status(&outcomes, "crash-every-host-call");
    // "<mode>: N crash points (of M host-call boundaries), …"
    let words: Vec<&str> = reason.split_whitespace().collect();
    let points: u64 = words
        .windows(2)
        .find(|w| w[1] == "crash")
        .and_then(|w| w[0].parse().ok())
        .unwrap_or_else(|| panic!("{reason}"));
    assert!(points >= 200, "only {points} crash points: {reason}");
}

#[test]
fn test_connectors_pass_what_applies_to_them() {
    assert_all_pass("source_generator.wasm", "source_generator.yaml", &["frames-within-limit", "incremental-continuation", "empty-table", "huge-row"]);
    assert_all_pass("dest_verify.wasm", "dest_verify.yaml", &["write-round-trip", "upstream-failure", "standard-metrics"]);
}

/// A subject file for a deliberately broken connector in `mode`.
fn broken_subject(component: &str, mode: &str) -> String {
    let dir = std::env::temp_dir().join(format!("rapidbyte-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{component}-{mode}.yaml"));
    let yaml = if component.starts_with("source") {
        format!(
            "config: {{rows: 20000, mode: {mode}}}\nstream: generated\ncase_config:\n  round-trip-types: {{expect_rows: 20000}}\n  empty-table: {{config: {{rows: 0}}}}\n"
        )
    } else {
        let (host, port, user) = rapidbyte_tests::pg::host_port_user(&rapidbyte_tests::pg::url());
        format!(
            "config: {{host: {host}, port: {port}, user: {user}, database: test, schema: conformance_broken_{mode}, mode: {mode}}}\n\
             stream: items\npostgres: env\ncrash_points: 40\n"
        )
    };
    std::fs::write(&path, yaml).unwrap();
    path.to_string_lossy().into_owned()
}

/// The broken connector in `mode` fails `case` (and the harness exits 1).
fn fails(component: &str, mode: &str, case: &str) {
    let (code, outcomes, stderr) = conformance(component, &broken_subject(component, mode), Some(case));
    let (status, reason) = status(&outcomes, case);
    assert_eq!(status, "fail", "{component} in mode {mode} must fail {case}, got {status}: {reason}\n{stderr}");
    assert_eq!(code, Some(1), "a failure exits 1");
    eprintln!("{component} {mode}: {case} fails: {reason}");
}

#[test]
fn the_broken_connectors_behaving_pass_the_cases_they_break_elsewhere() {
    let (_, outcomes, stderr) = conformance("source_broken.wasm", &broken_subject("source_broken", "none"), None);
    for case in ["frames-within-limit", "standard-metrics"] {
        assert_eq!(status(&outcomes, case).0, "pass", "source in mode none: {case}: {}\n{stderr}", status(&outcomes, case).1);
    }
    let (_, outcomes, stderr) = conformance("dest_broken.wasm", &broken_subject("dest_broken", "none"), None);
    for case in ["write-round-trip", "standard-metrics", "crash-every-host-call", "upstream-failure"] {
        assert_eq!(status(&outcomes, case).0, "pass", "destination in mode none: {case}: {}\n{stderr}", status(&outcomes, case).1);
    }
}

#[test]
fn each_fault_fails_its_case() {
    fails("source_broken.wasm", "oversize", "frames-within-limit");
    fails("source_broken.wasm", "skip_metrics", "standard-metrics");
    fails("dest_broken.wasm", "drop_batch", "write-round-trip");
    fails("dest_broken.wasm", "duplicate_after_retry", "crash-every-host-call");
    fails("dest_broken.wasm", "wrong_commit_state", "upstream-failure");
    fails("dest_broken.wasm", "skip_metrics", "standard-metrics");
}
