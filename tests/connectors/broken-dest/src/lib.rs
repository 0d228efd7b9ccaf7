//! **A test fixture that is wrong on purpose.** Never use it to keep data.
//!
//! A small PostgreSQL destination whose config picks one delivery or
//! telemetry bug, so that `rapidbyte conformance` can be shown to catch it.
//! With `mode: none` it is correct (at-least-once and exactly-once), and
//! must pass.
//!
//! It writes only the `id` column (Int64) of each batch into
//! `<schema>.<stream>` (`id bigint`, created if missing; a stream named
//! `s.t` writes `s.t`). Each checkpoint chunk is one transaction: BEGIN at
//! the first batch after a checkpoint, one `INSERT … SELECT unnest($1)` per
//! batch, COMMIT at the checkpoint, then the destination checkpoint. With
//! exactly-once the commit token (pipeline, stream, run id, sequence, cursor
//! JSON) is written to `<schema>.broken_commits` in the same transaction,
//! under the same advisory lock `committed()` takes (as `dest-postgres` does).
//!
//! Config: the connection fields of `rapidbyte-pgconnect` (`host`, `port`,
//! `user`, `password`, `database`, `schema`, …) plus
//! `"mode": "none" | "drop_batch" | "duplicate_after_retry" | "wrong_commit_state" | "skip_metrics"`
//! (default `none`). Modes:
//! - `drop_batch`: the 2nd batch of a run is not written, yet reported as
//!   written (`batch_written`): rows go missing and the metrics lie.
//! - `duplicate_after_retry`: `committed()` always answers "nothing
//!   committed", so a retried or resumed exactly-once run starts over and
//!   duplicates rows.
//! - `wrong_commit_state`: a failure before COMMIT (the upstream failed, a
//!   database error inside the chunk) is reported as
//!   `after-commit-confirmed` instead of `before-commit`.
//! - `skip_metrics`: never calls `batch_written`, so no `records_written`,
//!   `bytes_written` or `batches_written`.
//!
//! In every other mode failures carry the right commit state (SPEC § Errors):
//! `before-commit` before COMMIT, `after-commit-unknown` when the COMMIT
//! itself got no answer, `after-commit-confirmed` when only the checkpoint
//! after a successful COMMIT failed.

use std::time::Instant;

use rapidbyte_pgconnect::{classify, ident, ConnectionConfig};
use rapidbyte_sdk::arrow::array::{Array, Int64Array, RecordBatch};
use rapidbyte_sdk::{
    host, metric_names as m, Checkpoint, CommitState, CommitTokenBase, CommittedToken, ConnectorError, Destination,
    Incoming, Input, StreamContext, WriteSummary,
};
use serde::Deserialize;
use tokio_postgres::Client;

/// Which bug this run has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// Behave correctly.
    #[default]
    None,
    /// Skip writing the 2nd batch but report it written.
    DropBatch,
    /// `committed()` ignores the recorded tokens.
    DuplicateAfterRetry,
    /// Report pre-COMMIT failures as after-commit-confirmed.
    WrongCommitState,
    /// Never report the written metrics.
    SkipMetrics,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::DropBatch => "drop_batch",
            Self::DuplicateAfterRetry => "duplicate_after_retry",
            Self::WrongCommitState => "wrong_commit_state",
            Self::SkipMetrics => "skip_metrics",
        }
    }
}

#[derive(Deserialize)]
struct Config {
    #[serde(flatten)]
    connection: ConnectionConfig,
    #[serde(default)]
    mode: Mode,
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

/// The exactly-once token table, in the configured schema.
const COMMITS_TABLE: &str = "broken_commits";

fn before_commit(e: ConnectorError) -> ConnectorError {
    e.with_commit_state(CommitState::BeforeCommit)
}

/// A database error inside the chunk: nothing of it is durable.
fn db(e: &tokio_postgres::Error, stream: &str) -> ConnectorError {
    before_commit(classify(e, Some(stream)))
}

/// `SELECT pg_advisory_xact_lock(…)` on the (pipeline, stream) of `base`:
/// serialises chunk transactions with `committed()`.
fn token_lock_sql(base: &CommitTokenBase) -> String {
    use rapidbyte_pgconnect::literal;
    format!(
        "SELECT pg_advisory_xact_lock(hashtextextended({} || '/' || {}, 0))",
        literal(&base.pipeline),
        literal(&base.stream_name)
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

struct BrokenDest {
    config: Config,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl BrokenDest {
    fn connect(&mut self) -> Result<(), ConnectorError> {
        if self.client.is_none() {
            self.client = Some(self.rt.block_on(rapidbyte_pgconnect::connect(&self.config.connection))?);
        }
        Ok(())
    }
}

/// One stream's load in progress.
struct Session<'a> {
    client: &'a Client,
    ctx: &'a StreamContext,
    mode: Mode,
    /// `"schema"."table"`.
    table: String,
    schema: String,
    prepared: bool,
    in_transaction: bool,
    batches: u64,
}

impl<'a> Session<'a> {
    fn new(client: &'a Client, ctx: &'a StreamContext, schema: &str, mode: Mode) -> Self {
        let (schema, table) = match ctx.stream_name.split_once('.') {
            Some((s, t)) => (s.to_string(), t.to_string()),
            None => (schema.to_string(), ctx.stream_name.clone()),
        };
        Self {
            client,
            ctx,
            mode,
            table: format!("{}.{}", ident(&schema), ident(&table)),
            schema,
            prepared: false,
            in_transaction: false,
            batches: 0,
        }
    }

    fn stream(&self) -> &'a str {
        &self.ctx.stream_name
    }

    /// Creates the target table (and the token table for exactly-once),
    /// outside any chunk transaction.
    async fn prepare(&mut self) -> Result<(), ConnectorError> {
        if self.prepared {
            return Ok(());
        }
        let stream = self.stream();
        let mut ddl = format!("CREATE TABLE IF NOT EXISTS {} (id bigint)", self.table);
        if self.ctx.commit_token_base.is_some() {
            ddl = format!("{ddl}; {}", commits_ddl(&self.schema));
        }
        self.client.batch_execute(&ddl).await.map_err(|e| db(&e, stream))?;
        self.prepared = true;
        Ok(())
    }

    async fn begin(&mut self) -> Result<(), ConnectorError> {
        self.prepare().await?;
        let stream = self.stream();
        self.client.batch_execute("BEGIN").await.map_err(|e| db(&e, stream))?;
        self.in_transaction = true;
        if let Some(base) = &self.ctx.commit_token_base {
            self.client.batch_execute(&token_lock_sql(base)).await.map_err(|e| db(&e, stream))?;
        }
        Ok(())
    }

    /// Writes the batch's ids into the open chunk.
    async fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let stream = self.stream();
        let ids = batch
            .column_by_name("id")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| {
                before_commit(ConnectorError::schema(
                    "NO_ID_COLUMN",
                    format!("stream `{stream}`: broken-dest writes only an Int64 column named `id`, and the batch has none"),
                ))
            })?;
        if !self.in_transaction {
            self.begin().await?;
        }
        self.batches += 1;
        if self.mode == Mode::DropBatch && self.batches == 2 {
            // WRONG ON PURPOSE: the rows are dropped without a word.
            return Ok(());
        }
        let values: Vec<Option<i64>> = ids.iter().collect();
        let started = Instant::now();
        self.client
            .execute(&format!("INSERT INTO {} (id) SELECT unnest($1::bigint[])", self.table), &[&values])
            .await
            .map_err(|e| db(&e, stream))?;
        host::timing_ms(m::FLUSH_MS, started.elapsed().as_secs_f64() * 1e3);
        Ok(())
    }

    /// Records the token (exactly-once) and COMMITs the chunk. Only a
    /// COMMIT that returned makes it durable.
    async fn commit(&mut self, cp: Option<&Checkpoint>) -> Result<(), ConnectorError> {
        let stream = self.stream();
        let token = self.ctx.commit_token_base.as_ref().zip(cp);
        if !self.in_transaction {
            if token.is_none() {
                return Ok(());
            }
            self.begin().await?;
        }
        if let Some((base, cp)) = token {
            let cursor = serde_json::to_string(&cp.cursor)
                .map_err(|e| before_commit(ConnectorError::internal("CURSOR_JSON", e.to_string())))?;
            let sql = format!(
                "INSERT INTO {}.{} (pipeline, stream, run_id, sequence, cursor) VALUES ($1, $2, $3, $4, $5::text::jsonb)
                 ON CONFLICT (pipeline, stream) DO UPDATE SET run_id = EXCLUDED.run_id, sequence = EXCLUDED.sequence,
                 cursor = EXCLUDED.cursor, committed_at = now()",
                ident(&self.schema),
                ident(COMMITS_TABLE)
            );
            let sequence = cp.sequence as i64;
            self.client
                .execute(&sql, &[&base.pipeline, &base.stream_name, &base.run_id, &sequence, &cursor])
                .await
                .map_err(|e| db(&e, stream))?;
        }
        let started = Instant::now();
        let result = self.client.batch_execute("COMMIT").await;
        self.in_transaction = false;
        host::timing_ms(m::COMMIT_MS, started.elapsed().as_secs_f64() * 1e3);
        match result {
            Ok(()) => Ok(()),
            // The server answered with an error: it rolled the chunk back.
            Err(e) if e.as_db_error().is_some() => Err(db(&e, stream)),
            // No answer: the COMMIT may or may not have happened.
            Err(e) => Err(ConnectorError::transient_db(
                "COMMIT_FAILED",
                format!("stream `{stream}`: no answer to COMMIT ({e}); the chunk may or may not be durable"),
            )
            .with_commit_state(CommitState::AfterCommitUnknown)),
        }
    }

    /// After a failure: roll the open chunk back, best effort.
    async fn abort(&mut self) {
        if std::mem::take(&mut self.in_transaction) {
            let _ = self.client.batch_execute("ROLLBACK").await;
        }
    }
}

async fn load(session: &mut Session<'_>, input: &mut Input) -> Result<(), ConnectorError> {
    loop {
        // The host's error for a failed upstream already says before-commit;
        // any other failure to receive is before COMMIT too.
        let item = input.next().map_err(|e| if e.commit_state.is_none() { before_commit(e) } else { e })?;
        match item {
            Incoming::Batch(batch, bytes) => {
                session.write(&batch).await?;
                if session.mode != Mode::SkipMetrics {
                    input.batch_written(batch.num_rows() as u64, bytes as u64);
                }
                // WRONG ON PURPOSE (skip_metrics): the written metrics are never reported.
            }
            Incoming::Checkpoint(cp) => {
                session.commit(Some(&cp)).await?;
                input
                    .commit_checkpoint(&cp)
                    .map_err(|e| e.with_commit_state(CommitState::AfterCommitConfirmed))?;
            }
            Incoming::End => break,
        }
    }
    session.commit(None).await
}

impl Destination for BrokenDest {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        let config: Config = rapidbyte_sdk::config::parse(json)?;
        rapidbyte_pgconnect::reject_unknown(&config.unknown)?;
        config.connection.check()?;
        Ok(Self { config, rt: rapidbyte_pgconnect::runtime()?, client: None })
    }

    fn validate(&mut self) -> Result<(), ConnectorError> {
        self.connect()
    }

    fn write(&mut self, ctx: &StreamContext, input: &mut Input) -> Result<WriteSummary, ConnectorError> {
        let mode = self.config.mode;
        let schema = self.config.connection.schema.clone();
        let result = match self.connect().map_err(before_commit) {
            Ok(()) => {
                let client = self.client.as_ref().expect("connected");
                self.rt.block_on(async {
                    let mut session = Session::new(client, ctx, &schema, mode);
                    let result = load(&mut session, input).await;
                    if result.is_err() {
                        session.abort().await;
                    }
                    result
                })
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                host::info(&format!("broken-dest: stream `{}` done (mode {})", ctx.stream_name, mode.as_str()));
                Ok(input.summary())
            }
            // WRONG ON PURPOSE: a failure before COMMIT claims the chunk is durable.
            Err(e) if mode == Mode::WrongCommitState && e.commit_state == Some(CommitState::BeforeCommit) => {
                Err(e.with_commit_state(CommitState::AfterCommitConfirmed))
            }
            Err(e) => Err(e),
        }
    }

    fn committed(&mut self, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
        if self.config.mode == Mode::DuplicateAfterRetry {
            // WRONG ON PURPOSE: the recorded tokens are ignored.
            return Ok(None);
        }
        let schema = self.config.connection.schema.clone();
        self.connect()?;
        let client = self.client.as_ref().expect("connected");
        self.rt.block_on(committed(client, &schema, base))
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        self.client = None;
        Ok(())
    }
}

/// § Delivery: the highest token committed for `base`'s pipeline and stream,
/// read under the token lock (a chunk still committing is waited for).
async fn committed(client: &Client, schema: &str, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
    let stream = base.stream_name.as_str();
    client.batch_execute("BEGIN").await.map_err(|e| classify(&e, Some(stream)))?;
    client.batch_execute(&token_lock_sql(base)).await.map_err(|e| classify(&e, Some(stream)))?;
    let result = read_token(client, schema, base).await;
    let _ = client.batch_execute("COMMIT").await;
    result
}

async fn read_token(client: &Client, schema: &str, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
    let stream = base.stream_name.as_str();
    let table = format!("{}.{}", ident(schema), ident(COMMITS_TABLE));
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(|e| classify(&e, Some(stream)))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!("SELECT run_id, sequence, cursor::text FROM {table} WHERE pipeline = $1 AND stream = $2"),
            &[&base.pipeline, &base.stream_name],
        )
        .await
        .map_err(|e| classify(&e, Some(stream)))?;
    let Some(row) = row else { return Ok(None) };
    let cursor = match row.get::<_, Option<String>>(2).as_deref() {
        None | Some("null") => None,
        Some(json) => Some(
            serde_json::from_str(json)
                .map_err(|e| ConnectorError::internal("CURSOR_JSON", format!("stored cursor is unreadable: {e}")))?,
        ),
    };
    Ok(Some(CommittedToken { run_id: row.get(0), sequence: row.get::<_, i64>(1) as u64, cursor }))
}

rapidbyte_sdk::export_destination!(BrokenDest, features: ["exactly-once"], endpoints: ["/host,/port,5432"]);
