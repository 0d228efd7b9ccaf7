//! `on_data_error: skip` and `dlq` (SPEC § Errors): a batch is loaded in a
//! savepoint and, when the server or the encoder rejects a row, again in
//! halves down to the rows that fail, which the policy keeps out.

use std::ops::Range;
use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use rapidbyte_pgconnect::{chunk, create_shared_table, qualified};
use rapidbyte_pgcopy::CopyEncoder;
use rapidbyte_sdk::arrow::array::RecordBatch;
use rapidbyte_sdk::{host, metric_names as m, ConnectorError, DataErrorPolicy, ErrorCategory};

use super::{before_commit, Rejected, Session};
use crate::dead_letters;

impl Session<'_> {
    /// `skip` / `dlq` (SPEC § Errors): the batch is loaded by itself inside a
    /// savepoint; if the server (or the encoder) rejects a row, the batch is
    /// rolled back to the savepoint and loaded again in halves, down to the
    /// single rows that fail, which are skipped or dead-lettered in the same
    /// transaction. Only data errors are handled so; any other error ends
    /// the stream as under `fail`.
    pub(super) async fn write_guarded(&mut self, batch: &RecordBatch) -> Result<Rejected, ConnectorError> {
        let stream = self.stream().to_string();
        let batch = self.target.as_ref().expect("prepared").project(batch)?;
        let mut rejected = Rejected::default();
        // A stack of row ranges still to load (a failed range is split in two).
        let mut pending: Vec<Range<usize>> = Vec::with_capacity(8);
        pending.push(0..batch.num_rows());
        while let Some(range) = pending.pop() {
            if range.is_empty() {
                continue;
            }
            self.client.batch_execute("SAVEPOINT rapidbyte_rows").await.map_err(|e| chunk::error(&e, &stream))?;
            match self.load_rows(&batch, range.clone()).await {
                Ok(()) => {
                    self.client.batch_execute("RELEASE SAVEPOINT rapidbyte_rows").await.map_err(|e| chunk::error(&e, &stream))?;
                }
                Err(e) if e.category == ErrorCategory::Data => {
                    self.client.batch_execute("ROLLBACK TO SAVEPOINT rapidbyte_rows").await.map_err(|e| chunk::error(&e, &stream))?;
                    if range.len() > 1 {
                        let mid = range.start + range.len() / 2;
                        // Pop order keeps the load order: first half first.
                        pending.push(mid..range.end);
                        pending.push(range.start..mid);
                    } else {
                        self.reject(&batch, range.start, &e, &mut rejected).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(rejected)
    }

    /// Loads rows `rows` of `batch` (already projected) with one COPY (or
    /// the INSERT fallback), finished before returning.
    async fn load_rows(&mut self, batch: &RecordBatch, rows: Range<usize>) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        let slice = batch.slice(rows.start, rows.len());
        if self.method == crate::LoadMethod::Insert {
            return self.insert_projected(&slice).await;
        }
        let t = self.target.as_mut().expect("prepared");
        let mut buf = Vec::new();
        CopyEncoder::header(&mut buf);
        t.encoder
            .encode(&slice, &mut buf)
            .map_err(|e| before_commit(ConnectorError::data("BAD_VALUE", format!("stream `{stream}`: {e}"))))?;
        CopyEncoder::trailer(&mut buf);
        let started = Instant::now();
        let sink = self.client.copy_in::<_, Bytes>(t.copy_sql.as_str()).await.map_err(|e| chunk::error(&e, &stream))?;
        futures_util::pin_mut!(sink);
        sink.as_mut().send(Bytes::from(buf)).await.map_err(|e| chunk::error(&e, &stream))?;
        sink.as_mut().finish().await.map_err(|e| chunk::error(&e, &stream))?;
        host::timing_ms(m::FLUSH_MS, started.elapsed().as_secs_f64() * 1e3);
        Ok(())
    }

    /// A row the source could not read (SPEC § Errors, `dlq`; contract
    /// 0.2): written to the dead-letter table in the open chunk, so it
    /// commits with the batches around it and the chunk's token.
    pub async fn dead_letter_from_source(&mut self, row: &rapidbyte_sdk::DeadLetter) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        if self.ctx.policies.on_data_error != DataErrorPolicy::Dlq {
            return Err(ConnectorError::internal(
                "UNEXPECTED_DEAD_LETTER",
                format!("stream `{stream}`: a dead letter arrived while the policy is not `dlq`"),
            ));
        }
        if !self.in_transaction {
            self.begin().await?;
        }
        self.ensure_dead_letters().await?;
        dead_letters::write_from_source(self.client, &self.schema, self.ctx, row).await.map_err(|e| chunk::error(&e, &stream))
    }

    /// The dead-letter table, created once, inside the chunk's transaction
    /// (in a savepoint, so a racing creator is fine).
    async fn ensure_dead_letters(&mut self) -> Result<(), ConnectorError> {
        if !self.dead_letters_ready {
            let table = qualified(&self.schema, dead_letters::TABLE);
            create_shared_table(self.client, &dead_letters::ddl(&self.schema), &table, true)
                .await
                .map_err(|e| chunk::error(&e, &self.stream().to_string()))?;
            self.dead_letters_ready = true;
        }
        Ok(())
    }

    /// Applies the policy to one rejected row.
    async fn reject(&mut self, batch: &RecordBatch, row: usize, e: &ConnectorError, rejected: &mut Rejected) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        match self.ctx.policies.on_data_error {
            DataErrorPolicy::Skip => {
                host::warn(&format!("stream `{stream}`: skipped a row the destination rejected: {} {}", e.code, e.message));
                rejected.skipped += 1;
            }
            DataErrorPolicy::Dlq => {
                self.ensure_dead_letters().await?;
                let key = self.target.as_ref().map(|t| t.key.clone()).unwrap_or_default();
                dead_letters::write(self.client, &self.schema, self.ctx, batch, row, &key, e).await.map_err(|e| chunk::error(&e, &stream))?;
                rejected.dead_lettered += 1;
            }
            DataErrorPolicy::Fail => unreachable!("guarded writes run only under skip or dlq"),
        }
        Ok(())
    }
}
