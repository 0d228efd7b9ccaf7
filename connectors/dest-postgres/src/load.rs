//! One stream's load: a transaction per checkpoint chunk, binary COPY into
//! the right table for the write mode, the commit token in the same
//! transaction, and the commit state of every failure (SPEC § Delivery,
//! § Errors).

use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use rapidbyte_pgconnect::catalog::try_columns;
use rapidbyte_pgconnect::{classify, ident, literal};
use rapidbyte_pgcopy::{CopyEncoder, EncodeColumn, PgType};
use rapidbyte_sdk::arrow::array::RecordBatch;
use rapidbyte_sdk::arrow::datatypes::{Schema, SchemaRef};
use std::ops::Range;

use rapidbyte_sdk::{
    host, metric_names as m, Checkpoint, CommitState, CommitTokenBase, CommittedToken, ConnectorError, DataErrorPolicy,
    ErrorCategory, NewColumnPolicy,
    NullabilityChangePolicy, RemovedColumnPolicy, StreamContext, TypeChangePolicy, WriteMode,
};
use tokio_postgres::{Client, CopyInSink};

use crate::{dead_letters, ddl};

/// COPY data is sent to the server in pieces of about this size.
const FLUSH_BYTES: usize = 1 << 20;

/// Longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`), in bytes.
const MAX_IDENT: usize = 63;

const STAGING_SUFFIX: &str = "__rapidbyte_staging";

/// The replace staging table of `table`: `<table>__rapidbyte_staging`, or,
/// when that would pass PostgreSQL's 63 bytes (and be truncated, possibly
/// to the target's own name), a shortened prefix plus a hash of the whole
/// name, so it is distinct from the target and from other tables' staging.
pub fn staging_name(table: &str) -> String {
    if table.len() + STAGING_SUFFIX.len() <= MAX_IDENT {
        return format!("{table}{STAGING_SUFFIX}");
    }
    format!("{}_{:08x}{STAGING_SUFFIX}", prefix(table, MAX_IDENT - STAGING_SUFFIX.len() - 9), fnv1a(table))
}

/// The name PostgreSQL gives an index `<table><suffix>` (truncating the
/// table part so the whole fits 63 bytes, as `ChooseRelationName` does).
fn index_name(table: &str, suffix: &str) -> String {
    format!("{}{suffix}", prefix(table, MAX_IDENT - suffix.len()))
}

/// The longest prefix of `s` of at most `max` bytes ending on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The table holding exactly-once commit tokens, in the target schema.
pub const COMMITS_TABLE: &str = "rapidbyte_commits";

/// The temporary table an upsert chunk is loaded into.
const UPSERT_STAGE: &str = "rapidbyte_upsert_stage";

fn before_commit(e: ConnectorError) -> ConnectorError {
    e.with_commit_state(CommitState::BeforeCommit)
}

fn db(e: &tokio_postgres::Error, stream: &str) -> ConnectorError {
    before_commit(classify(e, Some(stream)))
}

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

/// A binary value passed through as a bind parameter: the INSERT fallback
/// binds exactly the bytes the COPY encoder produced, so both load methods
/// write identical values.
#[derive(Debug)]
struct Raw<'a>(Option<&'a [u8]>);

impl tokio_postgres::types::ToSql for Raw<'_> {
    fn to_sql(
        &self,
        _ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Some(b) => {
                out.extend_from_slice(b);
                Ok(tokio_postgres::types::IsNull::No)
            }
            None => Ok(tokio_postgres::types::IsNull::Yes),
        }
    }

    fn accepts(_ty: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Splits binary COPY tuples (no header or trailer) into per-field values.
fn tuple_fields(mut buf: &[u8], out: &mut Vec<Option<std::ops::Range<usize>>>) {
    let base = buf.as_ptr() as usize;
    while buf.len() >= 2 {
        let n = i16::from_be_bytes([buf[0], buf[1]]) as usize;
        buf = &buf[2..];
        for _ in 0..n {
            let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            buf = &buf[4..];
            if len < 0 {
                out.push(None);
            } else {
                let start = buf.as_ptr() as usize - base;
                out.push(Some(start..start + len as usize));
                buf = &buf[len as usize..];
            }
        }
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
        let (schema, table) = match ctx.stream_name.split_once('.') {
            Some((s, t)) => (s.to_string(), t.to_string()),
            None => (schema.to_string(), ctx.stream_name.clone()),
        };
        Self {
            client,
            method,
            inserts: Default::default(),
            scratch: Vec::new(),
            ctx,
            schema,
            table: format!("{prefix}{table}"),
            target: None,
            chunk: None,
            in_transaction: false,
            stage_ready: false,
            create_schema,
            dead_letters_ready: false,
            bookkeeping_ready: false,
        }
    }

    fn stream(&self) -> &str {
        &self.ctx.stream_name
    }

    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", ident(&self.schema), ident(table))
    }

    /// Creates or checks the target table for `schema` (first batch only).
    async fn prepare(&mut self, incoming: &SchemaRef) -> Result<Target, ConnectorError> {
        let stream = self.stream().to_string();
        // PostgreSQL would silently truncate a longer name to another table's.
        if self.table.len() > MAX_IDENT {
            return Err(before_commit(ConnectorError::config(
                "NAME_TOO_LONG",
                format!(
                    "stream `{stream}`: table name `{}` is {} bytes; PostgreSQL keeps only {MAX_IDENT} (shorten the stream name or `table_prefix`)",
                    self.table,
                    self.table.len()
                ),
            )));
        }
        let qualified = self.qualified(&self.table);
        let upsert_keys = match &self.ctx.write_mode {
            WriteMode::Upsert(keys) => Some(keys.clone()),
            _ => None,
        };
        let key = ddl::primary_key(incoming, upsert_keys.as_deref());
        if upsert_keys.is_some() && key.is_empty() {
            return Err(before_commit(ConnectorError::config(
                "UPSERT_WITHOUT_KEY",
                format!("stream `{stream}`: upsert needs `primary_key` in the pipeline (the source declared none)"),
            )));
        }
        self.ensure_bookkeeping().await?;
        for t in ddl::user_types(incoming, &stream).map_err(before_commit)? {
            // A type the source qualified lives in a schema of the same name,
            // as in the source database.
            if let Some(schema) = ddl::type_schema(&t.name) {
                ensure_schema(self.client, &schema, self.create_schema, &stream).await?;
            }
            create_type(self.client, &t, &stream).await?;
        }
        // Replace loads a fresh table built from the incoming schema, then swaps it in.
        let (copy_table, staging) = if self.ctx.write_mode == WriteMode::Replace {
            let staging = staging_name(&self.table);
            let q = self.qualified(&staging);
            self.client.batch_execute(&format!("DROP TABLE IF EXISTS {q}")).await.map_err(|e| db(&e, &stream))?;
            let create = ddl::create_table(&q, incoming, &key, &stream).map_err(before_commit)?;
            self.client.batch_execute(&create).await.map_err(|e| db(&e, &stream))?;
            (staging.clone(), Some(staging))
        } else {
            (self.table.clone(), None)
        };
        let mut existing = try_columns(self.client, &self.schema, &copy_table, &stream).await?;
        if existing.is_empty() {
            let create = ddl::create_table(&qualified, incoming, &key, &stream).map_err(before_commit)?;
            self.client.batch_execute(&create).await.map_err(|e| db(&e, &stream))?;
            existing = try_columns(self.client, &self.schema, &copy_table, &stream).await?;
        }
        // § Schema: columns the target lacks follow the new-column policy.
        let mut keep = Vec::new();
        for (i, f) in incoming.fields().iter().enumerate() {
            if existing.iter().any(|c| &c.name == f.name()) {
                keep.push(i);
                continue;
            }
            match self.ctx.policies.schema_evolution.new_column {
                NewColumnPolicy::Add => {
                    let ty = ddl::column_type(f, &stream).map_err(before_commit)?;
                    let q = self.qualified(&copy_table);
                    self.client
                        .batch_execute(&format!("ALTER TABLE {q} ADD COLUMN {} {ty}", ident(f.name())))
                        .await
                        .map_err(|e| db(&e, &stream))?;
                    keep.push(i);
                }
                NewColumnPolicy::Ignore => {}
                NewColumnPolicy::Fail => {
                    return Err(before_commit(ConnectorError::schema(
                        "NEW_COLUMN",
                        format!("stream `{stream}`: column `{}` is not in {qualified} and the new-column policy is fail", f.name()),
                    )));
                }
            }
        }
        let existing = try_columns(self.client, &self.schema, &copy_table, &stream).await?;
        let policy = self.ctx.policies.schema_evolution;
        let schema_error = |code: &str, msg: String| before_commit(ConnectorError::schema(code, format!("stream `{stream}`: {msg}")));
        // § Schema: a column the target has and the source no longer sends.
        if policy.removed_column == RemovedColumnPolicy::Fail {
            if let Some(c) = existing.iter().find(|c| incoming.field_with_name(&c.name).is_err()) {
                return Err(schema_error(
                    "REMOVED_COLUMN",
                    format!("column `{}` of {qualified} is no longer sent by the source and the removed-column policy is fail", c.name),
                ));
            }
        }
        // § Schema: type and nullability changes, decided before any data is written.
        let mut kept = Vec::new();
        for &i in &keep {
            let f = incoming.field(i);
            let c = existing.iter().find(|c| &c.name == f.name()).expect("column exists after prepare");
            let target_ty = PgType::from_catalog(&c.ty).map_err(|_| {
                schema_error("UNSUPPORTED_TYPE", format!("target column `{}` has type {}, which this connector cannot write", c.name, c.ty.formatted))
            })?;
            let recorded = f.metadata().get(rapidbyte_pgcopy::PG_TYPE_KEY);
            // Field names and metadata inside nested types may differ; the
            // shape and the recorded type name may not.
            let changed = !target_ty.arrow_type().equals_datatype(f.data_type())
                || recorded.is_some_and(|r| *r != target_ty.sql_name());
            if changed {
                let now = recorded.cloned().unwrap_or_else(|| f.data_type().to_string());
                match policy.type_change {
                    TypeChangePolicy::Fail => {
                        return Err(schema_error(
                            "TYPE_CHANGED",
                            format!("column `{}` is {} in {qualified} but the source sends {now}; the type-change policy is fail", c.name, c.ty.formatted),
                        ));
                    }
                    // The column is left out of the load: it receives NULL (or its default).
                    TypeChangePolicy::Null => continue,
                    // Converted where the conversion is exact (checked by the encoder below).
                    TypeChangePolicy::Coerce => {}
                }
            }
            if f.is_nullable() && !c.nullable {
                match policy.nullability_change {
                    NullabilityChangePolicy::Fail => {
                        return Err(schema_error(
                            "NULLABILITY_CHANGED",
                            format!("column `{}` is NOT NULL in {qualified} but the source may send NULL; the nullability-change policy is fail", c.name),
                        ));
                    }
                    NullabilityChangePolicy::Allow => {
                        let q = self.qualified(&copy_table);
                        self.client
                            .batch_execute(&format!("ALTER TABLE {q} ALTER COLUMN {} DROP NOT NULL", ident(&c.name)))
                            .await
                            .map_err(|e| db(&e, &stream))?;
                    }
                }
            }
            kept.push(i);
        }
        let keep = kept;
        let projected = Schema::new(keep.iter().map(|&i| incoming.field(i).clone()).collect::<Vec<_>>());
        let mut encode_columns = Vec::new();
        for f in projected.fields() {
            let c = existing.iter().find(|c| &c.name == f.name()).expect("column exists after prepare");
            let ty = PgType::from_catalog(&c.ty).map_err(|e| {
                schema_error("UNSUPPORTED_TYPE", format!("target column `{}` has type {}, which this connector cannot write: {}", c.name, c.ty.formatted, e.reason))
            })?;
            encode_columns.push(EncodeColumn {
                name: c.name.clone(),
                ty,
                oid: c.ty.oid,
                element_oid: c.ty.element.as_ref().map(|e| e.oid),
            });
        }
        let encoder = CopyEncoder::new(encode_columns, &projected).map_err(|e| {
            before_commit(ConnectorError::schema("TYPE_MISMATCH", format!("stream `{stream}`: {e}")))
        })?;
        let columns: Vec<String> = projected.fields().iter().map(|f| f.name().clone()).collect();
        let load_into = if upsert_keys.is_some() { ident(UPSERT_STAGE) } else { self.qualified(&copy_table) };
        let column_list = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        Ok(Target {
            copy_sql: format!("COPY {load_into} ({column_list}) FROM STDIN (FORMAT binary)"),
            qualified,
            load_into,
            encoder,
            keep,
            columns,
            upsert_keys: upsert_keys.map(|_| key.clone()),
            key,
            staging,
        })
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
            let table = format!("{}.{}", ident(&self.schema), ident(COMMITS_TABLE));
            create_shared_table(self.client, &commits_ddl(&self.schema), &table, false).await.map_err(|e| db(&e, &stream))?;
        }
        self.bookkeeping_ready = true;
        Ok(())
    }

    async fn begin(&mut self) -> Result<(), ConnectorError> {
        self.ensure_bookkeeping().await?;
        let stream = self.stream().to_string();
        self.client.batch_execute("BEGIN").await.map_err(|e| db(&e, &stream))?;
        self.in_transaction = true;
        if let Some(base) = &self.ctx.commit_token_base {
            // Serialises chunk transactions with `committed`: a resume waits
            // for a COMMIT still in flight on a lost connection (SPEC § Delivery).
            self.client.batch_execute(&token_lock_sql(base)).await.map_err(|e| db(&e, &stream))?;
        }
        if let Some(t) = &self.target {
            if t.upsert_keys.is_some() {
                self.client
                    .batch_execute(&format!(
                        // Constraints included: a row the target would refuse fails
                        // in the stage, where the on-data-error policy can see it.
                        "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP",
                        t.load_into, t.qualified
                    ))
                    .await
                    .map_err(|e| db(&e, &stream))?;
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
            self.target = Some(self.prepare(&batch.schema()).await?);
        }
        if !self.in_transaction {
            self.begin().await?;
        }
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
            let sink = self.client.copy_in::<_, Bytes>(t.copy_sql.as_str()).await.map_err(|e| db(&e, &stream))?;
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

    /// `skip` / `dlq` (SPEC § Errors): the batch is loaded by itself inside a
    /// savepoint; if the server (or the encoder) rejects a row, the batch is
    /// rolled back to the savepoint and loaded again in halves, down to the
    /// single rows that fail, which are skipped or dead-lettered in the same
    /// transaction. Only data errors are handled so; any other error ends
    /// the stream as under `fail`.
    async fn write_guarded(&mut self, batch: &RecordBatch) -> Result<Rejected, ConnectorError> {
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
            self.client.batch_execute("SAVEPOINT rapidbyte_rows").await.map_err(|e| db(&e, &stream))?;
            match self.load_rows(&batch, range.clone()).await {
                Ok(()) => {
                    self.client.batch_execute("RELEASE SAVEPOINT rapidbyte_rows").await.map_err(|e| db(&e, &stream))?;
                }
                Err(e) if e.category == ErrorCategory::Data => {
                    self.client.batch_execute("ROLLBACK TO SAVEPOINT rapidbyte_rows").await.map_err(|e| db(&e, &stream))?;
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
        let sink = self.client.copy_in::<_, Bytes>(t.copy_sql.as_str()).await.map_err(|e| db(&e, &stream))?;
        futures_util::pin_mut!(sink);
        sink.as_mut().send(Bytes::from(buf)).await.map_err(|e| db(&e, &stream))?;
        sink.as_mut().finish().await.map_err(|e| db(&e, &stream))?;
        host::timing_ms(m::FLUSH_MS, started.elapsed().as_secs_f64() * 1e3);
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
                if !self.dead_letters_ready {
                    // Inside the chunk's transaction: in a savepoint.
                    let table = format!("{}.{}", ident(&self.schema), ident(dead_letters::TABLE));
                    create_shared_table(self.client, &dead_letters::ddl(&self.schema), &table, true)
                        .await
                        .map_err(|e| db(&e, &stream))?;
                    self.dead_letters_ready = true;
                }
                let key = self.target.as_ref().map(|t| t.key.clone()).unwrap_or_default();
                dead_letters::write(self.client, &self.schema, self.ctx, batch, row, &key, e).await.map_err(|e| db(&e, &stream))?;
                rejected.dead_lettered += 1;
            }
            DataErrorPolicy::Fail => unreachable!("guarded writes run only under skip or dlq"),
        }
        Ok(())
    }

    /// INSERT fallback: multi-row prepared INSERTs binding the encoder's bytes.
    async fn insert(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let batch = self.target.as_ref().expect("prepared").project(batch)?;
        self.insert_projected(&batch).await
    }

    async fn insert_projected(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        let t = self.target.as_mut().expect("prepared");
        let ncols = t.columns.len().max(1);
        // PostgreSQL allows 65535 bind parameters per statement.
        let per_statement = (65_535 / ncols).clamp(1, 1000);
        let started = Instant::now();
        let mut start = 0;
        let mut ranges = Vec::new();
        while start < batch.num_rows() {
            let rows = per_statement.min(batch.num_rows() - start);
            self.scratch.clear();
            let t = self.target.as_mut().expect("prepared");
            t.encoder.encode_rows(batch, start..start + rows, &mut self.scratch).map_err(|e| {
                before_commit(ConnectorError::data("BAD_VALUE", format!("stream `{stream}`: {e}")))
            })?;
            if !self.inserts.contains_key(&rows) {
                let cols = t.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
                let values: Vec<String> = (0..rows)
                    .map(|r| format!("({})", (1..=ncols).map(|c| format!("${}", r * ncols + c)).collect::<Vec<_>>().join(", ")))
                    .collect();
                let sql = format!("INSERT INTO {} ({cols}) VALUES {}", t.load_into, values.join(", "));
                let stmt = self.client.prepare(&sql).await.map_err(|e| db(&e, &stream))?;
                self.inserts.insert(rows, stmt);
            }
            ranges.clear();
            tuple_fields(&self.scratch, &mut ranges);
            let params: Vec<Raw<'_>> = ranges.iter().map(|r| Raw(r.clone().map(|r| &self.scratch[r]))).collect();
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
            self.client.execute(&self.inserts[&rows], &refs).await.map_err(|e| db(&e, &stream))?;
            start += rows;
        }
        host::timing_ms(m::FLUSH_MS, started.elapsed().as_secs_f64() * 1e3);
        Ok(())
    }

    /// Ends the chunk: finish COPY, merge (upsert), record the token, COMMIT.
    /// Only a COMMIT that returned makes the chunk durable.
    pub async fn commit(&mut self, cp: Option<&Checkpoint>) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        let token = self.ctx.commit_token_base.as_ref().zip(cp);
        if !self.in_transaction {
            if token.is_none() {
                return Ok(());
            }
            self.begin().await?;
        }
        if let Some(mut chunk) = self.chunk.take() {
            CopyEncoder::trailer(&mut chunk.buf);
            flush(&mut chunk, &stream).await?;
            let started = Instant::now();
            chunk.sink.as_mut().finish().await.map_err(|e| db(&e, &stream))?;
            host::timing_ms(m::FLUSH_MS, chunk.flush_ms + started.elapsed().as_secs_f64() * 1e3);
        }
        if std::mem::take(&mut self.stage_ready) {
            if let Some((t, keys)) = self.target.as_ref().and_then(|t| t.upsert_keys.as_ref().map(|k| (t, k))) {
                self.client.batch_execute(&merge_sql(t, keys)).await.map_err(|e| db(&e, &stream))?;
            }
        }
        if let Some((base, cp)) = token {
            let cursor = match &cp.cursor {
                Some(c) => serde_json::to_string(c).map_err(|e| before_commit(ConnectorError::internal("CURSOR_JSON", e.to_string())))?,
                None => "null".into(),
            };
            let sql = format!(
                "INSERT INTO {}.{} (pipeline, stream, run_id, sequence, cursor) VALUES ({}, {}, {}, {}, {}::jsonb)
                 ON CONFLICT (pipeline, stream) DO UPDATE SET run_id = EXCLUDED.run_id, sequence = EXCLUDED.sequence,
                 cursor = EXCLUDED.cursor, committed_at = now()",
                ident(&self.schema),
                ident(COMMITS_TABLE),
                literal(&base.pipeline),
                literal(&base.stream_name),
                literal(&base.run_id),
                cp.sequence,
                literal(&cursor)
            );
            self.client.batch_execute(&sql).await.map_err(|e| db(&e, &stream))?;
        }
        let started = Instant::now();
        let result = self.client.batch_execute("COMMIT").await;
        self.in_transaction = false;
        host::timing_ms(m::COMMIT_MS, started.elapsed().as_secs_f64() * 1e3);
        match result {
            Ok(()) => Ok(()),
            // The server answered with an error: it rolled the chunk back.
            Err(e) if e.as_db_error().is_some() => Err(db(&e, &stream)),
            // No answer: the COMMIT may or may not have happened (SPEC § Errors).
            Err(e) => Err(ConnectorError::transient_db(
                "COMMIT_FAILED",
                format!("stream `{stream}`: no answer to COMMIT ({e}); the chunk may or may not be durable"),
            )
            .with_commit_state(CommitState::AfterCommitUnknown)),
        }
    }

    /// Commits what is left and, for replace, swaps the new table in.
    pub async fn finish(&mut self) -> Result<(), ConnectorError> {
        self.commit(None).await?;
        let stream = self.stream().to_string();
        let Some(staging) = self.target.as_ref().and_then(|t| t.staging.clone()) else {
            return Ok(());
        };
        // Readers see the old table or the new one, never a half-loaded one.
        let qualified = self.qualified(&self.table);
        // The staging table's primary key index takes the conventional name
        // once the old table (and its index) are gone.
        let sql = format!(
            "BEGIN; DROP TABLE IF EXISTS {qualified}; ALTER TABLE {} RENAME TO {};
             ALTER INDEX IF EXISTS {} RENAME TO {}; COMMIT",
            self.qualified(&staging),
            ident(&self.table),
            self.qualified(&index_name(&staging, "_pkey")),
            ident(&index_name(&self.table, "_pkey"))
        );
        self.client.batch_execute(&sql).await.map_err(|e| {
            let mut err = classify(&e, Some(&stream));
            if e.as_db_error().is_none() {
                err = ConnectorError::transient_db("COMMIT_FAILED", format!("stream `{stream}`: no answer to the replace swap ({e})"))
                    .with_commit_state(CommitState::AfterCommitUnknown);
                return err;
            }
            err = err.with_commit_state(CommitState::BeforeCommit);
            err
        })
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
    chunk.sink.as_mut().send(data).await.map_err(|e| db(&e, stream))?;
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

fn commits_ddl(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (pipeline text NOT NULL, stream text NOT NULL, run_id text NOT NULL,
         sequence bigint NOT NULL, cursor jsonb, committed_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (pipeline, stream))",
        ident(schema),
        ident(COMMITS_TABLE)
    )
}

/// `SELECT pg_advisory_xact_lock(…)` on the (pipeline, stream) of `base`.
pub fn token_lock_sql(base: &CommitTokenBase) -> String {
    format!(
        "SELECT pg_advisory_xact_lock(hashtextextended({} || '/' || {}, 0))",
        literal(&base.pipeline),
        literal(&base.stream_name)
    )
}

/// § Delivery: the highest token committed for `base`'s pipeline and stream.
/// Waits, under the token lock, for any chunk transaction still finishing.
pub async fn committed(client: &Client, schema: &str, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
    let stream = base.stream_name.as_str();
    client.batch_execute("BEGIN").await.map_err(|e| classify(&e, Some(stream)))?;
    client.batch_execute(&token_lock_sql(base)).await.map_err(|e| classify(&e, Some(stream)))?;
    let result = read_token(client, schema, base).await;
    let _ = client.batch_execute("COMMIT").await;
    result
}

async fn read_token(client: &Client, schema: &str, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
    let table = format!("{}.{}", ident(schema), ident(COMMITS_TABLE));
    if !relation_exists(client, &table).await.map_err(|e| classify(&e, Some(&base.stream_name)))? {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!("SELECT run_id, sequence, cursor::text FROM {table} WHERE pipeline = $1 AND stream = $2"),
            &[&base.pipeline, &base.stream_name],
        )
        .await
        .map_err(|e| classify(&e, Some(&base.stream_name)))?;
    let Some(row) = row else { return Ok(None) };
    let cursor: Option<String> = row.get(2);
    let cursor = match cursor.as_deref() {
        None | Some("null") => None,
        Some(json) => Some(
            serde_json::from_str(json).map_err(|e| ConnectorError::internal("CURSOR_JSON", format!("stored cursor is unreadable: {e}")))?,
        ),
    };
    Ok(Some(CommittedToken { run_id: row.get(0), sequence: row.get::<_, i64>(1) as u64, cursor }))
}

/// Creates `schema` (an identifier as SQL text, quoted where needed) when
/// it does not exist and `create` allows it; a `config` error naming the
/// schema otherwise. Safe against another stream creating it at the same
/// moment.
pub async fn ensure_schema(client: &Client, schema: &str, create: bool, stream: &str) -> Result<(), ConnectorError> {
    if schema_exists(client, schema, stream).await? {
        return Ok(());
    }
    if !create {
        return Err(before_commit(ConnectorError::config(
            "SCHEMA_NOT_FOUND",
            format!("stream `{stream}`: schema {schema} does not exist in the destination database; create it, or leave `create_schema` at its default (true)"),
        )));
    }
    match client.execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"), &[]).await {
        Ok(_) => Ok(()),
        // Another stream created it between our check and our CREATE.
        Err(_) if schema_exists(client, schema, stream).await? => Ok(()),
        Err(e) => Err(db(&e, stream)),
    }
}

async fn relation_exists(client: &Client, qualified: &str) -> Result<bool, tokio_postgres::Error> {
    client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified]).await.map(|r| r.get::<_, bool>(0))
}

/// Runs `ddl`, a `CREATE TABLE IF NOT EXISTS` of `qualified` that other
/// streams (or runs) may run at the same moment: the loser's CREATE fails on
/// the catalog's unique index, which is fine once the table exists. Inside a
/// transaction (`in_transaction`) it runs in a savepoint, so losing the race
/// does not abort the transaction.
pub async fn create_shared_table(client: &Client, ddl: &str, qualified: &str, in_transaction: bool) -> Result<(), tokio_postgres::Error> {
    if in_transaction {
        client.batch_execute("SAVEPOINT rapidbyte_ddl").await?;
    }
    match client.batch_execute(ddl).await {
        Ok(()) if in_transaction => client.batch_execute("RELEASE SAVEPOINT rapidbyte_ddl").await,
        Ok(()) => Ok(()),
        Err(e) => {
            if in_transaction {
                client.batch_execute("ROLLBACK TO SAVEPOINT rapidbyte_ddl").await?;
            }
            if relation_exists(client, qualified).await? { Ok(()) } else { Err(e) }
        }
    }
}

async fn schema_exists(client: &Client, schema: &str, stream: &str) -> Result<bool, ConnectorError> {
    client
        .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&schema])
        .await
        .map(|r| r.get::<_, bool>(0))
        .map_err(|e| db(&e, stream))
}

async fn type_missing(client: &Client, name: &str, stream: &str) -> Result<bool, ConnectorError> {
    client
        .query_one("SELECT to_regtype($1) IS NULL", &[&name])
        .await
        .map(|r| r.get::<_, bool>(0))
        .map_err(|e| db(&e, stream))
}

/// Makes sure a user type the stream needs exists: created from the
/// source's definition when missing, or a `schema` error naming what is
/// missing (an extension type).
async fn create_type(client: &Client, t: &ddl::TypeDdl, stream: &str) -> Result<(), ConnectorError> {
    if !type_missing(client, &t.name, stream).await? {
        return Ok(());
    }
    let schema_error = |code: &str, msg: String| before_commit(ConnectorError::schema(code, format!("stream `{stream}`: {msg}")));
    match &t.action {
        ddl::TypeAction::Missing { extension } => Err(schema_error(
            "TYPE_NOT_FOUND",
            match extension {
                Some(ext) => format!(
                    "type {} does not exist in the destination database; it comes from extension `{ext}`: run CREATE EXTENSION {ext} there (the source has it)",
                    t.name
                ),
                None => format!("type {} does not exist in the destination database; create it there", t.name),
            },
        )),
        // One statement through the extended protocol: metadata cannot
        // smuggle a second one in.
        ddl::TypeAction::Create(sql) => match client.execute(sql.as_str(), &[]).await {
            Ok(_) => Ok(()),
            Err(_) if !type_missing(client, &t.name, stream).await? => Ok(()),
            Err(e) => Err(db(&e, stream)),
        },
        ddl::TypeAction::CreateDomain { sql, calls } => {
            // Built-in functions leave no trace in pg_depend: refuse by name any
            // call that is volatile (in any overload) or unknown.
            let refused: Vec<String> = client
                .query(
                    "SELECT n FROM unnest($1::text[]) n
                     WHERE NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = n)
                        OR EXISTS (SELECT 1 FROM pg_proc WHERE proname = n AND provolatile = 'v')",
                    &[calls],
                )
                .await
                .map_err(|e| db(&e, stream))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if !refused.is_empty() {
                return Err(schema_error(
                    "UNSAFE_DOMAIN_CHECK",
                    format!(
                        "the source's definition of domain {} calls {}, which may have side effects or is unknown here; refusing to create it (create the domain in the destination yourself)",
                        t.name,
                        refused.join(", ")
                    ),
                ));
            }
            // Then the catalog, for user-defined functions and operators (which
            // do leave dependencies): create the domain in a transaction and keep
            // it only if none could have side effects.
            client.batch_execute("BEGIN").await.map_err(|e| db(&e, stream))?;
            let result = async {
                client.execute(sql.as_str(), &[]).await.map_err(|e| db(&e, stream))?;
                let unsafe_calls = client
                    .query(DOMAIN_CALLS_NOT_IMMUTABLE, &[&t.name])
                    .await
                    .map_err(|e| db(&e, stream))?;
                if let Some(r) = unsafe_calls.first() {
                    return Err(schema_error(
                        "UNSAFE_DOMAIN_CHECK",
                        format!(
                            "the source's definition of domain {} calls {}, which is not immutable; refusing to create it (create the domain in the destination yourself)",
                            t.name,
                            r.get::<_, String>(0)
                        ),
                    ));
                }
                Ok(())
            }
            .await;
            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
            let ended = client.batch_execute(end).await.map_err(|e| db(&e, stream));
            result.and(ended)
        }
    }
}

/// The functions a domain's CHECK constraints depend on that are not
/// immutable, and those its DEFAULT depends on that are volatile (a default
/// such as `now()` is stable and common; one that reads files is volatile).
const DOMAIN_CALLS_NOT_IMMUTABLE: &str = "
SELECT p.oid::regprocedure::text FROM pg_depend d
  JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
 WHERE d.classid = 'pg_type'::regclass AND d.objid = to_regtype($1) AND p.provolatile = 'v'
UNION ALL
SELECT p.oid::regprocedure::text FROM pg_constraint c
  JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
  JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
 WHERE c.contypid = to_regtype($1) AND p.provolatile <> 'i'
UNION ALL
SELECT p.oid::regprocedure::text FROM pg_constraint c
  JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
  JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
  JOIN pg_proc p ON p.oid = o.oprcode
 WHERE c.contypid = to_regtype($1) AND p.provolatile <> 'i'";

/// `validate`: the user can reach the schema and create tables in it (or,
/// when it does not exist yet, create it in the database).
pub async fn check_privileges(client: &Client, schema: &str) -> Result<(), ConnectorError> {
    let exists: bool = client
        .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&ident(schema)])
        .await
        .map_err(|e| classify(&e, None))?
        .get(0);
    if !exists {
        let can: bool = client
            .query_one("SELECT has_database_privilege(current_database(), 'CREATE')", &[])
            .await
            .map_err(|e| classify(&e, None))?
            .get(0);
        return if can {
            Ok(())
        } else {
            Err(ConnectorError::permission(
                "DATABASE_PRIVILEGE",
                format!("schema {schema} does not exist and the user may not create it; create it, or GRANT CREATE ON DATABASE <db> TO <user>"),
            ))
        };
    }
    let row = client
        .query_one("SELECT has_schema_privilege($1, 'USAGE') AND has_schema_privilege($1, 'CREATE')", &[&schema])
        .await
        .map_err(|e| classify(&e, None))?;
    if !row.get::<_, bool>(0) {
        return Err(ConnectorError::permission(
            "SCHEMA_PRIVILEGE",
            format!("the user lacks USAGE or CREATE on schema {schema}; GRANT USAGE, CREATE ON SCHEMA {schema} TO <user>"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod naming_tests {
    use super::*;

    #[test]
    fn staging_names_never_truncate_into_the_target() {
        assert_eq!(staging_name("orders"), "orders__rapidbyte_staging");
        let long = "t".repeat(63);
        let s = staging_name(&long);
        assert!(s.len() <= MAX_IDENT && s != long && s.ends_with(STAGING_SUFFIX), "{s}");
        // Two long names sharing a prefix get distinct staging tables.
        let other = format!("{}u", "t".repeat(62));
        assert_ne!(staging_name(&other), s);
        // Multi-byte characters are not split.
        let wide = "é".repeat(31);
        assert!(staging_name(&wide).len() <= MAX_IDENT);
        assert_eq!(index_name(&long, "_pkey").len(), MAX_IDENT);
    }
}
