//! `rapidbyte:connector@0.1.0`: bindings and conversions.
#![allow(clippy::all)]

use rapidbyte_protocol as p;
use wasmtime::component::{HasSelf, Linker};

mod generated {
    pub mod source {
        wasmtime::component::bindgen!({
            world: "rapidbyte:connector/source@0.1.0",
            path: "../wit/v0.1",
            imports: { default: async | trappable },
            exports: { default: async },
        });
    }
    pub mod destination {
        wasmtime::component::bindgen!({
            world: "rapidbyte:connector/destination@0.1.0",
            path: "../wit/v0.1",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "rapidbyte:connector/types": super::source::rapidbyte::connector::types,
                "rapidbyte:connector/host": super::source::rapidbyte::connector::host,
            },
        });
    }
    pub mod transform {
        wasmtime::component::bindgen!({
            world: "rapidbyte:connector/transform@0.1.0",
            path: "../wit/v0.1",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "rapidbyte:connector/types": super::source::rapidbyte::connector::types,
                "rapidbyte:connector/host": super::source::rapidbyte::connector::host,
            },
        });
    }
}

use generated::source::rapidbyte::connector::host as wit_host;
use generated::source::rapidbyte::connector::types as wit;

pub(crate) use generated::destination::DestinationPre;
pub(crate) use generated::source::SourcePre;
pub(crate) use generated::transform::TransformPre;
pub(crate) use generated::destination::Destination as DestinationBindings;
pub(crate) use generated::source::Source as SourceBindings;
pub(crate) use generated::transform::Transform as TransformBindings;

use crate::host_api::{HostApi, HostState};

/// Adds the `host` interface of 0.1 to `linker`, served by [`HostApi`].
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit_host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

impl wit_host::Host for HostState {
    async fn log(&mut self, level: wit::LogLevel, message: String, fields: Vec<wit::Label>) -> wasmtime::Result<()> {
        HostApi::enter(self)?;
        HostApi::log(self, level.into(), message, fields.into_iter().map(Into::into).collect());
        Ok(())
    }

    async fn metric(&mut self, m: wit::MetricRecord) -> wasmtime::Result<()> {
        HostApi::enter(self)?;
        HostApi::metric(self, m.into());
        Ok(())
    }

    async fn emit_batch(&mut self, batch: Vec<u8>) -> wasmtime::Result<Result<(), wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::emit_batch(self, batch).await.map_err(Into::into))
    }

    async fn next_batch(&mut self) -> wasmtime::Result<Result<wit::NextItem, wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::next_batch(self).await.map(Into::into).map_err(Into::into))
    }

    async fn emit_checkpoint(&mut self, cp: wit::Checkpoint) -> wasmtime::Result<Result<(), wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::checkpoint(self, cp.into()).await.map_err(Into::into))
    }

    async fn state_get(
        &mut self,
        scope: wit::StateScope,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::state_get(self, scope.into(), key).map_err(Into::into))
    }

    async fn state_put(
        &mut self,
        scope: wit::StateScope,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::state_put(self, scope.into(), key, value).map_err(Into::into))
    }

    async fn state_compare_and_set(
        &mut self,
        scope: wit::StateScope,
        key: String,
        expected: Option<String>,
        value: String,
    ) -> wasmtime::Result<Result<bool, wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::state_compare_and_set(self, scope.into(), key, expected, value).map_err(Into::into))
    }
}

impl wit::Host for HostState {}

rapidbyte_protocol::wit_conversions!(wit);

// ---- typed calls into an instance, in plain types ----

/// A contract-0.1 instance of any role, with its calls in plain types.
pub(crate) enum Instance {
    Source(SourceBindings),
    Destination(DestinationBindings),
    Transform(TransformBindings),
}

type CallResult<T> = wasmtime::Result<Result<T, p::ConnectorError>>;

impl Instance {
    pub(crate) async fn open(&self, store: &mut wasmtime::Store<HostState>, config: &str) -> CallResult<p::OpenInfo> {
        let r = match self {
            Self::Source(b) => b.rapidbyte_connector_source_connector().call_open(store, config).await?,
            Self::Destination(b) => b.rapidbyte_connector_destination_connector().call_open(store, config).await?,
            Self::Transform(b) => b.rapidbyte_connector_transform_connector().call_open(store, config).await?,
        };
        Ok(r.map(Into::into).map_err(Into::into))
    }

    pub(crate) async fn validate(&self, store: &mut wasmtime::Store<HostState>) -> CallResult<()> {
        let r = match self {
            Self::Source(b) => b.rapidbyte_connector_source_connector().call_validate(store).await?,
            Self::Destination(b) => b.rapidbyte_connector_destination_connector().call_validate(store).await?,
            Self::Transform(b) => b.rapidbyte_connector_transform_connector().call_validate(store).await?,
        };
        Ok(r.map_err(Into::into))
    }

    pub(crate) async fn discover(&self, store: &mut wasmtime::Store<HostState>) -> CallResult<Vec<p::StreamSchema>> {
        match self {
            Self::Source(b) => {
                let r = b.rapidbyte_connector_source_connector().call_discover(store).await?;
                Ok(r.map(|v| v.into_iter().map(Into::into).collect()).map_err(Into::into))
            }
            _ => Ok(Err(p::ConnectorError::config("DISCOVER_UNSUPPORTED", "only sources can discover streams"))),
        }
    }

    pub(crate) async fn run(
        &self,
        store: &mut wasmtime::Store<HostState>,
        ctx: p::StreamContext,
    ) -> CallResult<crate::host_api::RunSummary> {
        use crate::host_api::RunSummary;
        let ctx: wit::StreamContext = ctx.into();
        Ok(match self {
            Self::Source(b) => b
                .rapidbyte_connector_source_connector()
                .call_run_read(store, &ctx)
                .await?
                .map(|s| RunSummary::Read(s.into()))
                .map_err(Into::into),
            Self::Destination(b) => b
                .rapidbyte_connector_destination_connector()
                .call_run_write(store, &ctx)
                .await?
                .map(|s| RunSummary::Write(s.into()))
                .map_err(Into::into),
            Self::Transform(b) => b
                .rapidbyte_connector_transform_connector()
                .call_run_transform(store, &ctx)
                .await?
                .map(|s| RunSummary::Transform(s.into()))
                .map_err(Into::into),
        })
    }

    pub(crate) async fn committed(
        &self,
        store: &mut wasmtime::Store<HostState>,
        base: p::CommitTokenBase,
    ) -> CallResult<Option<p::CommittedToken>> {
        match self {
            Self::Destination(b) => {
                let r = b.rapidbyte_connector_destination_connector().call_committed(store, &base.into()).await?;
                Ok(r.map(|t| t.map(Into::into)).map_err(Into::into))
            }
            _ => Ok(Ok(None)),
        }
    }

    pub(crate) async fn close(&self, store: &mut wasmtime::Store<HostState>) -> CallResult<()> {
        let r = match self {
            Self::Source(b) => b.rapidbyte_connector_source_connector().call_close(store).await?,
            Self::Destination(b) => b.rapidbyte_connector_destination_connector().call_close(store).await?,
            Self::Transform(b) => b.rapidbyte_connector_transform_connector().call_close(store).await?,
        };
        Ok(r.map_err(Into::into))
    }
}

/// A pre-linked component of contract 0.1, ready to instantiate per stream.
pub(crate) enum Pre {
    Source(SourcePre<HostState>),
    Destination(DestinationPre<HostState>),
    Transform(TransformPre<HostState>),
}

impl Pre {
    pub(crate) fn new(
        role: p::Role,
        pre: wasmtime::component::InstancePre<HostState>,
    ) -> wasmtime::Result<Self> {
        Ok(match role {
            p::Role::Source => Self::Source(SourcePre::new(pre)?),
            p::Role::Destination => Self::Destination(DestinationPre::new(pre)?),
            p::Role::Transform => Self::Transform(TransformPre::new(pre)?),
        })
    }

    pub(crate) async fn instantiate(&self, store: &mut wasmtime::Store<HostState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Self::Source(p) => Instance::Source(p.instantiate_async(store).await?),
            Self::Destination(p) => Instance::Destination(p.instantiate_async(store).await?),
            Self::Transform(p) => Instance::Transform(p.instantiate_async(store).await?),
        })
    }
}
