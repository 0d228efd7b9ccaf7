//! What the host does with a connector error (SPEC § Errors): a pure
//! function of the error's category, retryable, safe-to-retry, commit state
//! and retry-after, the attempt number, and what the stream allows. No
//! clock, no randomness inside: the caller passes the jitter draw, so the
//! table test below covers every case exactly.
//!
//! [`crate::engine::supervise`] applies it to each stream.

use std::time::Duration;

use rapidbyte_protocol::{BackoffClass, CommitState, ConnectorError, ErrorCategory};

/// What the stream allows, for deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryContext {
    /// Attempts already made, the failed one included (1 after the first failure).
    pub attempt: u32,
    /// The most attempts allowed.
    pub max_attempts: u32,
    /// The run is exactly-once: the destination can say which token committed.
    pub exactly_once: bool,
    /// Replaying a chunk cannot duplicate data (upsert or replace).
    pub idempotent_write: bool,
    /// Chunks are already committed that a rerun would read and append again
    /// (a full-refresh append stream with no cursor to resume from).
    pub replay_duplicates: bool,
}

/// One retry the engine made, as logged and reported.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RetryRecord {
    /// The attempt that failed (1 for the first run).
    pub attempt: u32,
    /// The error's category.
    pub category: String,
    /// The error's code.
    pub code: String,
    /// Its commit state, if it gave one.
    pub commit_state: Option<String>,
    /// Whether the connector said a retry is safe.
    pub safe_to_retry: bool,
    /// The wait before the next attempt.
    pub delay_ms: u64,
    /// Whether the next attempt resumes from the destination's committed token.
    pub resume_from_committed: bool,
}

/// The host's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run the stream again from the last matched checkpoint after `delay`.
    Retry { delay: Duration },
    /// Ask the destination which token committed, then resume right after it.
    ResumeFromCommitted { delay: Duration },
    /// The on-data-error policy decides (fail, skip or dead-letter).
    DataPolicy,
    /// The schema evolution policy decides.
    SchemaPolicy,
    /// Stop; the reason says why in words a user can act on.
    Fail { reason: &'static str },
}

/// Decides what to do after `error`; `jitter` is a draw in `[0, 1)`.
pub fn decide(error: &ConnectorError, ctx: RetryContext, jitter: f64) -> Decision {
    use ErrorCategory as C;
    match error.category {
        C::Config => return Decision::Fail { reason: "configuration error: fix the config; never retried" },
        C::Auth => return Decision::Fail { reason: "credentials rejected: never retried until the config changes" },
        C::Permission => return Decision::Fail { reason: "missing privilege: never retried" },
        C::Internal => return Decision::Fail { reason: "connector bug: failing fast" },
        C::Data => return Decision::DataPolicy,
        C::Schema => return Decision::SchemaPolicy,
        C::RateLimit | C::TransientNetwork | C::TransientDb => {}
    }
    if ctx.attempt >= ctx.max_attempts {
        return Decision::Fail { reason: "retries exhausted" };
    }
    if ctx.replay_duplicates {
        return Decision::Fail {
            reason: "chunks of this full-refresh append stream are already committed and a rerun would append them again (use write_mode replace or upsert, or an incremental cursor)",
        };
    }
    let delay = delay(error, ctx.attempt, jitter);
    match error.commit_state {
        // The COMMIT may or may not have happened: never retry blindly.
        Some(CommitState::AfterCommitUnknown) | Some(CommitState::AfterCommitConfirmed) if ctx.exactly_once => {
            Decision::ResumeFromCommitted { delay }
        }
        Some(CommitState::AfterCommitUnknown) if ctx.idempotent_write => Decision::Retry { delay },
        Some(CommitState::AfterCommitUnknown) => Decision::Fail {
            reason: "the COMMIT's outcome is unknown and the write mode is not idempotent: a retry could duplicate rows (use exactly-once, upsert or replace)",
        },
        // Durable: redoing it would write the chunk twice unless replays converge.
        Some(CommitState::AfterCommitConfirmed) if ctx.idempotent_write => Decision::Retry { delay },
        Some(CommitState::AfterCommitConfirmed) => Decision::Fail {
            reason: "the chunk is already committed and the write mode is not idempotent: a retry would duplicate it",
        },
        Some(CommitState::BeforeCommit) | None if error.retryable && error.safe_to_retry => Decision::Retry { delay },
        Some(CommitState::BeforeCommit) | None => Decision::Fail { reason: "the connector says this error is not safe to retry" },
    }
}

/// `retry-after-ms` when given, else exponential backoff by class with jitter
/// (a delay in `[½, 1] ×` the step), capped at one minute.
pub fn delay(error: &ConnectorError, attempt: u32, jitter: f64) -> Duration {
    if let Some(ms) = error.retry_after_ms {
        return Duration::from_millis(ms);
    }
    let base_ms: f64 = match error.backoff_class {
        BackoffClass::Fast => 50.0,
        BackoffClass::Normal => 500.0,
        BackoffClass::Slow => 5_000.0,
    };
    let step = (base_ms * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(60_000.0);
    Duration::from_millis((step * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))) as u64)
}

/// Why a stream stopped for good after a failure.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GaveUp {
    /// The decision's reason.
    pub reason: String,
    /// The last error's fields, as in the retry log.
    pub last: RetryRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(exactly_once: bool, idempotent_write: bool) -> RetryContext {
        RetryContext { attempt: 1, max_attempts: 5, exactly_once, idempotent_write, replay_duplicates: false }
    }

    fn kind(d: &Decision) -> &'static str {
        match d {
            Decision::Retry { .. } => "retry",
            Decision::ResumeFromCommitted { .. } => "resume",
            Decision::DataPolicy => "data-policy",
            Decision::SchemaPolicy => "schema-policy",
            Decision::Fail { .. } => "fail",
        }
    }

    /// Every category × commit state × (exactly-once, idempotent) combination.
    #[test]
    fn decision_table() {
        let states = [None, Some(CommitState::BeforeCommit), Some(CommitState::AfterCommitUnknown), Some(CommitState::AfterCommitConfirmed)];
        let mut checked = 0;
        for category in ErrorCategory::ALL {
            for state in states {
                for (eo, idem) in [(false, false), (false, true), (true, false), (true, true)] {
                    let mut e = ConnectorError::new(category, "X", "m");
                    if let Some(s) = state {
                        e = e.with_commit_state(s);
                    }
                    let got = kind(&decide(&e, ctx(eo, idem), 0.5));
                    let transient = matches!(category, ErrorCategory::RateLimit | ErrorCategory::TransientNetwork | ErrorCategory::TransientDb);
                    let want = match category {
                        ErrorCategory::Config | ErrorCategory::Auth | ErrorCategory::Permission | ErrorCategory::Internal => "fail",
                        ErrorCategory::Data => "data-policy",
                        ErrorCategory::Schema => "schema-policy",
                        _ => {
                            assert!(transient);
                            match state {
                                None | Some(CommitState::BeforeCommit) => "retry",
                                Some(_) if eo => "resume",
                                Some(_) if idem => "retry",
                                Some(_) => "fail",
                            }
                        }
                    };
                    assert_eq!(got, want, "{category} {state:?} exactly_once={eo} idempotent={idem}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 9 * 4 * 4);
    }

    #[test]
    fn unsafe_or_exhausted_errors_fail() {
        let not_safe = ConnectorError::transient_db("X", "m").with_safe_to_retry(false);
        assert_eq!(kind(&decide(&not_safe, ctx(false, false), 0.0)), "fail");
        let not_retryable = ConnectorError::transient_network("X", "m").with_retryable(false);
        assert_eq!(kind(&decide(&not_retryable, ctx(false, false), 0.0)), "fail");
        let e = ConnectorError::transient_db("X", "m");
        let last = RetryContext { attempt: 5, ..ctx(false, false) };
        assert_eq!(decide(&e, last, 0.0), Decision::Fail { reason: "retries exhausted" });
        let replay = RetryContext { replay_duplicates: true, ..ctx(false, false) };
        assert_eq!(kind(&decide(&e, replay, 0.0)), "fail", "a rerun would append committed chunks again");
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let e = ConnectorError::transient_db("X", "m");
        assert_eq!(delay(&e, 1, 0.0), Duration::from_millis(250));
        assert_eq!(delay(&e, 1, 1.0), Duration::from_millis(500));
        assert_eq!(delay(&e, 3, 1.0), Duration::from_millis(2000));
        assert_eq!(delay(&e, 30, 1.0), Duration::from_secs(60), "capped");
        let fast = e.clone().with_backoff(BackoffClass::Fast);
        assert_eq!(delay(&fast, 2, 1.0), Duration::from_millis(100));
        let limited = ConnectorError::rate_limit("SLOW_DOWN", "m").with_retry_after_ms(1234);
        assert_eq!(decide(&limited, ctx(false, false), 0.3), Decision::Retry { delay: Duration::from_millis(1234) });
    }
}
