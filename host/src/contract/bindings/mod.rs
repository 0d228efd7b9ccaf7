//! The contract edge: generated bindings, one private module per contract
//! version, with the conversions into the plain domain types of
//! `rapidbyte-protocol` beside them. Generated types never leave this module
//! (ARCHITECTURE.md), and this is the only place that matches on versions:
//! the rest of the host sees [`Contract`], [`Pre`] and [`Instance`].
//!
//! The newest version (`v0_2`) is the real implementation; an older one is a
//! thin shim that converts its types and delegates to the same `HostApi`,
//! answering in its own vocabulary what it cannot say (a 0.1 destination
//! hears an abort as the `UPSTREAM_FAILED` error it always did).
//!
//! Adding a version: a new `wit/v0.x` folder, a new `v0_x.rs` shim made
//! from the newest one, and one arm in each enum below.

mod v0_1;
mod v0_2;

use rapidbyte_protocol as p;
use wasmtime::component::{InstancePre, Linker};
use wasmtime::Store;

use crate::sandbox::host_api::{HostState, RunSummary};

/// A contract version this host loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Contract {
    /// `rapidbyte:connector@0.1.0`.
    V0_1,
    /// `rapidbyte:connector@0.2.0`: adds dead letters from sources, a typed
    /// abort reason, `max-record-bytes` in the limits and a row estimate.
    V0_2,
}

/// The contract versions this host loads, newest first.
pub const SUPPORTED_CONTRACTS: &[Contract] = &[Contract::V0_2, Contract::V0_1];

impl Contract {
    /// The version an export names, e.g. `0.1.0`.
    pub fn parse(version: &str) -> Option<Self> {
        SUPPORTED_CONTRACTS.iter().copied().find(|c| c.version() == version)
    }

    /// The version string, e.g. `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Self::V0_1 => "0.1.0",
            Self::V0_2 => "0.2.0",
        }
    }

    /// Whether a destination of this version can take the dead letters a
    /// source hands over (`next-item::dead-letter`).
    pub fn receives_dead_letters(self) -> bool {
        self >= Self::V0_2
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.version())
    }
}

/// Adds the `host` interface of every supported version to `linker`; the
/// import names carry the version, so one linker serves them all.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker(linker)?;
    v0_2::add_to_linker(linker)
}

/// A pre-linked component of some contract version, ready to instantiate.
pub(crate) enum Pre {
    V0_1(v0_1::Pre),
    V0_2(v0_2::Pre),
}

impl Pre {
    pub(crate) fn new(contract: Contract, role: p::Role, pre: InstancePre<HostState>) -> wasmtime::Result<Self> {
        Ok(match contract {
            Contract::V0_1 => Self::V0_1(v0_1::Pre::new(role, pre)?),
            Contract::V0_2 => Self::V0_2(v0_2::Pre::new(role, pre)?),
        })
    }

    pub(crate) async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Self::V0_1(p) => Instance::V0_1(p.instantiate(store).await?),
            Self::V0_2(p) => Instance::V0_2(p.instantiate(store).await?),
        })
    }
}

/// An instance of some contract version, with its calls in plain types.
pub(crate) enum Instance {
    V0_1(v0_1::Instance),
    V0_2(v0_2::Instance),
}

type CallResult<T> = wasmtime::Result<Result<T, p::ConnectorError>>;

macro_rules! each_version {
    ($self:ident, |$i:ident| $call:expr) => {
        match $self {
            Self::V0_1($i) => $call,
            Self::V0_2($i) => $call,
        }
    };
}

impl Instance {
    pub(crate) async fn open(&self, store: &mut Store<HostState>, config: &str) -> CallResult<p::OpenInfo> {
        each_version!(self, |i| i.open(store, config).await)
    }

    pub(crate) async fn validate(&self, store: &mut Store<HostState>) -> CallResult<()> {
        each_version!(self, |i| i.validate(store).await)
    }

    pub(crate) async fn discover(&self, store: &mut Store<HostState>) -> CallResult<Vec<p::StreamSchema>> {
        each_version!(self, |i| i.discover(store).await)
    }

    pub(crate) async fn run(&self, store: &mut Store<HostState>, ctx: p::StreamContext) -> CallResult<RunSummary> {
        each_version!(self, |i| i.run(store, ctx).await)
    }

    pub(crate) async fn committed(&self, store: &mut Store<HostState>, base: p::CommitTokenBase) -> CallResult<Option<p::CommittedToken>> {
        each_version!(self, |i| i.committed(store, base).await)
    }

    pub(crate) async fn close(&self, store: &mut Store<HostState>) -> CallResult<()> {
        each_version!(self, |i| i.close(store).await)
    }
}

/// The parts of a version module that only differ by the generated types in
/// scope: the bindgen of the three worlds and the role dispatch of `Pre`
/// and `Instance`. Invoked once per version module with its WIT folder and
/// world names.
macro_rules! version_module {
    ($folder:literal, $source:literal, $destination:literal, $transform:literal) => {
        mod generated {
            pub mod source {
                wasmtime::component::bindgen!({
                    world: $source,
                    path: $folder,
                    imports: { default: async | trappable },
                    exports: { default: async },
                });
            }
            pub mod destination {
                wasmtime::component::bindgen!({
                    world: $destination,
                    path: $folder,
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
                    world: $transform,
                    path: $folder,
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

        type Store = wasmtime::Store<crate::sandbox::host_api::HostState>;
        type CallResult<T> = wasmtime::Result<Result<T, rapidbyte_protocol::ConnectorError>>;

        /// Adds this version's `host` interface to `linker`, served by `HostApi`.
        pub(crate) fn add_to_linker(linker: &mut wasmtime::component::Linker<crate::sandbox::host_api::HostState>) -> wasmtime::Result<()> {
            wit_host::add_to_linker::<crate::sandbox::host_api::HostState, wasmtime::component::HasSelf<crate::sandbox::host_api::HostState>>(linker, |s| s)
        }

        impl wit::Host for crate::sandbox::host_api::HostState {}

        /// A pre-linked component of this version.
        pub(crate) enum Pre {
            Source(generated::source::SourcePre<crate::sandbox::host_api::HostState>),
            Destination(generated::destination::DestinationPre<crate::sandbox::host_api::HostState>),
            Transform(generated::transform::TransformPre<crate::sandbox::host_api::HostState>),
        }

        impl Pre {
            pub(crate) fn new(
                role: rapidbyte_protocol::Role,
                pre: wasmtime::component::InstancePre<crate::sandbox::host_api::HostState>,
            ) -> wasmtime::Result<Self> {
                use rapidbyte_protocol::Role;
                Ok(match role {
                    Role::Source => Self::Source(generated::source::SourcePre::new(pre)?),
                    Role::Destination => Self::Destination(generated::destination::DestinationPre::new(pre)?),
                    Role::Transform => Self::Transform(generated::transform::TransformPre::new(pre)?),
                })
            }

            pub(crate) async fn instantiate(&self, store: &mut Store) -> wasmtime::Result<Instance> {
                Ok(match self {
                    Self::Source(p) => Instance::Source(p.instantiate_async(store).await?),
                    Self::Destination(p) => Instance::Destination(p.instantiate_async(store).await?),
                    Self::Transform(p) => Instance::Transform(p.instantiate_async(store).await?),
                })
            }
        }

        /// An instance of this version, any role, with its calls in plain types.
        pub(crate) enum Instance {
            Source(generated::source::Source),
            Destination(generated::destination::Destination),
            Transform(generated::transform::Transform),
        }

        impl Instance {
            pub(crate) async fn open(&self, store: &mut Store, config: &str) -> CallResult<rapidbyte_protocol::OpenInfo> {
                let r = super::each_role!(self, call_open(store, config));
                Ok(r.map(Into::into).map_err(Into::into))
            }

            pub(crate) async fn validate(&self, store: &mut Store) -> CallResult<()> {
                Ok(super::each_role!(self, call_validate(store)).map_err(Into::into))
            }

            pub(crate) async fn discover(&self, store: &mut Store) -> CallResult<Vec<rapidbyte_protocol::StreamSchema>> {
                match self {
                    Self::Source(b) => {
                        let r = b.rapidbyte_connector_source_connector().call_discover(store).await?;
                        Ok(r.map(|v| v.into_iter().map(Into::into).collect()).map_err(Into::into))
                    }
                    _ => Ok(Err(rapidbyte_protocol::ConnectorError::config("DISCOVER_UNSUPPORTED", "only sources can discover streams"))),
                }
            }

            pub(crate) async fn run(&self, store: &mut Store, ctx: rapidbyte_protocol::StreamContext) -> CallResult<crate::sandbox::host_api::RunSummary> {
                use crate::sandbox::host_api::RunSummary;
                let ctx: wit::StreamContext = ctx.into();
                let r = match self {
                    Self::Source(b) => b.rapidbyte_connector_source_connector().call_run_read(store, &ctx).await?.map(|s| RunSummary::Read(s.into())),
                    Self::Destination(b) => b.rapidbyte_connector_destination_connector().call_run_write(store, &ctx).await?.map(|s| RunSummary::Write(s.into())),
                    Self::Transform(b) => b.rapidbyte_connector_transform_connector().call_run_transform(store, &ctx).await?.map(|s| RunSummary::Transform(s.into())),
                };
                Ok(r.map_err(Into::into))
            }

            pub(crate) async fn committed(
                &self,
                store: &mut Store,
                base: rapidbyte_protocol::CommitTokenBase,
            ) -> CallResult<Option<rapidbyte_protocol::CommittedToken>> {
                match self {
                    Self::Destination(b) => {
                        let r = b.rapidbyte_connector_destination_connector().call_committed(store, &base.into()).await?;
                        Ok(r.map(|t| t.map(Into::into)).map_err(Into::into))
                    }
                    _ => Ok(Ok(None)),
                }
            }

            pub(crate) async fn close(&self, store: &mut Store) -> CallResult<()> {
                Ok(super::each_role!(self, call_close(store)).map_err(Into::into))
            }
        }
    };
}
use version_module;

/// The same call on whichever role's export interface an instance has.
macro_rules! each_role {
    ($self:ident, $call:ident($store:ident $(, $arg:expr)*)) => {
        match $self {
            Self::Source(b) => b.rapidbyte_connector_source_connector().$call($store $(, $arg)*).await?,
            Self::Destination(b) => b.rapidbyte_connector_destination_connector().$call($store $(, $arg)*).await?,
            Self::Transform(b) => b.rapidbyte_connector_transform_connector().$call($store $(, $arg)*).await?,
        }
    };
}
use each_role;

/// The `host` functions every version shares, delegating to `HostApi`;
/// expanded inside each version's `impl wit_host::Host`.
macro_rules! shared_host_functions {
    () => {
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

        async fn emit_checkpoint(&mut self, cp: wit::Checkpoint) -> wasmtime::Result<Result<(), wit::ConnectorError>> {
            HostApi::enter(self)?;
            Ok(HostApi::checkpoint(self, cp.into()).await.map_err(Into::into))
        }

        async fn state_get(&mut self, scope: wit::StateScope, key: String) -> wasmtime::Result<Result<Option<String>, wit::ConnectorError>> {
            HostApi::enter(self)?;
            Ok(HostApi::state_get(self, scope.into(), key).map_err(Into::into))
        }

        async fn state_put(&mut self, scope: wit::StateScope, key: String, value: String) -> wasmtime::Result<Result<(), wit::ConnectorError>> {
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
    };
}
use shared_host_functions;
