//! Write Rapidbyte connectors in plain Rust.
//!
//! A connector is a WebAssembly component implementing one world of the
//! newest contract, `rapidbyte:connector@` [`CONTRACT_VERSION`] (`wit/v0.2`). This crate hides the
//! generated bindings: implement [`Source`], [`Destination`] or
//! [`Transform`], register it with [`export_source!`],
//! [`export_destination!`] or [`export_transform!`], and build with
//! `cargo build --target wasm32-wasip2` (enable the SDK feature of the
//! role: `source`, `destination` or `transform`).
//!
//! ```
//! use std::sync::Arc;
//! use rapidbyte_sdk::arrow::array::{Int64Array, RecordBatch};
//! use rapidbyte_sdk::arrow::datatypes::{DataType, Field, Schema};
//! use rapidbyte_sdk::{config, ConnectorError, Emitter, ReadSummary, Source, StreamContext};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { rows: i64 }
//!
//! struct Counter { rows: i64 }
//!
//! impl Source for Counter {
//!     fn open(json: &str) -> Result<Self, ConnectorError> {
//!         let c: Config = config::parse(json)?;
//!         Ok(Counter { rows: c.rows })
//!     }
//!
//!     fn read(&mut self, _ctx: &StreamContext, out: &mut Emitter) -> Result<ReadSummary, ConnectorError> {
//!         let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
//!         let column = Int64Array::from_iter_values(0..self.rows);
//!         let batch = RecordBatch::try_new(schema, vec![Arc::new(column)])
//!             .map_err(|e| ConnectorError::internal("BUILD_BATCH", e.to_string()))?;
//!         out.emit(&batch)?; // split to max_batch_bytes, metrics reported
//!         out.checkpoint(None)?;
//!         Ok(out.summary())
//!     }
//! }
//!
//! // In a connector crate built for wasm32-wasip2 with feature `source`:
//! // rapidbyte_sdk::export_source!(Counter, features: ["incremental"]);
//! # let c = Counter::open(r#"{"rows": 3}"#).unwrap();
//! # assert_eq!(c.rows, 3);
//! ```
//!
//! Network access is deny-by-default: declare the config fields that name
//! the endpoints you connect to (`endpoints: ["/host,/port,5432"]`: JSON
//! pointers to host and port, and a default port), and the host grants
//! exactly those addresses.

#![deny(missing_docs)]

#[doc(hidden)]
pub mod __bindings;
#[doc(hidden)]
pub use __bindings::export as __export;
pub mod config;
mod emit;
pub mod host;
mod input;
pub mod ipc;
mod traits;

pub use emit::Emitter;
pub use input::{Incoming, Input};
pub use traits::{Destination, Source, Transform};

pub use rapidbyte_protocol::{
    metric_names, schema_metadata, BackoffClass, Checkpoint, CheckpointKind, CommitState, CommitTokenBase, CommittedToken,
    ConnectorError, CursorInfo, DataErrorPolicy, ErrorCategory, Feature, Label, Limits, LogLevel, Metric,
    MetricValue, PhaseTiming, Policies, ReadSummary, SchemaPolicy, StateScope, StreamContext, StreamSchema,
    SyncMode, TransformSummary, WriteMode, WriteSummary, CONTRACT_VERSION, NewColumnPolicy, RemovedColumnPolicy,
    TypeChangePolicy, NullabilityChangePolicy, NextItem, AbortReason, DeadLetter, StreamEstimate,
    DEFAULT_MAX_RECORD_BYTES, contract_version,
};

/// The Arrow crates the SDK is built with, so connectors use the same versions.
pub mod arrow {
    pub use arrow_array as array;
    pub use arrow_schema as datatypes;
}

/// Builds the manifest text a component carries (see
/// `rapidbyte_protocol::Manifest`). Used by the export macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __manifest_text {
    ($role:literal; $($feat:literal),*; $($ep:literal),*; $($tls:literal),*) => {
        concat!(
            "rapidbyte-manifest=1\nname=", env!("CARGO_PKG_NAME"),
            "\nversion=", env!("CARGO_PKG_VERSION"),
            "\nrole=", $role,
            "\ncontract=", $crate::contract_version!(), "\n",
            $("feature=", $feat, "\n",)*
            $("endpoint=", $ep, "\n",)*
            $("endpoint-tls=", $tls, "\n",)*
        )
    };
}

/// Places the manifest in the `rapidbyte:manifest` custom section, which the
/// host reads before instantiating (SPEC § Security: endpoint grants).
#[doc(hidden)]
#[macro_export]
macro_rules! __manifest_section {
    ($text:ident) => {
        #[allow(unsafe_code)]
        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "rapidbyte:manifest")]
        #[used]
        static __RAPIDBYTE_MANIFEST: [u8; $text.len()] = $crate::__export::manifest_bytes::<{ $text.len() }>($text);
    };
}

/// Places the connector's config schema (a JSON Schema, as text) in the
/// `rapidbyte:config-schema` custom section; the host checks the pipeline's
/// config section against it before anything runs.
#[doc(hidden)]
#[macro_export]
macro_rules! __config_schema_section {
    ($schema:expr) => {
        const __CONFIG_SCHEMA: &str = $schema;
        #[allow(unsafe_code)]
        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "rapidbyte:config-schema")]
        #[used]
        static __RAPIDBYTE_CONFIG_SCHEMA: [u8; __CONFIG_SCHEMA.len()] = $crate::__export::manifest_bytes::<{ __CONFIG_SCHEMA.len() }>(__CONFIG_SCHEMA);
    };
}

/// Registers a [`Source`] implementation as the component's export.
///
/// `features` lists the contract features it supports (kebab-case);
/// `endpoints` lists `"host-pointer,port-pointer,default-port"` entries
/// naming the config fields it connects to; `tls` lists
/// `"host-pointer,postgres"` entries for endpoints whose TLS the host
/// provides (SPEC § Security, TLS); `config_schema` is the JSON Schema of
/// the connector's config section as text (usually
/// `include_str!("../config.schema.json")`), checked by the host at
/// preflight so a mistake is located in the pipeline file before anything
/// runs (SPEC § Roles and worlds, config schema).
///
/// ```text
/// rapidbyte_sdk::export_source!(MySource, features: ["incremental"], endpoints: ["/host,/port,5432"],
///     config_schema: include_str!("../config.schema.json"));
/// ```
#[cfg(feature = "source")]
#[macro_export]
macro_rules! export_source {
    ($ty:ty $(, features: [$($feat:literal),* $(,)?])? $(, endpoints: [$($ep:literal),* $(,)?])? $(, tls: [$($tls:literal),* $(,)?])? $(, config_schema: $schema:expr)? $(,)?) => {
        const _: () = {
            const __MANIFEST: &str = $crate::__manifest_text!("source"; $($($feat),*)?; $($($ep),*)?; $($($tls),*)?);
            $crate::__manifest_section!(__MANIFEST);
            $($crate::__config_schema_section!($schema);)?
            struct __RapidbyteSource;
            impl $crate::__export::SourceGuest for __RapidbyteSource {
                fn open(config: String) -> Result<$crate::__export::types::OpenInfo, $crate::__export::types::ConnectorError> {
                    $crate::__export::source_open::<$ty>(__MANIFEST, config)
                }
                fn discover() -> Result<Vec<$crate::__export::types::StreamSchema>, $crate::__export::types::ConnectorError> {
                    $crate::__export::source_discover::<$ty>()
                }
                fn validate() -> Result<(), $crate::__export::types::ConnectorError> {
                    $crate::__export::source_validate::<$ty>()
                }
                fn run_read(ctx: $crate::__export::types::StreamContext) -> Result<$crate::__export::types::ReadSummary, $crate::__export::types::ConnectorError> {
                    $crate::__export::source_run_read::<$ty>(ctx)
                }
                fn close() -> Result<(), $crate::__export::types::ConnectorError> {
                    $crate::__export::source_close::<$ty>()
                }
            }
            // Natively the adapter is still compiled and type-checked, and
            // counts as used, so a connector's code gets no dead-code noise.
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(dead_code)]
            fn __rapidbyte_keep() {
                let _ = <__RapidbyteSource as $crate::__export::SourceGuest>::open;
            }
            // Export symbols only for the component; native builds (unit
            // tests of a connector's pure logic) link as plain libraries.
            #[cfg(target_arch = "wasm32")]
            $crate::__bindings::source::__export_source_world!(__RapidbyteSource with_types_in $crate::__bindings::source);
        };
    };
}

/// Registers a [`Destination`] implementation as the component's export.
/// Arguments as for [`export_source!`].
#[cfg(feature = "destination")]
#[macro_export]
macro_rules! export_destination {
    ($ty:ty $(, features: [$($feat:literal),* $(,)?])? $(, endpoints: [$($ep:literal),* $(,)?])? $(, tls: [$($tls:literal),* $(,)?])? $(, config_schema: $schema:expr)? $(,)?) => {
        const _: () = {
            const __MANIFEST: &str = $crate::__manifest_text!("destination"; $($($feat),*)?; $($($ep),*)?; $($($tls),*)?);
            $crate::__manifest_section!(__MANIFEST);
            $($crate::__config_schema_section!($schema);)?
            struct __RapidbyteDestination;
            impl $crate::__export::DestinationGuest for __RapidbyteDestination {
                fn open(config: String) -> Result<$crate::__export::types::OpenInfo, $crate::__export::types::ConnectorError> {
                    $crate::__export::destination_open::<$ty>(__MANIFEST, config)
                }
                fn validate() -> Result<(), $crate::__export::types::ConnectorError> {
                    $crate::__export::destination_validate::<$ty>()
                }
                fn run_write(ctx: $crate::__export::types::StreamContext) -> Result<$crate::__export::types::WriteSummary, $crate::__export::types::ConnectorError> {
                    $crate::__export::destination_run_write::<$ty>(ctx)
                }
                fn committed(base: $crate::__export::types::CommitTokenBase) -> Result<Option<$crate::__export::types::CommittedToken>, $crate::__export::types::ConnectorError> {
                    $crate::__export::destination_committed::<$ty>(base)
                }
                fn close() -> Result<(), $crate::__export::types::ConnectorError> {
                    $crate::__export::destination_close::<$ty>()
                }
            }
            // Natively the adapter is still compiled and type-checked, and
            // counts as used, so a connector's code gets no dead-code noise.
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(dead_code)]
            fn __rapidbyte_keep() {
                let _ = <__RapidbyteDestination as $crate::__export::DestinationGuest>::open;
            }
            // Export symbols only for the component; native builds (unit
            // tests of a connector's pure logic) link as plain libraries.
            #[cfg(target_arch = "wasm32")]
            $crate::__bindings::destination::__export_destination_world!(__RapidbyteDestination with_types_in $crate::__bindings::destination);
        };
    };
}

/// Registers a [`Transform`] implementation as the component's export.
/// Arguments as for [`export_source!`].
#[cfg(feature = "transform")]
#[macro_export]
macro_rules! export_transform {
    ($ty:ty $(, features: [$($feat:literal),* $(,)?])? $(, endpoints: [$($ep:literal),* $(,)?])? $(, tls: [$($tls:literal),* $(,)?])? $(, config_schema: $schema:expr)? $(,)?) => {
        const _: () = {
            const __MANIFEST: &str = $crate::__manifest_text!("transform"; $($($feat),*)?; $($($ep),*)?; $($($tls),*)?);
            $crate::__manifest_section!(__MANIFEST);
            $($crate::__config_schema_section!($schema);)?
            struct __RapidbyteTransform;
            impl $crate::__export::TransformGuest for __RapidbyteTransform {
                fn open(config: String) -> Result<$crate::__export::types::OpenInfo, $crate::__export::types::ConnectorError> {
                    $crate::__export::transform_open::<$ty>(__MANIFEST, config)
                }
                fn validate() -> Result<(), $crate::__export::types::ConnectorError> {
                    $crate::__export::transform_validate::<$ty>()
                }
                fn run_transform(ctx: $crate::__export::types::StreamContext) -> Result<$crate::__export::types::TransformSummary, $crate::__export::types::ConnectorError> {
                    $crate::__export::transform_run::<$ty>(ctx)
                }
                fn close() -> Result<(), $crate::__export::types::ConnectorError> {
                    $crate::__export::transform_close::<$ty>()
                }
            }
            // Natively the adapter is still compiled and type-checked, and
            // counts as used, so a connector's code gets no dead-code noise.
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(dead_code)]
            fn __rapidbyte_keep() {
                let _ = <__RapidbyteTransform as $crate::__export::TransformGuest>::open;
            }
            // Export symbols only for the component; native builds (unit
            // tests of a connector's pure logic) link as plain libraries.
            #[cfg(target_arch = "wasm32")]
            $crate::__bindings::transform::__export_transform_world!(__RapidbyteTransform with_types_in $crate::__bindings::transform);
        };
    };
}

#[cfg(test)]
mod tests {
    use rapidbyte_protocol::{Feature, Manifest, Role};

    #[test]
    fn manifest_macro_matches_protocol() {
        const TEXT: &str = crate::__manifest_text!("source"; "incremental", "exactly-once"; "/host,/port,5432"; "/host,postgres");
        let m = Manifest::parse(TEXT).unwrap();
        assert_eq!(m.contract, crate::CONTRACT_VERSION, "update the literal in __manifest_text!");
        assert_eq!(m.role, Role::Source);
        assert_eq!(m.name, "rapidbyte-sdk");
        assert_eq!(m.features, vec![Feature::Incremental, Feature::ExactlyOnce]);
        assert_eq!(m.endpoints[0].default_port, Some(5432));
        assert_eq!(m.endpoints[0].tls.as_deref(), Some("postgres"));
        let bytes = crate::__export::manifest_bytes::<{ TEXT.len() }>(TEXT);
        assert_eq!(&bytes[..], TEXT.as_bytes());
    }
}
