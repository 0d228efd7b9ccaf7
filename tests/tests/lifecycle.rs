//! Lifecycle order, metrics, logs and checkpoints through real components.

use rapidbyte::engine::stream::run_stream;
use rapidbyte_protocol::{ErrorCategory, Role};
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_flow_with_metrics_logs_and_matched_checkpoints() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let svc = services();
    let rows = 50_000u64;
    let report = run_stream(rt, job("s", (&generator, json!({"rows": rows})), (&verify, json!({"expect_rows": rows}))), svc.clone()).await;

    assert!(report.succeeded(), "{:?}", report.error());
    assert_eq!(report.source.calls, ["open", "run", "close"]);
    assert_eq!(report.destination.calls, ["open", "run", "close"]);
    // Metrics come from the guests' own reports.
    let hub = &svc.metrics;
    assert_eq!(hub.counter("s", Role::Source, "records_read"), rows);
    assert_eq!(hub.counter("s", Role::Destination, "records_written"), rows);
    assert_eq!(hub.counter("s", Role::Source, "batches_emitted"), hub.counter("s", Role::Destination, "batches_written"));
    assert!(hub.counter("s", Role::Source, "bytes_read") > rows * 10);
    assert_eq!(report.source.rows_seen, rows, "the host validated every row it forwarded");
    // No per-row host calls (SPEC § Batches).
    assert!(report.source.host_calls < rows / 100, "source made {} host calls for {rows} rows", report.source.host_calls);
    // Logs cross the boundary with their labels.
    let logs = svc.guest_logs();
    assert!(logs.iter().any(|l| l.message == format!("verified {rows} rows") && l.connector == "dest-verify" && l.stream == "s"), "{logs:?}");
    // 50k rows at a 10k checkpoint interval: the cursor reached the last row.
    assert_eq!(report.committed_cursor.unwrap().last_value.as_deref(), Some("49999"));
    assert_eq!(hub.counter("s", Role::Destination, "checkpoint_count"), hub.counter("s", Role::Source, "checkpoint_count"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_called_after_a_failure() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    // The sink expects more rows than come: it fails at the end of run-write.
    let report = run_stream(rt, job("short", (&generator, json!({"rows": 1000})), (&verify, json!({"expect_rows": 2000}))), services()).await;
    assert!(!report.succeeded());
    let err = report.error().and_then(|e| e.connector_error()).expect("a connector error");
    assert_eq!(err.category, ErrorCategory::Data);
    assert_eq!(err.code, "ROW_COUNT_MISMATCH");
    assert_eq!(report.destination.calls, ["open", "run", "close"], "close still runs after run failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_run_resumes_after_the_committed_cursor() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let svc = services();
    let mut first = job("inc", (&generator, json!({"rows": 30_000})), (&verify, json!({"expect_rows": 30_000})));
    first.context.sync_mode = rapidbyte_protocol::SyncMode::Incremental;
    first.context.cursor = Some(rapidbyte_protocol::CursorInfo { field: "id".into(), ..Default::default() });
    let r1 = run_stream(rt.clone(), first.clone(), svc.clone()).await;
    assert!(r1.succeeded(), "{:?}", r1.error());
    // The table grew to 45k rows: the second run must read exactly the 15k new ones.
    let mut second = first;
    second.source.config_json = json!({"rows": 45_000}).to_string();
    second.destination.config_json = json!({"expect_rows": 15_000}).to_string();
    let r2 = run_stream(rt, second, svc.clone()).await;
    assert!(r2.succeeded(), "{:?}", r2.error());
    assert_eq!(r2.source.rows_seen, 15_000);
    assert_eq!(r2.committed_cursor.unwrap().last_value.as_deref(), Some("44999"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_injected_at_a_host_call_stops_only_that_instance() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let mut j = job("faulty", (&generator, json!({"rows": 20_000})), (&verify, json!({})));
    j.destination.sandbox.trap_at_host_call = Some(7);
    let report = run_stream(rt.clone(), j, services()).await;
    let e = report.error().expect("the stream fails");
    assert!(
        matches!(e, rapidbyte::sandbox::runtime::InstanceError::Trap { .. }) && e.to_string().contains("fault injected at host call 7"),
        "{e}"
    );
    assert_eq!(report.destination.calls, ["open", "run"], "a trapped instance is not called again");
    // The host goes on: the same components run a clean stream next.
    let clean = run_stream(rt, job("after", (&generator, json!({"rows": 1000})), (&verify, json!({"expect_rows": 1000}))), services()).await;
    assert!(clean.succeeded(), "{:?}", clean.error());
}
