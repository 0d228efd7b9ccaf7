//! Lifecycle, stream context, checkpoints and summaries (SPEC § Lifecycle,
//! § Features, § State and checkpoints, § Delivery).

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// An ability a connector declares (SPEC § Features). The set may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum Feature {
    /// Commits with a token and answers whether a token committed.
    ExactlyOnce,
    /// Loads through the bulk path (binary COPY).
    BulkLoadCopy,
    /// The `upsert` write mode.
    Upsert,
    /// The `replace` write mode.
    Replace,
    /// Incremental reads from a cursor.
    Incremental,
    /// Change data capture.
    Cdc,
    /// Schema evolution policies.
    SchemaEvolution,
    /// Partitioned reads.
    PartitionedRead,
}

impl Feature {
    /// Every feature, in contract order.
    pub const ALL: [Feature; 8] = [
        Self::ExactlyOnce,
        Self::BulkLoadCopy,
        Self::Upsert,
        Self::Replace,
        Self::Incremental,
        Self::Cdc,
        Self::SchemaEvolution,
        Self::PartitionedRead,
    ];

    /// The contract's kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExactlyOnce => "exactly-once",
            Self::BulkLoadCopy => "bulk-load-copy",
            Self::Upsert => "upsert",
            Self::Replace => "replace",
            Self::Incremental => "incremental",
            Self::Cdc => "cdc",
            Self::SchemaEvolution => "schema-evolution",
            Self::PartitionedRead => "partitioned-read",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Feature {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown feature `{s}`"))
    }
}

/// Limits on a stream run (SPEC § Batches). Zero disables a checkpoint trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Limits {
    /// No batch may exceed this many IPC bytes.
    pub max_batch_bytes: u64,
    /// How many batches may wait between stages.
    pub max_inflight_batches: u32,
    /// Checkpoint after this many bytes.
    pub checkpoint_interval_bytes: u64,
    /// Checkpoint after this many records.
    pub checkpoint_interval_rows: u64,
    /// Checkpoint after this many seconds.
    pub checkpoint_interval_seconds: u64,
    /// The ceiling for a frame holding a single row (contract 0.2; a 0.1
    /// connector is not told it, and its default-limits read as 0 here).
    pub max_record_bytes: u64,
}

/// The default of `limits.max_record_bytes`: the largest single record a
/// stream carries (PostgreSQL allows 1 GB per value; 256 MiB keeps a wasm32
/// connector's few copies of it inside its 4 GiB address space).
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 256 << 20;

impl Default for Limits {
    /// 1 MiB batches: as fast as 4 MiB in `cargo xtask bench` (5M rows:
    /// 11.2–11.4 s either way) with peak RSS 44 MiB instead of 76 MiB.
    fn default() -> Self {
        Self {
            max_batch_bytes: 1024 * 1024,
            max_inflight_batches: 8,
            checkpoint_interval_bytes: 64 * 1024 * 1024,
            checkpoint_interval_rows: 0,
            checkpoint_interval_seconds: 0,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// What `open` returns (SPEC § Lifecycle).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct OpenInfo {
    /// The connector's name.
    pub name: String,
    /// The connector's own version.
    pub version: String,
    /// The contract version it was built against.
    pub protocol_version: String,
    /// The abilities it supports.
    pub features: Vec<Feature>,
    /// The limits it works best with.
    pub default_limits: Limits,
}

/// How a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum SyncMode {
    /// Read everything.
    #[default]
    FullRefresh,
    /// Read after the last committed cursor.
    Incremental,
    /// Read a change log.
    Cdc,
}

/// How a stream is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum WriteMode {
    /// Add rows.
    #[default]
    Append,
    /// Replace the target atomically.
    Replace,
    /// Insert or update on these primary key columns.
    Upsert(Vec<String>),
}

/// An incremental stream's cursor; values are opaque to the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct CursorInfo {
    /// The ordered column.
    pub field: String,
    /// The column ordering rows that share a cursor value.
    pub tie_breaker: Option<String>,
    /// The last committed cursor value.
    pub last_value: Option<String>,
    /// The last committed tie-breaker value.
    pub last_tie_breaker: Option<String>,
}

/// What to do with a record that cannot be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum DataErrorPolicy {
    /// End the stream.
    #[default]
    Fail,
    /// Drop and count the record.
    Skip,
    /// Dead-letter the record.
    Dlq,
}

/// Policy for a new source column (SPEC § Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum NewColumnPolicy {
    /// Add it to the destination.
    #[default]
    Add,
    /// Leave it out.
    Ignore,
    /// Fail the stream.
    Fail,
}

/// Policy for a column gone from the source (SPEC § Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum RemovedColumnPolicy {
    /// Write NULLs into it.
    #[default]
    Ignore,
    /// Fail the stream.
    Fail,
}

/// Policy for a changed column type (SPEC § Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum TypeChangePolicy {
    /// Convert when lossless.
    Coerce,
    /// Fail the stream.
    #[default]
    Fail,
    /// Write NULL.
    Null,
}

/// Policy for a changed nullability (SPEC § Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum NullabilityChangePolicy {
    /// Relax the destination.
    #[default]
    Allow,
    /// Fail the stream.
    Fail,
}

/// Schema evolution policies (SPEC § Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(deny_unknown_fields, default))]
pub struct SchemaPolicy {
    /// A new source column.
    pub new_column: NewColumnPolicy,
    /// A column gone from the source.
    pub removed_column: RemovedColumnPolicy,
    /// A changed type.
    pub type_change: TypeChangePolicy,
    /// A changed nullability.
    pub nullability_change: NullabilityChangePolicy,
}

/// A stream's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(deny_unknown_fields, default))]
pub struct Policies {
    /// Bad records.
    pub on_data_error: DataErrorPolicy,
    /// Schema changes.
    pub schema_evolution: SchemaPolicy,
}

/// The identity of exactly-once commits (SPEC § Delivery).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct CommitTokenBase {
    /// The pipeline's name.
    pub pipeline: String,
    /// The stream's name.
    pub stream_name: String,
    /// The run's id.
    pub run_id: String,
}

/// Everything a connector needs to run one stream (SPEC § Lifecycle).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamContext {
    /// The pipeline's name.
    pub pipeline: String,
    /// This run's id.
    pub run_id: String,
    /// The stream's name.
    pub stream_name: String,
    /// The Arrow schema as an IPC stream with no batches; empty when unknown.
    pub schema: Vec<u8>,
    /// Columns to read; empty means all.
    pub selected_columns: Vec<String>,
    /// How the stream is read.
    pub sync_mode: SyncMode,
    /// The cursor, for incremental streams.
    pub cursor: Option<CursorInfo>,
    /// How the stream is written.
    pub write_mode: WriteMode,
    /// The limits in force.
    pub limits: Limits,
    /// The policies in force.
    pub policies: Policies,
    /// Present when the run is exactly-once.
    pub commit_token_base: Option<CommitTokenBase>,
    /// Stream-specific options as JSON.
    pub options: Option<String>,
}

impl StreamContext {
    /// § Delivery: the stream is published whole — a replace, or a
    /// full-refresh append (a copy of the whole source appended once). Its
    /// destination commits it in one transaction at end of stream, so a
    /// crash, cancel or failure leaves the destination as it was and a rerun
    /// writes it once; the host ends a cancelled one with an abort and never
    /// hands its source a resume cursor.
    pub fn published_whole(&self) -> bool {
        match self.write_mode {
            WriteMode::Replace => true,
            WriteMode::Append => self.sync_mode == SyncMode::FullRefresh,
            WriteMode::Upsert(_) => false,
        }
    }
}

/// A stream a source can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSchema {
    /// Its name.
    pub name: String,
    /// Its Arrow schema as an IPC stream with no batches.
    pub schema: Vec<u8>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// Columns usable as a cursor.
    pub cursor_candidates: Vec<String>,
    /// Supported sync modes.
    pub sync_modes: Vec<SyncMode>,
}

/// Who states a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum CheckpointKind {
    /// Emitted up to the cursor.
    Source,
    /// Durably committed up to the cursor.
    Destination,
}

/// A checkpoint (SPEC § State and checkpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Checkpoint {
    /// Who states it.
    pub kind: CheckpointKind,
    /// 1, 2, 3 … within a run; a destination repeats the source's sequence.
    pub sequence: u64,
    /// The cursor reached.
    pub cursor: Option<CursorInfo>,
    /// Records since the previous checkpoint.
    pub records: u64,
    /// Bytes since the previous checkpoint.
    pub bytes: u64,
}

/// The highest committed token a destination reports (SPEC § Delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct CommittedToken {
    /// The run that committed it.
    pub run_id: String,
    /// The highest committed sequence of that run.
    pub sequence: u64,
    /// The cursor committed with it.
    pub cursor: Option<CursorInfo>,
}

/// One phase's time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct PhaseTiming {
    /// A standard phase name (`fetch_ms` …).
    pub name: String,
    /// Milliseconds.
    pub ms: u64,
}

/// What `run-read` returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ReadSummary {
    /// Records emitted.
    pub records_read: u64,
    /// IPC bytes emitted.
    pub bytes_read: u64,
    /// Batches emitted.
    pub batches_emitted: u64,
    /// Checkpoints stated.
    pub checkpoints: u64,
    /// Records skipped by policy.
    pub records_skipped: u64,
    /// Time per phase.
    pub phases: Vec<PhaseTiming>,
}

/// What `run-write` returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct WriteSummary {
    /// Records durably written.
    pub records_written: u64,
    /// IPC bytes received.
    pub bytes_written: u64,
    /// Batches received.
    pub batches_written: u64,
    /// Checkpoints stated.
    pub checkpoints: u64,
    /// Records skipped by policy.
    pub records_skipped: u64,
    /// Time per phase.
    pub phases: Vec<PhaseTiming>,
}

/// What `run-transform` returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct TransformSummary {
    /// Records received.
    pub records_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Batches emitted.
    pub batches_emitted: u64,
    /// Time per phase.
    pub phases: Vec<PhaseTiming>,
}

/// What `next-batch` hands a destination or transform.
#[derive(Debug, Clone, PartialEq)]
pub enum NextItem {
    /// One Arrow IPC stream frame.
    Batch(Vec<u8>),
    /// A source checkpoint boundary: commit what came before, then state a
    /// destination checkpoint of the same sequence.
    Checkpoint(Checkpoint),
    /// No more input: the source finished.
    EndOfStream,
    /// The stream stopped before its end: roll back everything after the
    /// last checkpoint (contract 0.2; a 0.1 destination gets an error).
    Aborted(AbortReason),
    /// A record the source could not read, for the dead-letter table
    /// (contract 0.2).
    DeadLetter(DeadLetter),
}

/// Why a stream stopped before its end. Stated by the host, never taken
/// from a connector's text (SPEC § Lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum AbortReason {
    /// The source failed.
    SourceFailed,
    /// The run was cancelled with a batch not covered by a checkpoint.
    Cancelled,
    /// The host stopped the source (a limit or a breach of the contract).
    HostStopped,
}

impl AbortReason {
    /// A short phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SourceFailed => "the source failed",
            Self::Cancelled => "the run was cancelled",
            Self::HostStopped => "the host stopped the source",
        }
    }

    /// The error a destination returns for an aborted stream, and what a
    /// contract-0.1 destination is handed instead of the reason:
    /// `UPSTREAM_FAILED`, before commit, safe to retry.
    pub fn as_error(self) -> crate::ConnectorError {
        crate::ConnectorError::internal(
            "UPSTREAM_FAILED",
            format!("{}; roll back everything after the last checkpoint", self.describe()),
        )
        .with_commit_state(crate::CommitState::BeforeCommit)
        .with_safe_to_retry(true)
    }
}

/// A record a source could not read, kept under `on_data_error: dlq`
/// (SPEC § Errors: data).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct DeadLetter {
    /// The record's primary key as a JSON object, when known.
    pub key: Option<String>,
    /// The whole record as read, as a JSON object.
    pub content: String,
    /// Why it could not be read.
    pub error: crate::ConnectorError,
}

/// What a source expects to read, for progress and ETA only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct StreamEstimate {
    /// Records, if the source can tell.
    pub records: Option<u64>,
    /// Bytes, if the source can tell.
    pub bytes: Option<u64>,
}

/// Where a piece of state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum StateScope {
    /// Shared by the pipeline's streams.
    Pipeline,
    /// The stream's own.
    Stream,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_round_trip() {
        for f in Feature::ALL {
            assert_eq!(f.as_str().parse::<Feature>(), Ok(f));
        }
        assert!("exactly_once".parse::<Feature>().is_err());
    }
}
