//! The only place wit-bindgen runs (STYLE.md: generated types stay behind a
//! thin layer). One `generate!` per world, for the newest contract
//! (`build.rs` writes them from `CONTRACT_VERSION`); the destination and transform
//! worlds reuse one set of `types` and `host` bindings through `with`, so there is a single set of conversions, here, into the plain
//! types of `rapidbyte-protocol`.
#![allow(missing_docs, unsafe_code, clippy::all)]

/// Bindings of the `types` and `host` interfaces, shared by every world.
///
/// They come from a world that only imports `host`, so linking them adds no
/// export requirement to a component; each role's exports are generated
/// behind its own cargo feature (a component implements one role).
pub mod imports {
    include!(concat!(env!("OUT_DIR"), "/imports.rs"));
}

/// Bindings of world `source`.
#[cfg(feature = "source")]
pub mod source {
    include!(concat!(env!("OUT_DIR"), "/source.rs"));
}

/// Bindings of world `destination`.
#[cfg(feature = "destination")]
pub mod destination {
    include!(concat!(env!("OUT_DIR"), "/destination.rs"));
}

/// Bindings of world `transform`.
#[cfg(feature = "transform")]
pub mod transform {
    include!(concat!(env!("OUT_DIR"), "/transform.rs"));
}

pub mod export;

use imports::rapidbyte::connector::host as wit_host;
pub use imports::rapidbyte::connector::types as wit;

use rapidbyte_protocol as p;

rapidbyte_protocol::wit_conversions!(wit);

// ---- host calls in plain types (the rest of the SDK uses only these) ----

pub fn host_log(level: p::LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<wit::Label> =
        fields.iter().map(|(k, v)| wit::Label { key: (*k).to_string(), value: (*v).to_string() }).collect();
    wit_host::log(level.into(), message, &fields);
}

pub fn host_metric(m: p::Metric) {
    wit_host::metric(&m.into());
}

pub fn host_emit_batch(frame: &[u8]) -> Result<(), p::ConnectorError> {
    wit_host::emit_batch(frame).map_err(Into::into)
}

pub fn host_next_batch() -> Result<p::NextItem, p::ConnectorError> {
    Ok(wit_host::next_batch()?.into())
}

pub fn host_dead_letter(row: p::DeadLetter) -> Result<(), p::ConnectorError> {
    wit_host::send_dead_letter(&row.into()).map_err(Into::into)
}

pub fn host_report_estimate(e: p::StreamEstimate) {
    wit_host::report_estimate(e.into());
}

pub fn host_checkpoint(cp: p::Checkpoint) -> Result<(), p::ConnectorError> {
    wit_host::emit_checkpoint(&cp.into()).map_err(Into::into)
}

pub fn host_state_get(scope: p::StateScope, key: &str) -> Result<Option<String>, p::ConnectorError> {
    wit_host::state_get(scope.into(), key).map_err(Into::into)
}

pub fn host_state_put(scope: p::StateScope, key: &str, value: &str) -> Result<(), p::ConnectorError> {
    wit_host::state_put(scope.into(), key, value).map_err(Into::into)
}

pub fn host_state_compare_and_set(
    scope: p::StateScope,
    key: &str,
    expected: Option<&str>,
    value: &str,
) -> Result<bool, p::ConnectorError> {
    wit_host::state_compare_and_set(scope.into(), key, expected, value).map_err(Into::into)
}
