//! A deterministic generator source: `rows` rows of mixed Arrow types
//! (see `rapidbyte-testdata`), in batches sized to `max_batch_bytes`, with a
//! source checkpoint whenever an interval passes and at the end.
//!
//! Config: `{"rows": 1000000, "batch_rows": 8192}` (`batch_rows` optional).
//! For retry tests, `"fail_times": N` makes the first N runs of a stream fail
//! with a transient network error after `fail_after_rows` rows (default 0);
//! the count is kept in host state, so it spans instances and attempts.
//! `"pause_ms": M` sleeps after each batch, making a run slow enough to
//! interrupt in tests.
//! `"big_values": {"ids": [1], "bytes": 3145728}` makes the `name` of those
//! rows a value of that many bytes (records larger than a batch); give
//! dest-verify the same setting.
//! `"first_id": F` numbers the rows from F instead of 0 (tests tell two
//! loads of one table apart by their ids).
//! `"pg_types": {"name": "…"}` puts that text in the column's
//! `rapidbyte.pg_type` metadata, as a PostgreSQL source would (conformance
//! feeds destinations hostile type names this way).
//! The checkpoint cursor is the last row id emitted, so an incremental run
//! resumes after the last committed row.

use rapidbyte_sdk::{config, host, BackoffClass, ConnectorError, StateScope, CursorInfo, Emitter, ReadSummary, Source, StreamContext, StreamSchema};
use rapidbyte_testdata::BigValuesConfig;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    rows: u64,
    #[serde(default)]
    batch_rows: Option<usize>,
    #[serde(default)]
    fail_times: u32,
    #[serde(default)]
    fail_after_rows: u64,
    /// Sleep after each batch (slow runs for interruption tests).
    #[serde(default)]
    pause_ms: u64,
    /// Rows whose `name` is a big value.
    #[serde(default)]
    big_values: Option<BigValuesConfig>,
    /// The first row's id.
    #[serde(default)]
    first_id: u64,
    /// `rapidbyte.pg_type` metadata by column.
    #[serde(default)]
    pg_types: std::collections::BTreeMap<String, String>,
}

impl Config {
    /// The generator's schema with the configured type metadata.
    fn schema(&self) -> rapidbyte_sdk::arrow::datatypes::SchemaRef {
        use rapidbyte_sdk::arrow::datatypes::{Field, Schema};
        let base = rapidbyte_testdata::schema();
        if self.pg_types.is_empty() {
            return base;
        }
        let fields: Vec<Field> = base
            .fields()
            .iter()
            .map(|f| match self.pg_types.get(f.name()) {
                Some(t) => f.as_ref().clone().with_metadata(std::collections::HashMap::from([("rapidbyte.pg_type".to_string(), t.clone())])),
                None => f.as_ref().clone(),
            })
            .collect();
        std::sync::Arc::new(Schema::new(fields))
    }
}


const FAILURES_KEY: &str = "generator.injected_failures";

/// Fails this run if fewer than `fail_times` runs of the stream have failed.
fn maybe_fail(config: &Config) -> Result<(), ConnectorError> {
    if config.fail_times == 0 {
        return Ok(());
    }
    let done: u32 = host::state_get(StateScope::Stream, FAILURES_KEY)?.and_then(|v| v.parse().ok()).unwrap_or(0);
    if done >= config.fail_times {
        return Ok(());
    }
    host::state_put(StateScope::Stream, FAILURES_KEY, &(done + 1).to_string())?;
    Err(ConnectorError::transient_network("INJECTED_FAILURE", format!("injected failure {} of {}", done + 1, config.fail_times))
        .with_backoff(BackoffClass::Fast))
}

struct Generator {
    config: Config,
}

fn internal(e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::internal("GENERATE", e.to_string())
}

impl Source for Generator {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        let config: Config = config::parse(json)?;
        if config.batch_rows == Some(0) {
            return Err(ConnectorError::config("INVALID_CONFIG", "batch_rows must be at least 1"));
        }
        Ok(Self { config })
    }

    fn discover(&mut self) -> Result<Vec<StreamSchema>, ConnectorError> {
        Ok(vec![StreamSchema {
            name: "generated".into(),
            schema: rapidbyte_sdk::ipc::encode_schema(&self.config.schema())?,
            primary_key: vec!["id".into()],
            cursor_candidates: vec!["id".into()],
            sync_modes: vec![rapidbyte_sdk::SyncMode::FullRefresh, rapidbyte_sdk::SyncMode::Incremental],
        }])
    }

    fn read(&mut self, ctx: &StreamContext, out: &mut Emitter) -> Result<ReadSummary, ConnectorError> {
        // Incremental: start after the last committed id.
        let start: u64 = match ctx.cursor.as_ref().and_then(|c| c.last_value.as_deref()) {
            Some(v) => v.parse::<u64>().map_err(|_| ConnectorError::config("BAD_CURSOR", format!("cursor `{v}` is not a row id")))? + 1,
            None => 0,
        }
        .max(self.config.first_id);
        let end = self.config.first_id.saturating_add(self.config.rows);
        let by_size = (out.limits().max_batch_bytes as usize / rapidbyte_testdata::APPROX_ROW_BYTES).max(1);
        let batch_rows = self.config.batch_rows.unwrap_or(by_size.min(65_536));
        let cursor = |next: u64| {
            (next > 0).then(|| CursorInfo { field: "id".into(), last_value: Some((next - 1).to_string()), ..Default::default() })
        };
        // What this read will emit, for the host's share and ETA (SPEC § Metrics).
        rapidbyte_sdk::host::report_estimate(rapidbyte_sdk::StreamEstimate { records: Some(end.saturating_sub(start)), bytes: None });
        let big = BigValuesConfig::of(&self.config.big_values);
        let mut next = start;
        let mut failure_checked = false;
        while next < end {
            if !failure_checked && next - start >= self.config.fail_after_rows {
                failure_checked = true;
                maybe_fail(&self.config)?;
            }
            let len = batch_rows.min((end - next) as usize);
            let mut batch = rapidbyte_testdata::batch_with(next as i64, len, big).map_err(internal)?;
            if !self.config.pg_types.is_empty() {
                batch = batch.with_schema(self.config.schema()).map_err(internal)?;
            }
            out.emit(&batch)?;
            next += len as u64;
            if self.config.pause_ms > 0 {
                std::thread::sleep(std::time::Duration::from_millis(self.config.pause_ms));
            }
            if out.checkpoint_due() {
                out.checkpoint(cursor(next))?;
            }
        }
        out.checkpoint(cursor(next))?;
        Ok(out.summary())
    }
}

rapidbyte_sdk::export_source!(Generator, features: ["incremental"], config_schema: include_str!("../config.schema.json"));
