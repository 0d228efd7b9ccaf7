//! Rapidbyte's engine: loads sandboxed connector components, runs streams
//! between them and coordinates checkpoints.
//!
//! The folders are the architecture (ARCHITECTURE.md): `contract` (what a
//! component is, the bindings of every contract version), `sandbox` (the
//! wasmtime runtime, WASI policy, host functions), `engine` (run, stream,
//! channel, checkpoints, retries, cancel), `telemetry` (metrics, progress,
//! secret masking), `pipeline` (the YAML file), `state` (cursors and run
//! history), `conformance` (certifying connectors).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use rapidbyte::{pipeline::PipelineFile, engine::run, sandbox::runtime::Runtime, sandbox::host_api::RunServices, state::MemoryState};
//!
//! let file = PipelineFile::load("fixtures/pipelines/demo.yaml".as_ref())?;
//! let runtime = Arc::new(Runtime::new(Runtime::default_cache_dir())?);
//! let dir = std::path::Path::new("target/connectors");
//! let source = run::resolve(&runtime, dir, rapidbyte_protocol::Role::Source, &file.source)?;
//! let dest = run::resolve(&runtime, dir, rapidbyte_protocol::Role::Destination, &file.destination)?;
//! let services = RunServices::new(Arc::new(MemoryState::default()));
//! let jobs = run::jobs(&file, &run::new_run_id(), &source, &dest);
//! let reports = run::run_jobs(runtime, jobs, services.clone(), run::Schedule::of(&file)).await;
//! assert!(reports.iter().all(|r| r.succeeded()));
//! # Ok(()) }
//! ```

// Instance errors carry the connector's whole error record (SPEC § Errors);
// they are the cold path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod conformance;
pub mod contract;
pub mod engine;
pub mod init;
pub mod pipeline;
pub mod sandbox;
pub mod state;
pub mod telemetry;

pub use contract::{Contract, SUPPORTED_CONTRACTS};
