//! Retries (SPEC § Errors) end to end: a source failing transiently N times
//! is retried N times with growing backoff, then succeeds; a failure that
//! keeps coming gives up with the error's fields; a config error is never
//! retried.

use rapidbyte::engine::run::{run_jobs, Schedule};
use rapidbyte::engine::supervise::{RetryBudget, RETRY_COUNT};
use rapidbyte_protocol::Role;
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::json;

fn schedule(max_attempts: u32) -> Schedule {
    Schedule { parallelism: 1, retry: RetryBudget { max_attempts, max_elapsed: None } }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_transient_failures_are_retried_with_backoff_then_succeed() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let j = job("flaky", (&generator, json!({"rows": 50_000, "fail_times": 3})), (&verify, json!({"expect_rows": 50_000})));
    let services = services();
    let reports = run_jobs(rt, vec![j], services.clone(), schedule(5)).await;
    let r = &reports[0];
    assert!(r.succeeded(), "{:?}", r.error());
    assert_eq!(r.retries.len(), 3, "one retry per injected failure: {:?}", r.retries);
    // Fast backoff: 50 ms × 2^(attempt-1), jittered into [½, 1] of that.
    for (i, retry) in r.retries.iter().enumerate() {
        let step = 50u64 << i;
        assert_eq!(retry.attempt, i as u32 + 1);
        assert_eq!((retry.category.as_str(), retry.code.as_str()), ("transient-network", "INJECTED_FAILURE"));
        assert!(retry.safe_to_retry && !retry.resume_from_committed);
        assert!((step / 2..=step).contains(&retry.delay_ms), "attempt {}: delay {} ms outside [{}, {}]", i + 1, retry.delay_ms, step / 2, step);
    }
    assert_eq!(services.metrics.counter("flaky", Role::Destination, RETRY_COUNT), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_and_the_final_error_carries_its_fields() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let j = job("hopeless", (&generator, json!({"rows": 1000, "fail_times": 10})), (&verify, json!({})));
    let reports = run_jobs(rt, vec![j], services(), schedule(3)).await;
    let r = &reports[0];
    assert!(!r.succeeded());
    assert_eq!(r.retries.len(), 2, "3 attempts are 2 retries");
    let gave_up = r.gave_up.as_ref().expect("a final decision");
    assert_eq!(gave_up.reason, "retries exhausted");
    assert_eq!((gave_up.last.attempt, gave_up.last.code.as_str()), (3, "INJECTED_FAILURE"));
}

/// The retry window bounds the retries in time as `max_attempts` does in
/// number: a failure that keeps coming stops once the next retry would start
/// past `retry.max_elapsed_seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_when_the_retry_window_is_over() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    let j = job("windowed", (&generator, json!({"rows": 1000, "fail_times": 1000})), (&verify, json!({})));
    let window = Schedule { parallelism: 1, retry: RetryBudget { max_attempts: 1000, max_elapsed: Some(std::time::Duration::from_secs(2)) } };
    let reports = run_jobs(rt, vec![j], services(), window).await;
    let r = &reports[0];
    let gave_up = r.gave_up.as_ref().expect("a final decision");
    assert!(gave_up.reason.contains("max_elapsed_seconds"), "{}", gave_up.reason);
    // Fast backoff doubles from 50 ms: a 2 s window holds a handful of retries, not 999.
    assert!((3..12).contains(&r.retries.len()), "{} retries", r.retries.len());
    let waited: u64 = r.retries.iter().map(|x| x.delay_ms).sum();
    assert!(waited <= 2_000, "the delays fit in the window: {waited} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_error_is_never_retried() {
    let rt = runtime();
    let (generator, verify) = (load(&rt, "source_generator.wasm"), load(&rt, "dest_verify.wasm"));
    // batch_rows 0 is refused by the generator's open as a config error.
    let j = job("misconfigured", (&generator, json!({"rows": 10, "batch_rows": 0})), (&verify, json!({})));
    let reports = run_jobs(rt, vec![j], services(), schedule(5)).await;
    let r = &reports[0];
    assert!(!r.succeeded());
    assert!(r.retries.is_empty());
    let gave_up = r.gave_up.as_ref().expect("a final decision");
    assert_eq!(gave_up.last.category, "config");
    assert!(gave_up.reason.contains("never retried"), "{}", gave_up.reason);
}
