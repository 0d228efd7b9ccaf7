//! Host-owned state (SPEC § State and checkpoints): cursors and checkpoints
//! as scoped key/values with compare-and-set, plus the run history behind
//! `rapidbyte runs`. Backends: [`MemoryState`] (tests, probes),
//! [`SqliteState`] (default: one file next to the pipeline) and
//! [`PostgresState`] (shared deployments).

pub mod lease;
mod memory;
mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use memory::MemoryState;
pub use postgres::PostgresState;
pub use sqlite::SqliteState;

use crate::pipeline::{StateBackendName, StateSection};

/// A key/value store with compare-and-set, keyed by a scope string
/// (`pipeline` or `pipeline/stream`) and a key, and the run history.
pub trait StateStore: Send + Sync {
    /// Reads a value.
    fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StateError>;
    /// Writes a value.
    fn put(&self, scope: &str, key: &str, value: &str) -> Result<(), StateError>;
    /// Writes `value` if the current value is `expected`; returns whether it did.
    fn compare_and_set(&self, scope: &str, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StateError>;
    /// Records a run (new or finished; the same `run_id` replaces the row).
    fn record_run(&self, run: &RunRecord) -> Result<(), StateError>;
    /// The most recent runs of a pipeline, newest first.
    fn recent_runs(&self, pipeline: &str, limit: usize) -> Result<Vec<RunRecord>, StateError>;
}

/// One run in the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Start, seconds since the Unix epoch.
    pub started_at: i64,
    /// End, seconds since the Unix epoch (None while running or after a crash).
    pub finished_at: Option<i64>,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub outcome: String,
    /// Rows the sources reported read.
    pub records_read: u64,
    /// Rows the destinations reported written.
    pub records_written: u64,
    /// Bytes the destinations reported written.
    pub bytes_written: u64,
    /// Retries the engine made.
    pub retries: u64,
    /// Rows the on-data-error policy `skip` dropped (SPEC § Errors).
    pub records_skipped: u64,
    /// Rows the on-data-error policy `dlq` wrote to the dead-letter table.
    pub records_dead_lettered: u64,
    /// The first error, if any.
    pub error: Option<String>,
}

impl RunRecord {
    /// A run that has just started.
    pub fn started(run_id: &str, pipeline: &str, started_at: i64) -> Self {
        Self {
            run_id: run_id.into(),
            pipeline: pipeline.into(),
            started_at,
            finished_at: None,
            outcome: "running".into(),
            records_read: 0,
            records_written: 0,
            bytes_written: 0,
            retries: 0,
            records_skipped: 0,
            records_dead_lettered: 0,
            error: None,
        }
    }
}

/// A state backend failed.
#[derive(Debug, thiserror::Error)]
#[error("state store failed: {0}")]
pub struct StateError(pub String);

/// Where a pipeline's state lives by default: `<stem>.state.db` beside the file.
pub fn default_sqlite_path(pipeline_file: &Path) -> PathBuf {
    let stem = pipeline_file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "pipeline".into());
    pipeline_file.with_file_name(format!("{stem}.state.db"))
}

/// The SQLite file a `state:` section names (None for other backends): a
/// relative path is taken relative to the pipeline file.
pub fn sqlite_path(section: &StateSection, pipeline_file: &Path) -> Option<PathBuf> {
    if section.backend != StateBackendName::Sqlite {
        return None;
    }
    Some(match &section.path {
        Some(p) if p.is_relative() => pipeline_file.parent().unwrap_or(Path::new(".")).join(p),
        Some(p) => p.clone(),
        None => default_sqlite_path(pipeline_file),
    })
}

/// Opens the backend a pipeline's `state:` section names.
pub fn open(section: &StateSection, pipeline_file: &Path) -> Result<Arc<dyn StateStore>, StateError> {
    if let Some(path) = sqlite_path(section, pipeline_file) {
        return Ok(Arc::new(SqliteState::open(&path)?));
    }
    let url = section.url.as_deref().ok_or_else(|| StateError("`state.url` is required for the postgres backend".into()))?;
    Ok(Arc::new(PostgresState::connect(url, section.schema.as_deref().unwrap_or("rapidbyte"))?))
}

/// Seconds since the Unix epoch.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The behaviour asked of every backend, as assertions shared by each
/// backend's tests (the PostgreSQL one runs in `tests/`).
#[doc(hidden)]
pub mod conformance {
    use super::*;

    pub fn key_values(s: &dyn StateStore) {
        assert_eq!(s.get("p", "k").unwrap(), None);
        assert!(s.compare_and_set("p", "k", None, "1").unwrap());
        assert!(!s.compare_and_set("p", "k", None, "2").unwrap(), "expected absent, found 1");
        assert!(!s.compare_and_set("p", "k", Some("9"), "2").unwrap(), "expected 9, found 1");
        assert!(s.compare_and_set("p", "k", Some("1"), "2").unwrap());
        assert_eq!(s.get("p", "k").unwrap().as_deref(), Some("2"));
        assert_eq!(s.get("p/other", "k").unwrap(), None, "scopes are separate");
        s.put("p", "k", "3").unwrap();
        assert_eq!(s.get("p", "k").unwrap().as_deref(), Some("3"));
    }

    pub fn run_history(s: &dyn StateStore) {
        let mut run = RunRecord::started("r1", "p", 100);
        s.record_run(&run).unwrap();
        run.finished_at = Some(105);
        run.outcome = "failed".into();
        run.records_read = 10;
        run.records_written = 7;
        run.bytes_written = 700;
        run.retries = 2;
        run.error = Some("boom".into());
        s.record_run(&run).unwrap();
        let later = RunRecord { run_id: "r2".into(), started_at: 200, outcome: "running".into(), error: None, ..run.clone() };
        s.record_run(&later).unwrap();
        s.record_run(&RunRecord { pipeline: "other".into(), run_id: "r3".into(), ..later.clone() }).unwrap();
        let got = s.recent_runs("p", 10).unwrap();
        assert_eq!(got, vec![later, run], "newest first, one row per run id, other pipelines apart");
        assert_eq!(s.recent_runs("p", 1).unwrap().len(), 1);
    }
}
