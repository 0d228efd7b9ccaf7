//! The source side of the batch channel (SPEC § Batches, § Metrics).

use std::time::Instant;

use arrow_array::RecordBatch;
use rapidbyte_protocol::{metric_names as m, Checkpoint, CheckpointKind, ConnectorError, CursorInfo, Limits, PhaseTiming, ReadSummary};

use crate::__bindings as b;
use crate::{host, ipc};

/// Hands batches and checkpoints to the host for one stream run.
///
/// [`Emitter::emit`] encodes a batch once into a reused buffer, splits it
/// when it would exceed `max_batch_bytes` (a single row larger than that
/// goes alone, in a frame of its own), and reports the standard metrics per
/// batch (`records_read`, `bytes_read`, `batches_emitted`, `encode_ms`).
pub struct Emitter {
    limits: Limits,
    /// `on_data_error: skip`: a record the host refuses as too large is
    /// dropped and counted instead of ending the stream.
    skip_too_large: bool,
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
            skip_too_large: false,
            buf: Vec::new(),
            summary: ReadSummary::default(),
            encode_ms: 0.0,
            sequence: 0,
            since_cp_records: 0,
            since_cp_bytes: 0,
            last_cp: Instant::now(),
        }
    }

    /// Follows the stream's on-data-error policy for records the host
    /// refuses as too large (the SDK sets it from the stream context).
    pub fn with_data_error_policy(mut self, policy: rapidbyte_protocol::DataErrorPolicy) -> Self {
        self.skip_too_large = policy == rapidbyte_protocol::DataErrorPolicy::Skip;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Emits `batch`, splitting it if its encoding exceeds `max_batch_bytes`.
    /// Blocks while the downstream channel is full. A single row whose
    /// encoding exceeds `max_batch_bytes` is emitted alone, in its own frame:
    /// the host accepts it up to its `max_record_bytes` ceiling (256 MiB by
    /// default; the contract does not tell it to connectors) and above that
    /// returns a `data` error `RECORD_TOO_LARGE`, which this returns.
    pub fn emit(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let mut buf = std::mem::take(&mut self.buf);
        let mut encode_total = 0.0;
        let result = split_to_frames(batch, self.limits.max_batch_bytes, &mut buf, &mut encode_total, &mut |frame, rows, encode_ms| {
            self.send(frame, rows, encode_ms)
        });
        self.encode_ms += encode_total;
        self.buf = buf;
        result
    }

    /// Hands one frame of `rows` rows to the host and reports it.
    fn send(&mut self, frame: &[u8], rows: u64, encode_ms: f64) -> Result<(), ConnectorError> {
        match b::host_emit_batch(frame) {
            Ok(()) => {}
            // § Errors, `skip`: the host refused one record as too large.
            Err(e) if self.skip_too_large && rows == 1 && e.code == "RECORD_TOO_LARGE" => {
                host::warn(&format!("skipped a record the host refused: {}", e.message));
                self.summary.records_skipped += 1;
                host::counter(m::RECORDS_SKIPPED, 1);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let bytes = frame.len() as u64;
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

/// Encodes `batch` into `buf` and calls `send(frame, rows, encode_ms)` once
/// per frame, in row order: halves the batch until each frame fits
/// `max_batch_bytes`, except that a single row which alone exceeds it is
/// sent alone (SPEC § Batches: the host decides whether it is too large).
/// Every encoding's time, kept or not, is added to `encode_total`.
fn split_to_frames(
    batch: &RecordBatch,
    max_batch_bytes: u64,
    buf: &mut Vec<u8>,
    encode_total: &mut f64,
    send: &mut impl FnMut(&[u8], u64, f64) -> Result<(), ConnectorError>,
) -> Result<(), ConnectorError> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(());
    }
    let started = Instant::now();
    ipc::encode_batch(batch, buf)?;
    let encode_ms = started.elapsed().as_secs_f64() * 1e3;
    *encode_total += encode_ms;
    if buf.len() as u64 > max_batch_bytes && rows > 1 {
        let half = rows / 2;
        split_to_frames(&batch.slice(0, half), max_batch_bytes, buf, encode_total, send)?;
        return split_to_frames(&batch.slice(half, rows - half), max_batch_bytes, buf, encode_total, send);
    }
    send(buf, rows as u64, encode_ms)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    /// Rows `0..sizes.len()` whose `body` has the given sizes in bytes.
    fn batch(sizes: &[usize]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("body", DataType::Utf8, false)]));
        let ids = Int64Array::from_iter_values(0..sizes.len() as i64);
        let bodies = StringArray::from_iter_values(sizes.iter().map(|&n| "x".repeat(n)));
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(bodies)]).unwrap()
    }

    /// The frames `split_to_frames` sends: (first id, rows, bytes) each.
    fn frames(sizes: &[usize], limit: u64) -> Vec<(i64, u64, usize)> {
        let mut sent = Vec::new();
        let (mut buf, mut total) = (Vec::new(), 0.0);
        split_to_frames(&batch(sizes), limit, &mut buf, &mut total, &mut |frame, rows, _| {
            let decoded = ipc::decode_batch(frame).unwrap();
            assert_eq!(decoded.num_rows() as u64, rows);
            let first = decoded.column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
            sent.push((first, rows, frame.len()));
            Ok(())
        })
        .unwrap();
        sent
    }

    #[test]
    fn small_rows_are_split_to_fit_max_batch_bytes() {
        let sent = frames(&[100; 64], 2048);
        assert!(sent.len() > 1 && sent.iter().all(|&(_, _, bytes)| bytes <= 2048), "{sent:?}");
        assert_eq!(sent.iter().map(|&(_, rows, _)| rows).sum::<u64>(), 64);
    }

    #[test]
    fn a_row_above_max_batch_bytes_travels_alone() {
        let mut sizes = vec![10; 40];
        sizes[17] = 64 << 10;
        sizes[18] = 64 << 10;
        let sent = frames(&sizes, 4096);
        // In order, every row once; each big row alone; every other frame within the limit.
        let mut next = 0;
        for &(first, rows, bytes) in &sent {
            assert_eq!(first, next, "{sent:?}");
            next += rows as i64;
            if bytes > 4096 {
                assert_eq!(rows, 1, "only a single row may exceed the limit: {sent:?}");
                assert!(first == 17 || first == 18, "{sent:?}");
            }
        }
        assert_eq!(next, 40);
        assert_eq!(sent.iter().filter(|&&(_, _, bytes)| bytes > 4096).count(), 2, "{sent:?}");
    }

    #[test]
    fn a_send_error_stops_the_split() {
        let (mut buf, mut total) = (Vec::new(), 0.0);
        let mut calls = 0;
        let e = split_to_frames(&batch(&[100; 64]), 2048, &mut buf, &mut total, &mut |_, _, _| {
            calls += 1;
            Err(ConnectorError::data("RECORD_TOO_LARGE", "refused"))
        })
        .unwrap_err();
        assert_eq!((calls, e.code.as_str()), (1, "RECORD_TOO_LARGE"));
    }
}
