//! The source side of the batch channel (SPEC § Batches, § Metrics).

use std::time::Instant;

use arrow_array::RecordBatch;
use rapidbyte_protocol::{metric_names as m, Checkpoint, CheckpointKind, ConnectorError, CursorInfo, Limits, PhaseTiming, ReadSummary};

use crate::__bindings as b;
use crate::{host, ipc};

/// Hands batches and checkpoints to the host for one stream run.
///
/// [`Emitter::emit`] encodes a batch once into a reused buffer, splits it
/// when it would exceed `max_batch_bytes`, and reports the standard metrics
/// per batch (`records_read`, `bytes_read`, `batches_emitted`, `encode_ms`).
pub struct Emitter {
    limits: Limits,
    buf: Vec<u8>,
    summary: ReadSummary,
    encode_ms: f64,
    sequence: u64,
    since_cp_records: u64,
    since_cp_bytes: u64,
    last_cp: Instant,
}

impl Emitter {
    /// An emitter bound by `limits` (the SDK makes one per `run-read`).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            summary: ReadSummary::default(),
            encode_ms: 0.0,
            sequence: 0,
            since_cp_records: 0,
            since_cp_bytes: 0,
            last_cp: Instant::now(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Emits `batch`, splitting it if its encoding exceeds `max_batch_bytes`.
    /// Blocks while the downstream channel is full. A single row that cannot
    /// fit gives a `data` error `RECORD_TOO_LARGE`.
    pub fn emit(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let started = Instant::now();
        ipc::encode_batch(batch, &mut self.buf)?;
        let encode_ms = started.elapsed().as_secs_f64() * 1e3;
        self.encode_ms += encode_ms;
        if self.buf.len() as u64 > self.limits.max_batch_bytes {
            if batch.num_rows() == 1 {
                return Err(ConnectorError::data(
                    "RECORD_TOO_LARGE",
                    format!(
                        "one record encodes to {} bytes, above max_batch_bytes = {}; raise the limit or skip such records",
                        self.buf.len(),
                        self.limits.max_batch_bytes
                    ),
                ));
            }
            let half = batch.num_rows() / 2;
            self.emit(&batch.slice(0, half))?;
            return self.emit(&batch.slice(half, batch.num_rows() - half));
        }
        b::host_emit_batch(&self.buf)?;
        let (rows, bytes) = (batch.num_rows() as u64, self.buf.len() as u64);
        self.summary.records_read += rows;
        self.summary.bytes_read += bytes;
        self.summary.batches_emitted += 1;
        self.since_cp_records += rows;
        self.since_cp_bytes += bytes;
        host::counter(m::RECORDS_READ, rows);
        host::counter(m::BYTES_READ, bytes);
        host::counter(m::BATCHES_EMITTED, 1);
        // Encoding only: time blocked in emit-batch (backpressure) is the
        // host's to measure as channel wait.
        host::timing_ms(m::ENCODE_MS, encode_ms);
        Ok(())
    }

    /// Hands an already-encoded IPC frame to the host as it is (for
    /// transforms forwarding frames untouched). The host validates it; no
    /// metrics are reported. Prefer [`Emitter::emit`].
    pub fn emit_frame(&mut self, frame: &[u8]) -> Result<(), ConnectorError> {
        b::host_emit_batch(frame)
    }

    /// Whether a checkpoint interval (bytes, rows or seconds) has passed
    /// since the last checkpoint.
    pub fn checkpoint_due(&self) -> bool {
        let l = &self.limits;
        (l.checkpoint_interval_bytes > 0 && self.since_cp_bytes >= l.checkpoint_interval_bytes)
            || (l.checkpoint_interval_rows > 0 && self.since_cp_records >= l.checkpoint_interval_rows)
            || (l.checkpoint_interval_seconds > 0 && self.last_cp.elapsed().as_secs() >= l.checkpoint_interval_seconds)
    }

    /// States a source checkpoint covering everything emitted so far, with
    /// the cursor reached (SPEC § State and checkpoints).
    pub fn checkpoint(&mut self, cursor: Option<CursorInfo>) -> Result<(), ConnectorError> {
        self.sequence += 1;
        host::checkpoint(Checkpoint {
            kind: CheckpointKind::Source,
            sequence: self.sequence,
            cursor,
            records: self.since_cp_records,
            bytes: self.since_cp_bytes,
        })?;
        self.summary.checkpoints += 1;
        self.since_cp_records = 0;
        self.since_cp_bytes = 0;
        self.last_cp = Instant::now();
        host::counter(m::CHECKPOINT_COUNT, 1);
        Ok(())
    }

    /// The run's summary so far, with `encode_ms` filled in; add your own
    /// phases (`fetch_ms`, `decode_ms`) to `phases`.
    pub fn summary(&self) -> ReadSummary {
        let mut s = self.summary.clone();
        s.phases.push(PhaseTiming { name: m::ENCODE_MS.into(), ms: self.encode_ms as u64 });
        s
    }
}
