//! Once per stream: a source instance and a destination instance run
//! concurrently, each in its own task owning its Store, connected by a
//! bounded batch channel (SPEC § Lifecycle, § Batches, § Performance).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rapidbyte_protocol::{AbortReason, CursorInfo, OpenInfo, Role, StreamContext, SyncMode};

use crate::engine::channel::{batch_channel, Item};
use crate::engine::checkpoint::{stream_scope, Coordinator};
use crate::sandbox::host_api::{FrameLimits, HostSignal, InstanceLabels, RunServices, RunSummary, StreamIo};
use crate::sandbox::runtime::{ConnectorInstance, InstanceError, LoadedComponent, Runtime};
use crate::sandbox::SandboxSpec;

/// A connector as a stream uses it.
#[derive(Clone)]
pub struct ConnectorSpec {
    /// The loaded component.
    pub component: Arc<LoadedComponent>,
    /// Its config section as JSON.
    pub config_json: String,
    /// Its limits and grants.
    pub sandbox: SandboxSpec,
}

/// § Security: the config is shown with its secrets masked.
impl std::fmt::Debug for ConnectorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorSpec")
            .field("component", &self.component.manifest.name)
            .field("config_json", &crate::telemetry::secret::mask_config_json(&self.config_json))
            .field("sandbox", &self.sandbox)
            .finish()
    }
}

/// One stream to move.
#[derive(Debug, Clone)]
pub struct StreamJob {
    /// The stream context handed to both connectors (cursor filled in from state).
    pub context: StreamContext,
    /// Where rows come from.
    pub source: ConnectorSpec,
    /// Where rows go.
    pub destination: ConnectorSpec,
    /// Bytes that may wait in the channel between them (a single frame
    /// larger than this still passes, alone).
    pub max_inflight_bytes: usize,
}

/// What happened on one side of a stream.
#[derive(Debug, Default)]
pub struct SideReport {
    /// The connector's name.
    pub connector: String,
    /// The lifecycle calls made, in order.
    pub calls: Vec<&'static str>,
    /// What `open` returned.
    pub open_info: Option<OpenInfo>,
    /// What `run` returned.
    pub summary: Option<RunSummary>,
    /// Why it failed, if it did.
    pub error: Option<InstanceError>,
    /// A failure of `close` (reported, never fatal).
    pub close_error: Option<InstanceError>,
    /// Host calls the guest made.
    pub host_calls: u64,
    /// Every host call boundary entered (logs included).
    pub calls_entered: u64,
    /// Rows the host validated through it.
    pub rows_seen: u64,
    /// The largest linear memory its instance grew to, in bytes.
    pub memory_peak: usize,
    /// What the host told it about its peer or the run (the typed cause
    /// of an early end; never read from the connector's text).
    pub signal: Option<HostSignal>,
}

/// What happened to a stream.
#[derive(Debug)]
pub struct StreamReport {
    /// The stream's name.
    pub stream: String,
    /// The source side.
    pub source: SideReport,
    /// The destination side.
    pub destination: SideReport,
    /// Wall time of the stream.
    pub wall: Duration,
    /// The cursor committed when the stream ended.
    pub committed_cursor: Option<CursorInfo>,
    /// Checkpoints both sides committed in this attempt.
    pub checkpoints_committed: u64,
    /// The run was cancelled and the stream stopped at a checkpoint.
    pub cancelled: bool,
}

impl StreamReport {
    /// Whether both sides finished.
    pub fn succeeded(&self) -> bool {
        self.source.error.is_none() && self.destination.error.is_none()
    }

    /// A stream that never ran: the run was cancelled first (`cancelled`),
    /// or something the stream needs failed before it could start.
    pub fn not_started(job: &StreamJob, reason: &str, cancelled: bool) -> Self {
        let error = |spec: &ConnectorSpec| InstanceError::NotStarted {
            connector: spec.component.manifest.name.clone(),
            stream: job.context.stream_name.clone(),
            reason: reason.to_string(),
        };
        Self { cancelled, ..Self::without_running(job, Some(&error)) }
    }

    /// A whole stream an earlier run already committed: nothing to do.
    pub fn already_committed(job: &StreamJob) -> Self {
        Self::without_running(job, None)
    }

    /// The report of a stream whose sides never ran, each with `error`'s error.
    fn without_running(job: &StreamJob, error: Option<&dyn Fn(&ConnectorSpec) -> InstanceError>) -> Self {
        let side = |spec: &ConnectorSpec| SideReport {
            connector: spec.component.manifest.name.clone(),
            error: error.map(|e| e(spec)),
            ..Default::default()
        };
        Self {
            stream: job.context.stream_name.clone(),
            source: side(&job.source),
            destination: side(&job.destination),
            wall: Duration::ZERO,
            committed_cursor: None,
            checkpoints_committed: 0,
            cancelled: false,
        }
    }

    /// Cancelled cleanly: the source stopped because of the cancel and the
    /// destination committed up to the last checkpoint — or rolled back
    /// what no checkpoint covered because the host told it the run was
    /// cancelled.
    pub fn stopped_by_cancel(&self) -> bool {
        let not_started = |side: &SideReport| matches!(side.error, Some(InstanceError::NotStarted { .. }));
        let source_stopped = self.source.error.is_none() || not_started(&self.source) || self.source.signal == Some(HostSignal::Cancelled);
        let destination_ok = self.destination.error.is_none()
            || not_started(&self.destination)
            || self.destination.signal == Some(HostSignal::Aborted(AbortReason::Cancelled));
        self.cancelled && source_stopped && destination_ok
    }

    /// The root cause of a failure: a side that failed because the host
    /// told it its peer stopped points at the peer.
    pub fn error(&self) -> Option<&InstanceError> {
        let waited = matches!(self.source.error, Some(InstanceError::NotStarted { .. }));
        let source_followed = waited || self.source.signal == Some(HostSignal::DownstreamClosed);
        let destination_followed = matches!(self.destination.signal, Some(HostSignal::Aborted(_)));
        match (&self.source.error, &self.destination.error) {
            (Some(_), Some(d)) if source_followed && !destination_followed => Some(d),
            (Some(s), Some(_)) => Some(s),
            (s, d) => s.as_ref().or(d.as_ref()),
        }
    }
}

/// Runs one stream to the end. Never panics on connector failure: the
/// report says what happened, and the host goes on.
pub async fn run_stream(runtime: Arc<Runtime>, mut job: StreamJob, services: RunServices) -> StreamReport {
    let started = Instant::now();
    let ctx = &mut job.context;
    let coordinator = Arc::new(Coordinator::new(stream_scope(&ctx.pipeline, &ctx.stream_name), Arc::clone(&services.state)));
    // § State and checkpoints: resume from the cursor both sides committed.
    // A state store that cannot answer stops the stream: starting from zero
    // would re-read (and, appending, duplicate) everything.
    if ctx.sync_mode == SyncMode::Incremental {
        match coordinator.committed_cursor() {
            Ok(Some(committed)) => {
                let cursor = ctx.cursor.get_or_insert_with(CursorInfo::default);
                cursor.last_value = committed.last_value;
                cursor.last_tie_breaker = committed.last_tie_breaker;
            }
            Ok(None) => {}
            Err(e) => {
                let reason = format!("the stream's committed cursor cannot be read from the state store ({e}); fix the state store and run again");
                return StreamReport::not_started(&job, &reason, false);
            }
        }
    }
    let limits = ctx.limits;
    let (tx, rx) = batch_channel(job.max_inflight_bytes, limits.max_inflight_batches as usize);
    let rx = rx.with_cancel(services.cancel.clone()).whole_or_nothing(job.context.published_whole());

    let labels = |spec: &ConnectorSpec, role| InstanceLabels {
        pipeline: job.context.pipeline.clone(),
        stream: job.context.stream_name.clone(),
        connector: spec.component.manifest.name.clone(),
        role,
        run_id: job.context.run_id.clone(),
    };
    // § Delivery: with exactly-once the destination says what it committed
    // before the source starts, and the source resumes right after it.
    let (resume_tx, resume_rx) = match job.context.commit_token_base {
        Some(_) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let frames = FrameLimits::for_stream(&job.context, Some(job.destination.component.contract));
    // Each side's task carries the stream's span (connector calls nest under it).
    use tracing::Instrument;
    let source = tokio::spawn(run_side(
        Arc::clone(&runtime),
        job.source.clone(),
        labels(&job.source, Role::Source),
        services.clone(),
        StreamIo::Output(tx),
        Arc::clone(&coordinator),
        job.context.clone(),
        frames,
        Resume::Await(resume_rx),
    ).in_current_span());
    let destination = tokio::spawn(run_side(
        Arc::clone(&runtime),
        job.destination.clone(),
        labels(&job.destination, Role::Destination),
        services.clone(),
        StreamIo::Input(rx),
        Arc::clone(&coordinator),
        job.context.clone(),
        frames,
        Resume::Tell(resume_tx),
    ).in_current_span());
    let (source, destination) = tokio::join!(source, destination);
    let joined = |r: Result<SideReport, tokio::task::JoinError>, spec: &ConnectorSpec| {
        r.unwrap_or_else(|e| SideReport {
            connector: spec.component.manifest.name.clone(),
            error: Some(InstanceError::Trap {
                connector: spec.component.manifest.name.clone(),
                stream: job.context.stream_name.clone(),
                call: "run",
                reason: format!("the host task failed: {e}"),
            }),
            ..Default::default()
        })
    };
    StreamReport {
        stream: job.context.stream_name.clone(),
        source: joined(source, &job.source),
        destination: joined(destination, &job.destination),
        wall: started.elapsed(),
        committed_cursor: coordinator.committed_cursor().ok().flatten(),
        checkpoints_committed: coordinator.last_committed(),
        cancelled: services.cancel.is_cancelled(),
    }
}

/// Runs only the source side of a stream, handing every item it emits to
/// `sink` on the host (for discover-and-read tools, benchmarks and tests).
/// No destination means no destination checkpoints, so no cursor advances;
/// the sink takes dead letters under `dlq`.
pub async fn read_stream(
    runtime: Arc<Runtime>,
    source: ConnectorSpec,
    context: StreamContext,
    services: RunServices,
    mut sink: impl FnMut(Item) + Send,
    max_inflight_bytes: usize,
) -> SideReport {
    let frames = FrameLimits::for_stream(&context, None);
    let (tx, mut rx) = batch_channel(max_inflight_bytes, context.limits.max_inflight_batches as usize);
    let coordinator = Arc::new(Coordinator::new(
        stream_scope(&context.pipeline, &context.stream_name),
        Arc::clone(&services.state),
    ));
    let labels = InstanceLabels {
        pipeline: context.pipeline.clone(),
        stream: context.stream_name.clone(),
        connector: source.component.manifest.name.clone(),
        role: Role::Source,
        run_id: context.run_id.clone(),
    };
    let side = tokio::spawn(run_side(runtime, source, labels, services, StreamIo::Output(tx), coordinator, context, frames, Resume::Await(None)));
    loop {
        let item = rx.recv().await;
        let done = matches!(item, Item::End | Item::Abort(_));
        sink(item);
        if done {
            break;
        }
    }
    side.await.unwrap_or_else(|e| SideReport {
        error: Some(InstanceError::Trap {
            connector: String::new(),
            stream: String::new(),
            call: "run",
            reason: format!("the host task failed: {e}"),
        }),
        ..Default::default()
    })
}

/// The exactly-once hand-over of the committed position (SPEC § Delivery).
enum Resume {
    /// Source: wait for the destination's committed cursor (if exactly-once).
    Await(Option<tokio::sync::oneshot::Receiver<Result<Option<CursorInfo>, String>>>),
    /// Destination: ask `committed` after `open` and tell the source.
    Tell(Option<tokio::sync::oneshot::Sender<Result<Option<CursorInfo>, String>>>),
}

/// open → run → close on a fresh instance; `close` runs even after a failure.
#[allow(clippy::too_many_arguments)]
async fn run_side(
    runtime: Arc<Runtime>,
    spec: ConnectorSpec,
    labels: InstanceLabels,
    services: RunServices,
    io: StreamIo,
    coordinator: Arc<Coordinator>,
    mut ctx: StreamContext,
    frames: FrameLimits,
    resume: Resume,
) -> SideReport {
    let mut report = SideReport { connector: labels.connector.clone(), ..Default::default() };
    let role = labels.role;
    let mut instance = match runtime
        .instantiate(&spec.component, &spec.config_json, &spec.sandbox, labels, services, io, Some(coordinator), frames)
        .await
    {
        Ok(i) => i,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let result = async {
        let info = instance.open(&spec.config_json).await?;
        check_open_info(&spec.component, &info, &ctx.stream_name)?;
        report.open_info = Some(info);
        match resume {
            Resume::Tell(Some(tell)) => {
                let base = ctx.commit_token_base.clone().expect("exactly-once run");
                let committed = instance.committed(base).await;
                let _ = tell.send(match &committed {
                    Ok(token) => Ok(token.as_ref().and_then(|t| t.cursor.clone())),
                    Err(e) => Err(e.to_string()),
                });
                committed?;
            }
            Resume::Await(Some(wait)) => match wait.await {
                // A full refresh reads everything again: a whole stream starts
                // over (nothing of an earlier attempt stands), an upsert converges.
                Ok(Ok(Some(_))) if ctx.sync_mode != SyncMode::Incremental => {}
                Ok(Ok(Some(committed))) => {
                    tracing::info!(stream = %ctx.stream_name, cursor = ?committed.last_value, "resuming after the destination's committed token");
                    let cursor = ctx.cursor.get_or_insert_with(CursorInfo::default);
                    cursor.last_value = committed.last_value;
                    cursor.last_tie_breaker = committed.last_tie_breaker;
                }
                Ok(Ok(None)) => {}
                Ok(Err(reason)) => {
                    return Err(InstanceError::NotStarted {
                        connector: report.connector.clone(),
                        stream: ctx.stream_name.clone(),
                        reason: format!("the destination could not say what it committed: {reason}"),
                    });
                }
                Err(_) => {
                    return Err(InstanceError::NotStarted {
                        connector: report.connector.clone(),
                        stream: ctx.stream_name.clone(),
                        reason: "the destination stopped before saying what it committed".into(),
                    });
                }
            },
            _ => {}
        }
        instance.run(ctx.clone()).await
    }
    .await;
    // § State and checkpoints: an incremental source ends with a checkpoint
    // covering its last row. Rows after it would commit with no token and
    // be read again by the next run, so the stream fails instead.
    let uncovered = instance.uncovered_rows();
    let result = match result {
        Ok(_) if role == Role::Source && ctx.sync_mode == SyncMode::Incremental && uncovered > 0 => Err(InstanceError::Protocol {
            connector: report.connector.clone(),
            stream: ctx.stream_name.clone(),
            call: "run",
            detail: format!(
                "the source ended with {uncovered} rows after its last checkpoint; an incremental source must end with a checkpoint covering its last row"
            ),
        }),
        other => other,
    };
    // Tell the destination how the source ended before closing: a finished
    // stream ends with End, a failed one with Abort and the host's reason
    // (never a silent end, never the connector's words).
    if let StreamIo::Output(tx) = instance.take_io() {
        let marker = match &result {
            Ok(_) => Item::End,
            Err(_) if instance.signal() == Some(HostSignal::Cancelled) => Item::Abort(AbortReason::Cancelled),
            Err(InstanceError::Connector { .. }) => Item::Abort(AbortReason::SourceFailed),
            Err(_) => Item::Abort(AbortReason::HostStopped),
        };
        let _ = tx.send(marker).await;
    }
    match result {
        Ok(summary) => report.summary = Some(summary),
        Err(e) => report.error = Some(e),
    }
    if let Err(e) = instance.close().await {
        tracing::warn!(connector = %report.connector, "close failed: {e}");
        report.close_error = Some(e);
    }
    report.calls = instance.calls().to_vec();
    report.host_calls = instance.host_calls();
    report.calls_entered = instance.calls_entered();
    report.rows_seen = instance.rows_seen();
    report.memory_peak = instance.memory_peak();
    report.signal = instance.signal();
    tracing::debug!(connector = %report.connector, ?role, calls = ?report.calls, "instance finished");
    report
}

/// § Lifecycle: open-info must agree with what the component declared.
fn check_open_info(component: &LoadedComponent, info: &OpenInfo, stream: &str) -> Result<(), InstanceError> {
    let m = &component.manifest;
    let protocol = |detail: String| InstanceError::Protocol {
        connector: m.name.clone(),
        stream: stream.to_string(),
        call: "open",
        detail,
    };
    if info.protocol_version != component.contract.version() {
        return Err(protocol(format!(
            "open-info declares contract {} but the component exports {}",
            info.protocol_version, component.contract
        )));
    }
    let (mut declared, mut manifest) = (info.features.clone(), m.features.clone());
    declared.sort();
    manifest.sort();
    if declared != manifest {
        return Err(protocol(format!("open-info features {declared:?} differ from the manifest's {manifest:?}")));
    }
    Ok(())
}

/// What a connector says about itself and its system without moving data:
/// `open`, then `validate` and (for sources) `discover`, then `close`.
#[derive(Debug)]
pub struct Probe {
    /// What `open` returned.
    pub open_info: OpenInfo,
    /// `validate`'s outcome.
    pub validation: Result<(), InstanceError>,
    /// `discover`'s outcome (sources only).
    pub streams: Option<Result<Vec<rapidbyte_protocol::StreamSchema>, InstanceError>>,
}

/// A fresh instance of `spec` outside a stream run: instantiated, opened
/// and checked, handed to `f` with what `open` said, then closed whatever
/// `f` returned.
async fn with_opened<T>(
    runtime: &Runtime,
    spec: &ConnectorSpec,
    labels: InstanceLabels,
    services: RunServices,
    f: impl AsyncFnOnce(&mut ConnectorInstance, OpenInfo) -> Result<T, InstanceError>,
) -> Result<T, InstanceError> {
    let stream = labels.stream.clone();
    let mut instance = runtime
        .instantiate(&spec.component, &spec.config_json, &spec.sandbox, labels, services, StreamIo::None, None, FrameLimits::NONE)
        .await?;
    let result = async {
        let info = instance.open(&spec.config_json).await?;
        check_open_info(&spec.component, &info, &stream)?;
        f(&mut instance, info).await
    }
    .await;
    let _ = instance.close().await;
    result
}

/// Opens a fresh instance and asks `validate` (and `discover` for a source):
/// the path `rapidbyte check` and `rapidbyte discover` take.
pub async fn probe(runtime: &Runtime, spec: &ConnectorSpec, pipeline: &str, services: RunServices) -> Result<Probe, InstanceError> {
    let labels = InstanceLabels {
        pipeline: pipeline.to_string(),
        stream: String::new(),
        connector: spec.component.manifest.name.clone(),
        role: spec.component.manifest.role,
        run_id: String::new(),
    };
    with_opened(runtime, spec, labels, services, async |instance, open_info| {
        let validation = instance.validate().await;
        let streams = match spec.component.manifest.role {
            Role::Source => Some(instance.discover().await),
            _ => None,
        };
        Ok(Probe { open_info, validation, streams })
    })
    .await
}

/// § Delivery: what the destination of an exactly-once stream has
/// committed, asked of a fresh instance (open, committed, close). The engine
/// asks it when the answer to a whole stream's one COMMIT was lost.
pub async fn committed_token(
    runtime: &Runtime,
    job: &StreamJob,
    services: RunServices,
) -> Result<Option<rapidbyte_protocol::CommittedToken>, InstanceError> {
    let spec = &job.destination;
    let Some(base) = job.context.commit_token_base.clone() else { return Ok(None) };
    let labels = InstanceLabels {
        pipeline: job.context.pipeline.clone(),
        stream: job.context.stream_name.clone(),
        connector: spec.component.manifest.name.clone(),
        role: Role::Destination,
        run_id: job.context.run_id.clone(),
    };
    with_opened(runtime, spec, labels, services, async |instance, _| instance.committed(base).await).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapidbyte_protocol::ConnectorError;

    fn failed(connector: &str, code: &str, signal: Option<HostSignal>) -> SideReport {
        SideReport {
            connector: connector.into(),
            error: Some(InstanceError::Connector {
                connector: connector.into(),
                stream: "s".into(),
                call: "run",
                error: ConnectorError::internal(code, "text the host never reads"),
            }),
            signal,
            ..Default::default()
        }
    }

    fn report(source: SideReport, destination: SideReport, cancelled: bool) -> StreamReport {
        StreamReport {
            stream: "s".into(),
            source,
            destination,
            wall: Duration::ZERO,
            committed_cursor: None,
            checkpoints_committed: 0,
            cancelled,
        }
    }

    fn root(r: &StreamReport) -> &str {
        match r.error() {
            Some(InstanceError::Connector { connector, .. }) => connector,
            other => panic!("{other:?}"),
        }
    }

    /// Who caused a failure and whether a cancel ended cleanly come from what
    /// the host told each side, never from the codes or text they return.
    #[test]
    fn the_root_cause_and_a_clean_cancel_follow_the_hosts_signals() {
        // The destination stopped first; the source heard so: blame the destination.
        let r = report(failed("src", "ANY", Some(HostSignal::DownstreamClosed)), failed("dst", "BOOM", None), false);
        assert_eq!(root(&r), "dst");
        // A source claiming DOWNSTREAM_CLOSED without having been told cannot shift the blame.
        let r = report(failed("src", "DOWNSTREAM_CLOSED", None), failed("dst", "X", Some(HostSignal::Aborted(AbortReason::SourceFailed))), false);
        assert_eq!(root(&r), "src");
        // A cancel: the source was told, the destination was told to roll back.
        let told = report(
            failed("src", "WHATEVER", Some(HostSignal::Cancelled)),
            failed("dst", "WHATEVER", Some(HostSignal::Aborted(AbortReason::Cancelled))),
            true,
        );
        assert!(told.stopped_by_cancel());
        // Codes that look like a cancel are not one.
        let claimed = report(failed("src", "CANCELLED", None), failed("dst", "UPSTREAM_FAILED", None), true);
        assert!(!claimed.stopped_by_cancel());
        // An abort for another reason during a cancel is not a clean stop.
        let other = report(SideReport::default(), failed("dst", "X", Some(HostSignal::Aborted(AbortReason::SourceFailed))), true);
        assert!(!other.stopped_by_cancel());
    }
}
