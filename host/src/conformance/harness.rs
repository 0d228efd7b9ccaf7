//! What the checks share: the component under test, its subject file, a
//! trusted peer (the generator source, for destinations), a PostgreSQL
//! client for seeding and read-back, and helpers that run one stream.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rapidbyte_protocol::{CommitTokenBase, CursorInfo, Feature, Limits, Role, StreamContext, SyncMode, WriteMode};

use super::mode::{Contents, Mode};
use super::subject::Subject;
use crate::engine::channel::Item;
use crate::sandbox::host_api::{RunServices, DEFAULT_MAX_RECORD_BYTES};
use crate::sandbox::runtime::{LoadedComponent, Runtime};
use crate::sandbox::SandboxSpec;
use crate::state::{MemoryState, StateStore};
use crate::engine::stream::{read_stream, ConnectorSpec, SideReport, StreamJob, StreamReport};

/// Everything a case needs.
pub struct Harness {
    /// The runtime components are loaded and run with.
    pub runtime: Arc<Runtime>,
    /// The component under test.
    pub component: Arc<LoadedComponent>,
    /// Its subject file.
    pub subject: Subject,
    /// The generator source feeding destinations under test.
    pub peer: Option<Arc<LoadedComponent>>,
    /// The `rapidbyte` binary, for the SIGKILL cases (None: those cases are n/a).
    pub binary: Option<PathBuf>,
    /// The component's path (for pipeline files of the SIGKILL cases).
    pub component_path: PathBuf,
    pg: Option<tokio_postgres::Client>,
    created_schema: AtomicBool,
    /// Makes this harness's pipeline names its own.
    nonce: String,
}

/// What one source read produced.
pub struct Read {
    /// Every frame, in order.
    pub frames: Vec<Vec<u8>>,
    /// Every source checkpoint, in order.
    pub checkpoints: Vec<rapidbyte_protocol::Checkpoint>,
    /// The source side's report.
    pub side: SideReport,
    /// The run's services (metrics, logs).
    pub services: RunServices,
    /// Rows in the frames.
    pub rows: u64,
}

/// A destination write: what the stream did, and the services it used.
pub struct Write {
    /// The stream's report.
    pub report: StreamReport,
    /// Its services.
    pub services: RunServices,
}

/// How to drive a destination write.
#[derive(Clone)]
pub struct WritePlan {
    /// Names commit tokens and state keys; one per independent scenario.
    pub pipeline: String,
    /// Rows the generator produces.
    pub rows: u64,
    /// Extra generator config (fail_times, pause_ms…).
    pub peer_config: serde_json::Value,
    /// The destination's config.
    pub config: serde_json::Value,
    /// Trap the destination at this host call.
    pub trap_at: Option<u64>,
    /// State shared between a crash and its resume.
    pub state: Arc<dyn StateStore>,
    /// How the stream is read and written.
    pub mode: Mode,
    /// Cancel the run (as Ctrl-C does) this long after it starts.
    pub cancel_after: Option<std::time::Duration>,
    /// Attempts the engine may make (above 1: retried as a run retries).
    pub max_attempts: u32,
}

impl Harness {
    /// Loads the component and its peer; connects to PostgreSQL when the
    /// subject names it.
    pub async fn new(
        runtime: Arc<Runtime>,
        component_path: PathBuf,
        subject: Subject,
        connector_dir: &std::path::Path,
        binary: Option<PathBuf>,
    ) -> Result<Self, String> {
        let component = runtime.load(&component_path).map_err(|e| e.to_string())?;
        let peer = match component.manifest.role {
            Role::Destination => {
                let path = connector_dir.join("source_generator.wasm");
                Some(runtime.load(&path).map_err(|e| format!("the harness feeds destinations from {}: {e}", path.display()))?)
            }
            _ => None,
        };
        let pg = match &subject.postgres {
            Some(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| format!("subject `postgres: {url}` is not reachable: {e}"))?;
                tokio::spawn(conn);
                // Seeds drop and create tables; their NOTICEs are not news.
                client.batch_execute("SET client_min_messages TO warning").await.map_err(|e| e.to_string())?;
                Some(client)
            }
            None => None,
        };
        let harness = Self { runtime, component, subject, peer, binary, component_path, pg, created_schema: AtomicBool::new(false), nonce: crate::engine::run::new_run_id() };
        if let Some(pg) = &harness.pg {
            let schema = harness.subject.schema();
            let exists: bool = pg
                .query_one("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", &[&schema])
                .await
                .map_err(|e| e.to_string())?
                .get(0);
            if !exists {
                pg.batch_execute(&format!("CREATE SCHEMA {}", harness.schema_ident())).await.map_err(|e| e.to_string())?;
                harness.created_schema.store(true, Ordering::SeqCst);
            }
        }
        Ok(harness)
    }

    /// Drops the schema if the harness created it.
    pub async fn cleanup(&self) {
        if let (Some(pg), true) = (&self.pg, self.created_schema.swap(false, Ordering::SeqCst)) {
            let _ = pg.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema_ident())).await;
        }
    }

    fn schema_ident(&self) -> String {
        rapidbyte_pgquote::ident(&self.subject.schema())
    }

    /// Whether the component declares `f`.
    pub fn declares(&self, f: Feature) -> bool {
        self.component.manifest.features.contains(&f)
    }

    /// The PostgreSQL client, if the subject names a server.
    pub fn pg(&self) -> Option<&tokio_postgres::Client> {
        self.pg.as_ref()
    }

    /// Runs SQL on the subject's server.
    pub async fn sql(&self, sql: &str) -> Result<(), String> {
        let pg = self.pg.as_ref().ok_or("no `postgres:` in the subject file")?;
        pg.batch_execute(sql).await.map_err(|e| format!("{sql}: {e}"))
    }

    /// The component as a stream uses it.
    pub fn spec(&self, config: &serde_json::Value, trap_at: Option<u64>) -> ConnectorSpec {
        ConnectorSpec {
            component: Arc::clone(&self.component),
            config_json: config.to_string(),
            sandbox: SandboxSpec { trap_at_host_call: trap_at, ..SandboxSpec::default() },
        }
    }

    /// A stream context for the subject's stream (or `table`).
    pub fn context(&self, pipeline: &str, stream: &str) -> StreamContext {
        StreamContext {
            pipeline: pipeline.into(),
            run_id: format!("{pipeline}-{}", crate::engine::run::new_run_id()),
            stream_name: stream.into(),
            limits: Limits { max_batch_bytes: 1 << 20, checkpoint_interval_rows: 500, ..Limits::default() },
            ..StreamContext::default()
        }
    }

    /// Reads `stream` from the source under test, keeping every frame.
    pub async fn read(&self, config: &serde_json::Value, ctx: StreamContext) -> Read {
        self.read_with_record_limit(config, ctx, DEFAULT_MAX_RECORD_BYTES).await
    }

    /// [`Harness::read`] with the host's ceiling for a single-row frame.
    pub async fn read_with_record_limit(&self, config: &serde_json::Value, mut ctx: StreamContext, max_record_bytes: u64) -> Read {
        ctx.limits.max_record_bytes = max_record_bytes;
        let services = RunServices::new(Arc::new(MemoryState::default()));
        let mut frames = Vec::new();
        let mut checkpoints = Vec::new();
        let mut rows = 0;
        let side = read_stream(
            Arc::clone(&self.runtime),
            self.spec(config, None),
            ctx,
            services.clone(),
            |item| match item {
                Item::Batch { frame, rows: n } => {
                    rows += n;
                    frames.push(frame);
                }
                Item::Checkpoint(cp) => checkpoints.push(cp),
                _ => {}
            },
            8 << 20,
        )
        .await;
        Read { frames, checkpoints, side, services, rows }
    }

    /// The incremental read of `table` by `id` after `cursor`.
    pub fn incremental(&self, table: &str, cursor: Option<CursorInfo>) -> StreamContext {
        let mut ctx = self.context("conformance", table);
        ctx.sync_mode = SyncMode::Incremental;
        ctx.cursor = Some(cursor.unwrap_or(CursorInfo { field: "id".into(), ..Default::default() }));
        ctx
    }

    /// Feeds the destination under test `plan.rows` generated rows, read
    /// incrementally by id (so a resume continues), checkpointing every 500
    /// rows, exactly-once when the destination declares it.
    pub async fn write(&self, plan: &WritePlan) -> Write {
        let peer = self.peer.as_ref().expect("destinations have a peer");
        let mut peer_config = serde_json::json!({"rows": plan.rows, "batch_rows": 100});
        super::subject::merge(&mut peer_config, &plan.peer_config);
        let mut context = self.context(&plan.pipeline, &self.subject.stream);
        context.sync_mode = plan.mode.sync;
        if plan.mode.sync == SyncMode::Incremental {
            context.cursor = Some(CursorInfo { field: "id".into(), ..Default::default() });
        }
        context.write_mode = plan.mode.write.clone();
        if plan.mode.exactly_once {
            context.commit_token_base = Some(CommitTokenBase {
                pipeline: plan.pipeline.clone(),
                stream_name: self.subject.stream.clone(),
                run_id: context.run_id.clone(),
            });
        }
        let job = StreamJob {
            context,
            source: ConnectorSpec { component: Arc::clone(peer), config_json: peer_config.to_string(), sandbox: SandboxSpec::default() },
            destination: self.spec(&plan.config, plan.trap_at),
            max_inflight_bytes: 4 << 20,
        };
        let services = RunServices::new(Arc::clone(&plan.state));
        let canceller = plan.cancel_after.map(|after| {
            let cancel = services.cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                cancel.cancel();
            })
        });
        // As a run drives it: retried up to `max_attempts`, whole streams guarded.
        let report = crate::engine::supervise::run_with_retries(Arc::clone(&self.runtime), job, services.clone(), plan.max_attempts.max(1)).await.report;
        if let Some(c) = canceller {
            c.abort();
        }
        Write { report, services }
    }

    /// A plan with fresh state.
    pub fn plan(&self, pipeline: &str, rows: u64, case: &str) -> WritePlan {
        WritePlan {
            pipeline: pipeline.into(),
            rows,
            peer_config: serde_json::json!({}),
            config: self.subject.config_for(case),
            trap_at: None,
            state: Arc::new(MemoryState::default()),
            mode: Mode {
                write: WriteMode::Append,
                sync: SyncMode::Incremental,
                exactly_once: self.declares(Feature::ExactlyOnce),
            },
            cancel_after: None,
            max_attempts: 1,
        }
    }

    /// [`Harness::plan`] in `mode`, its pipeline named for the case and this
    /// harness (the destination's tokens of another case or an earlier
    /// conformance run are never this plan's).
    pub fn plan_in(&self, mode: &Mode, pipeline: &str, rows: u64, case: &str) -> WritePlan {
        WritePlan { mode: mode.clone(), ..self.plan(&format!("{pipeline}-{case}-{}", self.nonce), rows, case) }
    }

    /// Resets the target and loads the old contents a whole stream starts
    /// from (a clean run in the plan's mode, rows from [`mode::OLD_FIRST_ID`]).
    pub async fn reset_with_old_contents(&self, plan: &WritePlan) -> Result<(), String> {
        self.reset_target().await?;
        if plan.mode.old_rows() == 0 {
            return Ok(());
        }
        let mut old = plan.clone();
        old.pipeline = format!("{}-old", plan.pipeline);
        old.rows = plan.mode.old_rows();
        old.peer_config = serde_json::json!({"first_id": super::mode::OLD_FIRST_ID});
        old.trap_at = None;
        old.cancel_after = None;
        old.state = Arc::new(MemoryState::default());
        let w = self.write(&old).await;
        match w.report.error() {
            Some(e) => Err(format!("loading the old contents failed: {e}")),
            None => Ok(()),
        }
    }

    /// Rows, distinct ids and old rows in the destination's table.
    pub async fn contents(&self) -> Result<Contents, String> {
        let pg = self.pg.as_ref().ok_or("no `postgres:` in the subject file")?;
        let target = self.target();
        let exists: bool = pg.query_one("SELECT to_regclass($1) IS NOT NULL", &[&target]).await.map_err(|e| e.to_string())?.get(0);
        if !exists {
            return Ok(Contents { rows: 0, distinct: 0, old: 0 });
        }
        let sql = format!("SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id >= $1) FROM {target}");
        let row = pg.query_one(&sql, &[&(super::mode::OLD_FIRST_ID as i64)]).await.map_err(|e| e.to_string())?;
        Ok(Contents { rows: row.get(0), distinct: row.get(1), old: row.get(2) })
    }

    /// The relations in the subject's schema (a left-behind staging table
    /// shows as a new one).
    pub async fn relations(&self) -> Result<Vec<String>, String> {
        let pg = self.pg.as_ref().ok_or("no `postgres:` in the subject file")?;
        let rows = pg
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1",
                &[&self.subject.schema()],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The destination's table, `<schema>.<stream>`.
    pub fn target(&self) -> String {
        rapidbyte_pgquote::qualified(&self.subject.schema(), &self.subject.stream)
    }

    /// Drops the destination's table (a fresh start for a scenario).
    pub async fn reset_target(&self) -> Result<(), String> {
        self.sql(&format!("DROP TABLE IF EXISTS {}", self.target())).await
    }

    /// Rows and distinct ids in the destination's table (None: no read-back).
    pub async fn read_back(&self) -> Option<Result<(i64, i64), String>> {
        let pg = self.pg.as_ref()?;
        let target = self.target();
        let exists: bool = match pg.query_one("SELECT to_regclass($1) IS NOT NULL", &[&target]).await {
            Ok(r) => r.get(0),
            Err(e) => return Some(Err(e.to_string())),
        };
        if !exists {
            return Some(Ok((0, 0)));
        }
        Some(
            pg.query_one(&format!("SELECT count(*), count(DISTINCT id) FROM {target}"), &[])
                .await
                .map(|r| (r.get(0), r.get(1)))
                .map_err(|e| e.to_string()),
        )
    }
}
