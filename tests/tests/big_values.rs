//! Records larger than a batch (SPEC § Batches): `max_batch_bytes` is the
//! size sources batch to, not a cliff for a single row. A row above it
//! travels alone in its own frame, through a channel smaller than the frame,
//! up to the host's `max_record_bytes`; above that it is a data error
//! `RECORD_TOO_LARGE` naming the stream, the size and the limit.

use std::sync::{Arc, Mutex};

use rapidbyte::engine::channel::Item;
use rapidbyte::sandbox::host_api::DEFAULT_MAX_RECORD_BYTES;
use rapidbyte::sandbox::runtime::InstanceError;
use rapidbyte::sandbox::{default_memory_bytes, SandboxSpec};
use rapidbyte::engine::stream::{read_stream, run_stream, ConnectorSpec};
use rapidbyte_protocol::{ErrorCategory, Role};
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::{json, Value};

const MIB: usize = 1 << 20;

/// Generator and verifier settings for `rows` rows with big values at `ids`.
fn configs(rows: u64, ids: &[i64], bytes: usize) -> (Value, Value) {
    let big = json!({"ids": ids, "bytes": bytes});
    (json!({"rows": rows, "batch_rows": 1000, "big_values": big}), json!({"expect_rows": rows, "big_values": big}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_larger_than_a_batch_travels_alone_to_the_destination() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    // Three 3 MiB rows, two of them adjacent, among 5,000 small ones, at the default 1 MiB batches.
    let (source, destination) = configs(5000, &[10, 11, 4000], 3 * MIB);
    let mut j = job("big", (&generator, source.clone()), (&verify, destination));
    assert_eq!(j.context.limits.max_batch_bytes, MIB as u64);
    assert_eq!(j.context.limits.max_record_bytes, DEFAULT_MAX_RECORD_BYTES);
    // A channel smaller than one big frame: each still passes, alone.
    j.max_inflight_bytes = 2 * MIB;
    let context = j.context.clone();
    let svc = services();
    let report = run_stream(Arc::clone(&rt), j, svc.clone()).await;
    assert!(report.succeeded(), "{:?}", report.error());
    assert_eq!(report.destination.rows_seen, 5000, "dest-verify checked every row, the big values included");
    let read = svc.metrics.counter("big", Role::Source, "records_read");
    assert_eq!(read, 5000);

    // What the frames look like: each big row alone, everything else within the limit.
    let frames = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&frames);
    let side = read_stream(
        rt,
        ConnectorSpec { component: generator, config_json: source.to_string(), sandbox: SandboxSpec::default() },
        context,
        services(),
        move |item| {
            if let Item::Batch { frame, rows } = item {
                sink.lock().unwrap().push((frame.len(), rows));
            }
        },
        2 * MIB,
    )
    .await;
    assert!(side.error.is_none(), "{:?}", side.error);
    let frames = frames.lock().unwrap();
    let big: Vec<_> = frames.iter().filter(|(bytes, _)| *bytes > MIB).collect();
    assert_eq!(big.len(), 3, "one frame per big row: {frames:?}");
    assert!(big.iter().all(|(bytes, rows)| *rows == 1 && *bytes > 3 * MIB), "{big:?}");
    assert_eq!(frames.iter().map(|(_, rows)| rows).sum::<u64>(), 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_above_max_record_bytes_is_a_data_error_record_too_large() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let (source, destination) = configs(100, &[50], 3 * MIB);
    let mut j = job("too-big", (&generator, source), (&verify, destination));
    j.context.limits.max_record_bytes = 2 * MIB as u64;
    let report = run_stream(rt, j, services()).await;
    assert!(!report.succeeded());
    let e = report.error().and_then(InstanceError::connector_error).unwrap_or_else(|| panic!("a connector error: {:?}", report.error()));
    assert_eq!((e.category, e.code.as_str(), e.retryable), (ErrorCategory::Data, "RECORD_TOO_LARGE", false), "{e}");
    for part in ["stream `too-big`", "max_record_bytes = 2097152", "limits.max_record_bytes"] {
        assert!(e.message.contains(part), "`{part}` missing: {}", e.message);
    }
    assert!(matches!(report.source.error, Some(InstanceError::Connector { .. })), "the source failed with it: {:?}", report.source.error);
    // The destination saw an aborted stream, not a finished one.
    let d = report.destination.error.as_ref().and_then(InstanceError::connector_error).expect("the destination was told");
    assert_eq!(d.code, "UPSTREAM_FAILED");
    assert!(report.destination.rows_seen < 100, "the stream did not finish: {} rows", report.destination.rows_seen);
}

/// At the default limits a value just under 256 MiB is carried — the
/// default memory cap (it follows `max_record_bytes`) holds it on both sides,
/// and wasmtime lifts a frame that large — and one just over it is a data
/// error, not a trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_ceiling_carries_a_255_mib_value_and_refuses_a_257_mib_one() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let cap = default_memory_bytes(DEFAULT_MAX_RECORD_BYTES);
    assert_eq!(SandboxSpec::default().memory_bytes, cap);

    let (source, destination) = configs(2000, &[1000], 255 * MIB);
    let report = run_stream(Arc::clone(&rt), job("at-ceiling", (&generator, source), (&verify, destination)), services()).await;
    assert!(report.succeeded(), "{:?}", report.error());
    assert_eq!(report.destination.rows_seen, 2000);
    eprintln!(
        "a 255 MiB value: source peak {} MiB, destination peak {} MiB, cap {} MiB",
        report.source.memory_peak / MIB,
        report.destination.memory_peak / MIB,
        cap / MIB
    );
    for (side, peak) in [("source", report.source.memory_peak), ("destination", report.destination.memory_peak)] {
        assert!(peak >= 255 * MIB && peak <= cap, "{side} peak {} MiB, cap {} MiB", peak / MIB, cap / MIB);
    }

    let (source, destination) = configs(10, &[5], 257 * MIB);
    let report = run_stream(rt, job("over-ceiling", (&generator, source), (&verify, destination)), services()).await;
    let e = report.error().and_then(InstanceError::connector_error).unwrap_or_else(|| panic!("a data error, not {:?}", report.error()));
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Data, "RECORD_TOO_LARGE"), "{e}");
    assert!(e.message.contains("max_record_bytes = 268435456"), "{}", e.message);
}

/// Under `on_data_error: skip` a record above `max_record_bytes` is dropped
/// and counted by the source; the rest of the stream is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_skip_a_record_above_the_ceiling_is_dropped_and_counted() {
    let rt = runtime();
    let generator = load(&rt, "source_generator.wasm");
    let (source, _) = configs(100, &[50], 3 * MIB);
    let mut context = job("skip-big", (&generator, source.clone()), (&generator, json!({}))).context;
    context.policies.on_data_error = rapidbyte_protocol::DataErrorPolicy::Skip;
    context.limits.max_record_bytes = 2 * MIB as u64;
    let rows = Arc::new(Mutex::new(0u64));
    let sink = Arc::clone(&rows);
    let svc = services();
    let side = rapidbyte::engine::stream::read_stream(
        rt,
        ConnectorSpec { component: generator, config_json: source.to_string(), sandbox: SandboxSpec::default() },
        context,
        svc.clone(),
        move |item| {
            if let Item::Batch { rows, .. } = item {
                *sink.lock().unwrap() += rows;
            }
        },
        2 * MIB,
    )
    .await;
    assert!(side.error.is_none(), "skip does not fail the stream: {:?}", side.error);
    assert_eq!(*rows.lock().unwrap(), 99, "every other row is delivered");
    match side.summary {
        Some(rapidbyte::sandbox::host_api::RunSummary::Read(s)) => assert_eq!(s.records_skipped, 1),
        other => panic!("a read summary: {other:?}"),
    }
    assert_eq!(svc.metrics.counter("skip-big", Role::Source, "records_skipped"), 1);
}
