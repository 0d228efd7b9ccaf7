//! Rapidbyte's engine: loads sandboxed connector components, runs streams
//! between them and coordinates checkpoints.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use rapidbyte::{pipeline::PipelineFile, run, runtime::Runtime, host_api::RunServices, state::MemoryState};
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

mod bindings;
pub mod cancel;
pub mod channel;
pub mod checkpoint;
pub mod conformance;
pub mod component;
pub mod host_api;
pub mod metrics;
pub mod pipeline;
pub mod preflight;
pub mod progress;
pub mod retry;
pub mod run;
pub mod runtime;
pub mod sandbox;
pub mod state;
pub mod stream;
pub mod secret;
pub mod supervise;
pub mod untrusted;

pub use bindings::{Contract, SUPPORTED_CONTRACTS};
