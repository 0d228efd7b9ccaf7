//! Faults on the wire (SPEC § Delivery, § Errors): a proxy between the
//! connector and PostgreSQL cuts one connection mid-COPY after a number of
//! bytes, or drops a COMMIT before it reaches the server. A destination,
//! with the engine's retries on, must finish with exact data or fail with a
//! connector error, and a run after it must finish exactly. A source must
//! never read a cut as the end of the table: it fails with an error the
//! engine retries, and a read after it returns every row.

use std::net::SocketAddr;

use rapidbyte_protocol::ErrorCategory;

use super::cases::Case;
use super::harness::Harness;
use super::mode::Mode;
use super::proxy::{start_with, CommitFault, Direction, Fault};
use super::verdict::{fail, na, pass, Verdict};

/// The server behind the connector's `host` and `port`, for a proxy to
/// stand in front of.
pub(super) async fn upstream(config: &serde_json::Value) -> Result<SocketAddr, Verdict> {
    let (Some(host), Some(port)) = (config.get("host").and_then(|v| v.as_str()), config.get("port").and_then(|v| v.as_u64())) else {
        return Err(na("needs `host` and `port` in the connector's config to put a proxy in between"));
    };
    tokio::net::lookup_host((host, port as u16))
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| fail(format!("cannot resolve {host}:{port}")))
}

/// The case's fault: `cut_after_bytes` (the connector's data direction), or
/// `drop_commit` (the nth COMMIT, dropped before the server sees it).
fn fault_of(case: &Case, data: Direction) -> Fault {
    match case.params.get("drop_commit").and_then(|v| v.as_u64()) {
        Some(n) => Fault::Commit(n as usize, CommitFault::DropBeforeForward),
        None => Fault::CutAfter(data, case.param("cut_after_bytes", 256 << 10)),
    }
}

fn describe(fault: Fault) -> String {
    match fault {
        Fault::CutAfter(_, bytes) => format!("connection cut after {bytes} bytes"),
        Fault::Commit(n, _) => format!("COMMIT {n} dropped before the server saw it"),
    }
}

/// Destinations: the fault under the engine's retries, then a clean run.
pub async fn destination(h: &Harness, case: &Case) -> Verdict {
    let mode = match Mode::with_read_back(case, h) {
        Ok(m) => m,
        Err(v) => return v,
    };
    let config = h.subject.config_for(&case.name);
    let upstream = match upstream(&config).await {
        Ok(u) => u,
        Err(v) => return v,
    };
    let rows = case.param("rows", 20_000);
    let fault = fault_of(case, Direction::ToServer);
    let mut plan = h.plan_in(&mode, "conf-wire", rows, &case.name);
    if let Err(e) = h.reset_with_old_contents(&plan).await {
        return fail(e);
    }
    let proxy = match start_with(upstream, Some(fault)).await {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot start the proxy: {e}")),
    };
    plan.config["host"] = serde_json::json!("127.0.0.1");
    plan.config["port"] = serde_json::json!(proxy.port);
    plan.max_attempts = case.param("attempts", 5) as u32;
    let faulted = h.write(&plan).await;
    let fired = proxy.cut.load(std::sync::atomic::Ordering::SeqCst) || proxy.commits.load(std::sync::atomic::Ordering::SeqCst) >= commit_nth(fault);
    drop(proxy);
    if !fired {
        return fail(format!("the fault never fired ({}): give the case more rows", describe(fault)));
    }
    let first = match faulted.report.error() {
        None => match mode.after_resume(contents(h).await, rows) {
            Ok(()) => "the retries finished it exactly".to_string(),
            Err(e) => return fail(format!("{}: the run succeeded with wrong data: {e}", describe(fault))),
        },
        Some(e) if e.connector_error().is_some() => format!("the run failed clearly ({e})"),
        Some(e) => return fail(format!("{}: the run failed without a connector error: {e}", describe(fault))),
    };
    if let Err(e) = mode.after_crash(contents(h).await, rows) {
        return fail(format!("{}: {e}", describe(fault)));
    }
    plan.config = config;
    plan.max_attempts = 1;
    let again = h.write(&plan).await;
    if let Some(e) = again.report.error() {
        return fail(format!("{}: the run after it failed: {e}", describe(fault)));
    }
    match mode.after_resume(contents(h).await, rows) {
        Ok(()) => pass(format!("{}: {}: {first}; the next run is exact", mode.describe(), describe(fault))),
        Err(e) => fail(format!("{}: after the next run: {e}", describe(fault))),
    }
}

fn commit_nth(fault: Fault) -> usize {
    match fault {
        Fault::Commit(n, _) => n,
        Fault::CutAfter(..) => usize::MAX,
    }
}

async fn contents(h: &Harness) -> super::mode::Contents {
    h.contents().await.unwrap_or(super::mode::Contents { rows: -1, distinct: -1, old: -1 })
}

/// Sources: a cut mid-COPY is a retryable error, never a short table.
pub async fn source(h: &Harness, case: &Case) -> Verdict {
    let input = match super::checks::source_input(h, case, false).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let upstream = match upstream(&input.config).await {
        Ok(u) => u,
        Err(v) => return v,
    };
    let fault = fault_of(case, Direction::ToClient);
    let proxy = match start_with(upstream, Some(fault)).await {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot start the proxy: {e}")),
    };
    let mut via = input.config.clone();
    via["host"] = serde_json::json!("127.0.0.1");
    via["port"] = serde_json::json!(proxy.port);
    let cut = h.read(&via, h.context("conformance", &input.stream)).await;
    let fired = proxy.cut.load(std::sync::atomic::Ordering::SeqCst);
    drop(proxy);
    let whole = h.read(&input.config, h.context("conformance", &input.stream)).await;
    if let Some(e) = &whole.side.error {
        return fail(format!("the read without the proxy failed: {e}"));
    }
    if !fired {
        return fail(format!("the cut never fired ({} rows read): give the case a bigger table", whole.rows));
    }
    let retryable = |c: ErrorCategory| matches!(c, ErrorCategory::TransientNetwork | ErrorCategory::TransientDb);
    match &cut.side.error {
        None if cut.rows == whole.rows => pass(format!("{}: the cut came after the last row; {} rows", describe(fault), cut.rows)),
        None => fail(format!("{}: the read ended as if the table were complete with {} of {} rows", describe(fault), cut.rows, whole.rows)),
        Some(e) => match e.connector_error() {
            Some(ce) if retryable(ce.category) && ce.safe_to_retry => pass(format!(
                "{}: a retryable {} error ({}) after {} rows; the read after it returns all {} rows",
                describe(fault),
                ce.category,
                ce.code,
                cut.rows,
                whole.rows
            )),
            Some(ce) => fail(format!("{}: the error is {} {} (retryable: {}), which the engine does not retry: {}", describe(fault), ce.category, ce.code, ce.safe_to_retry, ce.message)),
            None => fail(format!("{}: the read failed without a connector error: {e}", describe(fault))),
        },
    }
}
