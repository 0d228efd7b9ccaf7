//! Everything checked before a run touches anything: the pipeline file,
//! the connectors it names, and the features it asks of them. Nothing is
//! written until this passes (no state file, no destination table).
//! Each error points at the line of the pipeline file that caused it.

use std::path::Path;
use std::sync::Arc;

use rapidbyte_protocol::{Role, SyncMode};

use crate::contract::component::use_name;
use crate::pipeline::{ConfigError, ConfigErrorKind, ConnectorSection, PipelineFile, PipelineSource, WriteModeName, closest};
use crate::engine::run::{self, FeatureGap, ResolveError};
use crate::sandbox::runtime::{LoadedComponent, Runtime};

/// A pipeline ready to run.
pub struct Preflight {
    /// The loaded file.
    pub file: PipelineFile,
    /// The source component.
    pub source: Arc<LoadedComponent>,
    /// The destination component.
    pub destination: Arc<LoadedComponent>,
}

/// Loads `path`, resolves its connectors in `dir` and negotiates features.
pub fn preflight(runtime: &Runtime, dir: &Path, path: &Path) -> miette::Result<Preflight> {
    let (mut file, text) = PipelineFile::load_with_source(path)?;
    let resolve = |role, section: &ConnectorSection, key: &'static str| {
        run::resolve(runtime, dir, role, section).map_err(|e| {
            let label = resolve_label(&e, dir, section);
            let help = format!("`{key}` needs a {role} component: use the name or path of one (`rapidbyte connectors` lists each component's role)");
            miette::Report::new(text.locate(e, &[key, "use"], &label).or_help(help))
        })
    };
    let source = resolve(Role::Source, &file.source, "source")?;
    let destination = resolve(Role::Destination, &file.destination, "destination")?;
    let gaps = run::missing_features(&file, &source, &destination);
    if let Some(error) = feature_error(&text, &file, gaps) {
        return Err(error.into());
    }
    if let Some(error) = combination_error(&text, &file) {
        return Err(error.into());
    }
    // Each connector's own config: against the schema its component
    // declares, then the endpoint and TLS fields the host itself reads —
    // located, before any state or connection.
    for (key, section, component) in [("source", &mut file.source, &source), ("destination", &mut file.destination, &destination)] {
        if let Some(schema) = &component.config_schema {
            schema.coerce(&mut section.config);
        }
        if let Some(error) = schema_error(&text, key, section, component).or_else(|| host_read_fields(&text, key, section, component)) {
            return Err(error.into());
        }
    }
    Ok(Preflight { file, source, destination })
}

/// A mistake in the config fields the host itself reads (endpoints, TLS).
fn host_read_fields(text: &PipelineSource, key: &str, section: &ConnectorSection, component: &LoadedComponent) -> Option<ConfigError> {
    use crate::sandbox::SandboxError;
    let e = crate::sandbox::endpoints(&component.manifest, &section.config, &section.sandbox.grants, None)
        .err()
        .or_else(|| crate::sandbox::tls::settings(&component.manifest, &section.config).err())?;
    let (field, problem, help) = match &e {
        SandboxError::BadEndpoint { field, problem, .. } => (field, problem, "the connector connects there: set it in its config section"),
        SandboxError::BadTls { field, problem, .. } => {
            (field, problem, "sslmode is disable, prefer (default), require, verify-ca or verify-full; sslrootcert, sslcert and sslkey are PEM files on this machine")
        }
        _ => return None,
    };
    let mut path = vec![key, "config"];
    path.extend(field.trim_start_matches('/').split('/').filter(|s| !s.is_empty()));
    let shown = format!("{key}.config.{}", field.trim_start_matches('/').replace('/', "."));
    Some(text.error_at(ConfigErrorKind::ValueInvalid, &path, "here", format!("`{shown}` {problem}"), help.into()))
}

/// The connector's config against the schema its component declares.
fn schema_error(text: &PipelineSource, key: &str, section: &ConnectorSection, component: &LoadedComponent) -> Option<ConfigError> {
    use crate::contract::config_schema::ProblemKind;
    let schema = component.config_schema.as_ref()?;
    let name = crate::sandbox::untrusted::sanitize(&component.manifest.name, 64);
    let mut errors: Vec<ConfigError> = schema
        .check(&section.config)
        .into_iter()
        .map(|p| {
            let mut path = vec![key, "config"];
            path.extend(p.path.iter().map(String::as_str));
            // An unknown key is said of the mapping it is in.
            let place = if p.kind == ProblemKind::UnknownKey { &path[..path.len() - 1] } else { &path[..] };
            let message = format!("`{}` {} (the config schema of `{name}`)", place.join("."), p.message);
            match p.kind {
                ProblemKind::UnknownKey => text.error_at_key(ConfigErrorKind::KeyUnknown, &path, &p.label, message, p.help),
                ProblemKind::MissingKey => text.error_at_key(ConfigErrorKind::KeyMissing, &path, &p.label, message, p.help),
                ProblemKind::WrongType => text.error_at(ConfigErrorKind::TypeMismatch, &path, &p.label, message, p.help),
                ProblemKind::Invalid => text.error_at(ConfigErrorKind::ValueInvalid, &path, &p.label, message, p.help),
            }
        })
        .collect();
    match errors.len() {
        0 => None,
        1 => errors.pop(),
        n => Some(ConfigError::several(
            errors[0].kind(),
            format!("`{key}.config` has {n} mistakes (the config schema of `{name}`)"),
            "correct each one below".into(),
            errors,
        )),
    }
}

/// What the `use:` value is, as far as the connector directory tells.
fn resolve_label(error: &ResolveError, dir: &Path, section: &ConnectorSection) -> String {
    let name = section.use_.as_str();
    match error {
        ResolveError::NotFound { role, .. } => {
            let other = if *role == Role::Source { Role::Destination } else { Role::Source };
            if section.names_a_file() {
                return "no such file".into();
            }
            if installed(dir, other).iter().any(|n| n.replace('-', "_") == name.replace('-', "_")) {
                return format!("`{name}` is a {other} connector, not a {role}");
            }
            match closest(name, &installed(dir, *role)) {
                Some(guess) => format!("did you mean `{guess}`?"),
                None => "not installed".into(),
            }
        }
        ResolveError::WrongRole { actual, .. } => format!("a {actual} component"),
        ResolveError::Load(_) => "cannot be loaded".into(),
    }
}

/// Names of the installed connectors of `role` (`source_generator.wasm` →
/// `generator`): in `dir`, the user's directory and the binary.
fn installed(dir: &Path, role: Role) -> Vec<String> {
    let mut files: Vec<String> = crate::contract::embedded::names().map(str::to_string).collect();
    for d in [Some(dir.to_path_buf()), run::user_connector_dir()].into_iter().flatten() {
        if let Ok(entries) = std::fs::read_dir(d) {
            files.extend(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()));
        }
    }
    let mut names: Vec<String> = files.iter().filter_map(|f| use_name(role, f)).collect();
    names.sort();
    names.dedup();
    names
}

/// One diagnostic for the gaps: the gap itself when there is one, else a
/// summary with every gap shown beneath it.
fn feature_error(text: &PipelineSource, file: &PipelineFile, gaps: Vec<FeatureGap>) -> Option<ConfigError> {
    let mut errors: Vec<ConfigError> = gaps.into_iter().map(|g| gap_error(text, file, g)).collect();
    match errors.len() {
        0 => None,
        1 => errors.pop(),
        n => Some(ConfigError::several(
            ConfigErrorKind::FeatureUnsupported,
            format!("{n} stream settings ask for features their connectors do not declare"),
            "change each setting below, or use connectors that declare the features (`rapidbyte connectors` lists them)".into(),
            errors,
        )),
    }
}

/// Settings without a safe meaning together (ARCHITECTURE.md invariants):
/// an incremental read into `write_mode: replace` would replace the table
/// with only the rows since the last run, and a resume would replace it with
/// only the rows after the resume point.
fn combination_error(text: &PipelineSource, file: &PipelineFile) -> Option<ConfigError> {
    let (i, s) = file
        .streams
        .iter()
        .enumerate()
        .find(|(_, s)| s.sync_mode == SyncMode::Incremental && s.write_mode == WriteModeName::Replace)?;
    let index = i.to_string();
    let path = ["streams", index.as_str(), "write_mode"];
    Some(text.error_at(
        ConfigErrorKind::CombinationUnsafe,
        &path,
        "replace with an incremental read",
        format!(
            "stream `{}`: `write_mode: replace` with `sync_mode: incremental` would replace the table with only the rows read since the last run",
            s.name
        ),
        "use `write_mode: append` or `upsert` (with `primary_key`) for an incremental stream, or `sync_mode: full-refresh` to replace the whole table each run".into(),
    ))
}

fn gap_error(text: &PipelineSource, file: &PipelineFile, gap: FeatureGap) -> ConfigError {
    let index = gap.stream_index.to_string();
    // A defaulted key is not in the file: point at the stream's name instead.
    let key_path = ["streams", index.as_str(), gap.key];
    let path: &[&str] = if text.has(&key_path) { &key_path } else { &["streams", index.as_str(), "name"] };
    let (fallback, connector) = match gap.key {
        "sync_mode" => ("`sync_mode: full-refresh`", &file.source.use_),
        "write_mode" => ("`write_mode: append`", &file.destination.use_),
        _ => ("`delivery: auto` (exactly-once where the destination declares it) or `delivery: at-least-once`", &file.destination.use_),
    };
    let help = format!("use {fallback}, or a connector other than `{connector}` that declares the feature (`rapidbyte connectors` lists features)");
    text.error_at(ConfigErrorKind::FeatureUnsupported, path, "not supported by the connector", gap.message, help)
}
