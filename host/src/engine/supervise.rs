//! Runs a stream to success, cancellation or a final failure, retrying
//! transient failures as [`crate::engine::retry::decide`] says (SPEC § Errors).
//! Every decision is logged with category, code, attempt, delay, commit
//! state and safe-to-retry; every retry counts in the `retry_count` metric.

use std::sync::Arc;

use rapidbyte_protocol::{Metric, Role, SyncMode, WriteMode};

use crate::sandbox::host_api::RunServices;
use crate::engine::retry::{decide, Decision, GaveUp, RetryContext, RetryRecord};
use crate::sandbox::runtime::Runtime;
use crate::engine::stream::{run_stream, StreamJob, StreamReport};
use crate::engine::whole_stream;

/// The host's metric counting retries of a stream (reported under the destination role).
pub const RETRY_COUNT: &str = "retry_count";

/// One stream across its attempts: the last attempt's report (which it
/// derefs to), the retries made before it and, after a final failure, why
/// the engine stopped (SPEC § Errors). Retry outcomes live here, not in the
/// report of one attempt.
#[derive(Debug)]
pub struct StreamOutcome {
    /// The last attempt.
    pub report: StreamReport,
    /// The retries made before it.
    pub retries: Vec<RetryRecord>,
    /// Why the engine stopped retrying, after a final failure.
    pub gave_up: Option<GaveUp>,
}

impl StreamOutcome {
    /// An outcome of a single attempt, never retried.
    pub fn once(report: StreamReport) -> Self {
        Self { report, retries: Vec::new(), gave_up: None }
    }
}

impl std::ops::Deref for StreamOutcome {
    type Target = StreamReport;
    fn deref(&self) -> &StreamReport {
        &self.report
    }
}

/// How far the engine retries one stream (`retry:` in the pipeline file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    /// Attempts, the first included.
    pub max_attempts: u32,
    /// No retry starts later than this after the first attempt started.
    pub max_elapsed: Option<std::time::Duration>,
}

/// Runs `job` up to `max_attempts` times.
pub async fn run_with_retries(runtime: Arc<Runtime>, job: StreamJob, services: RunServices, max_attempts: u32) -> StreamOutcome {
    run_with_budget(runtime, job, services, RetryBudget { max_attempts, max_elapsed: None }).await
}

/// Runs `job` within `budget`: attempts and the retry window.
pub async fn run_with_budget(runtime: Arc<Runtime>, job: StreamJob, services: RunServices, budget: RetryBudget) -> StreamOutcome {
    let RetryBudget { max_attempts, max_elapsed } = budget;
    let started = std::time::Instant::now();
    let stream = job.context.stream_name.clone();
    let mut retries = Vec::new();
    let mut attempt = 1u32;
    let guarded = whole_stream::guarded(&job.context);
    if guarded && let Some(report) = whole_stream_committed_earlier(&runtime, &job, &services).await {
        return StreamOutcome::once(report);
    }
    loop {
        let mut report = run_stream(Arc::clone(&runtime), job.clone(), services.clone()).await;
        let done = |report: StreamReport, retries, gave_up| {
            if guarded && report.succeeded() && let Err(e) = whole_stream::clear(&job, &services) {
                tracing::warn!(%stream, "the stream is committed, but its mark in the state store was not cleared ({e}): the next run asks the destination again");
            }
            StreamOutcome { report, retries, gave_up }
        };
        if report.succeeded() || report.cancelled {
            return done(report, retries, None);
        }
        // Host-side failures (traps, limits, protocol breaches) carry no
        // connector error: they are not transient and are never retried.
        let Some(error) = report.error().and_then(|e| e.connector_error()).cloned() else {
            return done(report, retries, None);
        };
        let ctx = RetryContext {
            attempt,
            max_attempts,
            exactly_once: job.context.commit_token_base.is_some(),
            idempotent_write: matches!(job.context.write_mode, WriteMode::Replace | WriteMode::Upsert(_)),
            replay_duplicates: job.context.sync_mode != SyncMode::Incremental
                && job.context.write_mode == WriteMode::Append
                && report.checkpoints_committed > 0,
        };
        let mut decision = decide(&error, ctx, jitter());
        if let Decision::Retry { delay } | Decision::ResumeFromCommitted { delay } = decision
            && max_elapsed.is_some_and(|window| started.elapsed() + delay > window)
        {
            decision = Decision::Fail { reason: "the retry window is over (`retry.max_elapsed_seconds`)" };
        }
        let (delay, resume) = match &decision {
            Decision::Retry { delay } => (*delay, false),
            Decision::ResumeFromCommitted { delay } => (*delay, true),
            _ => (std::time::Duration::ZERO, false),
        };
        let record = RetryRecord {
            attempt,
            category: error.category.to_string(),
            code: error.code.clone(),
            commit_state: error.commit_state.map(|c| c.as_str().to_string()),
            safe_to_retry: error.safe_to_retry,
            delay_ms: delay.as_millis() as u64,
            resume_from_committed: resume,
        };
        // A whole stream commits once: a token of this run means that COMMIT
        // landed although its answer was lost, and the stream is done.
        if resume && guarded && whole_stream::committed_by(&runtime, &job, &services, &job.context.run_id).await {
            tracing::warn!(%stream, code = %record.code, "the answer to the stream's COMMIT was lost, but the destination holds this run's token: the stream is committed");
            retries.push(RetryRecord { delay_ms: 0, ..record });
            report.destination.error = None;
            return done(report, retries, None);
        }
        match decision {
            Decision::Retry { .. } | Decision::ResumeFromCommitted { .. } => {
                tracing::warn!(
                    %stream, category = %record.category, code = %record.code, attempt, delay_ms = record.delay_ms,
                    commit_state = record.commit_state.as_deref().unwrap_or("not-given"), safe_to_retry = record.safe_to_retry,
                    resume_from_committed = resume, "retrying stream: {}", error.message
                );
                services.metrics.record(&stream, Role::Destination, &Metric::counter(RETRY_COUNT, 1));
                retries.push(record);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = services.cancel.cancelled() => {
                        report.cancelled = true;
                        return done(report, retries, None);
                    }
                }
                attempt += 1;
            }
            Decision::Fail { reason } => {
                // The run's diagnostic shows the error with all of this once;
                // the log line is for -v.
                tracing::debug!(
                    %stream, category = %record.category, code = %record.code, attempt,
                    commit_state = record.commit_state.as_deref().unwrap_or("not-given"), safe_to_retry = record.safe_to_retry, "not retrying: {reason}"
                );
                return done(report, retries, Some(GaveUp { reason: reason.to_string(), last: record }));
            }
            // The data and schema policies were applied inside the connector;
            // an error that still reaches the host is final.
            Decision::DataPolicy | Decision::SchemaPolicy => {
                let reason = "the stream's data/schema policy is `fail`".to_string();
                return done(report, retries, Some(GaveUp { reason, last: record }));
            }
        }
    }
}

/// § Delivery: the report of a whole exactly-once stream that an earlier
/// run committed before it stopped (nothing to write), or of a state store
/// that cannot say; `None` after marking the stream as this run's.
async fn whole_stream_committed_earlier(runtime: &Runtime, job: &StreamJob, services: &RunServices) -> Option<StreamReport> {
    let stream = &job.context.stream_name;
    let unreadable = |e: String| {
        let reason = format!("the stream's state cannot be read or written ({e}); fix the state store and run again");
        Some(StreamReport::not_started(job, &reason, false))
    };
    match whole_stream::pending_run(job, services) {
        Err(e) => return unreadable(e),
        Ok(Some(run)) if whole_stream::committed_by(runtime, job, services, &run).await => {
            tracing::warn!(%stream, %run, "run {run} committed this stream before it stopped: it is complete and is not written again");
            return match whole_stream::clear(job, services) {
                Ok(()) => Some(StreamReport::already_committed(job)),
                Err(e) => unreadable(e),
            };
        }
        Ok(_) => {}
    }
    whole_stream::mark(job, services).err().and_then(unreadable)
}

/// A draw in `[0, 1)` for backoff jitter (no RNG crate needed for this).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}
