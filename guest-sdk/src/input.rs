//! The destination side of the batch channel (SPEC § Batches, § Delivery).

use std::time::Instant;

use arrow_array::RecordBatch;
use rapidbyte_protocol::{metric_names as m, Checkpoint, CheckpointKind, ConnectorError, DeadLetter, PhaseTiming, WriteSummary};

use crate::__bindings as b;
use crate::{host, ipc};

/// One item of a destination's input.
#[derive(Debug)]
pub enum Incoming {
    /// A decoded batch and the size of its IPC frame.
    Batch(RecordBatch, usize),
    /// The source stated this checkpoint after the batches before it: make
    /// them durable, then call [`Input::commit_checkpoint`].
    Checkpoint(Checkpoint),
    /// A record the source could not read (`on_data_error: dlq`): write it
    /// to the dead-letter table in the transaction of the current chunk, so
    /// it commits with the batches around it (SPEC § Errors: data).
    DeadLetter(DeadLetter),
    /// No more input.
    End,
}

/// Pulls batches and checkpoint boundaries from the host for one stream run.
pub struct Input {
    summary: WriteSummary,
    decode_ms: f64,
    since_cp_records: u64,
    since_cp_bytes: u64,
}

impl Default for Input {
    fn default() -> Self {
        Self::new()
    }
}

impl Input {
    /// A fresh input (the SDK makes one per `run-write`).
    pub fn new() -> Self {
        Self { summary: WriteSummary::default(), decode_ms: 0.0, since_cp_records: 0, since_cp_bytes: 0 }
    }

    /// Waits for the next batch, checkpoint boundary, dead letter or end of
    /// stream. An aborted stream is an error (`UPSTREAM_FAILED`, before
    /// commit): roll back what the last checkpoint does not cover and return it.
    pub fn next(&mut self) -> Result<Incoming, ConnectorError> {
        match b::host_next_batch()? {
            rapidbyte_protocol::NextItem::Batch(frame) => {
                let started = Instant::now();
                let bytes = frame.len();
                // In place: a big value is held once, in the frame's memory.
                let batch = ipc::decode_frame(frame)?;
                self.decode_ms += started.elapsed().as_secs_f64() * 1e3;
                Ok(Incoming::Batch(batch, bytes))
            }
            rapidbyte_protocol::NextItem::Checkpoint(cp) => Ok(Incoming::Checkpoint(cp)),
            rapidbyte_protocol::NextItem::EndOfStream => Ok(Incoming::End),
            rapidbyte_protocol::NextItem::DeadLetter(row) => Ok(Incoming::DeadLetter(row)),
            rapidbyte_protocol::NextItem::Aborted(reason) => Err(reason.as_error()),
        }
    }

    /// Records that a batch of `records` rows and `bytes` IPC bytes was
    /// written, and reports `records_written`, `bytes_written` and
    /// `batches_written`.
    pub fn batch_written(&mut self, records: u64, bytes: u64) {
        self.summary.records_written += records;
        self.summary.bytes_written += bytes;
        self.summary.batches_written += 1;
        self.since_cp_records += records;
        self.since_cp_bytes += bytes;
        host::counter(m::RECORDS_WRITTEN, records);
        host::counter(m::BYTES_WRITTEN, bytes);
        host::counter(m::BATCHES_WRITTEN, 1);
    }

    /// Records that `records` rows were skipped by the on-data-error policy.
    pub fn records_skipped(&mut self, records: u64) {
        self.summary.records_skipped += records;
    }

    /// States the destination checkpoint matching `source` — call it only
    /// after the COMMIT that made the covered batches durable returned
    /// (SPEC § State and checkpoints).
    pub fn commit_checkpoint(&mut self, source: &Checkpoint) -> Result<(), ConnectorError> {
        host::checkpoint(Checkpoint {
            kind: CheckpointKind::Destination,
            sequence: source.sequence,
            cursor: source.cursor.clone(),
            records: self.since_cp_records,
            bytes: self.since_cp_bytes,
        })?;
        self.summary.checkpoints += 1;
        self.since_cp_records = 0;
        self.since_cp_bytes = 0;
        host::counter(m::CHECKPOINT_COUNT, 1);
        Ok(())
    }

    /// The run's summary so far, with `decode_ms` filled in.
    pub fn summary(&self) -> WriteSummary {
        let mut s = self.summary.clone();
        s.phases.push(PhaseTiming { name: m::DECODE_MS.into(), ms: self.decode_ms as u64 });
        s
    }
}
