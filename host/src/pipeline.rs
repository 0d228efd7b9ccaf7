//! The pipeline file: what to move, from where, to where, under which limits.
//! Layers (figment): defaults → the YAML file → `RAPIDBYTE_` environment.
//! `${VAR}` in the file's string values is replaced from the environment
//! (for secrets; see [`values`]).

mod diagnostic;
mod positions;
mod values;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Env;
use rapidbyte_protocol::{DataErrorPolicy, Limits, Policies, SyncMode};
use serde::Deserialize;
use crate::telemetry::secret;

pub use diagnostic::closest;
pub use diagnostic::{ConfigError, ConfigErrorKind, Located, PipelineSource};
use diagnostic::{ENV_SECTIONS, Violation};

/// YAML text as JSON, read by the same parser as pipeline files (the
/// conformance subject and case files); the error names line and column.
pub fn read_yaml(text: &str) -> Result<serde_json::Value, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    positions::parse(text).map(|root| root.to_json()).map_err(|e| {
        let before = &text[..e.offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: {}", e.message)
    })
}

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
#[derive(Clone, Default, Deserialize)]
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

/// § Security: the URL is shown with its password masked.
impl std::fmt::Debug for StateSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSection")
            .field("backend", &self.backend)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(crate::telemetry::secret::redact_url))
            .field("schema", &self.schema)
            .finish()
    }
}

impl StateSection {
    /// This section, or a SQLite file given on the command line (`--state`).
    pub fn or_sqlite_file(&self, file: Option<&Path>) -> Self {
        match file {
            Some(path) => Self { backend: StateBackendName::Sqlite, path: Some(path.to_path_buf()), ..Self::default() },
            None => self.clone(),
        }
    }
}

/// A pipeline rule broken at a path with indexes (see [`PipelineFile::misplaced`]).
struct Misplaced {
    kind: ConfigErrorKind,
    path: Vec<String>,
    message: String,
    label: String,
    help: String,
}

/// A sandbox time limit above this is a mistake (and would overflow a deadline).
const MAX_SANDBOX_SECONDS: u64 = 365 * 86_400;

/// Whether `ep` reads as `host:port` with a port from 1 to 65535.
pub fn endpoint_syntax(ep: &str) -> Result<(), String> {
    let Some((host, port)) = ep.rsplit_once(':') else { return Err(format!("`{}` names no port", ep.escape_debug())) };
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err(format!("`{}` has no usable host", ep.escape_debug()));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("`{}` has port `{}`: a port is 1 to 65535", ep.escape_debug(), port.escape_debug())),
    }
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
    /// No retry starts later than this many seconds after the stream's
    /// first attempt (0: no window, only `max_attempts`). The defaults
    /// ride out an ordinary server restart.
    pub max_elapsed_seconds: u64,
}

impl Default for RetrySection {
    fn default() -> Self {
        Self { max_attempts: 10, max_elapsed_seconds: 120 }
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
#[derive(Clone, Deserialize)]
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

impl ConnectorSection {
    /// Whether `use:` is a component file (`./x.wasm`, `dir/x`) rather than
    /// the name of an installed connector.
    pub fn names_a_file(&self) -> bool {
        self.use_.ends_with(".wasm") || self.use_.contains(['/', std::path::MAIN_SEPARATOR])
    }
}

/// § Security: the config is shown with its secrets masked.
impl std::fmt::Debug for ConnectorSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorSection")
            .field("use_", &self.use_)
            .field("config", &crate::telemetry::secret::mask_config(&self.config))
            .field("sandbox", &self.sandbox)
            .finish()
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Sandbox settings of one connector (SPEC § Security).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    /// Linear memory cap in MiB; absent, it follows `limits.max_record_bytes`
    /// (see [`crate::sandbox::default_memory_bytes`]).
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Wall-clock limit of one call; 0 means none.
    #[serde(default)]
    pub timeout_seconds: u64,
    /// The longest the connector may run its own code without calling the
    /// host, in seconds (default 60; 0 means no limit).
    #[serde(default)]
    pub max_busy_seconds: Option<u64>,
    /// Extra `host:port` endpoints the connector may connect to.
    #[serde(default)]
    pub grants: Vec<String>,
    /// When set, the only `host:port` endpoints the connector may reach:
    /// one its config (or a port it defaults) or `grants` names outside
    /// this list stops the run before the connector starts (`[]`: none).
    #[serde(default)]
    pub allowed_endpoints: Option<Vec<String>>,
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
    /// What to do with a row that cannot be read or written (SPEC § Errors):
    /// `fail` (default), `skip` or `dlq`. Shorthand for
    /// `policies.on_data_error`, which it overrides.
    #[serde(default)]
    pub on_data_error: Option<DataErrorPolicy>,
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
    /// No batch of several rows exceeds this many bytes: the size sources
    /// batch to.
    pub max_batch_bytes: u64,
    /// A single row larger than `max_batch_bytes` travels alone, in a frame
    /// of up to this many bytes; above it the row is a data error
    /// `RECORD_TOO_LARGE`.
    pub max_record_bytes: u64,
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
            max_record_bytes: crate::sandbox::host_api::DEFAULT_MAX_RECORD_BYTES,
            max_inflight_bytes: 8 << 20,
            max_inflight_batches: l.max_inflight_batches,
            checkpoint_interval_bytes: l.checkpoint_interval_bytes,
            checkpoint_interval_rows: l.checkpoint_interval_rows,
            checkpoint_interval_seconds: l.checkpoint_interval_seconds,
            parallelism: 2,
        }
    }
}

/// The largest `max_record_bytes` a pipeline may set: a wasm32 connector's
/// whole address space.
const MAX_RECORD_CEILING: u64 = 4 << 30;

impl LimitsSection {
    /// The limits handed to connectors (the in-flight bytes are the host's
    /// own; `max_record_bytes` is told from contract 0.2 on).
    pub fn to_limits(&self) -> Limits {
        Limits {
            max_batch_bytes: self.max_batch_bytes,
            max_inflight_batches: self.max_inflight_batches,
            checkpoint_interval_bytes: self.checkpoint_interval_bytes,
            checkpoint_interval_rows: self.checkpoint_interval_rows,
            checkpoint_interval_seconds: self.checkpoint_interval_seconds,
            max_record_bytes: self.max_record_bytes,
        }
    }
}

impl PipelineFile {
    /// Loads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_source(path).map(|(file, _)| file)
    }

    /// Loads and checks a pipeline file, keeping its text so later checks
    /// (connectors, features) can point into it.
    pub fn load_with_source(path: &Path) -> Result<(Self, PipelineSource), ConfigError> {
        Self::load_with_env(path, &|name| std::env::var(name).ok())
    }

    /// As [`Self::load_with_source`], reading `${VAR}` through `lookup`.
    fn load_with_env(path: &Path, lookup: &values::Lookup) -> Result<(Self, PipelineSource), ConfigError> {
        let raw = std::fs::read_to_string(path).map_err(|e| ConfigError::unreadable(path, e))?;
        let source = PipelineSource::parse(path, raw)?;
        // § Security: a secret-named variable's value is a secret wherever it is placed.
        let lookup = |name: &str| {
            let value = lookup(name);
            if let Some(v) = value.as_deref().filter(|_| secret::is_secret_key(name)) {
                secret::remember(v);
            }
            value
        };
        let values = source.values(&lookup)?;
        let figment = Figment::new().merge(values).merge(
            Env::prefixed("RAPIDBYTE_")
                .split("__")
                // Keys keep the variable's case (`LIMITS.MAX_BATCH_BYTES`) here.
                .filter(|k| k.as_str().split('.').next().is_some_and(|first| ENV_SECTIONS.iter().any(|s| first.eq_ignore_ascii_case(s)))),
        );
        // Before anything can fail on them, so no later output shows them.
        if let Ok(all) = figment.extract_lossy::<serde_json::Value>() {
            secret::remember_in(&all);
        }
        // Lossy: a number or boolean may arrive as text (from `${VAR}`).
        let mut file: PipelineFile = figment.extract_lossy().map_err(|e| source.figment_error(e))?;
        file.check().map_err(|v| source.violation(v))?;
        // A relative component path in `use:` is the file's, as the state
        // file's default place is: the pipeline runs the same from any folder.
        let here = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        for section in [&mut file.source, &mut file.destination] {
            if section.names_a_file() && Path::new(&section.use_).is_relative() {
                section.use_ = here.join(&section.use_).display().to_string();
            }
        }
        if let Some(m) = file.misplaced() {
            let path: Vec<&str> = m.path.iter().map(String::as_str).collect();
            return Err(source.error_at(m.kind, &path, &m.label, m.message, m.help));
        }
        Ok((file, source))
    }

    /// Rules on streams and connector sandboxes, whose paths carry an index
    /// or a section (§ Features: all before anything opens).
    fn misplaced(&self) -> Option<Misplaced> {
        use ConfigErrorKind::{KeyMissing, ValueInvalid};
        let at = |kind, path: Vec<String>, message: String, label: &str, help: &str| {
            Some(Misplaced { kind, path, message, label: label.into(), help: help.into() })
        };
        let mut seen: Vec<&str> = Vec::new();
        for (i, s) in self.streams.iter().enumerate() {
            let name = s.name.trim();
            let path = |key: &str| vec!["streams".to_string(), i.to_string(), key.to_string()];
            if name.is_empty() {
                return at(ValueInvalid, path("name"), format!("`streams[{i}].name` is empty"), "no name", "name the stream: for a table source, the table (`schema.table` or `table`)");
            }
            if let Some(first) = seen.iter().position(|n| *n == name) {
                return at(
                    ValueInvalid,
                    path("name"),
                    format!("stream `{}` is listed twice (streams[{first}] and streams[{i}])", name.escape_debug()),
                    "a second time",
                    "each stream once: two runs of one stream would write its rows twice and share one cursor",
                );
            }
            seen.push(name);
            if s.sync_mode == SyncMode::Incremental && s.cursor_field.as_deref().is_none_or(|c| c.trim().is_empty()) {
                return at(
                    KeyMissing,
                    path("sync_mode"),
                    format!("stream `{}` is incremental but names no `cursor_field`", name.escape_debug()),
                    "no cursor",
                    "add `cursor_field: <column>` (a column that only grows: an id, an updated-at timestamp), or use `sync_mode: full-refresh`",
                );
            }
            if s.sync_mode == SyncMode::FullRefresh {
                for (key, set) in [("cursor_field", &s.cursor_field), ("tie_breaker", &s.tie_breaker)] {
                    if set.is_some() {
                        return at(
                            ValueInvalid,
                            path(key),
                            format!("stream `{}` sets `{key}` but is read whole each run (`sync_mode: full-refresh`, the default)", name.escape_debug()),
                            "no effect on a full refresh",
                            "add `sync_mode: incremental` to read only new rows, or remove the key",
                        );
                    }
                }
            }
            if s.write_mode == WriteModeName::Upsert && s.primary_key.is_empty() {
                return at(
                    KeyMissing,
                    path("write_mode"),
                    format!("stream `{}` is written by upsert but names no `primary_key`", name.escape_debug()),
                    "no key to upsert on",
                    "add `primary_key: [<column>, …]` (the columns that identify a row), or use `write_mode: append` or `replace`",
                );
            }
            let lists = [("columns", &s.columns, "name a column, or leave `columns` out for all of them"), ("primary_key", &s.primary_key, "name a column of the stream")];
            for (key, list, empty_help) in lists {
                for (j, column) in list.iter().enumerate() {
                    let at_item = vec!["streams".to_string(), i.to_string(), key.to_string(), j.to_string()];
                    if column.trim().is_empty() {
                        return at(ValueInvalid, at_item, format!("stream `{}`: `{key}[{j}]` is empty", name.escape_debug()), "no column", empty_help);
                    }
                    if list[..j].contains(column) {
                        let message = format!("stream `{}`: `{}` is in `{key}` twice", name.escape_debug(), column.escape_debug());
                        return at(ValueInvalid, at_item, message, "a second time", "list each column once");
                    }
                }
            }
        }
        for (key, section) in [("source", &self.source), ("destination", &self.destination)] {
            let path = |k: &str| vec![key.to_string(), "sandbox".to_string(), k.to_string()];
            let sb = &section.sandbox;
            if sb.memory_mb == Some(0) {
                return at(ValueInvalid, path("memory_mb"), format!("`{key}.sandbox.memory_mb` must be above 0"), "zero", "leave it out for the default (256 MiB plus four records), or give MiB, e.g. `memory_mb: 512`");
            }
            if sb.memory_mb.is_some_and(|mb| mb > 4096) {
                return at(ValueInvalid, path("memory_mb"), format!("`{key}.sandbox.memory_mb` is above 4096: a wasm32 connector cannot use more than 4 GiB"), "above 4 GiB", "set at most 4096");
            }
            for (k, v) in [("timeout_seconds", Some(sb.timeout_seconds)), ("max_busy_seconds", sb.max_busy_seconds)] {
                if v.is_some_and(|v| v > MAX_SANDBOX_SECONDS) {
                    return at(ValueInvalid, path(k), format!("`{key}.sandbox.{k}` is above {MAX_SANDBOX_SECONDS} (a year)"), "too large", "give seconds up to a year, or 0 for no limit");
                }
            }
            for (j, grant) in sb.grants.iter().enumerate() {
                if let Err(problem) = endpoint_syntax(grant) {
                    return at(
                        ValueInvalid,
                        vec![key.to_string(), "sandbox".into(), "grants".into(), j.to_string()],
                        format!("`{key}.sandbox.grants[{j}]` {problem}"),
                        "not host:port",
                        "write `host:port`, e.g. `db.internal:5432` or `[::1]:5432`, port 1 to 65535",
                    );
                }
            }
        }
        None
    }

    /// Rules serde cannot express; each names the keys to point at.
    fn check(&self) -> Result<(), Violation> {
        use ConfigErrorKind::{KeyMissing, ValueInvalid};
        let rule = |kind, at: &[&'static [&'static str]], message: &str, label: &str, help: &str| Violation {
            kind,
            at: at.to_vec(),
            message: message.into(),
            label: label.into(),
            help: help.into(),
        };
        if self.pipeline.trim().is_empty() {
            return Err(rule(
                ValueInvalid,
                &[&["pipeline"]],
                "`pipeline` is empty",
                "no name",
                "name the pipeline: `pipeline: <name>` (used in state keys and logs)",
            ));
        }
        if self.streams.is_empty() {
            return Err(rule(
                ValueInvalid,
                &[&["streams"]],
                "`streams` lists no stream",
                "empty list",
                "add at least one stream: `streams: [{name: <stream>}]`",
            ));
        }
        let l = &self.limits;
        if l.max_batch_bytes == 0 {
            return Err(rule(
                ValueInvalid,
                &[&["limits", "max_batch_bytes"]],
                "`limits.max_batch_bytes` must be above 0",
                "zero",
                "set a batch size in bytes, e.g. `max_batch_bytes: 1048576` (1 MiB, the default)",
            ));
        }
        if l.max_record_bytes < l.max_batch_bytes {
            return Err(rule(
                ValueInvalid,
                &[&["limits", "max_record_bytes"], &["limits", "max_batch_bytes"]],
                &format!(
                    "`limits.max_record_bytes` ({}) is smaller than `limits.max_batch_bytes` ({}): a record that fits a batch would be refused",
                    l.max_record_bytes, l.max_batch_bytes
                ),
                "smaller than one batch",
                "raise `max_record_bytes` to at least `max_batch_bytes` (the default is 268435456, 256 MiB), or lower `max_batch_bytes`",
            ));
        }
        if l.max_record_bytes > MAX_RECORD_CEILING {
            return Err(rule(
                ValueInvalid,
                &[&["limits", "max_record_bytes"]],
                &format!(
                    "`limits.max_record_bytes` ({}) is above 4 GiB: a connector is a wasm32 component and cannot hold such a record",
                    l.max_record_bytes
                ),
                "above 4 GiB",
                "set at most 4294967296 (4 GiB); a record needs a few times its size in connector memory (at most 4 GiB), so a few hundred MiB is a practical top",
            ));
        }
        if l.max_inflight_bytes == 0 {
            return Err(rule(
                ValueInvalid,
                &[&["limits", "max_inflight_bytes"]],
                "`limits.max_inflight_bytes` must be above 0",
                "zero",
                "set the bytes allowed between source and destination, e.g. `max_inflight_bytes: 8388608` (8 MiB, the default)",
            ));
        }
        if l.max_inflight_bytes < l.max_batch_bytes {
            return Err(rule(
                ValueInvalid,
                &[&["limits", "max_inflight_bytes"], &["limits", "max_batch_bytes"]],
                &format!(
                    "`limits.max_inflight_bytes` ({}) is smaller than `limits.max_batch_bytes` ({}): not even one batch fits in flight",
                    l.max_inflight_bytes, l.max_batch_bytes
                ),
                "smaller than one batch",
                "raise `max_inflight_bytes` to at least `max_batch_bytes` (a few batches is usual), or lower `max_batch_bytes`",
            ));
        }
        if l.parallelism == 0 {
            return Err(rule(
                ValueInvalid,
                &[&["limits", "parallelism"]],
                "`limits.parallelism` must be at least 1",
                "zero",
                "set how many streams run at once, e.g. `parallelism: 2` (the default)",
            ));
        }
        if l.max_inflight_batches == 0 {
            return Err(rule(
                ValueInvalid,
                &[&["limits", "max_inflight_batches"]],
                "`limits.max_inflight_batches` must be at least 1",
                "zero",
                "set how many batches may wait between source and destination, e.g. `max_inflight_batches: 4`",
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(rule(
                ValueInvalid,
                &[&["retry", "max_attempts"]],
                "`retry.max_attempts` must be at least 1",
                "zero",
                "it counts the first attempt too: `max_attempts: 1` disables retries, the default is 5",
            ));
        }
        if self.state.backend == StateBackendName::Postgres && self.state.url.is_none() {
            return Err(rule(
                KeyMissing,
                &[&["state", "backend"]],
                "`state.backend: postgres` needs `state.url`",
                "no `url` for this backend",
                "add `url: postgres://user@host:5432/db` under `state`, or use `backend: sqlite`",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<PipelineFile, ConfigError> {
        load_env(yaml, &[])
    }

    /// Loads `yaml` with only `vars` (and `HOME`) in its environment.
    fn load_env(yaml: &str, vars: &[(&str, &str)]) -> Result<PipelineFile, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rapidbyte-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(yaml, &mut hasher);
        let path = dir.join(format!("{:x}.yaml", std::hash::Hasher::finish(&hasher)));
        std::fs::write(&path, yaml).unwrap();
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        PipelineFile::load_with_env(&path, &move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| if name == "HOME" { std::env::var(name).ok() } else { None })
        })
        .map(|(file, _)| file)
    }

    /// The error's kind and 1-based line and column.
    fn located(yaml: &str) -> (ConfigErrorKind, usize, usize, ConfigError) {
        let e = load(yaml).unwrap_err();
        let (line, col) = e.line_col().unwrap_or_else(|| panic!("no location in {e:?}"));
        (e.kind(), line, col, e)
    }

    const OK: &str = "pipeline: p\nsource: {use: generator, config: {rows: 10}}\ndestination: {use: verify}\nstreams: [{name: s}]\n";

    /// § Security: `Debug` of a parsed pipeline file (and of the jobs built
    /// from it) never shows a password, whether under a secret key or in a URL.
    #[test]
    fn debug_output_never_shows_a_secret() {
        let yaml = "pipeline: p\nsource: {use: generator, config: {rows: 10, password: Zq8-hunter, nested: {api_token: Zq8-tok}}}\n\
                    destination: {use: verify, config: {url: 'postgres://u:Zq8-url@db/x'}}\nstreams: [{name: s}]\n\
                    state: {backend: postgres, url: 'postgres://rb:Zq8-state@db/ops'}\n";
        let p = load(yaml).unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("Zq8"), "a secret in Debug output: {shown}");
        assert!(shown.contains("rows") && shown.contains("postgres://u:***@db/x"), "{shown}");
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let p = load(OK).unwrap();
        assert_eq!(p.streams[0].sync_mode, SyncMode::FullRefresh);
        assert_eq!(p.limits.max_batch_bytes, Limits::default().max_batch_bytes);
        assert_eq!(p.source.config["rows"], 10);
        assert_eq!(p.destination.sandbox.memory_mb, None);
        assert_eq!(p.limits.max_record_bytes, 256 << 20);
    }

    #[test]
    fn unknown_key_points_at_the_key_and_suggests_the_closest() {
        let (kind, line, col, e) = located(&OK.replace("streams:", "stream: []\nstreams:"));
        assert_eq!((kind, line, col), (ConfigErrorKind::KeyUnknown, 4, 1));
        assert!(e.help_text().contains("did you mean `streams`"), "{}", e.help_text());
        let (kind, line, col, e) = located(&format!("{OK}limits:\n  max_batch_bytes: 10\n  colour: blue\n"));
        assert_eq!((kind, line, col), (ConfigErrorKind::KeyUnknown, 7, 3));
        assert!(e.help_text().contains("`parallelism`") && !e.help_text().contains("did you mean"), "{}", e.help_text());
    }

    #[test]
    fn wrong_types_and_values_point_at_the_value() {
        let (kind, line, col, e) = located(&format!("{OK}limits: {{max_batch_bytes: lots}}\n"));
        assert_eq!((kind, line, col), (ConfigErrorKind::TypeMismatch, 5, 27));
        assert!(e.message().contains("limits.max_batch_bytes") && e.help_text().contains("digits only"), "{e:?}");
        let (kind, line, col, _) = located(&format!("{OK}limits:\n  parallelism: -1\n"));
        assert_eq!((kind, line, col), (ConfigErrorKind::ValueInvalid, 6, 16));
        let yaml = "pipeline: p\nsource: {use: generator}\ndestination: {use: verify}\nstreams:\n  - name: a\n  - name: b\n    sync_mode: sometimes\n";
        let (kind, line, col, e) = located(yaml);
        assert_eq!((kind, line, col), (ConfigErrorKind::ValueInvalid, 7, 16));
        assert!(e.message().contains("streams[1].sync_mode") && e.help_text().contains("`incremental`"), "{e:?}");
    }

    #[test]
    fn missing_key_points_at_the_mapping_that_lacks_it() {
        let (kind, line, col, e) = located("pipeline: p\nsource:\n  config: {}\ndestination: {use: verify}\nstreams: [{name: s}]\n");
        assert_eq!((kind, line, col), (ConfigErrorKind::KeyMissing, 2, 1));
        assert!(e.message().contains("`source` has no `use`"), "{e:?}");
        let (kind, line, _, _) = located("pipeline: p\nsource: {use: g}\ndestination: {use: v}\nstreams:\n  - columns: [a]\n");
        assert_eq!((kind, line), (ConfigErrorKind::KeyMissing, 5));
    }

    #[test]
    fn check_rules_point_at_the_key_that_breaks_them() {
        let (kind, line, col, _) = located(&format!("{OK}limits:\n  max_batch_bytes: 0\n"));
        assert_eq!((kind, line, col), (ConfigErrorKind::ValueInvalid, 6, 20));
        // The in-flight default (8 MiB) is absent from the file: point at the batch size.
        let (_, line, _, e) = located(&format!("{OK}limits:\n  parallelism: 1\n  max_batch_bytes: 16777216\n"));
        assert_eq!(line, 7, "{e:?}");
        // A record ceiling below the batch size: point at whichever key the file sets.
        let (kind, line, col, e) = located(&format!("{OK}limits:\n  max_record_bytes: 65536\n"));
        assert_eq!((kind, line, col), (ConfigErrorKind::ValueInvalid, 6, 21), "{e:?}");
        assert!(e.message().contains("`limits.max_record_bytes` (65536) is smaller than `limits.max_batch_bytes` (1048576)"), "{e:?}");
        let (_, line, _, e) = located(&format!("{OK}limits:\n  parallelism: 1\n  max_batch_bytes: 4194304\n  max_inflight_bytes: 8388608\n  max_record_bytes: 2097152\n"));
        assert_eq!(line, 9, "{e:?}");
        let (_, line, _, e) = located(&format!("{OK}limits:\n  max_record_bytes: 8589934592\n"));
        assert!(line == 6 && e.message().contains("above 4 GiB"), "{e:?}");
        assert_eq!(load(&format!("{OK}limits:\n  max_batch_bytes: 65536\n  max_record_bytes: 65536\n")).unwrap().limits.max_record_bytes, 65536);
        let (kind, line, _, _) = located(&format!("{OK}state:\n  backend: postgres\n"));
        assert_eq!((kind, line), (ConfigErrorKind::KeyMissing, 6));
        let (_, line, _, _) = located(&format!("{OK}retry: {{max_attempts: 0}}\n"));
        assert_eq!(line, 5);
    }

    #[test]
    fn bad_yaml_reports_the_parser_position() {
        let (kind, line, _, _) = located("pipeline: p\nsource:\n\tuse: generator\n");
        assert_eq!((kind, line), (ConfigErrorKind::YamlInvalid, 3));
    }

    #[test]
    fn unset_env_references_point_at_the_reference() {
        // In a flow mapping (`{…}`) a reference is quoted: `}` would end the mapping.
        let (kind, line, col, _) = located(&OK.replace("rows: 10", "rows: \"${RAPIDBYTE_SURELY_UNSET_VAR}\""));
        assert_eq!((kind, line, col), (ConfigErrorKind::EnvUnset, 2, 42));
        let (kind, line, col, _) = located(&format!("{OK}state:\n  url: postgres://u:${{RAPIDBYTE_SURELY_UNSET_VAR}}@db/x\n"));
        assert_eq!((kind, line, col), (ConfigErrorKind::EnvUnset, 6, 21));
        // In a comment it is no reference at all.
        assert!(load(&format!("{OK}# rows: ${{RAPIDBYTE_SURELY_UNSET_VAR}}\n")).is_ok());
    }

    /// § Security: a value from the environment is one string, never YAML:
    /// a newline, `: `, `#` or quotes add no key and end nothing.
    #[test]
    fn env_values_are_single_strings_and_host_numbers_accept_them() {
        let env = [("RB_TEST_PW_7Q", "x#y: z\nstreams: [{name: injected}]\n'\""), ("RB_TEST_PAR_7Q", "3")];
        let yaml = OK.replace("rows: 10", "rows: 10, password: \"${RB_TEST_PW_7Q}\", escaped: \"$${RB_TEST_PW_7Q}\"")
            + "limits:\n  parallelism: ${RB_TEST_PAR_7Q}\n";
        let p = load_env(&yaml, &env).unwrap();
        assert_eq!(p.source.config["password"], "x#y: z\nstreams: [{name: injected}]\n'\"");
        assert_eq!(p.source.config["escaped"], "${RB_TEST_PW_7Q}");
        assert_eq!(p.streams.len(), 1);
        assert_eq!(p.limits.parallelism, 3);
    }

    /// § Security: a secret from `${VAR}` under a key of the wrong type is
    /// named by its variable in the error, never shown.
    #[test]
    fn a_misplaced_secret_is_never_echoed() {
        for at in ["limits: {parallelism: \"${RB_TEST_SECRET_8R}\"}", "streams: [{name: s, sync_mode: \"x${RB_TEST_SECRET_8R}\"}]"] {
            let yaml = if at.starts_with("streams") { OK.replace("streams: [{name: s}]", at) } else { format!("{OK}{at}\n") };
            let e = load_env(&yaml, &[("RB_TEST_SECRET_8R", "Zq8-misplaced")]).unwrap_err();
            let shown = format!("{e:?} {e} {}", e.help_text());
            assert!(!shown.contains("Zq8") && !shown.contains("misplaced"), "{shown}");
            assert!(e.message().contains("RB_TEST_SECRET_8R"), "{}", e.message());
        }
    }

    /// A 10 MB line, or a deeply nested one, is not echoed back whole.
    #[test]
    fn a_huge_line_is_shown_cut_around_the_mistake() {
        let long = format!("pipeline: p\nsource: {{use: generator, config: {{rows: 10, pad: \"{}\"}}}}\ndestination: {{use: verify}}\nstreams: [{{name: s}}]\nlimits: {{parallelism: -1, note: \"{}\"}}\n", "x".repeat(10 << 20), "y".repeat(1 << 20));
        let nested = format!("{OK}retry: {{max_attempts: {}1{}}}\n", "[".repeat(200), "]".repeat(200));
        for yaml in [long, nested] {
            let e = load(&yaml).unwrap_err();
            let shown = format!("{:?}", miette::Report::new(e));
            assert!(shown.len() < 8 * 1024, "{} bytes shown", shown.len());
            assert!(shown.contains("bytes in all") || shown.contains('…'), "{shown}");
            assert!(shown.contains(":5:") || shown.contains(":6:"), "the line number is the file's: {shown}");
        }
    }

    #[test]
    fn spans_after_a_substitution_are_in_the_file_as_written() {
        // HOME is rarely as long as `${HOME}`; the mistake after it still lines up.
        let yaml = OK.replace("{use: generator,", "{use: \"${HOME}\", colour: 1,");
        let (kind, line, col, _) = located(&yaml);
        assert_eq!((kind, line, col), (ConfigErrorKind::KeyUnknown, 2, 26));
    }
}
