//! Each hostile attempt is denied or stopped with a clear error, while a
//! healthy stream running at the same time completes (SPEC § Security).

use rapidbyte::sandbox::runtime::InstanceError;
use rapidbyte::engine::stream::{run_stream, StreamReport};
use rapidbyte_protocol::ErrorCategory;
use rapidbyte_tests::{job, load, runtime, services, tight_sandbox};
use serde_json::{json, Value};

/// Runs the hostile attempt and a healthy 200k-row stream concurrently.
async fn hostile_beside_healthy(attempt: Value, grants: Vec<String>) -> StreamReport {
    let rt = runtime();
    let (hostile, generator, verify) =
        (load(&rt, "source_hostile.wasm"), load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let svc = services();
    let mut bad = job("hostile", (&hostile, attempt), (&verify, json!({})));
    bad.source.sandbox = tight_sandbox();
    bad.source.sandbox.grants = grants;
    let good = job("healthy", (&generator, json!({"rows": 200_000})), (&verify, json!({"expect_rows": 200_000})));
    let (bad, good) = tokio::join!(run_stream(rt.clone(), bad, svc.clone()), run_stream(rt, good, svc));
    assert!(good.succeeded(), "the healthy stream must complete: {:?}", good.error());
    assert_eq!(good.destination.rows_seen, 200_000);
    assert!(!bad.succeeded(), "the hostile stream must fail");
    bad
}

fn denied(report: &StreamReport) -> String {
    let e = report.source.error.as_ref().and_then(InstanceError::connector_error).expect("a connector error");
    assert_eq!(e.code, "DENIED", "the attempt was not denied: {e}");
    assert_eq!(e.category, ErrorCategory::Permission);
    e.message.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_is_empty() {
    let r = hostile_beside_healthy(json!({"attempt": "env"}), vec![]).await;
    assert!(denied(&r).contains("no environment variable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_is_absent() {
    let r = hostile_beside_healthy(json!({"attempt": "file"}), vec![]).await;
    let msg = denied(&r);
    assert!(msg.contains("read /etc/passwd:") && msg.contains("create /tmp/rapidbyte-hostile:"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_an_ungranted_address_is_refused_and_named() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let r = hostile_beside_healthy(json!({"attempt": "connect", "address": addr}), vec![]).await;
    let msg = denied(&r);
    assert!(msg.contains(&format!("sandbox refused connect to {addr}")), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_a_granted_address_succeeds() {
    // The control for the test above: the same attempt with a grant gets through.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let r = hostile_beside_healthy(json!({"attempt": "connect", "address": addr}), vec![addr.clone()]).await;
    let e = r.source.error.as_ref().and_then(InstanceError::connector_error).expect("connector error");
    assert_eq!(e.code, "ESCAPED", "a granted connect should succeed: {e}");
}

/// § Security: a guest's name lookups never reach a resolver; a name the
/// connector was not granted is refused even when it has other grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_lookup_of_an_ungranted_name_is_refused_and_named() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for name in ["localhost", "rapidbyte-exfil.example.com"] {
        let r = hostile_beside_healthy(json!({"attempt": "dns", "name": name}), vec![addr.clone()]).await;
        let msg = denied(&r);
        assert!(msg.contains(&format!("sandbox refused name lookup of `{name}`")), "{msg}");
    }
}

/// The control: a granted name resolves, to the addresses the host
/// resolved, and a connect by that name gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_resolves_and_connects() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let grant = format!("localhost:{port}");
    let r = hostile_beside_healthy(json!({"attempt": "dns", "name": "LocalHost."}), vec![grant.clone()]).await;
    let e = r.source.error.as_ref().and_then(InstanceError::connector_error).expect("connector error");
    assert!(e.code == "ESCAPED" && e.message.contains("127.0.0.1"), "a granted name should resolve: {e}");
    let r = hostile_beside_healthy(json!({"attempt": "connect", "address": grant}), vec![format!("localhost:{port}")]).await;
    let e = r.source.error.as_ref().and_then(InstanceError::connector_error).expect("connector error");
    assert_eq!(e.code, "ESCAPED", "a connect by a granted name should succeed: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_loop_is_stopped_by_the_deadline() {
    let r = hostile_beside_healthy(json!({"attempt": "loop"}), vec![]).await;
    let e = r.source.error.as_ref().unwrap();
    assert!(matches!(e, InstanceError::Deadline { call: "run", .. }), "{e}");
    assert!(e.to_string().contains("time limit"), "{e}");
    assert_eq!(r.source.calls, ["open", "run"], "a stopped instance is not called again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_io_is_stopped_by_the_deadline() {
    let started = std::time::Instant::now();
    let r = hostile_beside_healthy(json!({"attempt": "sleep"}), vec![]).await;
    let e = r.source.error.as_ref().unwrap();
    assert!(matches!(e, InstanceError::Deadline { call: "run", .. }), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "the deadline did not hold during the wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_hits_the_memory_cap() {
    let r = hostile_beside_healthy(json!({"attempt": "alloc"}), vec![]).await;
    let e = r.source.error.as_ref().unwrap();
    assert!(matches!(e, InstanceError::Memory { cap_mib: 64, .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ipc_is_a_protocol_error() {
    let r = hostile_beside_healthy(json!({"attempt": "bad-ipc"}), vec![]).await;
    let e = r.source.error.as_ref().unwrap();
    assert!(matches!(e, InstanceError::Protocol { .. }) && e.to_string().contains("not Arrow IPC"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_is_a_protocol_error() {
    let r = hostile_beside_healthy(json!({"attempt": "oversize"}), vec![]).await;
    let e = r.source.error.as_ref().unwrap();
    assert!(matches!(e, InstanceError::Protocol { .. }) && e.to_string().contains("above max_batch_bytes"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_logs_metrics_and_state_is_bounded_and_escaped() {
    let rt = runtime();
    let (hostile, generator, verify) =
        (load(&rt, "source_hostile.wasm"), load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let svc = services();
    let bad = job("hostile", (&hostile, json!({"attempt": "flood"})), (&verify, json!({})));
    let good = job("healthy", (&generator, json!({"rows": 200_000})), (&verify, json!({"expect_rows": 200_000})));
    let (bad, good) = tokio::join!(run_stream(rt.clone(), bad, svc.clone()), run_stream(rt, good, svc.clone()));
    assert!(good.succeeded(), "the healthy stream must complete: {:?}", good.error());
    let e = bad.source.error.as_ref().and_then(InstanceError::connector_error).expect("the flood ends in an error");
    assert_eq!(e.code, "FLOODED");
    assert!(e.message.contains("state put: STATE_TOO_LARGE"), "an 8 MiB state value is refused: {}", e.message);
    assert!(!e.message.contains('\u{1b}') && e.message.contains("\\u{1b}"), "escapes are shown, not sent: {:?}", e.message);
    assert_eq!(e.retry_after_ms, Some(rapidbyte::sandbox::untrusted::MAX_RETRY_AFTER_MS), "retry-after is capped");
    // The 4 MiB log line is kept cut and escaped.
    let logs: Vec<_> = svc.guest_logs().into_iter().filter(|l| l.stream == "hostile").collect();
    assert!(!logs.is_empty());
    for l in &logs {
        assert!(l.message.len() <= rapidbyte::sandbox::untrusted::MAX_TEXT_BYTES + 64, "a log of {} bytes was kept", l.message.len());
        assert!(!l.message.contains('\u{1b}'), "an escape sequence reached the log");
    }
    // At most MAX_METRIC_NAMES distinct names are kept; the rest is counted as dropped.
    let names: std::collections::HashSet<String> =
        svc.metrics.snapshot().into_iter().filter(|(k, _)| k.stream == "hostile" && k.name.starts_with("flood_")).map(|(k, _)| k.name).collect();
    assert!(names.len() <= rapidbyte::sandbox::untrusted::MAX_METRIC_NAMES, "{} metric names kept", names.len());
    let dropped = svc.metrics.counter("hostile", rapidbyte_protocol::Role::Source, rapidbyte::sandbox::host_api::METRICS_DROPPED);
    assert!(dropped >= 20_000 - rapidbyte::sandbox::untrusted::MAX_METRIC_NAMES as u64, "dropped {dropped}");
    // The connector's write to `cursor` stayed in its own namespace: the
    // host's committed cursor of the stream is untouched.
    let scope = rapidbyte::engine::checkpoint::stream_scope("tests", "hostile");
    assert_eq!(svc.state.get(&scope, rapidbyte::engine::checkpoint::CURSOR_KEY).unwrap(), None, "a connector moved the host's cursor");
}

/// A connector that runs its own code past its busy limit without calling
/// the host is stopped with no call deadline and no cancel (SPEC
/// § Security: the default CPU limit), while a healthy stream beside it
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_connector_is_stopped_by_its_busy_limit() {
    let rt = runtime();
    let (hostile, generator, verify) =
        (load(&rt, "source_hostile.wasm"), load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let svc = services();
    let mut spin = job("spin", (&hostile, json!({"attempt": "loop"})), (&verify, json!({})));
    spin.source.sandbox.call_timeout = None;
    spin.source.sandbox.busy_limit = Some(std::time::Duration::from_secs(1));
    let good = job("healthy", (&generator, json!({"rows": 100_000})), (&verify, json!({"expect_rows": 100_000})));
    let bounded = async { tokio::time::timeout(std::time::Duration::from_secs(120), run_stream(rt.clone(), spin, svc.clone())).await };
    let (spun, good) = tokio::join!(bounded, run_stream(rt.clone(), good, svc.clone()));
    let spun = spun.expect("the spinning instance was stopped");
    assert!(good.succeeded(), "the healthy stream completes: {:?}", good.error());
    match &spun.source.error {
        Some(InstanceError::Trap { reason, .. }) => assert!(reason.contains("max_busy_seconds"), "{reason}"),
        other => panic!("expected the busy limit to stop it: {other:?}"),
    }
    assert!(!spun.succeeded() && !spun.cancelled);
}

/// Ctrl-C reaches a connector only when it calls the host; one spinning in
/// its own code is stopped once the cancel's grace period has passed, with
/// no call deadline configured, and the stream ends as cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_connector_is_stopped_after_a_cancel() {
    let rt = runtime();
    let (hostile, verify) = (load(&rt, "source_hostile.wasm"), load(&rt, "dest_verify.wasm"));
    let svc = services();
    let mut j = job("spin", (&hostile, json!({"attempt": "loop"})), (&verify, json!({})));
    j.source.sandbox.call_timeout = None;
    let cancel = svc.cancel.clone();
    let stream = tokio::spawn(run_stream(rt, j, svc));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    cancel.cancel();
    // Liveness, not speed: without the stop the stream would never end.
    let r = tokio::time::timeout(std::time::Duration::from_secs(120), stream).await.expect("the spinning instance was stopped").unwrap();
    match &r.source.error {
        Some(InstanceError::Trap { reason, .. }) => assert!(reason.contains("after the run was cancelled"), "{reason}"),
        other => panic!("expected the instance to be stopped: {other:?}"),
    }
    // The destination heard the abort as a cancel and rolled back what no checkpoint covers.
    assert!(r.destination.signal.is_none() || r.destination.signal == Some(rapidbyte::sandbox::host_api::HostSignal::Aborted(rapidbyte_protocol::AbortReason::Cancelled)));
    assert!(r.stopped_by_cancel(), "it ends as a cancel, not a failure: {:?}", r.error());
}
