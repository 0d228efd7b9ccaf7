//! Typed calls into the host: logs, metrics, checkpoints and state.
//!
//! Batches go through [`crate::Emitter`] and [`crate::Input`], which add the
//! size checks and standard metrics of SPEC § Batches and § Metrics.

use rapidbyte_protocol::{Checkpoint, ConnectorError, DeadLetter, Label, LogLevel, Metric, StateScope, StreamEstimate};

use crate::__bindings as b;

/// Logs `message` with structured `fields` into the host's tracing
/// subscriber. Never pass row data or secrets.
pub fn log(level: LogLevel, message: &str, fields: &[(&str, &str)]) {
    b::host_log(level, message, fields);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message, &[]);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message, &[]);
}

/// Reports a metric observation. Call it per batch, never per row (SPEC § Metrics).
pub fn metric(m: Metric) {
    b::host_metric(m);
}

/// Reports a counter increment.
pub fn counter(name: &str, by: u64) {
    metric(Metric::counter(name, by));
}

/// Reports a phase latency in milliseconds as a histogram observation.
pub fn timing_ms(name: &str, ms: f64) {
    metric(Metric::histogram(name, ms));
}

/// Labels for metrics, for callers that build them by hand.
pub fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs.iter().map(|(k, v)| Label::new(*k, *v)).collect()
}

/// States a checkpoint (SPEC § State and checkpoints). Prefer
/// [`crate::Emitter::checkpoint`] and [`crate::Input::commit_checkpoint`],
/// which keep sequence numbers and counts for you.
pub fn checkpoint(cp: Checkpoint) -> Result<(), ConnectorError> {
    b::host_checkpoint(cp)
}

/// Sends a record the source could not read to the destination's
/// dead-letter table (SPEC § Errors: data). Only under `on_data_error: dlq`;
/// the host refuses it otherwise, and when the destination cannot take dead
/// letters (contract 0.1). It commits with the chunk it was sent in.
pub fn dead_letter(row: DeadLetter) -> Result<(), ConnectorError> {
    b::host_dead_letter(row)
}

/// States what the source expects to read, for progress and ETA (SPEC § Metrics).
pub fn report_estimate(estimate: StreamEstimate) {
    b::host_report_estimate(estimate);
}

/// Reads a state value.
pub fn state_get(scope: StateScope, key: &str) -> Result<Option<String>, ConnectorError> {
    b::host_state_get(scope, key)
}

/// Writes a state value.
pub fn state_put(scope: StateScope, key: &str, value: &str) -> Result<(), ConnectorError> {
    b::host_state_put(scope, key, value)
}

/// Writes `value` only if the current value is `expected`; returns whether it did.
pub fn state_compare_and_set(
    scope: StateScope,
    key: &str,
    expected: Option<&str>,
    value: &str,
) -> Result<bool, ConnectorError> {
    b::host_state_compare_and_set(scope, key, expected, value)
}
