//! The `host` interface as plain Rust: what a connector instance may ask of
//! the host. The generated trait in `bindings/` delegates here, so this file
//! never sees a generated type.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_ipc::reader::StreamReader;
use arrow_schema::SchemaRef;
use rapidbyte_protocol::{
    Checkpoint, CheckpointKind, CommitState, ConnectorError, Label, LogLevel, Metric, NextItem, ReadSummary, Role,
    StateScope, TransformSummary, WriteSummary,
};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::channel::{BatchReceiver, BatchSender, Item};
use crate::checkpoint::Coordinator;
use crate::metrics::MetricsHub;
use crate::state::StateStore;

/// What a finished `run-*` call returned.
#[derive(Debug, Clone, PartialEq)]
pub enum RunSummary {
    /// From a source.
    Read(ReadSummary),
    /// From a destination.
    Write(WriteSummary),
    /// From a transform.
    Transform(TransformSummary),
}

/// Who a connector instance is, for logs, metrics and errors.
#[derive(Debug, Clone)]
pub struct InstanceLabels {
    /// The pipeline's name.
    pub pipeline: String,
    /// The stream's name.
    pub stream: String,
    /// The connector's name.
    pub connector: String,
    /// Its role.
    pub role: Role,
    /// The run's id.
    pub run_id: String,
}

/// One log event a guest sent, kept for tests and the run report.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestLog {
    /// The stream.
    pub stream: String,
    /// The connector.
    pub connector: String,
    /// Severity.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Structured fields.
    pub fields: Vec<Label>,
}

/// Services shared by every instance of a run.
#[derive(Clone)]
pub struct RunServices {
    /// Metric aggregation.
    pub metrics: Arc<MetricsHub>,
    /// Host-owned state.
    pub state: Arc<dyn StateStore>,
    /// The last guest log events (bounded).
    pub logs: Arc<Mutex<Vec<GuestLog>>>,
    /// Set when the run is asked to stop (Ctrl-C).
    pub cancel: crate::cancel::CancelToken,
}

/// How many guest log events a run keeps in memory.
const KEPT_LOGS: usize = 10_000;

impl RunServices {
    /// Services over `state`, with fresh metrics and logs.
    pub fn new(state: Arc<dyn StateStore>) -> Self {
        Self { metrics: Arc::default(), state, logs: Arc::default(), cancel: Default::default() }
    }

    /// A copy of the kept guest logs.
    pub fn guest_logs(&self) -> Vec<GuestLog> {
        self.logs.lock().expect("log lock").clone()
    }
}

/// The stream-side ends an instance holds.
pub(crate) enum StreamIo {
    /// Not running a stream (open/validate/discover only).
    None,
    /// A source: emits downstream.
    Output(BatchSender),
    /// A destination: pulls from upstream.
    Input(BatchReceiver),
}

/// A memory growth beyond the instance's cap (SPEC § Security).
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded: the instance asked for {desired} bytes, its cap is {cap} bytes")]
pub struct MemoryLimitExceeded {
    /// The cap.
    pub cap: usize,
    /// What it asked for.
    pub desired: usize,
}

/// A fault injected at a host call boundary (crash-safety tests).
#[derive(Debug, thiserror::Error)]
#[error("fault injected at host call {0}")]
pub struct InjectedFault(pub u64);

/// The wall-clock limit of a call ran out (SPEC § Security).
#[derive(Debug, thiserror::Error)]
#[error("time limit exceeded")]
pub struct DeadlineExceeded;

/// Everything one instance's Store holds.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) labels: InstanceLabels,
    pub(crate) services: RunServices,
    pub(crate) io: StreamIo,
    pub(crate) coordinator: Option<Arc<Coordinator>>,
    pub(crate) memory_cap: usize,
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_batch_bytes: u64,
    pub(crate) schema: Option<SchemaRef>,
    /// The first breach of the contract; it fails the stream whatever the
    /// connector returns afterwards.
    pub(crate) violation: Option<String>,
    pub(crate) host_calls: u64,
    /// Every host call counts here; at `trap_at_call` the instance traps.
    pub(crate) calls_entered: u64,
    pub(crate) trap_at_call: Option<u64>,
    pub(crate) rows_seen: u64,
    pub(crate) refused_connects: Arc<Mutex<Vec<SocketAddr>>>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime::ResourceLimiter for HostState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            return Err(MemoryLimitExceeded { cap: self.memory_cap, desired }.into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The host functions, in plain types.
pub(crate) struct HostApi;

impl HostApi {
    /// Runs before every host function: counts the call and, when a fault is
    /// injected at this call, traps the instance before anything happens.
    pub(crate) fn enter(s: &mut HostState) -> wasmtime::Result<()> {
        s.calls_entered += 1;
        match s.trap_at_call {
            Some(k) if s.calls_entered >= k => Err(InjectedFault(s.calls_entered).into()),
            _ => Ok(()),
        }
    }

    pub(crate) fn log(s: &mut HostState, level: LogLevel, message: String, fields: Vec<Label>) {
        let l = &s.labels;
        let rendered: String = fields.iter().map(|f| format!(" {}={}", f.key, f.value)).collect();
        macro_rules! event {
            ($lvl:expr) => {
                tracing::event!(
                    $lvl,
                    pipeline = %l.pipeline,
                    stream = %l.stream,
                    connector = %l.connector,
                    run_id = %l.run_id,
                    "{message}{rendered}"
                )
            };
        }
        match level {
            LogLevel::Trace => event!(tracing::Level::TRACE),
            LogLevel::Debug => event!(tracing::Level::DEBUG),
            LogLevel::Info => event!(tracing::Level::INFO),
            LogLevel::Warn => event!(tracing::Level::WARN),
            LogLevel::Error => event!(tracing::Level::ERROR),
        }
        let mut logs = s.services.logs.lock().expect("log lock");
        if logs.len() >= KEPT_LOGS {
            logs.remove(0);
        }
        logs.push(GuestLog {
            stream: l.stream.clone(),
            connector: l.connector.clone(),
            level,
            message,
            fields,
        });
    }

    pub(crate) fn metric(s: &mut HostState, m: Metric) {
        s.host_calls += 1;
        s.services.metrics.record(&s.labels.stream, s.labels.role, &m);
    }

    /// § Batches: non-empty, within `max_batch_bytes`, valid IPC, one schema
    /// per stream. Breaches fail the stream.
    pub(crate) async fn emit_batch(s: &mut HostState, frame: Vec<u8>) -> Result<(), ConnectorError> {
        s.host_calls += 1;
        let rows = match validate_frame(&frame, s.max_batch_bytes, &mut s.schema) {
            Ok(rows) => rows,
            Err(msg) => return Err(violation(s, msg)),
        };
        let StreamIo::Output(tx) = &s.io else {
            return Err(violation(s, "emit-batch was called by a connector that does not emit".into()));
        };
        if s.services.cancel.is_cancelled() {
            return Err(cancelled());
        }
        s.rows_seen += rows;
        let waited = Instant::now();
        let sent = tx.send_batch(frame, rows).await;
        record_channel_wait(s, waited);
        sent.map_err(|_| downstream_closed(s, "batches"))
    }

    pub(crate) async fn next_batch(s: &mut HostState) -> Result<NextItem, ConnectorError> {
        s.host_calls += 1;
        let StreamIo::Input(rx) = &mut s.io else {
            return Err(violation(s, "next-batch was called by a connector that does not receive".into()));
        };
        let waited = Instant::now();
        let item = rx.recv().await;
        record_channel_wait(s, waited);
        match item {
            Item::Batch { frame, rows } => {
                s.rows_seen += rows;
                Ok(NextItem::Batch(frame))
            }
            Item::Checkpoint(cp) => Ok(NextItem::Checkpoint(cp)),
            Item::End => Ok(NextItem::EndOfStream),
            Item::Abort(reason) => Err(ConnectorError::internal(
                "UPSTREAM_FAILED",
                format!("the source failed: {reason}; roll back everything after the last checkpoint"),
            )
            .with_commit_state(CommitState::BeforeCommit)
            .with_safe_to_retry(true)),
        }
    }

    pub(crate) async fn checkpoint(s: &mut HostState, cp: Checkpoint) -> Result<(), ConnectorError> {
        s.host_calls += 1;
        let Some(coordinator) = s.coordinator.clone() else {
            return Err(violation(s, "checkpoint stated outside a stream run".into()));
        };
        match (cp.kind, s.labels.role) {
            (CheckpointKind::Source, Role::Source | Role::Transform) => {
                if let Err(msg) = coordinator.source(cp.clone()) {
                    return Err(violation(s, msg));
                }
                let StreamIo::Output(tx) = &s.io else {
                    return Err(violation(s, "source checkpoint without an output".into()));
                };
                let sent = tx.send(Item::Checkpoint(cp)).await;
                sent.map_err(|_| downstream_closed(s, "checkpoints"))
            }
            (CheckpointKind::Destination, Role::Destination) => match coordinator.destination(&cp) {
                Ok(_) => Ok(()),
                Err(msg) => Err(violation(s, msg)),
            },
            (kind, role) => Err(violation(s, format!("a {role} may not state a {kind:?} checkpoint"))),
        }
    }

    fn scope(s: &HostState, scope: StateScope) -> String {
        match scope {
            StateScope::Pipeline => s.labels.pipeline.clone(),
            StateScope::Stream => format!("{}/{}", s.labels.pipeline, s.labels.stream),
        }
    }

    pub(crate) fn state_get(s: &mut HostState, scope: StateScope, key: String) -> Result<Option<String>, ConnectorError> {
        s.host_calls += 1;
        s.services.state.get(&Self::scope(s, scope), &key).map_err(state_error)
    }

    pub(crate) fn state_put(s: &mut HostState, scope: StateScope, key: String, value: String) -> Result<(), ConnectorError> {
        s.host_calls += 1;
        s.services.state.put(&Self::scope(s, scope), &key, &value).map_err(state_error)
    }

    pub(crate) fn state_compare_and_set(
        s: &mut HostState,
        scope: StateScope,
        key: String,
        expected: Option<String>,
        value: String,
    ) -> Result<bool, ConnectorError> {
        s.host_calls += 1;
        s.services.state.compare_and_set(&Self::scope(s, scope), &key, expected.as_deref(), &value).map_err(state_error)
    }
}

/// The host's own phase metric: time an instance spent blocked on the batch
/// channel (a source waiting for space, a destination waiting for data).
pub const CHANNEL_WAIT_MS: &str = "channel_wait_ms";

fn record_channel_wait(s: &mut HostState, since: Instant) {
    let ms = since.elapsed().as_secs_f64() * 1e3;
    s.services.metrics.record(&s.labels.stream, s.labels.role, &Metric::histogram(CHANNEL_WAIT_MS, ms));
}

/// What a source hears from the host once the run is cancelled.
fn cancelled() -> ConnectorError {
    ConnectorError::internal(crate::cancel::CANCELLED, "the run was cancelled; stop reading").with_commit_state(CommitState::BeforeCommit)
}

/// The destination is gone: because the run was cancelled (it finished at
/// the last checkpoint) or because it stopped.
fn downstream_closed(s: &HostState, what: &str) -> ConnectorError {
    if s.services.cancel.is_cancelled() {
        return cancelled();
    }
    ConnectorError::internal("DOWNSTREAM_CLOSED", format!("the destination stopped; no more {what} are accepted"))
}

fn state_error(e: crate::state::StateError) -> ConnectorError {
    ConnectorError::transient_db("STATE_UNAVAILABLE", e.to_string())
}

fn violation(s: &mut HostState, msg: String) -> ConnectorError {
    tracing::warn!(connector = %s.labels.connector, stream = %s.labels.stream, "protocol violation: {msg}");
    s.violation.get_or_insert_with(|| msg.clone());
    ConnectorError::internal("PROTOCOL_VIOLATION", msg)
}

/// Checks a frame against § Batches and returns its row count.
pub(crate) fn validate_frame(frame: &[u8], max_batch_bytes: u64, schema: &mut Option<SchemaRef>) -> Result<u64, String> {
    if frame.is_empty() {
        return Err("emitted a zero-length frame".into());
    }
    if frame.len() as u64 > max_batch_bytes {
        return Err(format!("emitted a frame of {} bytes, above max_batch_bytes = {max_batch_bytes}", frame.len()));
    }
    let reader = StreamReader::try_new(frame, None).map_err(|e| format!("emitted a frame that is not Arrow IPC: {e}"))?;
    let frame_schema = reader.schema();
    match schema {
        Some(known) if known.fields() != frame_schema.fields() => {
            return Err(format!("the stream's schema changed mid-stream: {known:?} then {frame_schema:?}"));
        }
        Some(_) => {}
        None => *schema = Some(frame_schema),
    }
    let mut rows = 0u64;
    for batch in reader {
        rows += batch.map_err(|e| format!("emitted a frame with an invalid record batch: {e}"))?.num_rows() as u64;
    }
    Ok(rows)
}
