//! Once per pipeline: resolve connectors, build stream jobs, run them up to
//! `parallelism` at a time, and summarise from the connectors' own metrics.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapidbyte_protocol::{metric_names as m, Role, StreamContext, WriteMode};

use crate::contract::component::{file_name, LoadError};
use crate::sandbox::host_api::RunServices;
use crate::pipeline::{ConnectorSection, DeliveryName, LimitsSection, PipelineFile, StreamSection, WriteModeName};
use crate::sandbox::runtime::{LoadedComponent, Runtime};
use crate::sandbox::SandboxSpec;
use crate::engine::stream::{ConnectorSpec, StreamJob, StreamReport};
use crate::engine::supervise::{run_with_budget, RetryBudget, StreamOutcome};

/// A connector named in a pipeline that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResolveError {
    /// No component file for the name.
    #[error("{role} connector `{name}` not found: no {file} in {searched}")]
    #[diagnostic(
        code(rapidbyte::connector::not_found),
        help("put the component in the user connector directory, pass --connector-dir or set RAPIDBYTE_CONNECTOR_DIR, or give its path in `use:`; `rapidbyte connectors` lists what is installed")
    )]
    NotFound { role: Role, name: String, file: String, searched: String },
    /// The component is of another role.
    #[error("connector `{name}` is a {actual}, but the pipeline uses it as a {expected}")]
    #[diagnostic(code(rapidbyte::connector::wrong_role))]
    WrongRole { name: String, expected: Role, actual: Role },
    /// It could not be loaded.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
}

/// Finds and loads the component a pipeline section names: a path is that
/// file; a bare name is looked up in `dir` (the connector directory), then
/// the user's directory ([`user_connector_dir`]), then the components built
/// into the binary.
pub fn resolve(runtime: &Runtime, dir: &Path, role: Role, section: &ConnectorSection) -> Result<Arc<LoadedComponent>, ResolveError> {
    let component = if section.names_a_file() {
        let path = PathBuf::from(&section.use_);
        if !path.is_file() {
            return Err(ResolveError::NotFound {
                role,
                name: section.use_.clone(),
                file: path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                searched: path.parent().map(|p| p.display().to_string()).unwrap_or_default(),
            });
        }
        runtime.load(&path)?
    } else {
        let file = file_name(role, &section.use_);
        let user = user_connector_dir();
        match [Some(dir.to_path_buf()), user.clone()].into_iter().flatten().map(|d| d.join(&file)).find(|p| p.is_file()) {
            Some(path) => runtime.load(&path)?,
            None => match crate::contract::embedded::find(&file) {
                Some(bytes) => runtime.load_bytes(&Path::new(crate::contract::embedded::ORIGIN).join(&file), bytes)?,
                None => {
                    let mut searched = vec![dir.display().to_string()];
                    searched.extend(user.map(|u| u.display().to_string()));
                    searched.push("the components built into rapidbyte".into());
                    return Err(ResolveError::NotFound { role, name: section.use_.clone(), file, searched: searched.join(", ") });
                }
            },
        }
    };
    if component.manifest.role != role {
        return Err(ResolveError::WrongRole { name: section.use_.clone(), expected: role, actual: component.manifest.role });
    }
    Ok(component)
}

/// The user's own connector directory: `$XDG_DATA_HOME/rapidbyte/connectors`,
/// else `~/.local/share/rapidbyte/connectors` (third-party components
/// installed by name).
pub fn user_connector_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("rapidbyte").join("connectors"))
}

/// The sandbox a pipeline section asks for; without `memory_mb`, the memory
/// cap follows the pipeline's `max_record_bytes`.
pub fn sandbox(section: &ConnectorSection, limits: &LimitsSection) -> SandboxSpec {
    let memory_bytes = match section.sandbox.memory_mb {
        Some(mb) => usize::try_from(mb).unwrap_or(usize::MAX).saturating_mul(1 << 20),
        None => crate::sandbox::default_memory_bytes(limits.max_record_bytes),
    };
    SandboxSpec {
        memory_bytes,
        call_timeout: (section.sandbox.timeout_seconds > 0).then(|| Duration::from_secs(section.sandbox.timeout_seconds)),
        busy_limit: match section.sandbox.max_busy_seconds {
            None => Some(crate::sandbox::DEFAULT_BUSY_LIMIT),
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
        },
        grants: section.sandbox.grants.clone(),
        allowed_endpoints: section.sandbox.allowed_endpoints.clone(),
        trap_at_host_call: None,
    }
}

/// A feature the pipeline asks of a connector that does not declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureGap {
    /// Index of the stream in `streams`.
    pub stream_index: usize,
    /// The stream key that asks for it (`sync_mode`, `write_mode`, `delivery`).
    pub key: &'static str,
    /// The message, naming stream, feature and connector.
    pub message: String,
}

/// § Features: what the pipeline asks for that a connector does not declare,
/// one gap per request, naming the feature.
pub fn missing_features(file: &PipelineFile, source: &LoadedComponent, destination: &LoadedComponent) -> Vec<FeatureGap> {
    use rapidbyte_protocol::{Feature, SyncMode};
    let mut gaps = Vec::new();
    let has = |c: &LoadedComponent, f: Feature| c.manifest.features.contains(&f);
    for (stream_index, s) in file.streams.iter().enumerate() {
        let mut need = |c: &LoadedComponent, f: Feature, key: &'static str, why: &str| {
            if !has(c, f) {
                gaps.push(FeatureGap {
                    stream_index,
                    key,
                    message: format!("stream `{}`: {why} needs feature `{f}`, which connector `{}` does not declare", s.name, c.manifest.name),
                });
            }
        };
        match s.sync_mode {
            SyncMode::Incremental => need(source, Feature::Incremental, "sync_mode", "sync_mode incremental"),
            SyncMode::Cdc => need(source, Feature::Cdc, "sync_mode", "sync_mode cdc"),
            SyncMode::FullRefresh => {}
        }
        match s.write_mode {
            WriteModeName::Replace => need(destination, Feature::Replace, "write_mode", "write_mode replace"),
            WriteModeName::Upsert => need(destination, Feature::Upsert, "write_mode", "write_mode upsert"),
            WriteModeName::Append => {}
        }
        if s.delivery == DeliveryName::ExactlyOnce {
            need(destination, Feature::ExactlyOnce, "delivery", "delivery exactly-once");
        }
    }
    gaps
}

/// § Delivery: exactly-once whenever the destination declares it, unless the
/// stream asks for at-least-once.
pub fn exactly_once(stream: &StreamSection, destination: &LoadedComponent) -> bool {
    let declared = destination.manifest.features.contains(&rapidbyte_protocol::Feature::ExactlyOnce);
    match stream.delivery {
        DeliveryName::Auto | DeliveryName::ExactlyOnce => declared,
        DeliveryName::AtLeastOnce => false,
    }
}

/// The stream jobs of a pipeline.
pub fn jobs(file: &PipelineFile, run_id: &str, source: &Arc<LoadedComponent>, destination: &Arc<LoadedComponent>) -> Vec<StreamJob> {
    let token_pipeline = crate::engine::identity::token_pipeline(&file.pipeline, &source.manifest, &file.source.config);
    file.streams
        .iter()
        .map(|s| StreamJob {
            context: StreamContext {
                pipeline: file.pipeline.clone(),
                run_id: run_id.to_string(),
                stream_name: s.name.clone(),
                schema: Vec::new(),
                selected_columns: s.columns.clone(),
                sync_mode: s.sync_mode,
                cursor: s.cursor_field.as_ref().map(|f| rapidbyte_protocol::CursorInfo {
                    field: f.clone(),
                    tie_breaker: s.tie_breaker.clone(),
                    ..Default::default()
                }),
                write_mode: match s.write_mode {
                    WriteModeName::Append => WriteMode::Append,
                    WriteModeName::Replace => WriteMode::Replace,
                    WriteModeName::Upsert => WriteMode::Upsert(s.primary_key.clone()),
                },
                limits: file.limits.to_limits(),
                policies: rapidbyte_protocol::Policies {
                    on_data_error: s.on_data_error.unwrap_or(s.policies.on_data_error),
                    ..s.policies
                },
                commit_token_base: exactly_once(s, destination).then(|| rapidbyte_protocol::CommitTokenBase {
                    pipeline: token_pipeline.clone(),
                    stream_name: s.name.clone(),
                    run_id: run_id.to_string(),
                }),
                options: s.options.as_ref().map(ToString::to_string),
            },
            source: ConnectorSpec {
                component: Arc::clone(source),
                config_json: file.source.config.to_string(),
                sandbox: sandbox(&file.source, &file.limits),
            },
            destination: ConnectorSpec {
                component: Arc::clone(destination),
                config_json: file.destination.config.to_string(),
                sandbox: sandbox(&file.destination, &file.limits),
            },
            max_inflight_bytes: file.limits.max_inflight_bytes as usize,
        })
        .collect()
}

/// How a run's streams are scheduled.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Streams at once.
    pub parallelism: usize,
    /// How far each stream is retried.
    pub retry: RetryBudget,
}

impl Schedule {
    /// The pipeline file's schedule.
    pub fn of(file: &PipelineFile) -> Self {
        Self {
            parallelism: file.limits.parallelism as usize,
            retry: RetryBudget {
                max_attempts: file.retry.max_attempts,
                max_elapsed: (file.retry.max_elapsed_seconds > 0).then(|| Duration::from_secs(file.retry.max_elapsed_seconds)),
            },
        }
    }
}

/// Runs jobs, at most `parallelism` at once, in pipeline order, retrying
/// transient failures. After a cancel, streams not yet started do not start.
pub async fn run_jobs(runtime: Arc<Runtime>, jobs: Vec<StreamJob>, services: RunServices, schedule: Schedule) -> Vec<StreamOutcome> {
    let gate = Arc::new(tokio::sync::Semaphore::new(schedule.parallelism.max(1)));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let (runtime, services, gate) = (Arc::clone(&runtime), services.clone(), Arc::clone(&gate));
            let spare = job.clone();
            let span = tracing::info_span!("stream", stream = %job.context.stream_name);
            let handle = tokio::spawn(tracing::Instrument::instrument(async move {
                let _slot = gate.acquire_owned().await.expect("gate open");
                if services.cancel.is_cancelled() {
                    return StreamOutcome::once(StreamReport::not_started(&job, "the run was cancelled before this stream started", true));
                }
                let (stream, metrics) = (job.context.stream_name.clone(), Arc::clone(&services.metrics));
                metrics.stream_started(&stream);
                let outcome = run_with_budget(runtime, job, services, schedule.retry).await;
                metrics.stream_finished(&stream, outcome.succeeded());
                outcome
            }, span));
            (spare, handle)
        })
        .collect();
    let mut reports = Vec::new();
    for (job, h) in handles {
        // A panic in one stream's task fails that stream, not the run: the
        // other streams finish and the run history records the outcome.
        reports.push(match h.await {
            Ok(report) => report,
            Err(e) => {
                let what = if e.is_panic() { "panicked (an internal error of rapidbyte; please report it)" } else { "was stopped" };
                tracing::error!(stream = %job.context.stream_name, "the stream's task {what}");
                StreamOutcome::once(StreamReport::not_started(&job, &format!("the stream's task {what}"), false))
            }
        });
    }
    reports
}

/// One stream's line in the run summary, from the connectors' metrics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StreamSummary {
    /// The stream.
    pub stream: String,
    /// Whether it finished.
    pub ok: bool,
    /// `records_read` reported by the source.
    pub records_read: u64,
    /// `records_written` reported by the destination.
    pub records_written: u64,
    /// `bytes_read` reported by the source.
    pub bytes_read: u64,
    /// `bytes_written` reported by the destination.
    pub bytes_written: u64,
    /// `batches_emitted` reported by the source.
    pub batches_emitted: u64,
    /// `batches_written` reported by the destination.
    pub batches_written: u64,
    /// `checkpoint_count` of both sides.
    pub checkpoints: u64,
    /// Retries the engine made (SPEC § Errors).
    pub retries: u64,
    /// Rows the on-data-error policy `skip` dropped, on either side.
    pub records_skipped: u64,
    /// Rows the on-data-error policy `dlq` wrote to the destination's
    /// dead-letter table.
    pub records_dead_lettered: u64,
    /// Stopped by a cancel at a checkpoint.
    pub cancelled: bool,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// Seconds per phase, `<role>.<phase>` (e.g. `source.fetch`, from the
    /// `fetch_ms` histogram), from the connectors' histograms and the host's
    /// channel waits.
    pub phase_seconds: std::collections::BTreeMap<String, f64>,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// Summarises reports from the run's metrics.
pub fn summarise(reports: &[StreamOutcome], services: &RunServices) -> Vec<StreamSummary> {
    let hub = &services.metrics;
    reports
        .iter()
        .map(|r| {
            let s = r.stream.as_str();
            StreamSummary {
                stream: r.stream.clone(),
                ok: r.succeeded(),
                records_read: hub.counter(s, Role::Source, m::RECORDS_READ),
                records_written: hub.counter(s, Role::Destination, m::RECORDS_WRITTEN),
                bytes_read: hub.counter(s, Role::Source, m::BYTES_READ),
                bytes_written: hub.counter(s, Role::Destination, m::BYTES_WRITTEN),
                batches_emitted: hub.counter(s, Role::Source, m::BATCHES_EMITTED),
                batches_written: hub.counter(s, Role::Destination, m::BATCHES_WRITTEN),
                checkpoints: hub.counter(s, Role::Destination, m::CHECKPOINT_COUNT),
                retries: r.retries.len() as u64,
                records_skipped: hub.counter(s, Role::Source, m::RECORDS_SKIPPED)
                    + hub.counter(s, Role::Destination, m::RECORDS_SKIPPED),
                records_dead_lettered: hub.counter(s, Role::Destination, m::RECORDS_DEAD_LETTERED),
                cancelled: r.stopped_by_cancel(),
                wall_seconds: r.wall.as_secs_f64(),
                phase_seconds: hub
                    .snapshot()
                    .into_iter()
                    .filter(|(k, _)| k.stream == r.stream && k.name.ends_with("_ms"))
                    .filter_map(|(k, v)| match v {
                        // Seconds, so the key loses its `_ms`: `source.fetch`.
                        crate::telemetry::metrics::Aggregate::Histogram { sum, .. } => {
                            Some((format!("{}.{}", k.role, k.name.trim_end_matches("_ms")), sum / 1e3))
                        }
                        _ => None,
                    })
                    .collect(),
                error: r.error().map(ToString::to_string),
            }
        })
        .collect()
}

/// A run id: time-based, unique enough per pipeline.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}-{:06}", now.as_secs(), now.subsec_micros())
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Elapsed-time helper for callers that time a whole run.
pub fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Batch frames (up to `max_batch_bytes`, MiBs) are allocated on one thread
/// and freed on another. glibc's dynamic mmap threshold then keeps freed
/// frames in per-thread arenas, and peak RSS grew with row count (92 MiB at
/// 1M rows, 169 MiB at 5M). A fixed threshold hands large blocks straight
/// back to the OS, keeping memory bounded by the limits (SPEC § Performance).
/// Call it first thing in `main`, before other threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn bound_large_allocations() {
    // SAFETY: mallopt only changes allocator tuning; called once at start-up
    // before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn bound_large_allocations() {}

