//! One stream's load: a transaction per checkpoint chunk (one for the whole
//! stream when it is published whole), binary COPY into
//! the right table for the write mode, the commit token in the same
//! transaction, and the commit state of every failure (SPEC § Delivery,
//! § Errors). This module holds the chunk's life (begin, write, commit,
//! finish, abort); the rest by concern:
//!
//! - `target`: the target table, created or checked against the incoming
//!   schema under the schema-evolution policies (SPEC § Schema);
//! - `data_errors`: the `skip` / `dlq` path, rows loaded in savepoints;
//! - `insert`: the INSERT fallback (`load_method: insert`);
//! - `schema`: the target schema and the privileges `validate` checks;
//! - `user_types`: the user types a stream needs, created when safe;
//! - `naming`: staging and index names within PostgreSQL's 63 bytes.

mod data_errors;
mod insert;
mod naming;
mod schema;
mod target;
mod user_types;

use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use rapidbyte_pgconnect::commit_token::{self, TokenTable};
use rapidbyte_pgconnect::{chunk, ident, qualified, split_qualified};
use rapidbyte_pgcopy::CopyEncoder;
use rapidbyte_sdk::arrow::array::RecordBatch;
use rapidbyte_sdk::{host, metric_names as m, Checkpoint, CommitState, ConnectorError, DataErrorPolicy, StreamContext};
use tokio_postgres::{Client, CopyInSink};

use naming::index_name;
pub use schema::{check_privileges, ensure_schema};

/// COPY data is sent to the server in pieces of about this size.
const FLUSH_BYTES: usize = 1 << 20;

/// A failure inside the chunk: nothing of it is durable.
fn before_commit(e: ConnectorError) -> ConnectorError {
    e.with_commit_state(CommitState::BeforeCommit)
}

/// Where and how a stream's rows are written, settled by `prepare` on the
/// first batch.
struct Target {
    /// `"schema"."table"`, the table readers see.
    qualified: String,
    /// Where COPY writes: the target, the replace staging table, or the upsert stage.
    load_into: String,
    copy_sql: String,
    encoder: CopyEncoder,
    /// Incoming columns kept (new columns may be ignored by policy).
    keep: Vec<usize>,
    columns: Vec<String>,
    upsert_keys: Option<Vec<String>>,
    /// The key columns that identify a row in dead letters.
    key: Vec<String>,
    /// Replace mode: the staging table's bare name, swapped in at the end.
    staging: Option<String>,
}

impl Target {
    /// The batch's columns the target keeps (new columns may be ignored by policy).
    fn project(&self, batch: &RecordBatch) -> Result<RecordBatch, ConnectorError> {
        if self.keep.len() == batch.num_columns() {
            return Ok(batch.clone());
        }
        batch.project(&self.keep).map_err(|e| before_commit(ConnectorError::internal("PROJECT", e.to_string())))
    }
}

struct Chunk {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    buf: Vec<u8>,
    flush_ms: f64,
}

/// A stream's load in progress.
pub struct Session<'a> {
    client: &'a Client,
    method: crate::LoadMethod,
    /// INSERT fallback: prepared multi-row statements by row count.
    inserts: std::collections::HashMap<usize, tokio_postgres::Statement>,
    scratch: Vec<u8>,
    ctx: &'a StreamContext,
    schema: String,
    table: String,
    target: Option<Target>,
    chunk: Option<Chunk>,
    in_transaction: bool,
    /// The upsert stage of the open transaction exists (merge it at commit).
    stage_ready: bool,
    /// Create the target schema when it does not exist.
    create_schema: bool,
    /// The dead-letter table exists (created on the first dead letter).
    dead_letters_ready: bool,
    /// The target schema and the commit-token table exist.
    bookkeeping_ready: bool,
    /// A whole stream's last checkpoint, committed at `finish`.
    held: Option<Checkpoint>,
}

/// Rows of one batch that the on-data-error policy kept out of the target.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Dropped and counted (`skip`).
    pub skipped: u64,
    /// Written to the dead-letter table (`dlq`).
    pub dead_lettered: u64,
}

impl<'a> Session<'a> {
    /// A session writing `ctx`'s stream into `schema.<prefix><table>`.
    pub fn new(
        client: &'a Client,
        ctx: &'a StreamContext,
        schema: &str,
        prefix: &str,
        method: crate::LoadMethod,
        create_schema: bool,
    ) -> Self {
        let (schema, table) = split_qualified(&ctx.stream_name, schema);
        Self {
            client,
            method,
            inserts: Default::default(),
            scratch: Vec::new(),
            ctx,
            schema: schema.to_string(),
            table: format!("{prefix}{table}"),
            target: None,
            chunk: None,
            in_transaction: false,
            stage_ready: false,
            create_schema,
            dead_letters_ready: false,
            bookkeeping_ready: false,
            held: None,
        }
    }

    fn stream(&self) -> &str {
        &self.ctx.stream_name
    }

    fn qualified(&self, table: &str) -> String {
        qualified(&self.schema, table)
    }

    fn tokens(&self) -> TokenTable {
        TokenTable::new(&self.schema, commit_token::TABLE)
    }

    /// The target schema and, for exactly-once, the commit-token table:
    /// made once per session, before the first transaction (an empty stream
    /// into a fresh destination still records its token).
    async fn ensure_bookkeeping(&mut self) -> Result<(), ConnectorError> {
        if self.bookkeeping_ready {
            return Ok(());
        }
        let stream = self.stream().to_string();
        ensure_schema(self.client, &ident(&self.schema), self.create_schema, &stream).await?;
        if self.ctx.commit_token_base.is_some() {
            self.tokens().create(self.client, &stream).await?;
        }
        self.bookkeeping_ready = true;
        Ok(())
    }

    async fn begin_if_needed(&mut self) -> Result<(), ConnectorError> {
        if self.in_transaction {
            return Ok(());
        }
        self.begin().await
    }

    async fn begin(&mut self) -> Result<(), ConnectorError> {
        self.ensure_bookkeeping().await?;
        let stream = self.stream().to_string();
        self.client.batch_execute("BEGIN").await.map_err(|e| chunk::error(&e, &stream))?;
        self.in_transaction = true;
        if let Some(base) = &self.ctx.commit_token_base {
            // Serialises chunk transactions with `committed`: a resume waits
            // for a COMMIT still in flight on a lost connection (SPEC § Delivery).
            commit_token::lock(self.client, base).await?;
        }
        self.open_stage().await
    }

    /// The upsert stage of the open transaction (once the target is known).
    async fn open_stage(&mut self) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        if let Some(t) = &self.target {
            if t.upsert_keys.is_some() && !self.stage_ready {
                self.client
                    .batch_execute(&format!(
                        // Constraints included: a row the target would refuse fails
                        // in the stage, where the on-data-error policy can see it.
                        "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP",
                        t.load_into, t.qualified
                    ))
                    .await
                    .map_err(|e| chunk::error(&e, &stream))?;
                self.stage_ready = true;
            }
        }
        Ok(())
    }

    /// Writes a batch into the open chunk. Under `on_data_error: fail` it is
    /// encoded into the chunk's COPY, flushed in bounded pieces; under
    /// `skip` / `dlq` see [`Session::write_guarded`]. Returns what the
    /// policy did with rejected rows.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<Rejected, ConnectorError> {
        if self.target.is_none() {
            // Types are shared by streams and made idempotently outside the
            // transaction; the table's DDL goes into it, so a stream that
            // fails or is refused leaves the target as it was.
            // (Inside one only when a dead letter opened it first.)
            self.create_user_types(&batch.schema()).await?;
            self.begin_if_needed().await?;
            self.target = Some(self.prepare(&batch.schema()).await?);
            self.open_stage().await?;
        }
        self.begin_if_needed().await?;
        if self.ctx.policies.on_data_error != DataErrorPolicy::Fail {
            return self.write_guarded(batch).await;
        }
        self.write_fast(batch).await?;
        Ok(Rejected::default())
    }

    async fn write_fast(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        if self.method == crate::LoadMethod::Insert {
            return self.insert(batch).await;
        }
        if self.chunk.is_none() {
            let t = self.target.as_ref().expect("prepared");
            let sink = self.client.copy_in::<_, Bytes>(t.copy_sql.as_str()).await.map_err(|e| chunk::error(&e, &stream))?;
            let mut buf = Vec::with_capacity(FLUSH_BYTES + (FLUSH_BYTES >> 2));
            CopyEncoder::header(&mut buf);
            self.chunk = Some(Chunk { sink: Box::pin(sink), buf, flush_ms: 0.0 });
        }
        let (t, chunk) = (self.target.as_mut().expect("prepared"), self.chunk.as_mut().expect("open"));
        let batch = t.project(batch)?;
        // Encode in row ranges so the buffer stays near FLUSH_BYTES.
        let rows = batch.num_rows();
        let mut start = 0;
        while start < rows {
            let len = (rows - start).min(4096);
            t.encoder.encode(&batch.slice(start, len), &mut chunk.buf).map_err(|e| {
                before_commit(ConnectorError::data("BAD_VALUE", format!("stream `{stream}`: {e}")))
            })?;
            start += len;
            if chunk.buf.len() >= FLUSH_BYTES {
                flush(chunk, &stream).await?;
            }
        }
        Ok(())
    }

    /// Ends the chunk at checkpoint `cp`: finish COPY, merge (upsert),
    /// record the token, COMMIT. Returns whether it committed: a stream
    /// published whole (replace, full-refresh append; SPEC § Delivery) holds
    /// its checkpoints and commits once, at [`Session::finish`].
    pub async fn commit(&mut self, cp: &Checkpoint) -> Result<bool, ConnectorError> {
        if self.ctx.published_whole() {
            self.held = Some(cp.clone());
            return Ok(false);
        }
        self.commit_chunk(Some(cp), false).await?;
        Ok(true)
    }

    /// Commits what is left; a whole stream commits here with its last
    /// checkpoint's token and, for replace, the swap, in one transaction.
    pub async fn finish(&mut self) -> Result<(), ConnectorError> {
        let held = self.held.take();
        let swap = self.target.as_ref().is_some_and(|t| t.staging.is_some());
        self.commit_chunk(held.as_ref(), swap).await
    }

    /// Only a COMMIT that returned makes the chunk durable.
    async fn commit_chunk(&mut self, cp: Option<&Checkpoint>, swap: bool) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        let token = self.ctx.commit_token_base.as_ref().zip(cp);
        if !self.in_transaction {
            if token.is_none() && !swap {
                return Ok(());
            }
            self.begin().await?;
        }
        if let Some(mut chunk) = self.chunk.take() {
            CopyEncoder::trailer(&mut chunk.buf);
            flush(&mut chunk, &stream).await?;
            let started = Instant::now();
            chunk.sink.as_mut().finish().await.map_err(|e| chunk::error(&e, &stream))?;
            host::timing_ms(m::FLUSH_MS, chunk.flush_ms + started.elapsed().as_secs_f64() * 1e3);
        }
        if std::mem::take(&mut self.stage_ready) {
            if let Some((t, keys)) = self.target.as_ref().and_then(|t| t.upsert_keys.as_ref().map(|k| (t, k))) {
                self.client.batch_execute(&merge_sql(t, keys)).await.map_err(|e| chunk::error(&e, &stream))?;
            }
        }
        if swap {
            self.client.batch_execute(&self.swap_sql()).await.map_err(|e| chunk::error(&e, &stream))?;
        }
        if let Some((base, cp)) = token {
            self.tokens().write(self.client, base, cp).await?;
        }
        let result = chunk::commit(self.client, &stream).await;
        self.in_transaction = false;
        result
    }

    /// Replace: the staging table becomes the target. Readers see the old
    /// table or the new one, never a half-loaded one. The staging table's
    /// primary key index takes the conventional name once the old table
    /// (and its index) are gone.
    fn swap_sql(&self) -> String {
        let staging = self.target.as_ref().and_then(|t| t.staging.as_deref()).expect("replace stages");
        format!(
            "DROP TABLE IF EXISTS {}; ALTER TABLE {} RENAME TO {}; ALTER INDEX IF EXISTS {} RENAME TO {}",
            self.qualified(&self.table),
            self.qualified(staging),
            ident(&self.table),
            self.qualified(&index_name(staging, "_pkey")),
            ident(&index_name(&self.table, "_pkey"))
        )
    }

    /// After a failure: abandon the COPY (dropping the sink sends CopyFail)
    /// and roll the open transaction back, best effort.
    pub async fn abort(&mut self) {
        self.chunk = None;
        self.stage_ready = false;
        if self.in_transaction {
            let _ = self.client.batch_execute("ROLLBACK").await;
            self.in_transaction = false;
        }
    }
}

async fn flush(chunk: &mut Chunk, stream: &str) -> Result<(), ConnectorError> {
    if chunk.buf.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let data = Bytes::from(std::mem::replace(&mut chunk.buf, Vec::with_capacity(FLUSH_BYTES + (FLUSH_BYTES >> 2))));
    chunk.sink.as_mut().send(data).await.map_err(|e| chunk::error(&e, stream))?;
    chunk.flush_ms += started.elapsed().as_secs_f64() * 1e3;
    Ok(())
}

/// `INSERT … SELECT … ON CONFLICT DO UPDATE` from the stage; within a chunk
/// the last row for a key wins (the stage is append-only, so `ctid` is load order).
fn merge_sql(t: &Target, keys: &[String]) -> String {
    let cols = t.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let key_list = keys.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
    let updates: Vec<String> = t
        .columns
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{} = EXCLUDED.{}", ident(c), ident(c)))
        .collect();
    let action = if updates.is_empty() { "DO NOTHING".to_string() } else { format!("DO UPDATE SET {}", updates.join(", ")) };
    format!(
        "INSERT INTO {} ({cols}) SELECT DISTINCT ON ({key_list}) {cols} FROM {} ORDER BY {key_list}, ctid DESC ON CONFLICT ({key_list}) {action}",
        t.qualified, t.load_into
    )
}

