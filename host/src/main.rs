//! The `rapidbyte` command line.
//!
//! Exit codes: 0 success; 1 a stream failed; 2 bad usage or configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use miette::{IntoDiagnostic, Result};
use rapidbyte::host_api::RunServices;
use rapidbyte::pipeline::PipelineFile;
use rapidbyte::preflight::{preflight, Preflight};
use rapidbyte::run::{self, StreamSummary};
use rapidbyte::runtime::Runtime;
use rapidbyte::state::MemoryState;
use rapidbyte_protocol::Role;

#[derive(Parser)]
#[command(name = "rapidbyte", version, about = "Move tables between systems through sandboxed WebAssembly connectors")]
struct Cli {
    /// Directory holding connector components (default: $RAPIDBYTE_CONNECTOR_DIR, else the workspace's target/connectors).
    #[arg(long, global = true)]
    connector_dir: Option<PathBuf>,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline file.
    Run {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a pipeline without moving data: config, connectors, features, connectivity.
    Check {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
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
}

fn main() -> ExitCode {
    rapidbyte::run::bound_large_allocations();
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info,wasmtime=warn,cranelift=warn",
        (false, 1) => "debug,wasmtime=info,cranelift=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn connector_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = flag.or_else(|| std::env::var_os("RAPIDBYTE_CONNECTOR_DIR").map(PathBuf::from)) {
        return dir;
    }
    // target/<profile>/rapidbyte → target/connectors (where `cargo xtask build` puts them).
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|t| t.join("connectors")))
        .unwrap_or_else(|| PathBuf::from("target/connectors"))
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let dir = connector_dir(cli.connector_dir);
    let runtime = Arc::new(Runtime::new(Runtime::default_cache_dir()).map_err(|e| miette::miette!("{e:#}"))?);
    match cli.command {
        Command::Run { pipeline, json } => run_pipeline(runtime, &dir, &pipeline, json).await,
        Command::Check { pipeline } => check(runtime, &dir, &pipeline).await,
        Command::Discover { pipeline, json } => discover(runtime, &dir, &pipeline, json).await,
        Command::Connectors => list_connectors(&runtime, &dir),
    }
}

async fn run_pipeline(runtime: Arc<Runtime>, dir: &Path, path: &Path, json: bool) -> Result<ExitCode> {
    // § Features: everything is checked before any data moves or any state is written.
    let Preflight { file, source, destination } = preflight(&runtime, dir, path)?;
    let run_id = run::new_run_id();
    tracing::info!(pipeline = %file.pipeline, %run_id, streams = file.streams.len(), "run started");
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let started = Instant::now();
    let jobs = run::jobs(&file, &run_id, &source, &destination);
    let reports = run::run_jobs(runtime, jobs, services.clone(), file.limits.parallelism as usize).await;
    let summary = run::summarise(&reports, &services);
    let wall = run::since(started);
    let peak = run::peak_rss_bytes();
    if json {
        let doc = serde_json::json!({
            "pipeline": file.pipeline, "run_id": run_id, "wall_seconds": wall,
            "peak_rss_bytes": peak, "streams": summary,
        });
        println!("{}", serde_json::to_string_pretty(&doc).into_diagnostic()?);
    } else {
        print_summary(&file.pipeline, &summary, wall, peak);
    }
    for r in &reports {
        if let Some(e) = r.error() {
            eprintln!("{:?}", miette::Report::msg(e.to_string()));
        }
    }
    Ok(if reports.iter().all(|r| r.succeeded()) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_summary(pipeline: &str, streams: &[StreamSummary], wall: f64, peak: Option<u64>) {
    println!("\npipeline `{pipeline}` — {wall:.2} s{}", peak.map(|p| format!(", peak memory {:.1} MiB", p as f64 / 1048576.0)).unwrap_or_default());
    println!(
        "{:<20} {:>6} {:>12} {:>12} {:>12} {:>9} {:>9} {:>6} {:>12}",
        "stream", "status", "records in", "records out", "bytes", "batches", "ckpts", "secs", "rows/s"
    );
    for s in streams {
        let rate = if s.wall_seconds > 0.0 { s.records_written as f64 / s.wall_seconds } else { 0.0 };
        println!(
            "{:<20} {:>6} {:>12} {:>12} {:>12} {:>9} {:>9} {:>6.2} {:>12.0}",
            s.stream,
            if s.ok { "ok" } else { "FAILED" },
            s.records_read,
            s.records_written,
            s.bytes_read,
            s.batches_emitted,
            s.checkpoints,
            s.wall_seconds,
            rate
        );
        if !s.phase_seconds.is_empty() {
            let phases: Vec<String> = s.phase_seconds.iter().map(|(k, v)| format!("{k} {v:.2}s")).collect();
            println!("{:<20} phases: {}", "", phases.join(", "));
        }
    }
}

async fn check(runtime: Arc<Runtime>, dir: &Path, path: &Path) -> Result<ExitCode> {
    let Preflight { file, source, destination } = preflight(&runtime, dir, path)?;
    println!("ok    config {}", path.display());
    println!("ok    connectors {} {} → {} {}", source.manifest.name, source.manifest.version, destination.manifest.name, destination.manifest.version);
    println!("ok    features");
    let mut failed = false;
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let jobs = run::jobs(&file, "check", &source, &destination);
    let Some(first) = jobs.first() else { return Ok(ExitCode::from(2)) };
    for spec in [&first.source, &first.destination] {
        match rapidbyte::stream::probe(&runtime, spec, &file.pipeline, services.clone()).await {
            Ok(p) => match p.validation {
                Ok(()) => println!("ok    {} reaches its system", spec.component.manifest.name),
                Err(e) => {
                    println!("FAIL  {e}");
                    failed = true;
                }
            },
            Err(e) => {
                println!("FAIL  {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

async fn discover(runtime: Arc<Runtime>, dir: &Path, path: &Path, json: bool) -> Result<ExitCode> {
    let file = PipelineFile::load(path)?;
    let source = run::resolve(&runtime, dir, Role::Source, &file.source)?;
    let spec = rapidbyte::stream::ConnectorSpec {
        component: source,
        config_json: file.source.config.to_string(),
        sandbox: run::sandbox(&file.source),
    };
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let probe = rapidbyte::stream::probe(&runtime, &spec, &file.pipeline, services).await?;
    let streams = probe.streams.unwrap_or(Ok(Vec::new()))?;
    let described: Vec<serde_json::Value> = streams
        .iter()
        .map(|s| {
            let fields: Vec<serde_json::Value> = arrow_ipc::reader::StreamReader::try_new(s.schema.as_slice(), None)
                .map(|r| {
                    r.schema()
                        .fields()
                        .iter()
                        .map(|f| {
                            serde_json::json!({
                                "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable(),
                                "metadata": f.metadata().iter().collect::<std::collections::BTreeMap<_, _>>(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            serde_json::json!({"name": s.name, "primary_key": s.primary_key, "cursor_candidates": s.cursor_candidates, "fields": fields})
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&described).into_diagnostic()?);
    } else {
        for s in &described {
            println!("{}  (primary key: {}; cursor candidates: {})", s["name"].as_str().unwrap_or_default(), s["primary_key"], s["cursor_candidates"]);
            for f in s["fields"].as_array().into_iter().flatten() {
                println!(
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

fn list_connectors(runtime: &Runtime, dir: &Path) -> Result<ExitCode> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| miette::miette!(help = "run `cargo xtask build` or pass --connector-dir", "cannot list {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "wasm")).collect();
    paths.sort();
    println!("{:<22} {:<9} {:<12} {:<9} {}", "name", "version", "role", "contract", "features");
    for path in paths {
        match runtime.load(&path) {
            Ok(c) => {
                let m = &c.manifest;
                let features: Vec<&str> = m.features.iter().map(|f| f.as_str()).collect();
                println!("{:<22} {:<9} {:<12} {:<9} {}", m.name, m.version, m.role.as_str(), c.contract, features.join(", "));
            }
            Err(e) => println!("{:<22} (unusable: {e})", path.file_name().unwrap_or_default().to_string_lossy()),
        }
    }
    Ok(ExitCode::SUCCESS)
}
