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
//! exactly-once the commit token is written to `<schema>.broken_commits` in
//! the same transaction, by the protocol `dest-postgres` uses
//! (`rapidbyte_pgconnect::commit_token`).
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

use rapidbyte_pgconnect::commit_token::{self, TokenTable};
use rapidbyte_pgconnect::{chunk, qualified, split_qualified, Connection};
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

/// Its own config, beside the connection fields.
#[derive(Deserialize)]
struct Options {
    #[serde(default)]
    mode: Mode,
}

/// The exactly-once token table, in the configured schema.
const COMMITS_TABLE: &str = "broken_commits";

fn before_commit(e: ConnectorError) -> ConnectorError {
    e.with_commit_state(CommitState::BeforeCommit)
}

struct BrokenDest {
    mode: Mode,
    pg: Connection,
}

/// One stream's load in progress.
struct Session<'a> {
    client: &'a Client,
    ctx: &'a StreamContext,
    mode: Mode,
    /// `"schema"."table"`.
    table: String,
    tokens: TokenTable,
    prepared: bool,
    in_transaction: bool,
    batches: u64,
}

impl<'a> Session<'a> {
    fn new(client: &'a Client, ctx: &'a StreamContext, schema: &str, mode: Mode) -> Self {
        let (schema, table) = split_qualified(&ctx.stream_name, schema);
        Self {
            client,
            ctx,
            mode,
            table: qualified(schema, table),
            tokens: TokenTable::new(schema, COMMITS_TABLE),
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
        let ddl = format!("CREATE TABLE IF NOT EXISTS {} (id bigint)", self.table);
        self.client.batch_execute(&ddl).await.map_err(|e| chunk::error(&e, stream))?;
        if self.ctx.commit_token_base.is_some() {
            self.tokens.create(self.client, stream).await?;
        }
        self.prepared = true;
        Ok(())
    }

    async fn begin(&mut self) -> Result<(), ConnectorError> {
        self.prepare().await?;
        let stream = self.stream();
        self.client.batch_execute("BEGIN").await.map_err(|e| chunk::error(&e, stream))?;
        self.in_transaction = true;
        if let Some(base) = &self.ctx.commit_token_base {
            commit_token::lock(self.client, base).await?;
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
            .map_err(|e| chunk::error(&e, stream))?;
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
            self.tokens.write(self.client, base, cp).await?;
        }
        let result = chunk::commit(self.client, stream).await;
        self.in_transaction = false;
        result
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
            // No dead-letter table here: one arriving is refused, never dropped.
            Incoming::DeadLetter(_) => {
                return Err(before_commit(ConnectorError::config("DEAD_LETTERS_UNSUPPORTED", "this test destination keeps no dead letters")))
            }
            Incoming::End => break,
        }
    }
    session.commit(None).await
}

impl Destination for BrokenDest {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        let (Options { mode }, pg) = rapidbyte_pgconnect::open(json)?;
        Ok(Self { mode, pg })
    }

    fn validate(&mut self) -> Result<(), ConnectorError> {
        self.pg.connected().map(|_| ())
    }

    fn write(&mut self, ctx: &StreamContext, input: &mut Input) -> Result<WriteSummary, ConnectorError> {
        let mode = self.mode;
        let schema = self.pg.config().schema.clone();
        let result = self.pg.connected().map_err(before_commit).and_then(|(rt, client)| {
            rt.block_on(async {
                let mut session = Session::new(client, ctx, &schema, mode);
                let result = load(&mut session, input).await;
                if result.is_err() {
                    session.abort().await;
                }
                result
            })
        });
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
        if self.mode == Mode::DuplicateAfterRetry {
            // WRONG ON PURPOSE: the recorded tokens are ignored.
            return Ok(None);
        }
        let tokens = TokenTable::new(&self.pg.config().schema, COMMITS_TABLE);
        let (rt, client) = self.pg.connected()?;
        rt.block_on(tokens.committed(client, base))
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        self.pg.close();
        Ok(())
    }
}

rapidbyte_sdk::export_destination!(BrokenDest, features: ["exactly-once"], endpoints: ["/host,/port,5432"]);
