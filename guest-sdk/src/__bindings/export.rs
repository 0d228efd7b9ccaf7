//! Glue between the generated export traits and the SDK traits. The export
//! macros define a local adapter type whose trait methods call these.
//!
//! WIT functions are free functions, so the connector value made by `open`
//! lives in a thread-local slot (a component instance is single-threaded).
#![doc(hidden)]
#![allow(missing_docs, dead_code)]

use std::any::Any;
use std::cell::RefCell;

use rapidbyte_protocol::{ConnectorError, Manifest, OpenInfo};

use super::{self as b, wit};
#[allow(unused_imports)]
use crate::{Destination, Emitter, Input, Source, Transform};

thread_local! {
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

type WitResult<T> = Result<T, wit::ConnectorError>;

/// Copies a manifest string into a fixed array for a custom section.
pub const fn manifest_bytes<const N: usize>(text: &str) -> [u8; N] {
    let src = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = src[i];
        i += 1;
    }
    out
}

fn not_open() -> wit::ConnectorError {
    ConnectorError::internal("NOT_OPEN", "the host called the connector before `open` succeeded").into()
}

fn with<T: 'static, R>(f: impl FnOnce(&mut T) -> Result<R, ConnectorError>) -> WitResult<R> {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        let instance = slot.as_mut().and_then(|b| b.downcast_mut::<T>()).ok_or_else(not_open)?;
        f(instance).map_err(Into::into)
    })
}

fn open_info(manifest: &str, default_limits: rapidbyte_protocol::Limits) -> WitResult<wit::OpenInfo> {
    let m = Manifest::parse(manifest).map_err(|e| ConnectorError::internal("BAD_MANIFEST", e.to_string()))?;
    Ok(OpenInfo {
        name: m.name,
        version: m.version,
        protocol_version: m.contract,
        features: m.features,
        default_limits,
    }
    .into())
}

fn store<T: 'static>(value: T) {
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(value)));
}

fn close<T: 'static>(f: impl FnOnce(&mut T) -> Result<(), ConnectorError>) -> WitResult<()> {
    // Idempotent: closing an instance that never opened, or twice, is fine.
    let taken = INSTANCE.with(|slot| slot.borrow_mut().take());
    match taken.and_then(|b| b.downcast::<T>().ok()) {
        Some(mut instance) => f(&mut instance).map_err(Into::into),
        None => Ok(()),
    }
}

// ---- source ----

#[cfg(feature = "source")]
pub fn source_open<T: Source>(manifest: &str, config: String) -> WitResult<wit::OpenInfo> {
    let connector = T::open(&config)?;
    let limits = connector.default_limits();
    store(connector);
    open_info(manifest, limits)
}

#[cfg(feature = "source")]
pub fn source_discover<T: Source>() -> WitResult<Vec<wit::StreamSchema>> {
    with::<T, _>(|c| c.discover()).map(|v| v.into_iter().map(Into::into).collect())
}

#[cfg(feature = "source")]
pub fn source_validate<T: Source>() -> WitResult<()> {
    with::<T, _>(|c| c.validate())
}

#[cfg(feature = "source")]
pub fn source_run_read<T: Source>(ctx: wit::StreamContext) -> WitResult<wit::ReadSummary> {
    let ctx: rapidbyte_protocol::StreamContext = ctx.into();
    let mut out = Emitter::new(ctx.limits).with_data_error_policy(ctx.policies.on_data_error);
    with::<T, _>(|c| c.read(&ctx, &mut out)).map(Into::into)
}

#[cfg(feature = "source")]
pub fn source_close<T: Source>() -> WitResult<()> {
    close::<T>(|c| c.close())
}

// ---- destination ----

#[cfg(feature = "destination")]
pub fn destination_open<T: Destination>(manifest: &str, config: String) -> WitResult<wit::OpenInfo> {
    let connector = T::open(&config)?;
    let limits = connector.default_limits();
    store(connector);
    open_info(manifest, limits)
}

#[cfg(feature = "destination")]
pub fn destination_validate<T: Destination>() -> WitResult<()> {
    with::<T, _>(|c| c.validate())
}

#[cfg(feature = "destination")]
pub fn destination_run_write<T: Destination>(ctx: wit::StreamContext) -> WitResult<wit::WriteSummary> {
    let ctx: rapidbyte_protocol::StreamContext = ctx.into();
    let mut input = Input::new();
    with::<T, _>(|c| c.write(&ctx, &mut input)).map(Into::into)
}

#[cfg(feature = "destination")]
pub fn destination_committed<T: Destination>(base: wit::CommitTokenBase) -> WitResult<Option<wit::CommittedToken>> {
    let base = base.into();
    with::<T, _>(|c| c.committed(&base)).map(|t| t.map(Into::into))
}

#[cfg(feature = "destination")]
pub fn destination_close<T: Destination>() -> WitResult<()> {
    close::<T>(|c| c.close())
}

// ---- transform ----

#[cfg(feature = "transform")]
pub fn transform_open<T: Transform>(manifest: &str, config: String) -> WitResult<wit::OpenInfo> {
    let connector = T::open(&config)?;
    let limits = connector.default_limits();
    store(connector);
    open_info(manifest, limits)
}

#[cfg(feature = "transform")]
pub fn transform_validate<T: Transform>() -> WitResult<()> {
    with::<T, _>(|c| c.validate())
}

#[cfg(feature = "transform")]
pub fn transform_run<T: Transform>(ctx: wit::StreamContext) -> WitResult<wit::TransformSummary> {
    let ctx: rapidbyte_protocol::StreamContext = ctx.into();
    let (mut input, mut out) = (Input::new(), Emitter::new(ctx.limits).with_data_error_policy(ctx.policies.on_data_error));
    with::<T, _>(|c| c.transform(&ctx, &mut input, &mut out)).map(Into::into)
}

#[cfg(feature = "transform")]
pub fn transform_close<T: Transform>() -> WitResult<()> {
    close::<T>(|c| c.close())
}

#[cfg(feature = "destination")]
pub use b::destination::exports::rapidbyte::connector::destination_connector::Guest as DestinationGuest;
#[cfg(feature = "source")]
pub use b::source::exports::rapidbyte::connector::source_connector::Guest as SourceGuest;
#[cfg(feature = "transform")]
pub use b::transform::exports::rapidbyte::connector::transform_connector::Guest as TransformGuest;
pub use b::wit as types;
