//! Metrics and logs (SPEC § Metrics).

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// The standard metric names every connector emits per batch (SPEC § Metrics).
pub mod metric_names {
    /// Records a source emitted.
    pub const RECORDS_READ: &str = "records_read";
    /// Records a destination wrote durably.
    pub const RECORDS_WRITTEN: &str = "records_written";
    /// IPC bytes a source emitted.
    pub const BYTES_READ: &str = "bytes_read";
    /// IPC bytes a destination received.
    pub const BYTES_WRITTEN: &str = "bytes_written";
    /// Batches a source emitted.
    pub const BATCHES_EMITTED: &str = "batches_emitted";
    /// Batches a destination wrote.
    pub const BATCHES_WRITTEN: &str = "batches_written";
    /// Checkpoints stated.
    pub const CHECKPOINT_COUNT: &str = "checkpoint_count";
    /// Retries taken.
    pub const RETRY_COUNT: &str = "retry_count";
    /// Time waiting for the external system to send data.
    pub const FETCH_MS: &str = "fetch_ms";
    /// Time decoding external data into Arrow.
    pub const DECODE_MS: &str = "decode_ms";
    /// Time encoding Arrow into IPC or the external format.
    pub const ENCODE_MS: &str = "encode_ms";
    /// Time flushing data to the external system.
    pub const FLUSH_MS: &str = "flush_ms";
    /// Time committing.
    pub const COMMIT_MS: &str = "commit_ms";
    /// Records the on-data-error policy `skip` dropped (emitted only when
    /// it drops some; not in [`ALL`]).
    pub const RECORDS_SKIPPED: &str = "records_skipped";
    /// Records the on-data-error policy `dlq` wrote to a dead-letter queue
    /// instead of the target (emitted only when it does; not in [`ALL`]).
    pub const RECORDS_DEAD_LETTERED: &str = "records_dead_lettered";

    /// Every standard name.
    pub const ALL: [&str; 13] = [
        RECORDS_READ,
        RECORDS_WRITTEN,
        BYTES_READ,
        BYTES_WRITTEN,
        BATCHES_EMITTED,
        BATCHES_WRITTEN,
        CHECKPOINT_COUNT,
        RETRY_COUNT,
        FETCH_MS,
        DECODE_MS,
        ENCODE_MS,
        FLUSH_MS,
        COMMIT_MS,
    ];
}

/// A key/value pair: a metric label or a log field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Label {
    /// The key, snake_case.
    pub key: String,
    /// The value.
    pub value: String,
}

impl Label {
    /// A label from anything string-like.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: value.into() }
    }
}

/// One metric observation's value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum MetricValue {
    /// A monotonic counter increment.
    Counter(u64),
    /// A value that goes up and down; the last one wins.
    Gauge(f64),
    /// One observation of a distribution.
    Histogram(f64),
}

/// One metric observation (SPEC § Metrics).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Metric {
    /// A standard name (see [`metric_names`]) or a connector's own.
    pub name: String,
    /// The observation.
    pub value: MetricValue,
    /// Extra dimensions.
    pub labels: Vec<Label>,
}

impl Metric {
    /// A counter increment.
    pub fn counter(name: impl Into<String>, by: u64) -> Self {
        Self { name: name.into(), value: MetricValue::Counter(by), labels: Vec::new() }
    }

    /// A gauge reading.
    pub fn gauge(name: impl Into<String>, value: f64) -> Self {
        Self { name: name.into(), value: MetricValue::Gauge(value), labels: Vec::new() }
    }

    /// A histogram observation.
    pub fn histogram(name: impl Into<String>, value: f64) -> Self {
        Self { name: name.into(), value: MetricValue::Histogram(value), labels: Vec::new() }
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push(Label::new(key, value));
        self
    }
}

/// A log event's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Handled surprises.
    Warn,
    /// Failures.
    Error,
}
