//! A connector error crosses the boundary with every field intact.

use rapidbyte::engine::stream::run_stream;
use rapidbyte_protocol::{BackoffClass, CommitState, ConnectorError, ErrorCategory};
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_and_commit_state_survives_the_boundary() {
    let rt = runtime();
    let (hostile, verify) = (load(&rt, "source_hostile.wasm"), load(&rt, "dest_verify.wasm"));
    let mut cases: Vec<ConnectorError> = CommitState::ALL
        .into_iter()
        .map(|state| {
            ConnectorError::transient_db("COMMIT_FAILED", format!("commit answer lost ({state}) — ünïcode"))
                .with_commit_state(state)
                .with_retry_after_ms(1234)
                .with_backoff(BackoffClass::Slow)
                .with_details(r#"{"chunk":7,"table":"t"}"#)
        })
        .collect();
    // Every category, without a commit state.
    cases.extend(ErrorCategory::ALL.into_iter().map(|c| ConnectorError::new(c, "SOME_CODE", "m").with_backoff(BackoffClass::Fast)));
    for expected in cases {
        let config = json!({"attempt": "error", "error": expected});
        let report = run_stream(rt.clone(), job("e", (&hostile, config), (&verify, json!({}))), services()).await;
        let got = report.source.error.as_ref().and_then(|e| e.connector_error()).cloned();
        assert_eq!(got.as_ref(), Some(&expected), "error changed crossing the boundary");
        assert_eq!(report.source.calls, ["open", "run", "close"]);
        // The destination was told the source failed, not that the stream ended.
        let dest = report.destination.error.as_ref().and_then(|e| e.connector_error()).expect("destination error");
        assert_eq!(dest.code, "UPSTREAM_FAILED");
        assert_eq!(report.error().and_then(|e| e.connector_error()), Some(&expected), "root cause is the source's error");
    }
}
