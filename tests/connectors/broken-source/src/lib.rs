//! **A test fixture that is wrong on purpose.** Never use it to move data.
//!
//! A deterministic source (the generator's rows from `rapidbyte-testdata`)
//! whose config picks one contract violation, so that `rapidbyte
//! conformance` can be shown to catch it. With `mode: none` it is a correct
//! source, and must pass.
//!
//! Config: `{"mode": "none" | "oversize" | "skip_metrics" | "no_final_checkpoint", "rows": 1000}`
//! (`mode` defaults to `none`, `rows` to 1000; unknown keys are config
//! errors). Rows have ids `0 .. rows`; the checkpoint cursor is the last id
//! emitted, so an incremental run resumes after it (feature `incremental`).
//!
//! Modes:
//! - `none`: every batch through [`Emitter::emit`] (split to
//!   `max_batch_bytes`, standard metrics), checkpoints when an interval
//!   passes and at the end.
//! - `oversize`: the first frame bypasses the Emitter's splitting: as many
//!   rows as it takes to exceed `max_batch_bytes` (at least two, more than
//!   `rows` if need be), encoded with [`rapidbyte_sdk::ipc`] and handed over
//!   with [`Emitter::emit_frame`] (SPEC § Batches: a batch of several rows
//!   never exceeds `max_batch_bytes`; only a single row may, alone). The
//!   host must refuse it; if it does not, the rest is emitted correctly.
//!   Its metrics are reported, so the size is the only fault.
//! - `no_final_checkpoint`: checkpoints when an interval passes, but none
//!   at the end, so the last rows are covered by no checkpoint (SPEC § State
//!   and checkpoints: a source ends with a checkpoint covering its last row).
//! - `skip_metrics`: correct frames and checkpoints, but emitted with
//!   [`Emitter::emit_frame`] without reporting `records_read`, `bytes_read`
//!   or `batches_emitted` (SPEC § Metrics). The returned summary is correct;
//!   only the metrics are missing.

use rapidbyte_sdk::arrow::array::RecordBatch;
use rapidbyte_sdk::{
    config, host, ipc, metric_names as m, Checkpoint, CheckpointKind, ConnectorError, CursorInfo, Emitter, ReadSummary,
    Source, StreamContext, StreamSchema, SyncMode,
};
use serde::Deserialize;

/// Which contract rule this run breaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// Behave correctly.
    #[default]
    None,
    /// Emit one frame of several rows above `max_batch_bytes`.
    Oversize,
    /// Emit without the standard source metrics.
    SkipMetrics,
    /// End without a checkpoint covering the last rows.
    NoFinalCheckpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    mode: Mode,
    #[serde(default = "default_rows")]
    rows: u64,
}

fn default_rows() -> u64 {
    1000
}

struct BrokenSource {
    config: Config,
}

fn internal(e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::internal("GENERATE", e.to_string())
}

/// The checkpoint cursor once rows `.. next` are emitted: the last id.
fn cursor(next: u64) -> Option<CursorInfo> {
    (next > 0).then(|| CursorInfo { field: "id".into(), last_value: Some((next - 1).to_string()), ..Default::default() })
}

fn batch(start: u64, len: u64) -> Result<RecordBatch, ConnectorError> {
    rapidbyte_testdata::batch(start as i64, len as usize).map_err(internal)
}

impl Source for BrokenSource {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        Ok(Self { config: config::parse(json)? })
    }

    fn discover(&mut self) -> Result<Vec<StreamSchema>, ConnectorError> {
        Ok(vec![StreamSchema {
            name: "generated".into(),
            schema: ipc::encode_schema(&rapidbyte_testdata::schema())?,
            primary_key: vec!["id".into()],
            cursor_candidates: vec!["id".into()],
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        }])
    }

    fn read(&mut self, ctx: &StreamContext, out: &mut Emitter) -> Result<ReadSummary, ConnectorError> {
        let start: u64 = match ctx.cursor.as_ref().and_then(|c| c.last_value.as_deref()) {
            Some(v) => v.parse::<u64>().map_err(|_| ConnectorError::config("BAD_CURSOR", format!("cursor `{v}` is not a row id")))? + 1,
            None => 0,
        };
        let batch_rows = (out.limits().max_batch_bytes / rapidbyte_testdata::APPROX_ROW_BYTES as u64).clamp(1, 65_536);
        match self.config.mode {
            Mode::None => emit_rows(out, start, self.config.rows, batch_rows, ReadSummary::default()),
            Mode::Oversize => {
                let (next, extra) = emit_oversize(out, start)?;
                emit_rows(out, next, self.config.rows, batch_rows, extra)
            }
            Mode::SkipMetrics => emit_without_metrics(out, start, self.config.rows, batch_rows),
            Mode::NoFinalCheckpoint => {
                let mut next = start;
                while next < self.config.rows {
                    let len = batch_rows.min(self.config.rows - next);
                    out.emit(&batch(next, len)?)?;
                    next += len;
                    if out.checkpoint_due() && next < self.config.rows {
                        out.checkpoint(cursor(next))?;
                    }
                }
                Ok(out.summary())
            }
        }
    }
}

/// The correct path: rows `next .. end` through the Emitter, with
/// checkpoints. `extra` is added to the Emitter's summary.
fn emit_rows(out: &mut Emitter, mut next: u64, end: u64, batch_rows: u64, extra: ReadSummary) -> Result<ReadSummary, ConnectorError> {
    while next < end {
        let len = batch_rows.min(end - next);
        out.emit(&batch(next, len)?)?;
        next += len;
        if out.checkpoint_due() {
            out.checkpoint(cursor(next))?;
        }
    }
    out.checkpoint(cursor(next))?;
    let mut summary = out.summary();
    summary.records_read += extra.records_read;
    summary.bytes_read += extra.bytes_read;
    summary.batches_emitted += extra.batches_emitted;
    Ok(summary)
}

/// WRONG ON PURPOSE: one frame of several rows above `max_batch_bytes`,
/// past the Emitter's splitting. Returns the next row id and what was emitted.
fn emit_oversize(out: &mut Emitter, start: u64) -> Result<(u64, ReadSummary), ConnectorError> {
    let limit = out.limits().max_batch_bytes;
    // Two rows at least: a single row above the limit is allowed to travel alone.
    let mut len = (limit / rapidbyte_testdata::APPROX_ROW_BYTES as u64).max(2);
    let mut frame = Vec::new();
    loop {
        ipc::encode_batch(&batch(start, len)?, &mut frame)?;
        if frame.len() as u64 > limit {
            break;
        }
        len *= 2;
    }
    host::warn(&format!("broken-source: emitting a {} byte frame of {len} rows, above max_batch_bytes = {limit} (mode oversize)", frame.len()));
    out.emit_frame(&frame)?;
    // The host accepted it (it should not have): report it like any batch.
    host::counter(m::RECORDS_READ, len);
    host::counter(m::BYTES_READ, frame.len() as u64);
    host::counter(m::BATCHES_EMITTED, 1);
    let summary = ReadSummary { records_read: len, bytes_read: frame.len() as u64, batches_emitted: 1, ..Default::default() };
    Ok((start + len, summary))
}

/// WRONG ON PURPOSE: valid frames and checkpoints, but none of the
/// standard per-batch metrics (`records_read`, `bytes_read`, `batches_emitted`).
fn emit_without_metrics(out: &mut Emitter, mut next: u64, end: u64, batch_rows: u64) -> Result<ReadSummary, ConnectorError> {
    let limits = *out.limits();
    let mut summary = ReadSummary::default();
    let (mut sequence, mut cp_records, mut cp_bytes) = (0u64, 0u64, 0u64);
    let mut frame = Vec::new();
    let mut checkpoint = |next: u64, records: &mut u64, bytes: &mut u64, summary: &mut ReadSummary| {
        sequence += 1;
        host::checkpoint(Checkpoint { kind: CheckpointKind::Source, sequence, cursor: cursor(next), records: *records, bytes: *bytes })?;
        host::counter(m::CHECKPOINT_COUNT, 1);
        summary.checkpoints += 1;
        (*records, *bytes) = (0, 0);
        Ok::<(), ConnectorError>(())
    };
    while next < end {
        // Halve until the frame fits, as the Emitter would.
        let mut len = batch_rows.min(end - next);
        loop {
            ipc::encode_batch(&batch(next, len)?, &mut frame)?;
            if frame.len() as u64 <= limits.max_batch_bytes || len == 1 {
                break;
            }
            len = len.div_ceil(2);
        }
        out.emit_frame(&frame)?;
        next += len;
        summary.records_read += len;
        summary.bytes_read += frame.len() as u64;
        summary.batches_emitted += 1;
        cp_records += len;
        cp_bytes += frame.len() as u64;
        let due = (limits.checkpoint_interval_bytes > 0 && cp_bytes >= limits.checkpoint_interval_bytes)
            || (limits.checkpoint_interval_rows > 0 && cp_records >= limits.checkpoint_interval_rows);
        if due {
            checkpoint(next, &mut cp_records, &mut cp_bytes, &mut summary)?;
        }
    }
    checkpoint(next, &mut cp_records, &mut cp_bytes, &mut summary)?;
    Ok(summary)
}

rapidbyte_sdk::export_source!(BrokenSource, features: ["incremental"]);
