//! Delivery and crash safety (SPEC § Delivery): stop the destination at
//! every host-call boundary of a small run, kill the whole process at a
//! sample of moments, lose a COMMIT's answer, fail the upstream — then
//! resume and read the destination back. Exactly-once destinations must
//! hold each source row once; at-least-once destinations must lose nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rapidbyte_protocol::{CommitState, Feature};

use super::cases::Case;
use super::verdict::{commit_state_is, destination_error, fail, na, pass, Verdict};
use super::harness::Harness;
use crate::state::MemoryState;

/// Whether the table holds what the guarantee asks after a resume.
async fn holds(h: &Harness, rows: u64) -> Result<(), String> {
    let (n, distinct) = match h.read_back().await {
        Some(r) => r?,
        None => return Err("no read-back".into()),
    };
    let rows = rows as i64;
    if h.declares(Feature::ExactlyOnce) {
        if (n, distinct) != (rows, rows) {
            return Err(format!("exactly-once: {n} rows, {distinct} distinct ids, expected each of the {rows} rows once"));
        }
    } else if distinct != rows {
        return Err(format!("at-least-once: {distinct} distinct ids of {rows}: rows were lost"));
    }
    Ok(())
}

fn needs_read_back(h: &Harness) -> Option<Verdict> {
    h.pg().is_none().then(|| na("needs read-back: give `postgres:` in the subject file"))
}

/// Trap the destination at its k-th host call, for every k of a small run
/// (up to the subject's `crash_points`), then resume and check.
pub async fn crash_trap(h: &Harness, case: &Case) -> Verdict {
    if let Some(v) = needs_read_back(h) {
        return v;
    }
    let rows = case.param("rows", 4000);
    let cap = h.subject.crash_points.unwrap_or(case.param("max_points", 400));
    // A clean run says how many boundaries there are.
    if let Err(e) = h.reset_target().await {
        return fail(e);
    }
    let clean = h.write(&h.plan("conf-crash-clean", rows, &case.name)).await;
    if let Some(e) = clean.report.error() {
        return fail(format!("the clean run failed: {e}"));
    }
    let boundaries = clean.report.destination.calls_entered;
    let points = boundaries.min(cap);
    // Spread the points over the whole run when capped.
    let step = boundaries.div_ceil(points.max(1)).max(1);
    let mut tried = 0;
    let mut failures = Vec::new();
    let mut k = 1;
    while k <= boundaries {
        if let Err(e) = h.reset_target().await {
            return fail(e);
        }
        let mut plan = h.plan(&format!("conf-crash-{k}"), rows, &case.name);
        plan.state = Arc::new(MemoryState::default());
        plan.trap_at = Some(k);
        let crashed = h.write(&plan).await;
        plan.trap_at = None;
        let resumed = h.write(&plan).await;
        tried += 1;
        let verdict = match resumed.report.error() {
            Some(e) => Err(format!("the resume failed: {e}")),
            None => holds(h, rows).await,
        };
        if let Err(why) = verdict {
            let stopped = if crashed.report.succeeded() { " (the trap did not stop it)" } else { "" };
            failures.push(format!("host call {k}{stopped}: {why}"));
            if failures.len() >= 3 {
                break;
            }
        }
        k += step;
    }
    let _ = h.reset_target().await;
    let guarantee = if h.declares(Feature::ExactlyOnce) { "each row exactly once" } else { "no row lost" };
    if failures.is_empty() {
        pass(format!("{tried} crash points (of {boundaries} host-call boundaries), {guarantee} after every resume"))
    } else {
        fail(format!("after {tried} crash points: {}", failures.join("; ")))
    }
}

/// SIGKILL the whole `rapidbyte run` process at a sample of moments, resume
/// with another `run`, and check.
pub async fn crash_kill(h: &Harness, case: &Case) -> Verdict {
    if let Some(v) = needs_read_back(h) {
        return v;
    }
    let Some(binary) = h.binary.clone() else {
        return na("needs the rapidbyte binary (run through `rapidbyte conformance`)");
    };
    let Some(peer) = h.peer.as_ref() else { return na("destinations only") };
    let rows = case.param("rows", 20_000);
    let points = case.param("points", 5);
    let dir = std::env::temp_dir().join(format!("rapidbyte-conformance-kill-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let peer_path = std::fs::canonicalize(&peer.path).unwrap_or_else(|_| peer.path.clone());
    let mut failures = Vec::new();
    let mut killed_mid_run = 0;
    for i in 0..points {
        if let Err(e) = h.reset_target().await {
            return fail(e);
        }
        let pipeline = dir.join(format!("kill-{i}.yaml"));
        let file = serde_json::json!({
            "pipeline": format!("conf-kill-{}-{i}", std::process::id()),
            "source": {"use": peer_path, "config": {"rows": rows, "batch_rows": 200, "pause_ms": 5}},
            "destination": {"use": h.component_path, "config": h.subject.config_for(&case.name)},
            "streams": [{"name": h.subject.stream, "sync_mode": "incremental", "cursor_field": "id"}],
            "limits": {"checkpoint_interval_rows": 1000},
            "state": {"path": format!("kill-{i}.state.db")},
        });
        // JSON is YAML.
        if let Err(e) = std::fs::write(&pipeline, file.to_string()) {
            return fail(e.to_string());
        }
        let _ = std::fs::remove_file(dir.join(format!("kill-{i}.state.db")));
        let mut child = match std::process::Command::new(&binary)
            .args(["-q", "run"])
            .arg(&pipeline)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return fail(format!("cannot start {}: {e}", binary.display())),
        };
        // Kill at spread moments after the first rows land.
        let started = Instant::now();
        while matches!(h.read_back().await, Some(Ok((0, _)))) && started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(40 * i)).await;
        if let Ok(None) = child.try_wait() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let resume = std::process::Command::new(&binary).args(["-q", "run"]).arg(&pipeline).output();
        let verdict = match resume {
            Ok(o) if o.status.success() => holds(h, rows).await,
            Ok(o) => Err(format!("the resume exited {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr))),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = verdict {
            failures.push(format!("kill {i}: {why}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = h.reset_target().await;
    if failures.is_empty() {
        pass(format!("{points} SIGKILLs ({killed_mid_run} mid-run), each resume correct"))
    } else {
        fail(failures.join("; "))
    }
}

/// Lose the answer to a COMMIT: the destination must report
/// after-commit-unknown, and the resume must be correct.
pub async fn commit_unknown(h: &Harness, case: &Case) -> Verdict {
    if let Some(v) = needs_read_back(h) {
        return v;
    }
    let config = h.subject.config_for(&case.name);
    let (Some(host), Some(port)) = (config.get("host").and_then(|v| v.as_str()), config.get("port").and_then(|v| v.as_u64())) else {
        return na("needs `host` and `port` in the connector's config to put a proxy in between");
    };
    let upstream = match tokio::net::lookup_host((host, port as u16)).await.ok().and_then(|mut a| a.next()) {
        Some(a) => a,
        None => return fail(format!("cannot resolve {host}:{port}")),
    };
    let rows = case.param("rows", 4000);
    let nth = case.param("commit", 4) as usize;
    let _ = h.reset_target().await;
    let proxy = match super::proxy::start(upstream, Some((nth, super::proxy::CommitFault::DropAfterForward))).await {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot start the proxy: {e}")),
    };
    let mut plan = h.plan("conf-commit-unknown", rows, &case.name);
    plan.config["host"] = serde_json::json!("127.0.0.1");
    plan.config["port"] = serde_json::json!(proxy.port);
    let first = h.write(&plan).await;
    drop(proxy);
    let reported = match destination_error(&first) {
        Some(e) if commit_state_is(&e, CommitState::AfterCommitUnknown) => format!("{} {}", e.category, e.code),
        Some(e) => {
            return fail(format!("the COMMIT's answer was lost, but the error says commit state {:?} ({} {}: {})", e.commit_state, e.category, e.code, e.message),
            )
        }
        None => return fail(format!("the run did not fail when the answer to COMMIT {nth} was lost: {:?}", first.report.error().map(|e| e.to_string()))),
    };
    plan.config = config;
    let resumed = h.write(&plan).await;
    if let Some(e) = resumed.report.error() {
        return fail(format!("the resume failed: {e}"));
    }
    match holds(h, rows).await {
        Ok(()) => pass(format!("lost COMMIT answer reported as after-commit-unknown ({reported}); the resume is correct")),
        Err(e) => fail(e),
    }
}

/// The source fails mid-stream: the destination must roll back what it
/// holds and say so (before-commit); the resume must be correct.
pub async fn upstream_abort(h: &Harness, case: &Case) -> Verdict {
    let rows = case.param("rows", 4000);
    let fail_after = case.param("fail_after_rows", 1700);
    let _ = h.reset_target().await;
    let mut plan = h.plan("conf-upstream-abort", rows, &case.name);
    plan.peer_config = serde_json::json!({"fail_times": 1, "fail_after_rows": fail_after});
    let first = h.write(&plan).await;
    let e = match destination_error(&first) {
        Some(e) => e,
        None => return fail("the source failed, but the destination finished as if the stream were complete"),
    };
    if !commit_state_is(&e, CommitState::BeforeCommit) {
        return fail(format!("after the upstream failed, the destination reported commit state {:?} ({} {}); expected before-commit", e.commit_state, e.category, e.code),
        );
    }
    if let Some(Ok((n, _))) = h.read_back().await
        && n as u64 > fail_after
    {
        return fail(format!("{n} rows are in the table, more than the {fail_after} rows sent before the failure"));
    }
    plan.peer_config = serde_json::json!({"fail_times": 1});
    let resumed = h.write(&plan).await;
    if let Some(e) = resumed.report.error() {
        return fail(format!("the resume failed: {e}"));
    }
    match h.read_back().await {
        None => pass(format!("before-commit after the upstream failed ({}); no read-back to check the resume", e.code)),
        Some(_) => match holds(h, rows).await {
            Ok(()) => pass("before-commit after the upstream failed; the resume is correct"),
            Err(e) => fail(e),
        },
    }
}
