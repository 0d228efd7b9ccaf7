//! Finding out what a component is before running it: its manifest (custom
//! section `rapidbyte:manifest`) and the contract version of its exports.
//! Both are read from the bytes, so nothing is instantiated (SPEC § Roles
//! and worlds, § Security).

use std::path::{Path, PathBuf};

use std::sync::Arc;

use rapidbyte_protocol::{Manifest, Role, CONFIG_SCHEMA_SECTION, MANIFEST_SECTION};
use wasmparser::{Parser, Payload};

use crate::contract::bindings::{Contract, SUPPORTED_CONTRACTS};
use crate::contract::config_schema::ConfigSchema;

/// Why a component cannot be loaded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read connector component {path}: {source}")]
    #[diagnostic(code(rapidbyte::contract::component::unreadable), help("check the path and that `cargo xtask build` has run"))]
    Unreadable { path: PathBuf, source: std::io::Error },

    /// The bytes are not a valid component.
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    #[diagnostic(code(rapidbyte::contract::component::invalid), help("build connectors for wasm32-wasip2 with `cargo xtask build`"))]
    Invalid { path: PathBuf, reason: String },

    /// No Rapidbyte export or manifest.
    #[error("{path} is not a Rapidbyte connector: {reason}")]
    #[diagnostic(
        code(rapidbyte::contract::component::not_a_connector),
        help("a connector exports rapidbyte:connector/<role>-connector and is built with rapidbyte-sdk's export macros")
    )]
    NotAConnector { path: PathBuf, reason: String },

    /// Built against a contract version this host does not know.
    #[error("{path} was built against contract rapidbyte:connector@{found}; this host supports {supported}")]
    #[diagnostic(
        code(rapidbyte::contract::component::unsupported_contract),
        help("rebuild the connector against a supported rapidbyte-sdk, or upgrade rapidbyte")
    )]
    UnsupportedContract { path: PathBuf, found: String, supported: String },

    /// wasmtime could not compile or link it.
    #[error("cannot prepare {path}: {reason}")]
    #[diagnostic(code(rapidbyte::contract::component::link))]
    Link { path: PathBuf, reason: String },
}

/// What the bytes of a component say about it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The embedded manifest.
    pub manifest: Manifest,
    /// The contract version of its `rapidbyte:connector` export.
    pub contract: Contract,
    /// Its config schema, when it declares one.
    pub config_schema: Option<Arc<ConfigSchema>>,
}

const PACKAGE_PREFIX: &str = "rapidbyte:connector/";

/// Reads the manifest and export version of a component.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<Inspection, LoadError> {
    let invalid = |reason: String| LoadError::Invalid { path: path.to_path_buf(), reason };
    let not_connector = |reason: String| LoadError::NotAConnector { path: path.to_path_buf(), reason };
    if !bytes.starts_with(b"\0asm") {
        return Err(invalid("it is not WebAssembly at all (a .wasm file starts with the bytes `\\0asm`)".into()));
    }
    let mut manifest_text = None;
    let mut schema = None;
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| invalid(e.to_string()))? {
            Payload::CustomSection(section) if section.name() == MANIFEST_SECTION => {
                let text = std::str::from_utf8(section.data()).map_err(|_| not_connector("manifest is not UTF-8".into()))?;
                manifest_text = Some(text.to_string());
            }
            Payload::CustomSection(section) if section.name() == CONFIG_SCHEMA_SECTION => {
                if schema.is_some() {
                    return Err(not_connector(format!("it has two `{CONFIG_SCHEMA_SECTION}` sections")));
                }
                schema = Some(Arc::new(ConfigSchema::parse(section.data()).map_err(not_connector)?));
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| invalid(e.to_string()))?;
                    if let Some(rest) = export.name.0.strip_prefix(PACKAGE_PREFIX) {
                        exports.push(rest.to_string());
                    }
                }
            }
            // A core module at the top level: not a component at all.
            Payload::Version { encoding: wasmparser::Encoding::Module, .. }
                if manifest_text.is_none() && exports.is_empty() && bytes.get(4..8) == Some(&[1, 0, 0, 0]) =>
            {
                return Err(invalid("this is a core module, not a component".into()));
            }
            _ => {}
        }
    }
    let export = exports
        .first()
        .ok_or_else(|| not_connector("it exports no rapidbyte:connector interface".into()))?;
    let (interface, version) = export
        .split_once('@')
        .ok_or_else(|| not_connector(format!("export `{PACKAGE_PREFIX}{export}` carries no version")))?;
    let Some(contract) = Contract::parse(version) else {
        return Err(LoadError::UnsupportedContract {
            path: path.to_path_buf(),
            found: version.to_string(),
            supported: SUPPORTED_CONTRACTS.iter().map(|v| format!("rapidbyte:connector@{v}")).collect::<Vec<_>>().join(", "),
        });
    };
    let text = manifest_text.ok_or_else(|| not_connector(format!("no `{MANIFEST_SECTION}` section")))?;
    let manifest = Manifest::parse(&text).map_err(|e| not_connector(e.to_string()))?;
    if manifest.contract != version {
        return Err(not_connector(format!(
            "its manifest says contract {} but it exports contract {version}",
            manifest.contract
        )));
    }
    if manifest.role.export_interface() != interface {
        return Err(not_connector(format!(
            "its manifest says role {} but it exports `{interface}`",
            manifest.role
        )));
    }
    Ok(Inspection { manifest, contract, config_schema: schema })
}

/// The conventional file name of a connector: `source_<name>.wasm`,
/// `dest_<name>.wasm`, `transform_<name>.wasm`.
pub fn file_name(role: Role, name: &str) -> String {
    let prefix = match role {
        Role::Source => "source",
        Role::Destination => "dest",
        Role::Transform => "transform",
    };
    format!("{prefix}_{}.wasm", name.replace('-', "_"))
}

/// The `use:` name of a connector file of `role` (`source_generator.wasm` →
/// `generator`), the inverse of [`file_name`]; `None` for another role's file.
pub fn use_name(role: Role, file: &str) -> Option<String> {
    let prefix = file_name(role, "");
    let stem = file.strip_prefix(prefix.trim_end_matches(".wasm"))?.strip_suffix(".wasm")?;
    Some(stem.replace('_', "-"))
}
