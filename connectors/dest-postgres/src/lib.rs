//! PostgreSQL destination connector.
//!
//! Loads each checkpoint chunk with `COPY … FROM STDIN (FORMAT binary)`
//! (Arrow encoded straight into the binary format by `rapidbyte-pgcopy`)
//! inside one transaction, together with its commit token when the run is
//! exactly-once, and states the destination checkpoint only after COMMIT
//! returned (SPEC § Delivery, § State and checkpoints). A stream published
//! whole (replace, full-refresh append) is one transaction: its rows, the
//! replace swap and its token commit together at end of stream, so a crash
//! leaves the target as it was. Every failure says
//! where it happened relative to COMMIT (SPEC § Errors).

mod dead_letters;
mod ddl;
mod lease;
mod load;
mod type_name;

use rapidbyte_pgconnect::commit_token::{self, TokenTable};
use rapidbyte_pgconnect::{ident, Connection};
use rapidbyte_sdk::{
    CommitTokenBase, CommittedToken, ConnectorError, Destination, Incoming, Input, StreamContext, WriteSummary,
};
use serde::Deserialize;

/// How rows are loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMethod {
    /// Binary COPY (feature `bulk-load-copy`).
    #[default]
    Copy,
    /// Multi-row prepared INSERTs binding the same binary values.
    Insert,
}

/// The destination's own config, beside the connection fields: how to load.
#[derive(Debug, Clone, Deserialize)]
struct Options {
    /// How rows are loaded.
    #[serde(default)]
    load_method: LoadMethod,
    /// Prefix for target table names (`stream` → `<prefix><stream>`).
    #[serde(default)]
    table_prefix: String,
    /// Create the target schema when it does not exist (default true).
    #[serde(default = "yes", deserialize_with = "rapidbyte_sdk::config::lenient")]
    create_schema: bool,
}

fn yes() -> bool {
    true
}

/// What a chunk wrote, reported once it commits.
#[derive(Default)]
struct Pending {
    /// Rows written and IPC bytes, per batch.
    batches: Vec<(u64, u64)>,
    skipped: u64,
    dead_lettered: u64,
}

impl Pending {
    fn report(&mut self, input: &mut Input) {
        for (rows, bytes) in self.batches.drain(..) {
            input.batch_written(rows, bytes);
        }
        if self.skipped > 0 {
            input.records_skipped(self.skipped);
            rapidbyte_sdk::host::counter(rapidbyte_sdk::metric_names::RECORDS_SKIPPED, self.skipped);
        }
        if self.dead_lettered > 0 {
            rapidbyte_sdk::host::counter(rapidbyte_sdk::metric_names::RECORDS_DEAD_LETTERED, self.dead_lettered);
        }
        self.skipped = 0;
        self.dead_lettered = 0;
    }
}

struct PgDestination {
    options: Options,
    pg: Connection,
    /// The (pipeline, stream) whose run lease this session holds.
    leased: Option<(String, String)>,
}

impl PgDestination {
    /// Takes the run lease of `pipeline`'s `stream` before anything is read
    /// or written for it (once per instance; held until the connection closes).
    fn lease(&mut self, pipeline: &str, stream: &str, run_id: &str) -> Result<(), ConnectorError> {
        if self.leased.as_ref().is_some_and(|(p, s)| p == pipeline && s == stream) {
            return Ok(());
        }
        let (schema, create) = (self.pg.config().schema.clone(), self.options.create_schema);
        let (rt, client) = self.pg.connected()?;
        rt.block_on(async {
            load::ensure_schema(client, &ident(&schema), create, stream).await?;
            lease::acquire(client, &schema, pipeline, stream, run_id).await
        })?;
        self.leased = Some((pipeline.to_string(), stream.to_string()));
        Ok(())
    }
}

/// Tells the host `cp` is durable (its COMMIT returned).
fn committed(input: &mut Input, cp: &rapidbyte_sdk::Checkpoint) -> Result<(), ConnectorError> {
    input.commit_checkpoint(cp).map_err(|e| e.with_commit_state(rapidbyte_sdk::CommitState::AfterCommitConfirmed))
}

impl Destination for PgDestination {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        let (options, pg) = rapidbyte_pgconnect::open(json)?;
        Ok(Self { options, pg, leased: None })
    }

    fn validate(&mut self) -> Result<(), ConnectorError> {
        let schema = self.pg.config().schema.clone();
        let (rt, client) = self.pg.connected()?;
        rt.block_on(load::check_privileges(client, &schema))
    }

    fn write(&mut self, ctx: &StreamContext, input: &mut Input) -> Result<WriteSummary, ConnectorError> {
        self.lease(&ctx.pipeline, &ctx.stream_name, &ctx.run_id)?;
        let schema = self.pg.config().schema.clone();
        let Options { load_method, ref table_prefix, create_schema } = self.options;
        let (rt, client) = self.pg.connected()?;
        rt.block_on(async {
            let mut session = load::Session::new(client, ctx, &schema, table_prefix, load_method, create_schema);
            // § Metrics: counts are reported when their chunk commits, so a
            // rolled-back chunk is never counted as written.
            let mut pending = Pending::default();
            let mut held = None;
            let result = async {
                loop {
                    match input.next()? {
                        Incoming::Batch(batch, bytes) => {
                            let rejected = session.write(&batch).await?;
                            let kept_out = rejected.skipped + rejected.dead_lettered;
                            pending.batches.push((batch.num_rows() as u64 - kept_out, bytes as u64));
                            pending.skipped += rejected.skipped;
                            pending.dead_lettered += rejected.dead_lettered;
                        }
                        Incoming::Checkpoint(cp) => {
                            if session.commit(&cp).await? {
                                pending.report(input);
                                committed(input, &cp)?;
                            } else {
                                held = Some(cp);
                            }
                        }
                        Incoming::DeadLetter(row) => {
                            session.dead_letter_from_source(&row).await?;
                            pending.dead_lettered += 1;
                        }
                        Incoming::End => break,
                    }
                }
                session.finish().await?;
                pending.report(input);
                // A whole stream is durable only now; its last checkpoint
                // covers the ones before it.
                if let Some(cp) = held.take() {
                    committed(input, &cp)?;
                }
                Ok::<(), ConnectorError>(())
            }
            .await;
            if result.is_err() {
                session.abort().await;
            }
            result?;
            Ok(input.summary())
        })
    }

    fn committed(&mut self, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
        // The lease first: what is committed cannot change under a run that holds it.
        self.lease(&base.pipeline, &base.stream_name, &base.run_id)?;
        let tokens = TokenTable::new(&self.pg.config().schema, commit_token::TABLE);
        let (rt, client) = self.pg.connected()?;
        rt.block_on(tokens.committed(client, base))
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        // Closing the session releases the run lease with it.
        self.pg.close();
        self.leased = None;
        Ok(())
    }
}

rapidbyte_sdk::export_destination!(
    PgDestination,
    features: ["bulk-load-copy", "exactly-once", "replace", "upsert", "schema-evolution"],
    endpoints: ["/host,/port,5432"],
    tls: ["/host,postgres"],
    config_schema: include_str!("../config.schema.json")
);
