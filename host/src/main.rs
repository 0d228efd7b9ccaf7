//! The `rapidbyte` command line.
//!
//! Exit codes: 0 success; 1 a stream failed; 2 bad usage or configuration;
//! 3 every stream finished but rows went to a dead-letter table
//! (`on_data_error: dlq`); 130 cancelled (Ctrl-C or SIGTERM) after
//! committing to the last checkpoint.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use miette::{IntoDiagnostic, Result};
use rapidbyte::sandbox::host_api::RunServices;
use rapidbyte::pipeline::{ConnectorSection, PipelineFile};
use rapidbyte::engine::preflight::{preflight, Preflight};
use rapidbyte::engine::run::{self, StreamSummary};
use rapidbyte::sandbox::runtime::{LoadedComponent, Runtime};
use rapidbyte::telemetry::progress;
use rapidbyte::state::{self, MemoryState, RunRecord};
use std::io::IsTerminal;
use rapidbyte_protocol::Role;

/// Everything the CLI prints goes through these: remembered secrets are
/// scrubbed from it (SPEC § Security).
macro_rules! say {
    ($($t:tt)*) => { println!("{}", rapidbyte::telemetry::secret::scrub(&format!($($t)*))) };
}
macro_rules! say_err {
    ($($t:tt)*) => { rapidbyte::telemetry::progress::above_bars(|| eprintln!("{}", rapidbyte::telemetry::secret::scrub(&format!($($t)*)))) };
}
macro_rules! say_raw {
    ($($t:tt)*) => { print!("{}", rapidbyte::telemetry::secret::scrub(&format!($($t)*))) };
}

#[derive(Parser)]
#[command(name = "rapidbyte", version, about = "Move tables between systems through sandboxed WebAssembly connectors")]
struct Cli {
    /// Directory of connector components looked up first (default: $RAPIDBYTE_CONNECTOR_DIR, else the build's target/connectors); then ~/.local/share/rapidbyte/connectors, then the built-in ones.
    #[arg(long, global = true)]
    connector_dir: Option<PathBuf>,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log lines as text, or as one JSON object per line for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Export traces and metrics over OTLP/HTTP (JSON) to this collector, e.g. http://127.0.0.1:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT).
    #[arg(long, global = true)]
    otlp_endpoint: Option<String>,
    /// Colours in logs and diagnostics: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour stderr: `auto` is a terminal without `NO_COLOR` (no-color.org).
    fn on(self) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// How `run` shows progress.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProgressMode {
    /// Bars on a terminal, log lines otherwise.
    Auto,
    /// Bars (on a terminal).
    Bars,
    /// A log line per stream every --progress-interval seconds.
    Log,
    /// A JSON object per stream on stderr every --progress-interval seconds, and when it finishes.
    Json,
    /// None.
    Off,
}

/// Flags of `run` (they override the pipeline file).
#[derive(clap::Args, Clone)]
struct RunFlags {
    /// Print the summary as JSON (no progress display).
    #[arg(long)]
    json: bool,
    /// The SQLite state file (default: the pipeline's `state:`, else `<pipeline>.state.db` beside it).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Also write Prometheus text-format metrics to this file (every second and at the end).
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// Also serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// How progress is shown.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Seconds between progress lines (log and json progress).
    #[arg(long, default_value_t = 10)]
    progress_interval: u64,
    /// When another run of this pipeline holds the run lease, wait for it to
    /// finish instead of stopping.
    #[arg(long)]
    wait: bool,
    #[arg(skip)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline file.
    Run {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// List a pipeline's recent runs with outcome and counts (from its state).
    Runs {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
        /// The state file, when not the pipeline's own.
        #[arg(long)]
        state: Option<PathBuf>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a pipeline without moving data: config, connectors, features, connectivity.
    Check {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
    },
    /// Write a commented pipeline file from a PostgreSQL source's tables (moves no data).
    Init {
        /// The pipeline file to write.
        output: PathBuf,
        /// The source: postgres://user[:password]@host[:port]/database.
        #[arg(long)]
        source: String,
        /// The source schema whose tables become streams.
        #[arg(long, default_value = "public")]
        schema: String,
        /// The destination (default: the source's server and database).
        #[arg(long)]
        destination: Option<String>,
        /// The destination schema (default: `<schema>_copy`).
        #[arg(long)]
        dest_schema: Option<String>,
        /// The pipeline's name (default: the file name without extension).
        #[arg(long)]
        name: Option<String>,
        /// The variable the file reads the source password from (when the URL has one).
        #[arg(long, default_value = "PGPASSWORD")]
        password_env: String,
        /// The variable the file reads the destination password from.
        #[arg(long, default_value = "DEST_PGPASSWORD")]
        dest_password_env: String,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// List the streams the pipeline's source can read, with their schemas.
    Discover {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List installed connector components.
    Connectors,
    /// Print a shell completion script: `rapidbyte completions bash > /etc/bash_completion.d/rapidbyte`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `rapidbyte man > rapidbyte.1`.
    Man,
    /// Certify a connector component against the contract (SPEC): protocol, data, telemetry, delivery and crash-safety cases.
    Conformance {
        /// The component (.wasm).
        component: PathBuf,
        /// The subject file: connector config, stream, optional `postgres:` for seeding and read-back.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The case folders (default: fixtures/conformance, else $RAPIDBYTE_CONFORMANCE_CASES).
        #[arg(long)]
        cases: Option<PathBuf>,
        /// Only cases of this group (protocol, data, telemetry, delivery) or name prefix.
        #[arg(long)]
        only: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The OTLP exporters, when an endpoint is set (flushed before exit).
static OTLP: std::sync::OnceLock<rapidbyte::telemetry::otlp::Otlp> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    rapidbyte::engine::run::bound_large_allocations();
    let cli = Cli::parse();
    let color = cli.color.on();
    let _ = miette::set_hook(Box::new(move |_| Box::new(miette::MietteHandlerOpts::new().color(color).unicode(color || std::io::stderr().is_terminal()).build())));
    rapidbyte::telemetry::secret::scrub_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let otlp = match rapidbyte::telemetry::otlp::endpoint(cli.otlp_endpoint.clone()).map(|e| rapidbyte::telemetry::otlp::Otlp::new(&e)).transpose() {
        Ok(otlp) => otlp,
        Err(e) => {
            say_err!("{:?}", miette::miette!(code = "rapidbyte::otlp::endpoint", help = "pass --otlp-endpoint http://host:4318 or unset OTEL_EXPORTER_OTLP_ENDPOINT", "{e}"));
            return ExitCode::from(2);
        }
    };
    init_tracing(cli.verbose, cli.quiet, cli.log_format, color, otlp.as_ref());
    if let Some(o) = otlp {
        let _ = OTLP.set(o);
    }
    let code = match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(report) => {
            say_err!("{report:?}");
            ExitCode::from(2)
        }
    };
    drop(runtime);
    // Spans closed, metrics recorded: send them before the process ends.
    if let Some(o) = OTLP.get() {
        o.shutdown();
    }
    code
}

fn init_tracing(verbose: u8, quiet: bool, format: LogFormat, color: bool, otlp: Option<&rapidbyte::telemetry::otlp::Otlp>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info,wasmtime=warn,cranelift=warn",
        (false, 1) => "debug,wasmtime=info,cranelift=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    // Each event is written whole above the progress bars, secrets masked;
    // spans (for OTLP) never enter the log lines.
    let writer = || rapidbyte::telemetry::secret::Scrubbing(rapidbyte::telemetry::progress::AboveBars::stderr());
    let events_only = tracing_subscriber::filter::filter_fn(|m| m.is_event());
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer).with_target(false).with_ansi(color);
    let logs = match format {
        LogFormat::Text => fmt.with_filter(events_only).boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(false).with_span_list(false).with_filter(events_only).boxed(),
    };
    // The host's own spans only: log events stay out of the traces.
    let spans = otlp.map(|o| {
        tracing_opentelemetry::layer()
            .with_tracer(o.tracer())
            .with_filter(tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.target().starts_with("rapidbyte")))
    });
    tracing_subscriber::registry().with(filter).with(logs).with(spans).init();
}

fn connector_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = flag.or_else(|| std::env::var_os("RAPIDBYTE_CONNECTOR_DIR").filter(|v| !v.is_empty()).map(PathBuf::from)) {
        return dir;
    }
    // target/<profile>/rapidbyte → target/connectors (where `cargo xtask build` puts them).
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|t| t.join("connectors")))
        .unwrap_or_else(|| PathBuf::from("target/connectors"))
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    // Generated from the clap definition; nothing to load.
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "rapidbyte", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            let written = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut std::io::stdout());
            written.or_else(|e| if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) }).into_diagnostic()?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let explicit_dir = cli.connector_dir.is_some() || std::env::var_os("RAPIDBYTE_CONNECTOR_DIR").is_some_and(|v| !v.is_empty());
    let dir = connector_dir(cli.connector_dir);
    let runtime = Arc::new(Runtime::new(Runtime::default_cache_dir()).map_err(|e| miette::miette!("{e:#}"))?);
    match cli.command {
        Command::Run { pipeline, mut flags } => {
            flags.quiet = cli.quiet;
            run_pipeline(runtime, &dir, &pipeline, flags).await
        }
        Command::Runs { pipeline, state, limit, json } => list_runs(&pipeline, state, limit, json),
        Command::Check { pipeline } => check(runtime, &dir, &pipeline).await,
        Command::Discover { pipeline, json } => discover(runtime, &dir, &pipeline, json).await,
        Command::Connectors => list_connectors(&runtime, &dir, explicit_dir),
        Command::Init { output, source, schema, destination, dest_schema, name, password_env, dest_password_env, force } => {
            let args = InitArgs { source, schema, destination, dest_schema, name, password_env, dest_password_env, force };
            init(runtime, &dir, &output, args).await
        }
        Command::Completions { .. } | Command::Man => Ok(ExitCode::SUCCESS),
        Command::Conformance { component, config, cases, only, json } => {
            conformance(runtime, &dir, &component, config.as_deref(), cases, only.as_deref(), json).await
        }
    }
}

async fn run_pipeline(runtime: Arc<Runtime>, dir: &Path, path: &Path, opts: RunFlags) -> Result<ExitCode> {
    // A metrics file that cannot be written would be silently missing at the end.
    if let Some(file) = &opts.metrics_file {
        let folder = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !folder.is_dir() || file.is_dir() {
            return Err(miette::miette!(
                code = "rapidbyte::cli::metrics_file",
                help = "create the folder first, or give --metrics-file a path in an existing one",
                "--metrics-file {}: {}",
                file.display(),
                if file.is_dir() { "is a directory" } else { "its folder does not exist" }
            ));
        }
    }
    // § Features: everything is checked before any data moves or any state is written.
    let Preflight { file, source, destination } = preflight(&runtime, dir, path)?;
    let state_section = file.state.or_sqlite_file(opts.state.as_deref());
    let state = state::open(&state_section, path).map_err(|e| {
        miette::miette!(code = "rapidbyte::state::unavailable", help = "check `state:` in the pipeline file, or pass --state <file>", "{e}")
    })?;
    let run_id = run::new_run_id();
    // § Delivery: one run of a pipeline at a time, before anything is read or written.
    let _lease = match state::lease::acquire(&state, &file.pipeline, &run_id, opts.wait).await {
        Ok(Ok(lease)) => lease,
        Ok(Err(holder)) => {
            return Err(miette::miette!(
                code = "rapidbyte::state::run_in_progress",
                help = "wait for it with `rapidbyte run --wait`, or stop it; a crashed run's lease lapses after 30 s",
                "RUN_IN_PROGRESS: pipeline `{}` is being written by {holder}",
                file.pipeline
            ))
        }
        Err(e) => {
            return Err(miette::miette!(code = "rapidbyte::state::unavailable", help = "check `state:` in the pipeline file", "the run lease cannot be taken: {e}"))
        }
    };
    tracing::info!(pipeline = %file.pipeline, %run_id, streams = file.streams.len(), "run started");
    let services = RunServices::new(Arc::clone(&state));
    let mut record = RunRecord::started(&run_id, &file.pipeline, state::now_epoch());
    state.record_run(&record).map_err(|e| miette::miette!("{e}"))?;

    // Ctrl-C / SIGTERM: stop at the last checkpoint; a second Ctrl-C exits at once.
    let cancel = services.cancel.clone();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        say_err!("\ncancelling: committing up to the last checkpoint (press Ctrl-C again to stop at once)");
        cancel.cancel();
        wait_for_stop_signal().await;
        std::process::exit(EXIT_CANCELLED.into());
    });

    let every = std::time::Duration::from_secs(opts.progress_interval.max(1));
    let display = match opts.progress {
        _ if opts.json || opts.quiet => progress::Display::Off,
        ProgressMode::Off => progress::Display::Off,
        ProgressMode::Json => progress::Display::Json(every),
        ProgressMode::Log => progress::Display::Log(every),
        ProgressMode::Bars => progress::Display::Bars,
        ProgressMode::Auto if std::io::stderr().is_terminal() => progress::Display::Bars,
        ProgressMode::Auto => progress::Display::Log(every),
    };
    let streams: Vec<String> = file.streams.iter().map(|s| s.name.clone()).collect();
    let export = progress::Export { file: opts.metrics_file.clone(), addr: opts.metrics_addr };
    let reporter = progress::Reporter::start(Arc::clone(&services.metrics), &file.pipeline, streams, display, export)
        .await
        .map_err(|e| miette::miette!(help = "choose another --metrics-addr", "cannot serve metrics: {e}"))?;

    let started = Instant::now();
    let jobs = run::jobs(&file, &run_id, &source, &destination);
    let span = tracing::info_span!("pipeline", pipeline = %file.pipeline, %run_id);
    let reports = tracing::Instrument::instrument(run::run_jobs(runtime, jobs, services.clone(), run::Schedule::of(&file)), span).await;
    if let Some(o) = OTLP.get() {
        o.record_run(&services.metrics, &file.pipeline);
    }
    reporter.finish().await;
    let summary = run::summarise(&reports, &services);
    let wall = run::since(started);
    let peak = run::peak_rss_bytes();

    let cancelled = reports.iter().any(|r| r.cancelled);
    let failed = reports.iter().any(|r| !r.succeeded() && !r.stopped_by_cancel());
    record.finished_at = Some(state::now_epoch());
    record.outcome = if failed { "failed" } else if cancelled { "cancelled" } else { "succeeded" }.into();
    record.records_read = summary.iter().map(|s| s.records_read).sum();
    record.records_written = summary.iter().map(|s| s.records_written).sum();
    record.bytes_written = summary.iter().map(|s| s.bytes_written).sum();
    record.retries = summary.iter().map(|s| s.retries).sum();
    record.records_skipped = summary.iter().map(|s| s.records_skipped).sum();
    record.records_dead_lettered = summary.iter().map(|s| s.records_dead_lettered).sum();
    record.error = reports.iter().filter(|r| !r.stopped_by_cancel()).find_map(|r| r.error().map(|e| rapidbyte::telemetry::secret::scrub(&format!("stream `{}`: {e}", r.stream)).into_owned()));
    if let Err(e) = state.record_run(&record) {
        tracing::warn!("cannot record the run: {e}");
    }

    if opts.json {
        let doc = serde_json::json!({
            "pipeline": file.pipeline, "run_id": run_id, "outcome": record.outcome, "wall_seconds": wall,
            "peak_rss_bytes": peak, "streams": summary,
        });
        say!("{}", serde_json::to_string_pretty(&doc).into_diagnostic()?);
    } else {
        print_summary(&file.pipeline, &summary, wall, peak);
    }
    for r in reports.iter().filter(|r| !r.succeeded() && !r.stopped_by_cancel()) {
        if let Some(e) = r.error() {
            let mut help = "fix the cause and run again: committed checkpoints are kept, so the next run resumes from them".to_string();
            if let Some(g) = &r.gave_up {
                help = format!(
                    "not retried: {} (category {}, code {}, attempt {}, commit state {}, safe to retry {})",
                    g.reason,
                    g.last.category,
                    g.last.code,
                    g.last.attempt,
                    g.last.commit_state.as_deref().unwrap_or("not given"),
                    g.last.safe_to_retry
                );
            }
            let report = miette::miette!(help = help, "stream `{}` failed: {e}", r.stream);
            say_err!("{report:?}");
        }
    }
    let dead_letters = record.records_dead_lettered;
    Ok(if failed {
        ExitCode::from(1)
    } else if cancelled {
        say_err!("cancelled: committed up to the last checkpoint; the next run resumes from there");
        ExitCode::from(EXIT_CANCELLED)
    } else if dead_letters > 0 {
        say_err!(
            "finished with {dead_letters} row(s) in the destination's dead-letter table (rapidbyte_dead_letters in the target schema): \
             each holds the row, its key and the error; fix them and load them again"
        );
        ExitCode::from(EXIT_DEAD_LETTERS)
    } else {
        ExitCode::SUCCESS
    })
}

/// The exit code of a run whose streams all finished with dead letters.
const EXIT_DEAD_LETTERS: u8 = 3;

/// The exit code of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT).
const EXIT_CANCELLED: u8 = 130;

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Lists recent runs from the pipeline's state.
fn list_runs(path: &Path, state_path: Option<PathBuf>, limit: usize, json: bool) -> Result<ExitCode> {
    let file = PipelineFile::load(path)?;
    let section = file.state.or_sqlite_file(state_path.as_deref());
    // Listing runs must not create a state file.
    if let Some(db) = state::sqlite_path(&section, path)
        && !db.is_file()
    {
        say!("no runs yet ({} does not exist)", db.display());
        return Ok(ExitCode::SUCCESS);
    }
    let state = state::open(&section, path).map_err(|e| miette::miette!("{e}"))?;
    let runs = state.recent_runs(&file.pipeline, limit).map_err(|e| miette::miette!("{e}"))?;
    if json {
        say!("{}", serde_json::to_string_pretty(&runs).into_diagnostic()?);
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<20} {:<10} {:>8} {:>12} {:>12} {:>8} {:>8} {:>8}  error",
        "run", "outcome", "secs", "records in", "records out", "retries", "skipped", "dlq"
    );
    for r in runs {
        let secs = r.finished_at.map(|f| (f - r.started_at).to_string()).unwrap_or_else(|| "-".into());
        say!(
            "{:<20} {:<10} {:>8} {:>12} {:>12} {:>8} {:>8} {:>8}  {}",
            r.run_id,
            r.outcome,
            secs,
            r.records_read,
            r.records_written,
            r.retries,
            r.records_skipped,
            r.records_dead_lettered,
            r.error.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(pipeline: &str, streams: &[StreamSummary], wall: f64, peak: Option<u64>) {
    say!("\npipeline `{pipeline}` — {wall:.2} s{}", peak.map(|p| format!(", peak memory {:.1} MiB", p as f64 / 1048576.0)).unwrap_or_default());
    say!(
        "{:<20} {:>9} {:>12} {:>12} {:>12} {:>9} {:>9} {:>7} {:>6} {:>12}",
        "stream", "status", "records in", "records out", "bytes", "batches", "ckpts", "retries", "secs", "rows/s"
    );
    for s in streams {
        let rate = if s.wall_seconds > 0.0 { s.records_written as f64 / s.wall_seconds } else { 0.0 };
        say!(
            "{:<20} {:>9} {:>12} {:>12} {:>12} {:>9} {:>9} {:>7} {:>6.2} {:>12.0}",
            s.stream,
            if s.ok { "ok" } else if s.cancelled { "cancelled" } else { "FAILED" },
            s.records_read,
            s.records_written,
            s.bytes_read,
            s.batches_emitted,
            s.checkpoints,
            s.retries,
            s.wall_seconds,
            rate
        );
        if s.records_skipped > 0 || s.records_dead_lettered > 0 {
            say!(
                "{:<20} on_data_error: {} skipped, {} dead-lettered",
                "", s.records_skipped, s.records_dead_lettered
            );
        }
        if !s.phase_seconds.is_empty() {
            let phases: Vec<String> = s.phase_seconds.iter().map(|(k, v)| format!("{k} {v:.2}s")).collect();
            say!("{:<20} phases: {}", "", phases.join(", "));
        }
    }
}

async fn check(runtime: Arc<Runtime>, dir: &Path, path: &Path) -> Result<ExitCode> {
    let Preflight { file, source, destination } = preflight(&runtime, dir, path)?;
    say!("ok    config {}", path.display());
    say!("ok    connectors {} {} → {} {}", source.manifest.name, source.manifest.version, destination.manifest.name, destination.manifest.version);
    say!("ok    features");
    let mut failed = false;
    // § Security: the exact network each connector is granted, for the user to audit.
    for (section, component) in [(&file.source, &source), (&file.destination, &destination)] {
        match network_grants(section, component).await {
            Ok(grants) => say!("ok    network {}: {grants}", component.manifest.name),
            Err(e) => {
                say!("FAIL  network {}: {e}", component.manifest.name);
                failed = true;
            }
        }
    }
    // The state backend a run would use: a PostgreSQL one is reached (its
    // tables are created as a run would); a SQLite file is not created.
    match state::sqlite_path(&file.state, path) {
        Some(db) if db.is_file() || db.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p }).is_some_and(Path::is_dir) => {
            say!("ok    state {}", db.display())
        }
        Some(db) => {
            say!("FAIL  state {}: its directory does not exist", db.display());
            failed = true;
        }
        None => match state::open(&file.state, path) {
            Ok(_) => say!("ok    state postgres {}", file.state.url.as_deref().map(rapidbyte::telemetry::secret::redact_url).unwrap_or_default()),
            Err(e) => {
                say!("FAIL  state: {e}");
                failed = true;
            }
        },
    }
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let jobs = run::jobs(&file, "check", &source, &destination);
    let Some(first) = jobs.first() else { return Ok(ExitCode::from(2)) };
    for spec in [&first.source, &first.destination] {
        match rapidbyte::engine::stream::probe(&runtime, spec, &file.pipeline, services.clone()).await {
            Ok(p) => {
                match p.validation {
                    Ok(()) => say!("ok    {} reaches its system", spec.component.manifest.name),
                    Err(e) => {
                        say!("FAIL  {e}");
                        failed = true;
                    }
                }
                // Each stream against what the source says it can read (a
                // `schema.table` name is outside what it lists; a source
                // that cannot discover is taken at its word).
                if let Some(Ok(found)) = p.streams {
                    let names: Vec<String> = found.iter().map(|s| s.name.clone()).collect();
                    for s in file.streams.iter().filter(|s| !s.name.contains('.')) {
                        if let Some(schema) = found.iter().find(|f| f.name == s.name) {
                            // The columns the stream names, against the ones the source has.
                            let fields: Vec<String> = schema_fields(&schema.schema).iter().map(|f| f.name().clone()).collect();
                            let named = s.columns.iter().map(|c| ("columns", c)).chain(s.primary_key.iter().map(|c| ("primary_key", c)));
                            let named = named.chain(s.cursor_field.iter().map(|c| ("cursor_field", c))).chain(s.tie_breaker.iter().map(|c| ("tie_breaker", c)));
                            let missing: Vec<String> = named
                                .filter(|(_, c)| !fields.is_empty() && !fields.contains(c))
                                .map(|(key, c)| {
                                    let hint = rapidbyte::pipeline::closest(c, &fields).map(|g| format!(", did you mean `{g}`?")).unwrap_or_default();
                                    format!("`{key}` names `{}`{hint}", c.escape_debug())
                                })
                                .collect();
                            if missing.is_empty() {
                                say!("ok    stream {} found", s.name);
                            } else {
                                say!("FAIL  stream `{}`: no such column: {}", s.name.escape_debug(), missing.join("; "));
                                failed = true;
                            }
                        } else {
                            let hint = rapidbyte::pipeline::closest(&s.name, &names).map(|g| format!(" (did you mean `{g}`?)")).unwrap_or_default();
                            say!("FAIL  stream `{}`: the source has no such stream{hint}; `rapidbyte discover` lists what it can read", s.name.escape_debug());
                            failed = true;
                        }
                    }
                }
            }
            Err(e) => {
                say!("FAIL  {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// What `check` prints of a connector's network: the endpoints its config
/// names (saying which port is the connector's default), the addresses they
/// resolve to, and `sandbox.grants`.
async fn network_grants(section: &ConnectorSection, component: &LoadedComponent) -> Result<String, rapidbyte::sandbox::SandboxError> {
    let manifest = &component.manifest;
    let eps = rapidbyte::sandbox::endpoints(manifest, &section.config, &section.sandbox.grants, section.sandbox.allowed_endpoints.as_deref())?;
    if eps.is_empty() {
        return Ok("none".into());
    }
    let defaulted: Vec<String> = manifest
        .endpoints
        .iter()
        .filter(|ep| ep.port_pointer.as_deref().is_some_and(|p| section.config.pointer(p).is_none()))
        .filter_map(|ep| ep.default_port.map(|p| format!("port {p} is the connector's default for a port you left out")))
        .collect();
    // § Security, TLS: which endpoints the host encrypts, and how strictly.
    let tls: Vec<String> = rapidbyte::sandbox::tls::settings(manifest, &section.config)?
        .iter()
        .zip(&eps)
        .filter_map(|(t, ep)| t.as_ref().map(|t| format!("{ep} TLS {} by the host", t.mode.as_str())))
        .collect();
    let notes: Vec<String> = tls.into_iter().chain(defaulted).collect();
    let note = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
    let mut addrs: Vec<String> = rapidbyte::sandbox::resolve(&manifest.name, &eps).await?.addrs.iter().map(ToString::to_string).collect();
    addrs.sort();
    Ok(format!("{} → {}{note}", eps.join(", "), addrs.join(", ")))
}

async fn discover(runtime: Arc<Runtime>, dir: &Path, path: &Path, json: bool) -> Result<ExitCode> {
    let file = PipelineFile::load(path)?;
    let source = run::resolve(&runtime, dir, Role::Source, &file.source)?;
    let spec = rapidbyte::engine::stream::ConnectorSpec {
        component: source,
        config_json: file.source.config.to_string(),
        sandbox: run::sandbox(&file.source, &file.limits),
    };
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let probe = rapidbyte::engine::stream::probe(&runtime, &spec, &file.pipeline, services).await?;
    let streams = probe.streams.unwrap_or(Ok(Vec::new()))?;
    let described: Vec<serde_json::Value> = streams
        .iter()
        .map(|s| {
            let fields: Vec<serde_json::Value> = schema_fields(&s.schema)
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable(),
                        "metadata": f.metadata().iter().collect::<std::collections::BTreeMap<_, _>>(),
                    })
                })
                .collect();
            serde_json::json!({"name": s.name, "primary_key": s.primary_key, "cursor_candidates": s.cursor_candidates, "fields": fields})
        })
        .collect();
    if json {
        say!("{}", serde_json::to_string_pretty(&described).into_diagnostic()?);
    } else {
        for s in &described {
            say!("{}  (primary key: {}; cursor candidates: {})", s["name"].as_str().unwrap_or_default(), s["primary_key"], s["cursor_candidates"]);
            for f in s["fields"].as_array().into_iter().flatten() {
                say!(
                    "    {:<24} {:<32} {}",
                    f["name"].as_str().unwrap_or_default(),
                    f["type"].as_str().unwrap_or_default(),
                    if f["nullable"] == true { "null" } else { "not null" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The fields of a discovered stream's schema (Arrow IPC bytes; none when
/// the source sent no usable schema).
fn schema_fields(ipc: &[u8]) -> arrow_schema::Fields {
    arrow_ipc::reader::StreamReader::try_new(ipc, None).map(|r| r.schema().fields().clone()).unwrap_or_default()
}

struct InitArgs {
    source: String,
    schema: String,
    destination: Option<String>,
    dest_schema: Option<String>,
    name: Option<String>,
    password_env: String,
    dest_password_env: String,
    force: bool,
}

/// `rapidbyte init`: discovers the source's tables through its connector
/// (sandboxed as in a run) and writes the pipeline file.
async fn init(runtime: Arc<Runtime>, dir: &Path, output: &Path, a: InitArgs) -> Result<ExitCode> {
    use rapidbyte::init::{Endpoint, Table};
    if output.exists() && !a.force {
        return Err(miette::miette!(code = "rapidbyte::init::exists", help = "choose another file name, or pass --force to overwrite it", "{} exists", output.display()));
    }
    let bad_url = |which: &str, e: String| miette::miette!(code = "rapidbyte::init::bad_url", help = "write postgres://user@host:5432/database (a password in it is used to discover, never written)", "--{which}: {e}");
    let (source, password) = Endpoint::from_url(&a.source, &a.schema, &a.password_env).map_err(|e| bad_url("source", e))?;
    if let Some(p) = &password {
        rapidbyte::telemetry::secret::remember(p);
    }
    let dest_schema = a.dest_schema.clone().unwrap_or_else(|| format!("{}_copy", a.schema));
    let (destination, dest_password) = match &a.destination {
        Some(url) => Endpoint::from_url(url, &dest_schema, &a.dest_password_env).map_err(|e| bad_url("destination", e))?,
        None => (Endpoint { schema: dest_schema, password_var: source.password_var.clone(), ..source.clone() }, None),
    };
    if let Some(p) = &dest_password {
        rapidbyte::telemetry::secret::remember(p);
    }
    if destination.host == source.host && destination.port == source.port && destination.database == source.database && destination.schema == source.schema {
        return Err(miette::miette!(code = "rapidbyte::init::same_tables", help = "pass --dest-schema (or --destination) naming another place", "the destination is the source itself ({}.{})", source.database, source.schema));
    }
    let section: rapidbyte::pipeline::ConnectorSection =
        serde_json::from_value(serde_json::json!({"use": "postgres", "config": source.config(password.as_deref())})).into_diagnostic()?;
    let component = run::resolve(&runtime, dir, Role::Source, &section)?;
    let spec = rapidbyte::engine::stream::ConnectorSpec {
        component,
        config_json: section.config.to_string(),
        sandbox: run::sandbox(&section, &Default::default()),
    };
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let probe = rapidbyte::engine::stream::probe(&runtime, &spec, "init", services).await?;
    let streams = probe.streams.unwrap_or(Ok(Vec::new()))?;
    let tables: Vec<Table> = streams
        .iter()
        .map(|s| Table {
            name: s.name.clone(),
            primary_key: s.primary_key.clone(),
            cursor_candidates: s.cursor_candidates.clone(),
            columns: schema_fields(&s.schema).iter().map(|f| (f.name().clone(), f.data_type().clone())).collect(),
        })
        .collect();
    let name = a.name.unwrap_or_else(|| output.file_stem().map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned()));
    let text = rapidbyte::init::render(&name, &source, &destination, &tables);
    std::fs::write(output, &text).map_err(|e| miette::miette!(help = "check the folder exists and is writable", "cannot write {}: {e}", output.display()))?;
    say!("wrote {} with {} stream(s) from {}.{}", output.display(), tables.len(), source.database, source.schema);
    for var in [&source.password_var, &destination.password_var].into_iter().flatten().collect::<std::collections::BTreeSet<_>>() {
        say!("  it reads a password from ${{{var}}}: export {var}=… before running");
    }
    say!("next: rapidbyte check {0}   then   rapidbyte run {0}", output.display());
    Ok(ExitCode::SUCCESS)
}

async fn conformance(
    runtime: Arc<Runtime>,
    dir: &Path,
    component: &Path,
    subject: Option<&Path>,
    cases: Option<PathBuf>,
    only: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    use rapidbyte::conformance::{self, Status, Subject};
    let subject = match subject {
        Some(p) => Subject::load(p).map_err(|e| miette::miette!(help = "see fixtures/conformance/subjects/ for examples", "{e}"))?,
        None => Subject::default(),
    };
    let cases_dir = cases
        .or_else(|| std::env::var_os("RAPIDBYTE_CONFORMANCE_CASES").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("fixtures/conformance"));
    let cases = conformance::load_cases(&cases_dir)
        .map_err(|e| miette::miette!(help = "run from the workspace root, or pass --cases <dir>", "{e}"))?;
    let absolute = std::fs::canonicalize(component).unwrap_or_else(|_| component.to_path_buf());
    let binary = std::env::current_exe().ok();
    let harness = conformance::Harness::new(runtime, absolute, subject, dir, binary)
        .await
        .map_err(|e| miette::miette!(help = "check the component path and the subject file", "{e}"))?;
    let outcomes = conformance::run(&harness, &cases, only).await;
    if json {
        say!("{}", serde_json::to_string_pretty(&outcomes).into_diagnostic()?);
    } else {
        say_raw!("{}", conformance::render_table(&component.display().to_string(), &outcomes));
    }
    Ok(if outcomes.iter().any(|o| o.status == Status::Fail) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Every component a bare name can reach, in lookup order, and where it comes
/// from. The build's own connector folder (the default when neither
/// --connector-dir nor RAPIDBYTE_CONNECTOR_DIR is given, holding the test
/// connectors) is not listed.
fn list_connectors(runtime: &Runtime, dir: &Path, explicit: bool) -> Result<ExitCode> {
    let mut rows: Vec<(String, Result<Arc<rapidbyte::sandbox::runtime::LoadedComponent>, String>)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let folders = [explicit.then(|| dir.to_path_buf()), rapidbyte::engine::run::user_connector_dir()];
    for folder in folders.into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "wasm")).collect();
        paths.sort();
        for path in paths {
            let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if seen.insert(file) {
                rows.push((folder.display().to_string(), runtime.load(&path).map_err(|e| e.to_string())));
            }
        }
    }
    for file in rapidbyte::contract::embedded::names() {
        if seen.insert(file.to_string()) {
            let bytes = rapidbyte::contract::embedded::find(file).unwrap_or_default();
            let path = Path::new(rapidbyte::contract::embedded::ORIGIN).join(file);
            rows.push(("built in".into(), runtime.load_bytes(&path, bytes).map_err(|e| e.to_string())));
        }
    }
    say!("{:<22} {:<9} {:<12} {:<9} {:<40} from", "name", "version", "role", "contract", "features");
    for (from, loaded) in rows {
        match loaded {
            Ok(c) => {
                let m = &c.manifest;
                let features: Vec<&str> = m.features.iter().map(|f| f.as_str()).collect();
                // The name `use:` takes: the file's, without the role prefix.
                let file = c.path.file_name().unwrap_or_default().to_string_lossy();
                let name = rapidbyte::contract::component::use_name(m.role, &file).unwrap_or_else(|| file.into_owned());
                let name = rapidbyte::sandbox::untrusted::sanitize(&name, 64);
                say!("{:<22} {:<9} {:<12} {:<9} {:<40} {from}", name, rapidbyte::sandbox::untrusted::sanitize(&m.version, 32), m.role.as_str(), c.contract, features.join(", "));
            }
            Err(e) => say!("{:<22} (unusable: {e}) {from}", "?"),
        }
    }
    if rapidbyte::contract::embedded::names().next().is_none() {
        say_err!("note: this rapidbyte was built without its PostgreSQL components (the wasm32-wasip2 target was missing)");
    }
    Ok(ExitCode::SUCCESS)
}
