//! Delivery and crash safety (SPEC § Delivery): stop the destination at
//! every host-call boundary of a small run, kill the whole process at a
//! sample of moments, lose a COMMIT's answer, fail the upstream — then
//! resume and read the destination back; cancel at a sample of moments and
//! run again. Each case runs in the write mode, sync mode and delivery its
//! params name (`mode.rs` says what each must leave): exactly-once and
//! whole streams must hold each source row once, at-least-once appends
//! must lose nothing, and a whole stream is never seen half-written.

use std::time::{Duration, Instant};

use rapidbyte_protocol::CommitState;

use super::cases::Case;
use super::mode::Mode;
use super::verdict::{commit_state_is, destination_error, fail, na, pass, Verdict};
use super::harness::Harness;

/// A crashed (or cancelled) attempt left what the mode allows.
async fn check_crashed(h: &Harness, mode: &Mode, rows: u64) -> Result<(), String> {
    mode.after_crash(h.contents().await?, rows)
}

/// The resume left what the guarantee asks.
async fn check_resumed(h: &Harness, mode: &Mode, rows: u64) -> Result<(), String> {
    mode.after_resume(h.contents().await?, rows)
}

/// No relation the destination made for the stream (a staging table) is
/// left beside what a clean run leaves.
async fn check_nothing_left(h: &Harness, clean: &[String]) -> Result<(), String> {
    let now = h.relations().await?;
    let extra: Vec<&String> = now.iter().filter(|r| !clean.contains(r) && **r != h.subject.stream).collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(format!("left behind in the schema after the final run: {extra:?}"))
    }
}

/// Trap the destination at its k-th host call, for every k of a small run
/// (up to the subject's `crash_points`), then resume and check.
pub async fn crash_trap(h: &Harness, case: &Case) -> Verdict {
    let mode = match Mode::with_read_back(case, h) {
        Ok(m) => m,
        Err(v) => return v,
    };
    let rows = case.param("rows", 4000);
    let cap = h.subject.crash_points.unwrap_or(case.param("max_points", 400));
    // A clean run says how many boundaries there are, and what it leaves.
    let clean_plan = h.plan_in(&mode, "conf-crash-clean", rows, &case.name);
    if let Err(e) = h.reset_with_old_contents(&clean_plan).await {
        return fail(e);
    }
    let clean = h.write(&clean_plan).await;
    if let Some(e) = clean.report.error() {
        return fail(format!("the clean run failed: {e}"));
    }
    let clean_relations = match h.relations().await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let boundaries = clean.report.destination.calls_entered;
    let points = boundaries.min(cap);
    // Spread the points over the whole run when capped.
    let step = boundaries.div_ceil(points.max(1)).max(1);
    let mut tried = 0;
    let mut failures = Vec::new();
    let mut k = 1;
    while k <= boundaries {
        let mut plan = h.plan_in(&mode, &format!("conf-crash-{k}"), rows, &case.name);
        if let Err(e) = h.reset_with_old_contents(&plan).await {
            return fail(e);
        }
        plan.trap_at = Some(k);
        let crashed = h.write(&plan).await;
        plan.trap_at = None;
        let mut verdict = check_crashed(h, &mode, rows).await;
        if verdict.is_ok() {
            let resumed = h.write(&plan).await;
            verdict = match resumed.report.error() {
                Some(e) => Err(format!("the resume failed: {e}")),
                None => check_resumed(h, &mode, rows).await,
            };
        }
        tried += 1;
        if let Err(why) = verdict {
            let stopped = if crashed.report.succeeded() { " (the trap did not stop it)" } else { "" };
            failures.push(format!("host call {k}{stopped}: {why}"));
            if failures.len() >= 3 {
                break;
            }
        }
        k += step;
    }
    if failures.is_empty()
        && let Err(e) = check_nothing_left(h, &clean_relations).await
    {
        failures.push(e);
    }
    let _ = h.reset_target().await;
    if failures.is_empty() {
        pass(format!("{}: {tried} crash points (of {boundaries} host-call boundaries), {} after every resume", mode.describe(), guarantee(&mode)))
    } else {
        fail(format!("{}: after {tried} crash points: {}", mode.describe(), failures.join("; ")))
    }
}

fn guarantee(mode: &Mode) -> &'static str {
    match (mode.whole(), mode.exact()) {
        (true, _) => "old or new contents after every crash, the new ones exactly",
        (false, true) => "each row exactly once",
        (false, false) => "no row lost",
    }
}

/// Cancel the run (Ctrl-C) at a sample of moments, then run again: a
/// whole stream keeps its old contents, the others commit what the last
/// checkpoint covers; the next run completes it.
pub async fn cancel_sampled(h: &Harness, case: &Case) -> Verdict {
    let mode = match Mode::with_read_back(case, h) {
        Ok(m) => m,
        Err(v) => return v,
    };
    let rows = case.param("rows", 6000);
    let points = case.param("points", 5);
    let mut failures = Vec::new();
    let mut mid_run = 0;
    for i in 0..points {
        let mut plan = h.plan_in(&mode, &format!("conf-cancel-{i}"), rows, &case.name);
        if let Err(e) = h.reset_with_old_contents(&plan).await {
            return fail(e);
        }
        plan.peer_config = serde_json::json!({"batch_rows": 100, "pause_ms": 5});
        plan.cancel_after = Some(Duration::from_millis(30 + 70 * i));
        let cancelled = h.write(&plan).await;
        if cancelled.report.cancelled && !cancelled.report.succeeded() && !cancelled.report.stopped_by_cancel() {
            failures.push(format!("cancel {i}: the stream did not stop cleanly: {:?}", cancelled.report.error().map(|e| e.to_string())));
            continue;
        }
        if cancelled.report.cancelled {
            mid_run += 1;
        }
        let mut verdict = check_crashed(h, &mode, rows).await;
        if verdict.is_ok() {
            plan.cancel_after = None;
            plan.peer_config = serde_json::json!({});
            let resumed = h.write(&plan).await;
            verdict = match resumed.report.error() {
                Some(e) => Err(format!("the next run failed: {e}")),
                None => check_resumed(h, &mode, rows).await,
            };
        }
        if let Err(why) = verdict {
            failures.push(format!("cancel {i}: {why}"));
        }
    }
    let _ = h.reset_target().await;
    if failures.is_empty() {
        pass(format!("{}: {points} cancels ({mid_run} mid-run), each next run correct", mode.describe()))
    } else {
        fail(format!("{}: {}", mode.describe(), failures.join("; ")))
    }
}

/// SIGKILL the whole `rapidbyte run` process at a sample of moments, resume
/// with another `run`, and check.
pub async fn crash_kill(h: &Harness, case: &Case) -> Verdict {
    let mode = match Mode::with_read_back(case, h) {
        Ok(m) => m,
        Err(v) => return v,
    };
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
    let mut clean_relations = None;
    for i in 0..points {
        let plan = h.plan_in(&mode, &format!("conf-kill-{i}"), rows, &case.name);
        if let Err(e) = h.reset_with_old_contents(&plan).await {
            return fail(e);
        }
        if clean_relations.is_none() {
            clean_relations = h.relations().await.ok();
        }
        let pipeline = dir.join(format!("kill-{i}.yaml"));
        let file = serde_json::json!({
            "pipeline": plan.pipeline,
            "source": {"use": peer_path, "config": {"rows": rows, "batch_rows": 200, "pause_ms": 5}},
            "destination": {"use": h.component_path, "config": h.subject.config_for(&case.name)},
            "streams": [mode.stream_entry(&h.subject.stream)],
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
        // Kill at spread moments after the first rows land (a whole
        // stream shows none before its end: after a spread delay).
        let started = Instant::now();
        if mode.whole() {
            tokio::time::sleep(Duration::from_millis(150 + 120 * i)).await;
        }
        while !mode.whole() && matches!(h.read_back().await, Some(Ok((0, _)))) && started.elapsed() < Duration::from_secs(30) {
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
        if let Err(why) = check_crashed(h, &mode, rows).await {
            failures.push(format!("kill {i}: {why}"));
            continue;
        }
        let resume = std::process::Command::new(&binary).args(["-q", "run"]).arg(&pipeline).output();
        let verdict = match resume {
            Ok(o) if o.status.success() => check_resumed(h, &mode, rows).await,
            Ok(o) => Err(format!("the resume exited {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr))),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = verdict {
            failures.push(format!("kill {i}: {why}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failures.is_empty()
        && let Some(clean) = &clean_relations
        && let Err(e) = check_nothing_left(h, clean).await
    {
        failures.push(e);
    }
    let _ = h.reset_target().await;
    if failures.is_empty() {
        pass(format!("{}: {points} SIGKILLs ({killed_mid_run} mid-run), each resume correct", mode.describe()))
    } else {
        fail(format!("{}: {}", mode.describe(), failures.join("; ")))
    }
}

/// Lose the answer to a COMMIT: the destination must report
/// after-commit-unknown, and the resume must be correct. A whole stream's
/// one COMMIT is lost under the engine's retries, which must find out from
/// the destination that it landed.
pub async fn commit_unknown(h: &Harness, case: &Case) -> Verdict {
    let mode = match Mode::with_read_back(case, h) {
        Ok(m) => m,
        Err(v) => return v,
    };
    if mode.whole() && !mode.exactly_once {
        return na("at-least-once: nothing tells whether a whole stream's lost COMMIT landed");
    }
    let config = h.subject.config_for(&case.name);
    let upstream = match super::wire::upstream(&config).await {
        Ok(u) => u,
        Err(v) => return v,
    };
    let rows = case.param("rows", 4000);
    let nth = case.param("commit", 4) as usize;
    let mut plan = h.plan_in(&mode, "conf-commit-unknown", rows, &case.name);
    if let Err(e) = h.reset_with_old_contents(&plan).await {
        return fail(e);
    }
    let proxy = match super::proxy::start(upstream, Some((nth, super::proxy::CommitFault::DropAfterForward))).await {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot start the proxy: {e}")),
    };
    plan.config["host"] = serde_json::json!("127.0.0.1");
    plan.config["port"] = serde_json::json!(proxy.port);
    if mode.whole() {
        plan.max_attempts = 3;
        let run = h.write(&plan).await;
        let lost = proxy.commits.load(std::sync::atomic::Ordering::SeqCst) >= nth;
        drop(proxy);
        if !lost {
            return fail(format!("the run made fewer than {nth} COMMITs: set the case's `commit` to the stream's one COMMIT"));
        }
        if let Some(e) = run.report.error() {
            return fail(format!("{}: the engine did not recover from the lost answer to the stream's COMMIT: {e}", mode.describe()));
        }
        return match check_resumed(h, &mode, rows).await {
            Ok(()) => pass(format!("{}: the answer to the stream's one COMMIT was lost; the engine learned it had landed, the table is exact", mode.describe())),
            Err(e) => fail(e),
        };
    }
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
    match check_resumed(h, &mode, rows).await {
        Ok(()) => pass(format!("{}: lost COMMIT answer reported as after-commit-unknown ({reported}); the resume is correct", mode.describe())),
        Err(e) => fail(e),
    }
}

/// The source fails mid-stream: the destination must roll back what it
/// holds and say so (before-commit); the resume must be correct.
pub async fn upstream_abort(h: &Harness, case: &Case) -> Verdict {
    let mode = match Mode::of(case, h) {
        Ok(m) => m,
        Err(v) => return v,
    };
    let rows = case.param("rows", 4000);
    let fail_after = case.param("fail_after_rows", 1700);
    let mut plan = h.plan_in(&mode, "conf-upstream-abort", rows, &case.name);
    if h.pg().is_some()
        && let Err(e) = h.reset_with_old_contents(&plan).await
    {
        return fail(e);
    }
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
    if h.pg().is_some() {
        let crashed = match h.contents().await {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        if (crashed.rows - crashed.old) as u64 > fail_after {
            return fail(format!("{} new rows are in the table, more than the {fail_after} rows sent before the failure", crashed.rows - crashed.old));
        }
        if let Err(e) = mode.after_crash(crashed, rows) {
            return fail(e);
        }
    }
    plan.peer_config = serde_json::json!({"fail_times": 1});
    let resumed = h.write(&plan).await;
    if let Some(e) = resumed.report.error() {
        return fail(format!("the resume failed: {e}"));
    }
    if h.pg().is_none() {
        return pass(format!("before-commit after the upstream failed ({}); no read-back to check the resume", e.code));
    }
    match check_resumed(h, &mode, rows).await {
        Ok(()) => pass(format!("{}: before-commit after the upstream failed; the resume is correct", mode.describe())),
        Err(e) => fail(e),
    }
}
