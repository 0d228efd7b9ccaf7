//! Shared set-up for the host integration tests: the connector directory,
//! a runtime with a compile cache under `target/`, and stream jobs built
//! from the test connectors.

pub mod cluster;
pub mod pg;
pub use rapidbyte::conformance::proxy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rapidbyte::sandbox::host_api::RunServices;
use rapidbyte::sandbox::runtime::{LoadedComponent, Runtime};
use rapidbyte::sandbox::SandboxSpec;
use rapidbyte::state::MemoryState;
use rapidbyte::engine::stream::{ConnectorSpec, StreamJob};
use rapidbyte_protocol::{Limits, StreamContext};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

/// Where `cargo xtask build` put the components. Fails loudly when they are
/// missing: the tests never pass without running connectors.
pub fn connector_dir() -> PathBuf {
    let dir = std::env::var_os("RAPIDBYTE_CONNECTOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/connectors"));
    assert!(
        dir.join("source_generator.wasm").is_file(),
        "test connectors are missing from {}: run `cargo xtask build` (or `cargo xtask test`)",
        dir.display()
    );
    dir
}

/// A runtime whose compile cache lives under `target/`.
pub fn runtime() -> Arc<Runtime> {
    Arc::new(Runtime::new(Some(workspace().join("target/rapidbyte-cache"))).expect("runtime"))
}

/// Loads a test connector by file name (`source_generator.wasm`).
pub fn load(runtime: &Runtime, file: &str) -> Arc<LoadedComponent> {
    runtime.load(&connector_dir().join(file)).unwrap_or_else(|e| panic!("loading {file}: {e}"))
}

/// Fresh services over in-memory state.
pub fn services() -> RunServices {
    RunServices::new(Arc::new(MemoryState::default()))
}

/// A stream job between two loaded components.
pub fn job(
    stream: &str,
    source: (&Arc<LoadedComponent>, serde_json::Value),
    destination: (&Arc<LoadedComponent>, serde_json::Value),
) -> StreamJob {
    StreamJob {
        context: StreamContext {
            pipeline: "tests".into(),
            run_id: format!("run-{stream}"),
            stream_name: stream.into(),
            limits: Limits { max_batch_bytes: 1 << 20, checkpoint_interval_rows: 10_000, ..Limits::default() },
            ..StreamContext::default()
        },
        source: ConnectorSpec { component: Arc::clone(source.0), config_json: source.1.to_string(), sandbox: SandboxSpec::default() },
        destination: ConnectorSpec {
            component: Arc::clone(destination.0),
            config_json: destination.1.to_string(),
            sandbox: SandboxSpec::default(),
        },
        max_inflight_bytes: 4 << 20,
    }
}

/// A sandbox with a short call deadline and a small memory cap.
pub fn tight_sandbox() -> SandboxSpec {
    SandboxSpec { memory_bytes: 64 << 20, call_timeout: Some(Duration::from_secs(3)), ..SandboxSpec::default() }
}
