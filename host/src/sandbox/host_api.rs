//! The `host` interface as plain Rust: what a connector instance may ask of
//! the host. The generated trait in `bindings/` delegates here, so this file
//! never sees a generated type.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow_ipc::reader::StreamReader;
use arrow_schema::SchemaRef;
use rapidbyte_protocol::{
    AbortReason, Checkpoint, CheckpointKind, CommitState, ConnectorError, DeadLetter, Label, LogLevel, Metric, NextItem,
    ReadSummary, Role, StateScope, StreamEstimate, TransformSummary, WriteSummary,
};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::engine::channel::{BatchReceiver, BatchSender, Item};
use crate::engine::checkpoint::Coordinator;
use crate::telemetry::metrics::MetricsHub;
use crate::state::StateStore;
use crate::sandbox::untrusted;

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
    pub logs: Arc<Mutex<std::collections::VecDeque<GuestLog>>>,
    /// Set when the run is asked to stop (Ctrl-C).
    pub cancel: crate::engine::cancel::CancelToken,
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
        self.logs.lock().expect("log lock").iter().cloned().collect()
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

/// A fault injected at a host call boundary (crash-safety tests).
#[derive(Debug, thiserror::Error)]
#[error("fault injected at host call {0}")]
pub struct InjectedFault(pub u64);

/// The run was cancelled and the instance kept running past the grace
/// period (a guest that never calls the host).
#[derive(Debug, thiserror::Error)]
#[error("stopped: still running {0:?} after the run was cancelled")]
pub struct StoppedAfterCancel(pub std::time::Duration);

/// The instance ran its own code longer than its busy limit without
/// calling the host (SPEC § Security): a spinning or runaway guest.
#[derive(Debug, thiserror::Error)]
#[error("ran its own code for {0:?} without calling the host (the limit is `sandbox.max_busy_seconds`)")]
pub struct BusyLimitExceeded(pub std::time::Duration);

/// How long an instance has been running its own code: the host-call count
/// it last saw and when that changed. The epoch callback runs only while
/// the guest executes, so time the guest spends blocked in a host call
/// (waiting for a batch) never counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Busy {
    pub(crate) limit: Option<std::time::Duration>,
    pub(crate) calls_seen: u64,
    pub(crate) since: Instant,
}

impl Busy {
    /// Whether the guest, at `calls` host calls so far, ran past its limit.
    pub(crate) fn exceeded(&mut self, calls: u64, now: Instant) -> Option<std::time::Duration> {
        if calls != self.calls_seen {
            (self.calls_seen, self.since) = (calls, now);
            return None;
        }
        self.limit.filter(|l| now.duration_since(self.since) > *l)
    }
}

/// The wall-clock limit of a call ran out (SPEC § Security).
#[derive(Debug, thiserror::Error)]
#[error("time limit exceeded")]
pub struct DeadlineExceeded;

/// Everything one instance's Store holds.
pub(crate) struct HostState {
    /// TLS relays this instance's connections go through: held, never read,
    /// so they stop accepting when the instance ends.
    #[allow(dead_code)]
    pub(crate) relays: Vec<crate::sandbox::tls::relay::Relay>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) labels: InstanceLabels,
    pub(crate) services: RunServices,
    pub(crate) io: StreamIo,
    pub(crate) coordinator: Option<Arc<Coordinator>>,
    /// The memories' and tables' budget (the store's limiter).
    pub(crate) memory: crate::sandbox::memory::MemoryBudget,
    pub(crate) deadline: Option<Instant>,
    pub(crate) frames: FrameLimits,
    pub(crate) schema: Option<SchemaRef>,
    /// The first breach of the contract; it fails the stream whatever the
    /// connector returns afterwards.
    pub(crate) violation: Option<String>,
    /// The first record the host refused as too large (data
    /// `RECORD_TOO_LARGE`); like a violation, it fails the call even if the
    /// connector swallowed the error, since the row was not delivered.
    pub(crate) refused: Option<ConnectorError>,
    pub(crate) host_calls: u64,
    /// Every host call counts here; at `trap_at_call` the instance traps.
    pub(crate) calls_entered: u64,
    pub(crate) trap_at_call: Option<u64>,
    pub(crate) busy: Busy,
    pub(crate) rows_seen: u64,
    /// Records a source sent since its last checkpoint.
    pub(crate) uncovered_rows: u64,
    /// What the sandbox refused the instance (connects, name lookups),
    /// bounded, for its error message.
    pub(crate) refusals: Arc<Mutex<Vec<String>>>,
    /// The names the instance may look up (SPEC § Security: no guest DNS).
    pub(crate) names: crate::sandbox::NameGrants,
    /// The distinct metric names this instance reported (bounded).
    pub(crate) metric_names: std::collections::HashSet<String>,
    /// What the host told the instance about its peer, if anything: the
    /// typed cause of a side's failure (never read from a connector's text).
    pub(crate) signal: Option<HostSignal>,
}

/// How many refusals an instance's error names; a guest retrying in a
/// loop cannot grow the list.
const MAX_REFUSALS_KEPT: usize = 8;

/// Notes one thing the sandbox refused (`connect to 10.0.0.9:22`).
pub(crate) fn record_refusal(refusals: &Mutex<Vec<String>>, what: String) {
    let mut kept = refusals.lock().expect("refusals lock");
    if kept.len() < MAX_REFUSALS_KEPT && !kept.contains(&what) {
        kept.push(what);
    }
}

impl HostState {
    /// See [`record_refusal`].
    pub(crate) fn refuse(&self, what: String) {
        record_refusal(&self.refusals, what);
    }
}

/// What the host told an instance that ended its stream early. A side that
/// failed after one of these failed because of its peer or the run, not by
/// itself (SPEC § Lifecycle: cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSignal {
    /// A source heard that the run was cancelled.
    Cancelled,
    /// A source heard that the destination stopped taking items.
    DownstreamClosed,
    /// A destination heard that the stream was aborted, and why.
    Aborted(AbortReason),
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
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
        // § Security: guest text is bounded and shown escaped, never raw.
        let message = untrusted::sanitize(&message, untrusted::MAX_TEXT_BYTES);
        let fields: Vec<Label> = fields
            .into_iter()
            .take(untrusted::MAX_LABELS)
            .map(|f| Label {
                key: untrusted::sanitize(&f.key, untrusted::MAX_NAME_BYTES),
                value: untrusted::sanitize(&f.value, untrusted::MAX_TEXT_BYTES),
            })
            .collect();
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
            logs.pop_front();
        }
        logs.push_back(GuestLog {
            stream: l.stream.clone(),
            connector: l.connector.clone(),
            level,
            message,
            fields,
        });
    }

    pub(crate) fn metric(s: &mut HostState, mut m: Metric) {
        s.host_calls += 1;
        // § Security: a bounded set of short names per instance; the rest is
        // dropped and counted (`metrics_dropped`), never aggregated.
        let fresh = !s.metric_names.contains(&m.name);
        // The host's own names are the host's: a connector cannot forge them.
        let reserved = HOST_METRICS.contains(&m.name.as_str());
        if reserved || m.name.len() > untrusted::MAX_NAME_BYTES || (fresh && s.metric_names.len() >= untrusted::MAX_METRIC_NAMES) {
            s.services.metrics.record(&s.labels.stream, s.labels.role, &Metric::counter(METRICS_DROPPED, 1));
            return;
        }
        if fresh {
            s.metric_names.insert(m.name.clone());
        }
        m.labels.truncate(untrusted::MAX_LABELS);
        for l in &mut m.labels {
            l.key = untrusted::sanitize(&l.key, untrusted::MAX_NAME_BYTES);
            l.value = untrusted::sanitize(&l.value, untrusted::MAX_NAME_BYTES);
        }
        s.services.metrics.record(&s.labels.stream, s.labels.role, &m);
    }

    /// § Batches: non-empty, within `max_batch_bytes` (or a single row within
    /// `max_record_bytes`), valid IPC, one schema per stream. Breaches fail
    /// the stream; a single row above `max_record_bytes` is a data error.
    pub(crate) async fn emit_batch(s: &mut HostState, frame: Vec<u8>) -> Result<(), ConnectorError> {
        s.host_calls += 1;
        let rows = match validate_frame(&frame, s.frames, &mut s.schema) {
            Ok(rows) => rows,
            Err(FrameRefusal::Violation(msg)) => return Err(violation(s, msg)),
            Err(FrameRefusal::RecordTooLarge { bytes, limit }) => return Err(record_too_large(s, bytes, limit)),
        };
        let StreamIo::Output(tx) = &s.io else {
            return Err(violation(s, "emit-batch was called by a connector that does not emit".into()));
        };
        if s.services.cancel.is_cancelled() {
            return Err(cancelled(s));
        }
        s.rows_seen += rows;
        s.uncovered_rows += rows;
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
            Item::DeadLetter(row) => Ok(NextItem::DeadLetter(row)),
            Item::End => Ok(NextItem::EndOfStream),
            Item::Abort(reason) => {
                s.signal = Some(HostSignal::Aborted(reason));
                Ok(NextItem::Aborted(reason))
            }
        }
    }

    /// § Errors (data, `dlq`): a record the source could not read travels to
    /// the destination in order with the batches. Bounded like a record, its
    /// error text made safe like any connector error.
    pub(crate) async fn dead_letter(s: &mut HostState, mut row: DeadLetter) -> Result<(), ConnectorError> {
        s.host_calls += 1;
        if s.labels.role != Role::Source {
            return Err(violation(s, format!("a {} may not hand over dead letters", s.labels.role)));
        }
        match s.frames.dead_letters {
            DeadLetterRoute::Open => {}
            DeadLetterRoute::NotDlq => {
                return Err(ConnectorError::config(
                    "DEAD_LETTERS_UNSUPPORTED",
                    format!("stream `{}`: dead letters are taken only under `on_data_error: dlq`", s.labels.stream),
                ))
            }
            DeadLetterRoute::DestinationTooOld { contract } => {
                return Err(ConnectorError::config(
                    "DEAD_LETTERS_UNSUPPORTED",
                    format!(
                        "stream `{}`: the destination speaks contract {contract}, which cannot receive the source's dead letters; \
                         use `on_data_error: skip` (or `fail`), or a destination built for contract 0.2 or later",
                        s.labels.stream
                    ),
                ))
            }
        }
        let bytes = row.content.len() + row.key.as_ref().map_or(0, String::len);
        if bytes as u64 > s.frames.max_record_bytes {
            return Err(record_too_large(s, bytes as u64, s.frames.max_record_bytes));
        }
        row.error = untrusted::error(row.error);
        if s.services.cancel.is_cancelled() {
            return Err(cancelled(s));
        }
        let StreamIo::Output(tx) = &s.io else {
            return Err(violation(s, "dead-letter was called by a connector that does not emit".into()));
        };
        s.uncovered_rows += 1;
        let sent = tx.send_sized(Item::DeadLetter(row), bytes).await;
        sent.map_err(|_| downstream_closed(s, "dead letters"))
    }

    /// § Metrics: what the source expects to read, kept as gauges for the
    /// progress display (never for a decision).
    pub(crate) fn report_estimate(s: &mut HostState, e: StreamEstimate) {
        s.host_calls += 1;
        if s.labels.role != Role::Source {
            return;
        }
        if let Some(records) = e.records {
            s.services.metrics.record(&s.labels.stream, s.labels.role, &Metric::gauge(RECORDS_ESTIMATED, records as f64));
        }
        if let Some(bytes) = e.bytes {
            s.services.metrics.record(&s.labels.stream, s.labels.role, &Metric::gauge(BYTES_ESTIMATED, bytes as f64));
        }
    }

    pub(crate) async fn checkpoint(s: &mut HostState, cp: Checkpoint) -> Result<(), ConnectorError> {
        s.host_calls += 1;
        // § Security: the cursor is stored in the host's state: bounded like state values.
        if let Some(c) = &cp.cursor {
            let size = c.field.len()
                + c.tie_breaker.as_ref().map_or(0, String::len)
                + c.last_value.as_ref().map_or(0, String::len)
                + c.last_tie_breaker.as_ref().map_or(0, String::len);
            if size > untrusted::MAX_STATE_VALUE_BYTES {
                return Err(violation(s, format!("a checkpoint cursor of {size} bytes, above {} bytes", untrusted::MAX_STATE_VALUE_BYTES)));
            }
        }
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
                s.uncovered_rows = 0;
                let sent = tx.send(Item::Checkpoint(cp)).await;
                sent.map_err(|_| downstream_closed(s, "checkpoints"))
            }
            (CheckpointKind::Destination, Role::Destination) => match coordinator.destination(&cp) {
                Ok(_) => Ok(()),
                Err(crate::engine::checkpoint::DestinationCheckpointError::Unmatched(msg)) => Err(violation(s, msg)),
                // The chunk is durable in the destination; only the host's own
                // record of the cursor failed (SPEC § State and checkpoints).
                Err(crate::engine::checkpoint::DestinationCheckpointError::State(msg)) => Err(ConnectorError::transient_db(
                    "STATE_UNAVAILABLE",
                    format!("the host could not record checkpoint {} in its state store: {msg}", cp.sequence),
                )),
            },
            (kind, role) => Err(violation(s, format!("a {role} may not state a {kind:?} checkpoint"))),
        }
    }

    /// A connector's state lives in its own namespace, so no key it writes
    /// is one of the host's (the committed cursor, the run lease, marks).
    fn scope(s: &HostState, scope: StateScope) -> String {
        match scope {
            StateScope::Pipeline => format!("connector:{}", s.labels.pipeline),
            StateScope::Stream => format!("connector:{}", crate::engine::checkpoint::stream_scope(&s.labels.pipeline, &s.labels.stream)),
        }
    }

    pub(crate) fn state_get(s: &mut HostState, scope: StateScope, key: String) -> Result<Option<String>, ConnectorError> {
        s.host_calls += 1;
        s.services.state.get(&Self::scope(s, scope), &key).map_err(state_error)
    }

    pub(crate) fn state_put(s: &mut HostState, scope: StateScope, key: String, value: String) -> Result<(), ConnectorError> {
        s.host_calls += 1;
        state_size(&key, &value)?;
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
        state_size(&key, &value)?;
        s.services.state.compare_and_set(&Self::scope(s, scope), &key, expected.as_deref(), &value).map_err(state_error)
    }
}

/// The metrics only the host reports; a connector's observation under one
/// of these names is dropped and counted in `metrics_dropped`.
pub const HOST_METRICS: &[&str] =
    &[RECORDS_ESTIMATED, BYTES_ESTIMATED, METRICS_DROPPED, CHANNEL_WAIT_MS, crate::engine::supervise::RETRY_COUNT];

/// Host metric (gauge, source role): the records a source expects to read.
pub const RECORDS_ESTIMATED: &str = "records_estimated";

/// Host metric (gauge, source role): the bytes a source expects to read.
pub const BYTES_ESTIMATED: &str = "bytes_estimated";

/// Host metric: metric observations a connector sent beyond the limits
/// (a name too long, or more distinct names than `untrusted::MAX_METRIC_NAMES`).
pub const METRICS_DROPPED: &str = "metrics_dropped";

/// The host's own phase metric: time an instance spent blocked on the batch
/// channel (a source waiting for space, a destination waiting for data).
pub const CHANNEL_WAIT_MS: &str = "channel_wait_ms";

fn record_channel_wait(s: &mut HostState, since: Instant) {
    let ms = since.elapsed().as_secs_f64() * 1e3;
    s.services.metrics.record(&s.labels.stream, s.labels.role, &Metric::histogram(CHANNEL_WAIT_MS, ms));
}

/// What a source hears from the host once the run is cancelled.
fn cancelled(s: &mut HostState) -> ConnectorError {
    s.signal = Some(HostSignal::Cancelled);
    ConnectorError::internal(crate::engine::cancel::CANCELLED, "the run was cancelled; stop reading").with_commit_state(CommitState::BeforeCommit)
}

/// The destination is gone: because the run was cancelled (it finished at
/// the last checkpoint) or because it stopped.
fn downstream_closed(s: &mut HostState, what: &str) -> ConnectorError {
    if s.services.cancel.is_cancelled() {
        return cancelled(s);
    }
    s.signal = Some(HostSignal::DownstreamClosed);
    ConnectorError::internal("DOWNSTREAM_CLOSED", format!("the destination stopped; no more {what} are accepted"))
}

/// § Security: state keys and values a connector writes are bounded.
fn state_size(key: &str, value: &str) -> Result<(), ConnectorError> {
    if key.len() > untrusted::MAX_NAME_BYTES || value.len() > untrusted::MAX_STATE_VALUE_BYTES {
        return Err(ConnectorError::internal(
            "STATE_TOO_LARGE",
            format!(
                "a state key of {} bytes or a value of {} bytes; the host keeps keys up to {} bytes and values up to {} bytes",
                key.len(),
                value.len(),
                untrusted::MAX_NAME_BYTES,
                untrusted::MAX_STATE_VALUE_BYTES
            ),
        ));
    }
    Ok(())
}

fn state_error(e: crate::state::StateError) -> ConnectorError {
    ConnectorError::transient_db("STATE_UNAVAILABLE", e.to_string())
}

fn violation(s: &mut HostState, msg: String) -> ConnectorError {
    tracing::warn!(connector = %s.labels.connector, stream = %s.labels.stream, "protocol violation: {msg}");
    s.violation.get_or_insert_with(|| msg.clone());
    ConnectorError::internal("PROTOCOL_VIOLATION", msg)
}

pub use rapidbyte_protocol::DEFAULT_MAX_RECORD_BYTES;

/// Whether a source may hand over dead letters (SPEC § Errors: data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterRoute {
    /// The stream's policy is not `dlq`.
    NotDlq,
    /// `dlq`, but the destination's contract has no dead-letter item.
    DestinationTooOld { contract: crate::contract::bindings::Contract },
    /// `dlq`, and the destination takes them.
    Open,
}
/// The frame sizes the host accepts from a source (SPEC § Batches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// A frame of more than one row never exceeds this (the stream's
    /// `max_batch_bytes`): the target the source batches to.
    pub max_batch_bytes: u64,
    /// The hard ceiling: a single row above `max_batch_bytes` travels alone
    /// in its own frame, up to this many bytes (`limits.max_record_bytes`).
    pub max_record_bytes: u64,
    /// The stream's on-data-error policy is `skip`: a record above
    /// `max_record_bytes` is refused to the connector, which drops and
    /// counts it, and does not fail the stream by itself.
    pub skip_too_large: bool,
    /// Whether the source may hand over dead letters.
    pub dead_letters: DeadLetterRoute,
}

impl FrameLimits {
    /// What a stream's source may send: its limits, and dead letters under
    /// `dlq` when `receiver` (the destination's contract; `None`: the host
    /// itself takes the items) can receive them.
    pub fn for_stream(ctx: &rapidbyte_protocol::StreamContext, receiver: Option<crate::contract::Contract>) -> Self {
        use rapidbyte_protocol::DataErrorPolicy;
        let policy = ctx.policies.on_data_error;
        Self {
            max_batch_bytes: ctx.limits.max_batch_bytes,
            max_record_bytes: ctx.limits.max_record_bytes,
            skip_too_large: policy == DataErrorPolicy::Skip,
            dead_letters: match (policy, receiver) {
                (DataErrorPolicy::Dlq, Some(contract)) if !contract.receives_dead_letters() => DeadLetterRoute::DestinationTooOld { contract },
                (DataErrorPolicy::Dlq, _) => DeadLetterRoute::Open,
                _ => DeadLetterRoute::NotDlq,
            },
        }
    }

    /// No limit (for instances that do not run a stream).
    pub const NONE: Self =
        Self { max_batch_bytes: u64::MAX, max_record_bytes: u64::MAX, skip_too_large: false, dead_letters: DeadLetterRoute::NotDlq };
}

/// Why the host refused a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameRefusal {
    /// A breach of § Batches (a protocol violation: it fails the stream).
    Violation(String),
    /// A frame holding a single row, above `max_record_bytes` (data `RECORD_TOO_LARGE`).
    RecordTooLarge { bytes: u64, limit: u64 },
}

impl std::fmt::Display for FrameRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Violation(m) => f.write_str(m),
            Self::RecordTooLarge { bytes, limit } => write!(f, "a single row of {bytes} bytes, above max_record_bytes = {limit}"),
        }
    }
}

fn record_too_large(s: &mut HostState, bytes: u64, limit: u64) -> ConnectorError {
    let stream = &s.labels.stream;
    let e = ConnectorError::data(
        "RECORD_TOO_LARGE",
        format!(
            "stream `{stream}`: one record encodes to {bytes} bytes, above max_record_bytes = {limit}; \
             raise `limits.max_record_bytes` in the pipeline file (or RAPIDBYTE_LIMITS__MAX_RECORD_BYTES), \
             or leave such records out of the source"
        ),
    );
    tracing::warn!(connector = %s.labels.connector, stream = %stream, bytes, limit, "record too large");
    // Under `skip` the record is the connector's to drop and count (§ Errors).
    if !s.frames.skip_too_large {
        s.refused.get_or_insert_with(|| e.clone());
    }
    e
}

/// Checks a frame against § Batches and returns its row count. A frame above
/// `max_batch_bytes` is accepted only if it holds a single row, and then only
/// up to `max_record_bytes`; its rows are counted from the IPC message
/// headers first, so an oversized frame is refused without decoding it.
pub(crate) fn validate_frame(frame: &[u8], limits: FrameLimits, schema: &mut Option<SchemaRef>) -> Result<u64, FrameRefusal> {
    use FrameRefusal::Violation;
    if frame.is_empty() {
        return Err(Violation("emitted a zero-length frame".into()));
    }
    let bytes = frame.len() as u64;
    let oversized = bytes > limits.max_batch_bytes;
    if oversized {
        let rows = rows_in_headers(frame).map_err(|e| Violation(format!("emitted a frame that is not Arrow IPC: {e}")))?;
        if rows != 1 {
            return Err(Violation(format!(
                "emitted a frame of {bytes} bytes holding {rows} rows, above max_batch_bytes = {}; \
                 only a frame of a single row may exceed it",
                limits.max_batch_bytes
            )));
        }
        if bytes > limits.max_record_bytes {
            return Err(FrameRefusal::RecordTooLarge { bytes, limit: limits.max_record_bytes });
        }
    }
    let reader = StreamReader::try_new(frame, None).map_err(|e| Violation(format!("emitted a frame that is not Arrow IPC: {e}")))?;
    let frame_schema = reader.schema();
    match schema {
        Some(known) if known.fields() != frame_schema.fields() => {
            return Err(Violation(format!("the stream's schema changed mid-stream: {known:?} then {frame_schema:?}")));
        }
        Some(_) => {}
        None => *schema = Some(frame_schema),
    }
    let mut rows = 0u64;
    for batch in reader {
        rows += batch.map_err(|e| Violation(format!("emitted a frame with an invalid record batch: {e}")))?.num_rows() as u64;
    }
    if oversized && rows != 1 {
        return Err(Violation(format!("emitted a frame of {bytes} bytes whose headers count 1 row but which holds {rows}")));
    }
    Ok(rows)
}

/// The rows an IPC stream's record-batch messages declare, read from the
/// message headers only (bodies are skipped, not decoded).
fn rows_in_headers(frame: &[u8]) -> Result<u64, String> {
    let word = |at: usize| -> Result<u32, String> {
        frame.get(at..at + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).ok_or_else(|| format!("truncated at byte {at}"))
    };
    let (mut at, mut rows) = (0usize, 0u64);
    while at < frame.len() {
        let mut size = word(at)?;
        at += 4;
        if size == u32::MAX {
            // The continuation marker precedes the length since format 0.15.
            size = word(at)?;
            at += 4;
        }
        if size == 0 {
            break; // end of stream
        }
        let meta = at
            .checked_add(size as usize)
            .and_then(|end| frame.get(at..end))
            .ok_or_else(|| format!("a message header of {size} bytes runs past the frame's end"))?;
        at += size as usize;
        let message = arrow_ipc::root_as_message(meta).map_err(|e| format!("invalid message header: {e}"))?;
        let body = usize::try_from(message.bodyLength()).map_err(|_| "a negative body length".to_string())?;
        at = at.checked_add(body).filter(|&end| end <= frame.len()).ok_or_else(|| format!("a message body of {body} bytes runs past the frame's end"))?;
        if let Some(batch) = message.header_as_record_batch() {
            rows += u64::try_from(batch.length()).map_err(|_| "a negative row count".to_string())?;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{BinaryArray, RecordBatch};
    use arrow_ipc::writer::StreamWriter;
    use arrow_schema::{DataType, Field, Schema};
    use rapidbyte_protocol::ErrorCategory;

    /// One IPC frame of a binary column holding `values`.
    fn frame(values: &[usize]) -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![Field::new("blob", DataType::Binary, false)]));
        let data: Vec<Vec<u8>> = values.iter().map(|&n| vec![7u8; n]).collect();
        let column = BinaryArray::from_iter_values(data.iter().map(Vec::as_slice));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(column)]).unwrap();
        let mut buf = Vec::new();
        let mut w = StreamWriter::try_new(&mut buf, &schema).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        buf
    }

    const LIMITS: FrameLimits = FrameLimits { max_batch_bytes: 64 << 10, max_record_bytes: 1 << 20, ..FrameLimits::NONE };

    #[test]
    fn rows_are_counted_from_the_headers() {
        assert_eq!(rows_in_headers(&frame(&[1, 2, 3])), Ok(3));
        assert_eq!(rows_in_headers(&frame(&[])), Ok(0));
        let f = frame(&[10]);
        assert!(rows_in_headers(&f[..f.len() - 20]).is_err(), "a truncated body is caught");
        assert!(rows_in_headers(b"this is not an Arrow IPC stream").is_err());
    }

    #[test]
    fn frames_within_max_batch_bytes_pass_whatever_their_rows() {
        let mut schema = None;
        assert_eq!(validate_frame(&frame(&[100; 50]), LIMITS, &mut schema), Ok(50));
        assert!(matches!(validate_frame(&[], LIMITS, &mut schema), Err(FrameRefusal::Violation(m)) if m.contains("zero-length")));
        assert!(matches!(validate_frame(b"nope", LIMITS, &mut schema), Err(FrameRefusal::Violation(m)) if m.contains("not Arrow IPC")));
    }

    #[test]
    fn one_row_above_max_batch_bytes_travels_alone() {
        let big = frame(&[200 << 10]);
        assert!(big.len() as u64 > LIMITS.max_batch_bytes);
        assert_eq!(validate_frame(&big, LIMITS, &mut None), Ok(1));
    }

    #[test]
    fn one_row_above_max_record_bytes_is_record_too_large() {
        let huge = frame(&[2 << 20]);
        match validate_frame(&huge, LIMITS, &mut None) {
            Err(FrameRefusal::RecordTooLarge { bytes, limit }) => assert_eq!((bytes, limit), (huge.len() as u64, 1 << 20)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn several_rows_above_max_batch_bytes_are_a_protocol_violation() {
        for values in [vec![40 << 10, 40 << 10], vec![200 << 10, 1], vec![2 << 20, 2 << 20]] {
            let f = frame(&values);
            match validate_frame(&f, LIMITS, &mut None) {
                Err(FrameRefusal::Violation(m)) => {
                    assert!(m.contains("above max_batch_bytes") && m.contains(&format!("holding {} rows", values.len())), "{m}")
                }
                other => panic!("{values:?}: {other:?}"),
            }
        }
    }

    fn host_state(frames: FrameLimits, io: StreamIo) -> HostState {
        HostState {
            relays: Vec::new(),
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            labels: InstanceLabels {
                pipeline: "p".into(),
                stream: "blobs".into(),
                connector: "source-x".into(),
                role: Role::Source,
                run_id: "r".into(),
            },
            services: RunServices::new(Arc::new(crate::state::MemoryState::default())),
            io,
            coordinator: None,
            memory: crate::sandbox::memory::MemoryBudget::new(usize::MAX),
            deadline: None,
            frames,
            schema: None,
            violation: None,
            refused: None,
            host_calls: 0,
            calls_entered: 0,
            trap_at_call: None,
            busy: Busy { limit: None, calls_seen: 0, since: Instant::now() },
            rows_seen: 0,
            uncovered_rows: 0,
            refusals: Arc::default(),
            names: Default::default(),
            metric_names: Default::default(),
            signal: None,
        }
    }

    #[tokio::test]
    async fn emit_batch_forwards_a_lone_big_row_and_refuses_the_rest_with_the_contracts_errors() {
        let (tx, mut rx) = crate::engine::channel::batch_channel(128 << 10, 4);
        let mut s = host_state(LIMITS, StreamIo::Output(tx));
        // One row above max_batch_bytes: forwarded, alone.
        HostApi::emit_batch(&mut s, frame(&[200 << 10])).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Batch { rows: 1, .. }));
        assert_eq!((s.rows_seen, &s.violation, &s.refused), (1, &None, &None));

        // One row above max_record_bytes: data RECORD_TOO_LARGE naming the stream, size, limit and the knob.
        let huge = frame(&[2 << 20]);
        let e = HostApi::emit_batch(&mut s, huge.clone()).await.unwrap_err();
        assert_eq!((e.category, e.code.as_str(), e.retryable), (ErrorCategory::Data, "RECORD_TOO_LARGE", false));
        for part in ["stream `blobs`", &huge.len().to_string(), "max_record_bytes = 1048576", "limits.max_record_bytes"] {
            assert!(e.message.contains(part), "`{part}` missing from: {}", e.message);
        }
        assert_eq!(s.refused.as_ref(), Some(&e), "kept, so a connector swallowing it still fails");
        assert!(s.violation.is_none(), "a big record is not a breach of the contract");

        // Two rows above max_batch_bytes: a protocol violation, as before.
        let e = HostApi::emit_batch(&mut s, frame(&[40 << 10, 40 << 10])).await.unwrap_err();
        assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Internal, "PROTOCOL_VIOLATION"));
        assert!(s.violation.as_deref().is_some_and(|v| v.contains("above max_batch_bytes")), "{:?}", s.violation);
        assert_eq!(s.rows_seen, 1, "nothing refused was forwarded");
    }

    fn dead_letter(bytes: usize) -> DeadLetter {
        DeadLetter { key: Some(r#"{"id":"\\x01"}"#.into()), content: "x".repeat(bytes), error: ConnectorError::data("DECODE_FAILED", "bad \u{1b}[2J value") }
    }

    #[tokio::test]
    async fn dead_letters_pass_only_under_dlq_to_a_destination_that_takes_them() {
        use crate::contract::bindings::Contract;
        for (route, passes) in [
            (DeadLetterRoute::Open, true),
            (DeadLetterRoute::NotDlq, false),
            (DeadLetterRoute::DestinationTooOld { contract: Contract::V0_1 }, false),
        ] {
            let (tx, mut rx) = crate::engine::channel::batch_channel(128 << 10, 4);
            let mut s = host_state(FrameLimits { dead_letters: route, ..LIMITS }, StreamIo::Output(tx));
            let r = HostApi::dead_letter(&mut s, dead_letter(10)).await;
            assert_eq!(r.is_ok(), passes, "{route:?}: {r:?}");
            if passes {
                drop(s);
                let Item::DeadLetter(row) = rx.recv().await else { panic!("{route:?}: no dead letter forwarded") };
                assert!(!row.error.message.contains('\u{1b}'), "the connector's text is made safe: {}", row.error.message);
            } else {
                let e = r.unwrap_err();
                assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Config, "DEAD_LETTERS_UNSUPPORTED"), "{route:?}");
                assert!(route == DeadLetterRoute::NotDlq || e.message.contains("contract 0.1.0"), "{}", e.message);
            }
        }
        // A dead letter is a record: above max_record_bytes it is RECORD_TOO_LARGE.
        let (tx, _rx) = crate::engine::channel::batch_channel(128 << 10, 4);
        let mut s = host_state(FrameLimits { dead_letters: DeadLetterRoute::Open, ..LIMITS }, StreamIo::Output(tx));
        let e = HostApi::dead_letter(&mut s, dead_letter(2 << 20)).await.unwrap_err();
        assert_eq!(e.code, "RECORD_TOO_LARGE");
    }

    #[test]
    fn a_connector_cannot_report_the_hosts_own_metrics() {
        let mut s = host_state(LIMITS, StreamIo::None);
        HostApi::metric(&mut s, Metric::gauge(RECORDS_ESTIMATED, 1e12));
        HostApi::metric(&mut s, Metric::counter(crate::engine::supervise::RETRY_COUNT, 7));
        let hub = Arc::clone(&s.services.metrics);
        assert_eq!(hub.gauge("blobs", Role::Source, RECORDS_ESTIMATED), None);
        assert_eq!(hub.counter("blobs", Role::Source, crate::engine::supervise::RETRY_COUNT), 0);
        assert_eq!(hub.counter("blobs", Role::Source, METRICS_DROPPED), 2);
        HostApi::report_estimate(&mut s, StreamEstimate { records: Some(500), bytes: None });
        assert_eq!(hub.gauge("blobs", Role::Source, RECORDS_ESTIMATED), Some(500.0));
    }
}
