//! The pipeline file: what to move, from where, to where, under which limits.
//! Layers (figment): defaults → the YAML file → `RAPIDBYTE_` environment.
//! `${VAR}` in the file is replaced from the environment (for secrets).

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Yaml};
use figment::Figment;
use rapidbyte_protocol::{Limits, Policies, SyncMode};
use serde::Deserialize;

/// A pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name (used in state keys and logs).
    pub pipeline: String,
    /// Where rows come from.
    pub source: ConnectorSection,
    /// Where rows go.
    pub destination: ConnectorSection,
    /// The streams to move.
    pub streams: Vec<StreamSection>,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Where cursors, checkpoints and run history are kept.
    #[serde(default)]
    pub state: StateSection,
    /// Retries of transient failures (SPEC § Errors).
    #[serde(default)]
    pub retry: RetrySection,
}

/// The state backend (SPEC § State and checkpoints).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    /// Backend: `sqlite` (default) or `postgres`.
    #[serde(default)]
    pub backend: StateBackendName,
    /// SQLite file; default `<pipeline file stem>.state.db` next to the pipeline file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// PostgreSQL URL for the `postgres` backend (e.g. `postgres://user@host:5432/db`).
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL schema holding the state tables (default `rapidbyte`).
    #[serde(default)]
    pub schema: Option<String>,
}

/// State backends by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateBackendName {
    /// An embedded SQLite file.
    #[default]
    Sqlite,
    /// Tables in a PostgreSQL database (shared deployments).
    Postgres,
}

/// Retry settings (SPEC § Errors).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySection {
    /// Attempts per stream, the first included (1 disables retries).
    pub max_attempts: u32,
}

impl Default for RetrySection {
    fn default() -> Self {
        Self { max_attempts: 5 }
    }
}

/// Delivery guarantee requested for a stream (SPEC § Delivery).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryName {
    /// Exactly-once when the destination declares it, else at-least-once.
    #[default]
    Auto,
    /// Require exactly-once (fails `check`/`run` if the destination lacks it).
    ExactlyOnce,
    /// At-least-once: replays after a failure may duplicate appended rows.
    AtLeastOnce,
}

/// A connector and its config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSection {
    /// The connector's name (`generator` → `source_generator.wasm`) or a path to a `.wasm`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The connector's own config, handed to it as JSON.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// Sandbox limits and grants.
    #[serde(default)]
    pub sandbox: SandboxSection,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Sandbox settings of one connector (SPEC § Security).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    /// Linear memory cap.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Wall-clock limit of one call; 0 means none.
    #[serde(default)]
    pub timeout_seconds: u64,
    /// Extra `host:port` endpoints the connector may connect to.
    #[serde(default)]
    pub grants: Vec<String>,
}

fn default_memory_mb() -> u64 {
    256
}

impl Default for SandboxSection {
    fn default() -> Self {
        Self { memory_mb: default_memory_mb(), timeout_seconds: 0, grants: Vec::new() }
    }
}

/// Write modes by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteModeName {
    /// Add rows.
    #[default]
    Append,
    /// Replace the target.
    Replace,
    /// Upsert on `primary_key`.
    Upsert,
}

/// One stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSection {
    /// Its name (for a table source, the table).
    pub name: String,
    /// Columns to read; empty means all.
    #[serde(default)]
    pub columns: Vec<String>,
    /// How it is read.
    #[serde(default)]
    pub sync_mode: SyncMode,
    /// The incremental cursor column.
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// The column ordering rows that share a cursor value.
    #[serde(default)]
    pub tie_breaker: Option<String>,
    /// How it is written.
    #[serde(default)]
    pub write_mode: WriteModeName,
    /// Primary key columns (upsert).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Delivery guarantee.
    #[serde(default)]
    pub delivery: DeliveryName,
    /// Policies.
    #[serde(default)]
    pub policies: Policies,
    /// Connector-specific stream options.
    #[serde(default)]
    pub options: Option<serde_json::Value>,
}

/// Limits (SPEC § Batches).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// No batch exceeds this many bytes.
    pub max_batch_bytes: u64,
    /// Bytes that may wait between source and destination.
    pub max_inflight_bytes: u64,
    /// Batches that may wait between source and destination.
    pub max_inflight_batches: u32,
    /// Checkpoint every so many bytes (0: off).
    pub checkpoint_interval_bytes: u64,
    /// Checkpoint every so many rows (0: off).
    pub checkpoint_interval_rows: u64,
    /// Checkpoint every so many seconds (0: off).
    pub checkpoint_interval_seconds: u64,
    /// Streams run at once.
    pub parallelism: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            max_batch_bytes: l.max_batch_bytes,
            max_inflight_bytes: 8 << 20,
            max_inflight_batches: l.max_inflight_batches,
            checkpoint_interval_bytes: l.checkpoint_interval_bytes,
            checkpoint_interval_rows: l.checkpoint_interval_rows,
            checkpoint_interval_seconds: l.checkpoint_interval_seconds,
            parallelism: 2,
        }
    }
}

impl LimitsSection {
    /// The limits handed to connectors.
    pub fn to_limits(&self) -> Limits {
        Limits {
            max_batch_bytes: self.max_batch_bytes,
            max_inflight_batches: self.max_inflight_batches,
            checkpoint_interval_bytes: self.checkpoint_interval_bytes,
            checkpoint_interval_rows: self.checkpoint_interval_rows,
            checkpoint_interval_seconds: self.checkpoint_interval_seconds,
        }
    }
}

/// A pipeline file that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    /// Unreadable.
    #[error("cannot read pipeline file {path}: {source}")]
    #[diagnostic(code(rapidbyte::config::unreadable), help("check the path"))]
    Unreadable { path: PathBuf, source: std::io::Error },
    /// `${VAR}` names an unset variable.
    #[error("{path}:{line}: `${{{var}}}` is not set in the environment")]
    #[diagnostic(code(rapidbyte::config::missing_env), help("export {var}=… before running, or remove the reference"))]
    MissingEnv { path: PathBuf, line: usize, var: String },
    /// YAML or shape errors (unknown keys, wrong types…).
    #[error("{path}: {message}")]
    #[diagnostic(code(rapidbyte::config::invalid), help("see fixtures/pipelines/ for complete examples"))]
    Invalid { path: PathBuf, message: String },
}

impl PipelineFile {
    /// Loads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { path: path.into(), source })?;
        let text = substitute_env(&raw, path)?;
        let invalid = |message: String| ConfigError::Invalid { path: path.into(), message };
        let file: PipelineFile = Figment::new()
            .merge(Yaml::string(&text))
            .merge(
                Env::prefixed("RAPIDBYTE_")
                    .split("__")
                    .filter(|k| ["limits", "pipeline"].iter().any(|p| k.as_str().starts_with(p))),
            )
            .extract()
            .map_err(|e| invalid(e.to_string()))?;
        file.check().map_err(invalid)?;
        Ok(file)
    }

    fn check(&self) -> Result<(), String> {
        if self.pipeline.trim().is_empty() {
            return Err("`pipeline` must name the pipeline".into());
        }
        if self.streams.is_empty() {
            return Err("`streams` lists no stream: add at least one `- name: …`".into());
        }
        let l = &self.limits;
        for (name, v) in [("max_batch_bytes", l.max_batch_bytes), ("max_inflight_bytes", l.max_inflight_bytes)] {
            if v == 0 {
                return Err(format!("`limits.{name}` must be above 0"));
            }
        }
        if l.max_inflight_bytes < l.max_batch_bytes {
            return Err("`limits.max_inflight_bytes` must be at least `limits.max_batch_bytes`".into());
        }
        if l.parallelism == 0 || l.max_inflight_batches == 0 {
            return Err("`limits.parallelism` and `limits.max_inflight_batches` must be at least 1".into());
        }
        if self.retry.max_attempts == 0 {
            return Err("`retry.max_attempts` must be at least 1 (1 disables retries)".into());
        }
        if self.state.backend == StateBackendName::Postgres && self.state.url.is_none() {
            return Err("`state.backend: postgres` needs `state.url`".into());
        }
        Ok(())
    }
}

/// Replaces `${NAME}` with the environment variable `NAME`.
fn substitute_env(text: &str, path: &Path) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else { break };
            let var = &rest[start + 2..start + 2 + len];
            let value = std::env::var(var).map_err(|_| ConfigError::MissingEnv {
                path: path.into(),
                line: n + 1,
                var: var.to_string(),
            })?;
            out.push_str(&rest[..start]);
            out.push_str(&value);
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<PipelineFile, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rapidbyte-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.yaml", yaml.len() * 31 + yaml.bytes().map(usize::from).sum::<usize>()));
        std::fs::write(&path, yaml).unwrap();
        PipelineFile::load(&path)
    }

    const OK: &str = "pipeline: p\nsource: {use: generator, config: {rows: 10}}\ndestination: {use: verify}\nstreams: [{name: s}]\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let p = load(OK).unwrap();
        assert_eq!(p.streams[0].sync_mode, SyncMode::FullRefresh);
        assert_eq!(p.limits.max_batch_bytes, Limits::default().max_batch_bytes);
        assert_eq!(p.source.config["rows"], 10);
        assert_eq!(p.destination.sandbox.memory_mb, 256);
    }

    #[test]
    fn unknown_keys_and_bad_limits_are_errors() {
        let e = load(&OK.replace("streams:", "streems: []\nstreams:")).unwrap_err().to_string();
        assert!(e.contains("streems"), "{e}");
        let e = load(&format!("{OK}limits: {{max_batch_bytes: 0}}\n")).unwrap_err().to_string();
        assert!(e.contains("max_batch_bytes"), "{e}");
        let e = load(&format!("{OK}limits: {{max_batch_bytes: lots}}\n")).unwrap_err().to_string();
        assert!(e.contains("max_batch_bytes"), "{e}");
    }

    #[test]
    fn env_references_are_substituted_or_reported() {
        let p = Path::new("x.yaml");
        assert_eq!(substitute_env("a: ${HOME}\n", p).unwrap(), format!("a: {}\n", std::env::var("HOME").unwrap()));
        let e = substitute_env("a: 1\nb: ${RAPIDBYTE_SURELY_UNSET_VAR}\n", p).unwrap_err();
        assert!(matches!(e, ConfigError::MissingEnv { line: 2, .. }), "{e}");
    }
}
