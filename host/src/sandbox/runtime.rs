//! Once per process: the wasmtime Engine and Linker, compiled components
//! (cached on disk), and the epoch ticker. Once per stream: a fresh Store
//! with a memory cap and a deadline (STYLE.md: three phases).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rapidbyte_protocol::{CommitTokenBase, CommittedToken, ConnectorError, Manifest, OpenInfo, StreamContext, StreamSchema};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, UpdateDeadline};

use crate::contract::bindings::{self, Contract};
use crate::engine::checkpoint::Coordinator;
use crate::contract::component::{inspect, LoadError};
use crate::contract::config_schema::ConfigSchema;
use crate::engine::cancel::CANCEL_GRACE;
use crate::sandbox::host_api::{
    DeadlineExceeded, FrameLimits, HostState, InstanceLabels, RunServices, RunSummary, StoppedAfterCancel, StreamIo,
};
use crate::sandbox::compile_cache::CompileCache;
use crate::sandbox::memory::{MemoryBudget, MemoryLimitExceeded};
use crate::sandbox::{self, SandboxSpec};

/// How often the epoch advances; deadlines are checked at this grain.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process-wide runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<CompileCache>,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// A component compiled and linked, ready to instantiate per stream.
pub struct LoadedComponent {
    /// Where it came from.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The contract version it exports.
    pub contract: Contract,
    /// Its config schema, when it declares one (checked at preflight).
    pub config_schema: Option<Arc<ConfigSchema>>,
    pre: bindings::Pre,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent").field("path", &self.path).field("manifest", &self.manifest).finish()
    }
}

impl Runtime {
    /// A runtime caching compiled components in `cache_dir` (`None`: no disk cache).
    pub fn new(cache_dir: Option<PathBuf>) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        sandbox::name_lookup::add_to_linker(&mut linker)?;
        bindings::add_to_linker(&mut linker)?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (e, stop) = (engine.clone(), Arc::clone(&stop_ticker));
        std::thread::Builder::new().name("rapidbyte-epoch".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                e.increment_epoch();
            }
        })?;
        Ok(Self { engine, linker, cache: cache_dir.as_deref().and_then(CompileCache::open), stop_ticker })
    }

    /// The default compile cache: `$RAPIDBYTE_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/rapidbyte`, else `~/.cache/rapidbyte`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("RAPIDBYTE_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("rapidbyte"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("rapidbyte"))
    }

    /// Reads, inspects, compiles (or loads from the cache) and links a component.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedComponent>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Unreadable { path: path.to_path_buf(), source })?;
        self.load_bytes(path, &bytes)
    }

    /// As [`Runtime::load`], for bytes already in memory.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Arc<LoadedComponent>, LoadError> {
        let inspection = inspect(path, bytes)?;
        let link = |reason: String| LoadError::Link { path: path.to_path_buf(), reason };
        let component = self.compile_cached(bytes).map_err(|e| link(format!("{e:#}")))?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| link(format!("{e:#}")))?;
        let pre = bindings::Pre::new(inspection.contract, inspection.manifest.role, pre).map_err(|e| link(format!("{e:#}")))?;
        Ok(Arc::new(LoadedComponent {
            path: path.to_path_buf(),
            manifest: inspection.manifest,
            contract: inspection.contract,
            config_schema: inspection.config_schema,
            pre,
        }))
    }

    /// Compiles once per (component, engine) and keeps the artefact on disk.
    fn compile_cached(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(cache) = &self.cache else {
            return Component::new(&self.engine, bytes);
        };
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let key = format!("{:x}-{:016x}", Sha256::digest(bytes), engine_hash.finish());
        if let Some(artefact) = cache.get(&key) {
            // SAFETY: the artefact is one this user wrote with `serialize`
            // below (the cache refuses files others own or may write) and
            // its SHA-256 matched; the key includes the engine's
            // compatibility hash, and wasmtime checks it again.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize(&self.engine, &artefact) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!("recompiling: cached component {key} is unusable: {e}"),
            }
        }
        let started = Instant::now();
        let component = Component::new(&self.engine, bytes)?;
        tracing::debug!("compiled component in {:?}", started.elapsed());
        cache.put(&key, &component.serialize()?);
        Ok(component)
    }

    /// A fresh, sandboxed instance of `component` for one stream run.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn instantiate(
        &self,
        component: &Arc<LoadedComponent>,
        config_json: &str,
        sandbox: &SandboxSpec,
        labels: InstanceLabels,
        services: RunServices,
        io: StreamIo,
        coordinator: Option<Arc<Coordinator>>,
        frames: FrameLimits,
    ) -> Result<ConnectorInstance, InstanceError> {
        let config: serde_json::Value = serde_json::from_str(config_json).map_err(|e| InstanceError::Sandbox {
            connector: labels.connector.clone(),
            reason: format!("config is not JSON: {e}"),
        })?;
        let sandbox_err = |e: sandbox::SandboxError| InstanceError::Sandbox { connector: labels.connector.clone(), reason: e.to_string() };
        let endpoints = sandbox::endpoints(&component.manifest, &config, &sandbox.grants, sandbox.allowed_endpoints.as_deref()).map_err(sandbox_err)?;
        // § Security, TLS: endpoints that take TLS reach the guest through the host's relays.
        let sandbox::tls::Prepared { reach, guest_config, relays } =
            sandbox::tls::prepare(&component.manifest, &config, &endpoints).await.map_err(sandbox_err)?;
        let refused = Arc::new(Mutex::new(Vec::new()));
        let state = HostState {
            relays,
            wasi: sandbox::wasi_ctx(reach.addrs, Arc::clone(&refused)),
            table: ResourceTable::new(),
            labels: labels.clone(),
            services,
            io,
            coordinator,
            memory: MemoryBudget::new(sandbox.memory_bytes),
            deadline: None,
            frames,
            schema: None,
            violation: None,
            refused: None,
            host_calls: 0,
            calls_entered: 0,
            trap_at_call: sandbox.trap_at_host_call,
            busy: crate::sandbox::host_api::Busy { limit: sandbox.busy_limit, calls_seen: 0, since: Instant::now() },
            rows_seen: 0,
            uncovered_rows: 0,
            refusals: refused,
            names: reach.names,
            metric_names: Default::default(),
            signal: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory as &mut dyn wasmtime::ResourceLimiter);
        // wasmtime refuses to lift more than its hostcall fuel (128 MiB by
        // default) from one guest call, trapping the instance. A frame can be
        // as large as the guest's memory, and one above `max_record_bytes`
        // must reach the host's check to become a data error, not a trap:
        // allow as much as the memory cap (the guest cannot hold more).
        let fuel = store.hostcall_fuel().max(sandbox.memory_bytes);
        store.set_hostcall_fuel(fuel);
        store.epoch_deadline_callback(|mut ctx| {
            // § Security: a guest running its own code past its busy limit is stopped.
            let s = ctx.data_mut();
            let calls = s.calls_entered;
            if let Some(limit) = s.busy.exceeded(calls, Instant::now()) {
                return Err(crate::sandbox::host_api::BusyLimitExceeded(limit).into());
            }
            let s = ctx.data();
            // A cancel stops the reading: a source still running its own code
            // past the grace is stopped. A destination goes on committing up
            // to the last checkpoint (bounded by its call deadline, if any).
            if s.labels.role == rapidbyte_protocol::Role::Source && s.services.cancel.cancelled_for(CANCEL_GRACE) {
                return Err(StoppedAfterCancel(CANCEL_GRACE).into());
            }
            match s.deadline {
                Some(d) if Instant::now() >= d => Err(DeadlineExceeded.into()),
                // Yield so other streams' tasks run; check again next tick.
                _ => Ok(UpdateDeadline::Yield(1)),
            }
        });
        store.set_epoch_deadline(1);
        let mut instance = ConnectorInstance {
            store,
            bindings: None,
            labels,
            call_timeout: sandbox.call_timeout,
            dead: false,
            calls: Vec::new(),
            guest_config: guest_config.map(|c| c.to_string()),
        };
        let pre = &component.pre;
        let started = instance.begin_call();
        let result = match started {
            Some(limit) => tokio::time::timeout(limit, pre.instantiate(&mut instance.store)).await.unwrap_or_else(|_| Err(DeadlineExceeded.into())),
            None => pre.instantiate(&mut instance.store).await,
        };
        instance.store.data_mut().deadline = None;
        match result {
            Ok(b) => instance.bindings = Some(b),
            Err(e) => return Err(instance.trap("instantiate", e)),
        }
        Ok(instance)
    }
}

/// Why an instance call did not return a value.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InstanceError {
    /// The connector returned its error record (data the host acts on).
    #[error("connector `{connector}` ({call}, stream `{stream}`): {error}")]
    #[diagnostic(code(rapidbyte::connector::error))]
    Connector { connector: String, stream: String, call: &'static str, error: ConnectorError },

    /// The instance trapped (a bug or an abort in the guest).
    #[error("connector `{connector}` trapped in {call} (stream `{stream}`): {reason}")]
    #[diagnostic(code(rapidbyte::connector::trap), help("the instance was stopped; the host and other streams keep running"))]
    Trap { connector: String, stream: String, call: &'static str, reason: String },

    /// The call ran past its time limit.
    #[error("connector `{connector}` exceeded its time limit of {limit:?} in {call} (stream `{stream}`)")]
    #[diagnostic(code(rapidbyte::sandbox::deadline), help("raise `sandbox.timeout_seconds` for this connector if the work is legitimate"))]
    Deadline { connector: String, stream: String, call: &'static str, limit: Duration },

    /// The instance asked for more memory than its cap.
    #[error("connector `{connector}` exceeded its memory cap of {cap_mib} MiB in {call} (stream `{stream}`)")]
    #[diagnostic(code(rapidbyte::sandbox::memory), help("raise `sandbox.memory_mb` for this connector (a record of `limits.max_record_bytes` needs a few times its size), or lower `max_batch_bytes` or `max_record_bytes`"))]
    Memory { connector: String, stream: String, call: &'static str, cap_mib: usize },

    /// The instance broke the contract (bad frame, wrong call for its role…).
    #[error("connector `{connector}` broke the contract in {call} (stream `{stream}`): {detail}")]
    #[diagnostic(code(rapidbyte::connector::protocol))]
    Protocol { connector: String, stream: String, call: &'static str, detail: String },

    /// The stream did not start on this side (its peer failed first).
    #[error("connector `{connector}` did not start stream `{stream}`: {reason}")]
    #[diagnostic(code(rapidbyte::engine::stream::not_started))]
    NotStarted { connector: String, stream: String, reason: String },

    /// The sandbox could not be set up.
    #[error("cannot sandbox connector `{connector}`: {reason}")]
    #[diagnostic(code(rapidbyte::sandbox::setup))]
    Sandbox { connector: String, reason: String },

    /// The instance is no longer usable after an earlier trap or deadline.
    #[error("connector `{connector}` is stopped and cannot take {call}")]
    #[diagnostic(code(rapidbyte::connector::stopped))]
    Stopped { connector: String, call: &'static str },
}

impl InstanceError {
    /// The connector's own error record, when it returned one.
    pub fn connector_error(&self) -> Option<&ConnectorError> {
        match self {
            Self::Connector { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One instance of a connector, owning its Store (one task owns it).
pub struct ConnectorInstance {
    store: Store<HostState>,
    bindings: Option<bindings::Instance>,
    labels: InstanceLabels,
    call_timeout: Option<Duration>,
    dead: bool,
    calls: Vec<&'static str>,
    /// The config `open` gives the guest when TLS relays rewrote it.
    guest_config: Option<String>,
}

macro_rules! call {
    ($self:ident, $name:literal, |$b:ident, $store:ident| $body:expr) => {{
        if $self.dead {
            return Err(InstanceError::Stopped { connector: $self.labels.connector.clone(), call: $name });
        }
        $self.calls.push($name);
        let limit = $self.begin_call();
        let $b = $self.bindings.as_ref().expect("instantiated");
        let $store = &mut $self.store;
        let span = tracing::info_span!("connector", call = $name, connector = %$self.labels.connector, role = %$self.labels.role);
        let fut = tracing::Instrument::instrument($body, span);
        let result = match limit {
            Some(limit) => tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| Err(DeadlineExceeded.into())),
            None => fut.await,
        };
        $self.store.data_mut().deadline = None;
        match result {
            Ok(inner) => $self.finish($name, inner),
            Err(trap) => Err($self.trap($name, trap)),
        }
    }};
}

impl ConnectorInstance {
    fn begin_call(&mut self) -> Option<Duration> {
        // A limit too far away to represent is no limit.
        self.store.data_mut().deadline = self.call_timeout.and_then(|t| Instant::now().checked_add(t));
        self.call_timeout
    }

    fn finish<T>(&mut self, call: &'static str, r: Result<T, ConnectorError>) -> Result<T, InstanceError> {
        // A contract breach fails the call even if the connector swallowed
        // the error the host returned to it.
        if let Some(detail) = self.store.data_mut().violation.take() {
            return Err(InstanceError::Protocol {
                connector: self.labels.connector.clone(),
                stream: self.labels.stream.clone(),
                call,
                detail,
            });
        }
        // Likewise a record the host refused as too large: it was not delivered.
        if let Some(error) = self.store.data_mut().refused.take() {
            return Err(InstanceError::Connector {
                connector: self.labels.connector.clone(),
                stream: self.labels.stream.clone(),
                call,
                error,
            });
        }
        r.map_err(|error| {
            // § Security: the connector's text is bounded and made safe to show.
            let mut error = crate::sandbox::untrusted::error(error);
            let refused = self.store.data().refusals.lock().expect("refusals lock").clone();
            if !refused.is_empty() {
                error.message.push_str(&format!(" [sandbox refused {} — not granted to this connector]", refused.join(", ")));
            }
            InstanceError::Connector {
                connector: self.labels.connector.clone(),
                stream: self.labels.stream.clone(),
                call,
                error,
            }
        })
    }

    fn trap(&mut self, call: &'static str, err: wasmtime::Error) -> InstanceError {
        self.dead = true;
        let (connector, stream) = (self.labels.connector.clone(), self.labels.stream.clone());
        if err.chain().any(|e| e.downcast_ref::<DeadlineExceeded>().is_some()) {
            let limit = self.call_timeout.unwrap_or_default();
            return InstanceError::Deadline { connector, stream, call, limit };
        }
        if let Some(m) = err.chain().find_map(|e| e.downcast_ref::<MemoryLimitExceeded>()) {
            return InstanceError::Memory { connector, stream, call, cap_mib: m.cap >> 20 };
        }
        if let Some(s) = err.chain().find_map(|e| e.downcast_ref::<StoppedAfterCancel>()) {
            // Stopped because of the cancel: the typed cause, like a source told so.
            self.store.data_mut().signal = Some(crate::sandbox::host_api::HostSignal::Cancelled);
            return InstanceError::Trap { connector, stream, call, reason: s.to_string() };
        }
        if let Some(b) = err.chain().find_map(|e| e.downcast_ref::<crate::sandbox::host_api::BusyLimitExceeded>()) {
            return InstanceError::Trap { connector, stream, call, reason: b.to_string() };
        }
        if let Some(f) = err.chain().find_map(|e| e.downcast_ref::<crate::sandbox::host_api::InjectedFault>()) {
            return InstanceError::Trap { connector, stream, call, reason: f.to_string() };
        }
        let reason = match err.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => format!("{trap}"),
            None => format!("{err:#}"),
        };
        InstanceError::Trap { connector, stream, call, reason }
    }

    /// The lifecycle calls made so far, in order.
    pub fn calls(&self) -> &[&'static str] {
        &self.calls
    }

    /// Host calls the guest made (for the no-per-row-calls rule).
    pub fn host_calls(&self) -> u64 {
        self.store.data().host_calls
    }

    /// Every host call entered, logs included: the boundaries at which
    /// `SandboxSpec::trap_at_host_call` can stop the instance.
    pub fn calls_entered(&self) -> u64 {
        self.store.data().calls_entered
    }

    /// Rows the host validated through this instance.
    pub fn rows_seen(&self) -> u64 {
        self.store.data().rows_seen
    }

    /// Records the source sent after its last checkpoint.
    pub fn uncovered_rows(&self) -> u64 {
        self.store.data().uncovered_rows
    }

    /// The largest linear memory the instance grew to, in bytes.
    pub fn memory_peak(&self) -> usize {
        self.store.data().memory.peak()
    }

    /// What the host told the instance about its peer or the run, if
    /// anything (the typed cause of an early end).
    pub fn signal(&self) -> Option<crate::sandbox::host_api::HostSignal> {
        self.store.data().signal
    }

    /// Whether the instance was stopped by a trap or limit.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// `open(config)`.
    pub async fn open(&mut self, config: &str) -> Result<OpenInfo, InstanceError> {
        let guest_config = self.guest_config.take();
        let config = guest_config.as_deref().unwrap_or(config);
        call!(self, "open", |b, store| b.open(store, config))
    }

    /// `validate()`.
    pub async fn validate(&mut self) -> Result<(), InstanceError> {
        call!(self, "validate", |b, store| b.validate(store))
    }

    /// `discover()` (sources).
    pub async fn discover(&mut self) -> Result<Vec<StreamSchema>, InstanceError> {
        call!(self, "discover", |b, store| b.discover(store))
    }

    /// `run-read` / `run-write` / `run-transform`.
    pub async fn run(&mut self, ctx: StreamContext) -> Result<RunSummary, InstanceError> {
        call!(self, "run", |b, store| b.run(store, ctx))
    }

    /// `committed(base)` (destinations).
    pub async fn committed(&mut self, base: CommitTokenBase) -> Result<Option<CommittedToken>, InstanceError> {
        call!(self, "committed", |b, store| b.committed(store, base))
    }

    /// `close()`: best effort; a stopped instance is not called again.
    pub async fn close(&mut self) -> Result<(), InstanceError> {
        if self.dead {
            return Ok(());
        }
        call!(self, "close", |b, store| b.close(store))
    }

    /// Drops the stream ends so peers see the end (used after `run`).
    pub(crate) fn take_io(&mut self) -> StreamIo {
        std::mem::replace(&mut self.store.data_mut().io, StreamIo::None)
    }
}
