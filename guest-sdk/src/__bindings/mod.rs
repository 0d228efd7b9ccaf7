//! The only place wit-bindgen runs (STYLE.md: generated types stay behind a
//! thin layer). One `generate!` per world; the destination and transform
//! worlds reuse one set of `types` and `host` bindings through `with`, so there is a single set of conversions, here, into the plain
//! types of `rapidbyte-protocol`.
#![allow(missing_docs, unsafe_code, clippy::all)]

/// Bindings of the `types` and `host` interfaces, shared by every world.
///
/// They come from a world that only imports `host`, so linking them adds no
/// export requirement to a component; each role's exports are generated
/// behind its own cargo feature (a component implements one role).
pub mod imports {
    wit_bindgen::generate!({
        inline: "package rapidbyte:sdk-imports; world imports { import rapidbyte:connector/host@0.1.0; }",
        path: "../wit/v0.1",
        world: "rapidbyte:sdk-imports/imports",
        generate_all,
    });
}

/// Bindings of world `source`.
#[cfg(feature = "source")]
pub mod source {
    wit_bindgen::generate!({
        world: "rapidbyte:connector/source@0.1.0",
        path: "../wit/v0.1",
        pub_export_macro: true,
        export_macro_name: "__export_source_world",
        default_bindings_module: "::rapidbyte_sdk::__bindings::source",
        with: {
            "rapidbyte:connector/types@0.1.0": crate::__bindings::imports::rapidbyte::connector::types,
            "rapidbyte:connector/host@0.1.0": crate::__bindings::imports::rapidbyte::connector::host,
        },
    });
}

/// Bindings of world `destination`.
#[cfg(feature = "destination")]
pub mod destination {
    wit_bindgen::generate!({
        world: "rapidbyte:connector/destination@0.1.0",
        path: "../wit/v0.1",
        pub_export_macro: true,
        export_macro_name: "__export_destination_world",
        default_bindings_module: "::rapidbyte_sdk::__bindings::destination",
        with: {
            "rapidbyte:connector/types@0.1.0": crate::__bindings::imports::rapidbyte::connector::types,
            "rapidbyte:connector/host@0.1.0": crate::__bindings::imports::rapidbyte::connector::host,
        },
    });
}

/// Bindings of world `transform`.
#[cfg(feature = "transform")]
pub mod transform {
    wit_bindgen::generate!({
        world: "rapidbyte:connector/transform@0.1.0",
        path: "../wit/v0.1",
        pub_export_macro: true,
        export_macro_name: "__export_transform_world",
        default_bindings_module: "::rapidbyte_sdk::__bindings::transform",
        with: {
            "rapidbyte:connector/types@0.1.0": crate::__bindings::imports::rapidbyte::connector::types,
            "rapidbyte:connector/host@0.1.0": crate::__bindings::imports::rapidbyte::connector::host,
        },
    });
}

pub mod export;

use imports::rapidbyte::connector::host as wit_host;
pub use imports::rapidbyte::connector::types as wit;

use rapidbyte_protocol as p;

// ---- protocol -> wit (values the guest sends) ----

impl From<p::ConnectorError> for wit::ConnectorError {
    fn from(e: p::ConnectorError) -> Self {
        Self {
            category: match e.category {
                p::ErrorCategory::Config => wit::ErrorCategory::Config,
                p::ErrorCategory::Auth => wit::ErrorCategory::Auth,
                p::ErrorCategory::Permission => wit::ErrorCategory::Permission,
                p::ErrorCategory::RateLimit => wit::ErrorCategory::RateLimit,
                p::ErrorCategory::TransientNetwork => wit::ErrorCategory::TransientNetwork,
                p::ErrorCategory::TransientDb => wit::ErrorCategory::TransientDb,
                p::ErrorCategory::Data => wit::ErrorCategory::Data,
                p::ErrorCategory::Schema => wit::ErrorCategory::Schema,
                p::ErrorCategory::Internal => wit::ErrorCategory::Internal,
            },
            code: e.code,
            message: e.message,
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
            backoff_class: match e.backoff_class {
                p::BackoffClass::Fast => wit::BackoffClass::Fast,
                p::BackoffClass::Normal => wit::BackoffClass::Normal,
                p::BackoffClass::Slow => wit::BackoffClass::Slow,
            },
            safe_to_retry: e.safe_to_retry,
            commit_state: e.commit_state.map(|s| match s {
                p::CommitState::BeforeCommit => wit::CommitState::BeforeCommit,
                p::CommitState::AfterCommitUnknown => wit::CommitState::AfterCommitUnknown,
                p::CommitState::AfterCommitConfirmed => wit::CommitState::AfterCommitConfirmed,
            }),
            details: e.details,
        }
    }
}

impl From<wit::ConnectorError> for p::ConnectorError {
    fn from(e: wit::ConnectorError) -> Self {
        Self {
            category: match e.category {
                wit::ErrorCategory::Config => p::ErrorCategory::Config,
                wit::ErrorCategory::Auth => p::ErrorCategory::Auth,
                wit::ErrorCategory::Permission => p::ErrorCategory::Permission,
                wit::ErrorCategory::RateLimit => p::ErrorCategory::RateLimit,
                wit::ErrorCategory::TransientNetwork => p::ErrorCategory::TransientNetwork,
                wit::ErrorCategory::TransientDb => p::ErrorCategory::TransientDb,
                wit::ErrorCategory::Data => p::ErrorCategory::Data,
                wit::ErrorCategory::Schema => p::ErrorCategory::Schema,
                wit::ErrorCategory::Internal => p::ErrorCategory::Internal,
            },
            code: e.code,
            message: e.message,
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
            backoff_class: match e.backoff_class {
                wit::BackoffClass::Fast => p::BackoffClass::Fast,
                wit::BackoffClass::Normal => p::BackoffClass::Normal,
                wit::BackoffClass::Slow => p::BackoffClass::Slow,
            },
            safe_to_retry: e.safe_to_retry,
            commit_state: e.commit_state.map(|s| match s {
                wit::CommitState::BeforeCommit => p::CommitState::BeforeCommit,
                wit::CommitState::AfterCommitUnknown => p::CommitState::AfterCommitUnknown,
                wit::CommitState::AfterCommitConfirmed => p::CommitState::AfterCommitConfirmed,
            }),
            details: e.details,
        }
    }
}

impl From<p::Limits> for wit::Limits {
    fn from(l: p::Limits) -> Self {
        Self {
            max_batch_bytes: l.max_batch_bytes,
            max_inflight_batches: l.max_inflight_batches,
            checkpoint_interval_bytes: l.checkpoint_interval_bytes,
            checkpoint_interval_rows: l.checkpoint_interval_rows,
            checkpoint_interval_seconds: l.checkpoint_interval_seconds,
        }
    }
}

impl From<wit::Limits> for p::Limits {
    fn from(l: wit::Limits) -> Self {
        Self {
            max_batch_bytes: l.max_batch_bytes,
            max_inflight_batches: l.max_inflight_batches,
            checkpoint_interval_bytes: l.checkpoint_interval_bytes,
            checkpoint_interval_rows: l.checkpoint_interval_rows,
            checkpoint_interval_seconds: l.checkpoint_interval_seconds,
        }
    }
}

pub fn feature(f: p::Feature) -> wit::Feature {
    match f {
        p::Feature::ExactlyOnce => wit::Feature::ExactlyOnce,
        p::Feature::BulkLoadCopy => wit::Feature::BulkLoadCopy,
        p::Feature::Upsert => wit::Feature::Upsert,
        p::Feature::Replace => wit::Feature::Replace,
        p::Feature::Incremental => wit::Feature::Incremental,
        p::Feature::Cdc => wit::Feature::Cdc,
        p::Feature::SchemaEvolution => wit::Feature::SchemaEvolution,
        p::Feature::PartitionedRead => wit::Feature::PartitionedRead,
    }
}

impl From<p::OpenInfo> for wit::OpenInfo {
    fn from(o: p::OpenInfo) -> Self {
        Self {
            name: o.name,
            version: o.version,
            protocol_version: o.protocol_version,
            features: o.features.into_iter().map(feature).collect(),
            default_limits: o.default_limits.into(),
        }
    }
}

fn sync_mode_to_wit(m: p::SyncMode) -> wit::SyncMode {
    match m {
        p::SyncMode::FullRefresh => wit::SyncMode::FullRefresh,
        p::SyncMode::Incremental => wit::SyncMode::Incremental,
        p::SyncMode::Cdc => wit::SyncMode::Cdc,
    }
}

impl From<p::StreamSchema> for wit::StreamSchema {
    fn from(s: p::StreamSchema) -> Self {
        Self {
            name: s.name,
            schema: s.schema,
            primary_key: s.primary_key,
            cursor_candidates: s.cursor_candidates,
            sync_modes: s.sync_modes.into_iter().map(sync_mode_to_wit).collect(),
        }
    }
}

impl From<p::CursorInfo> for wit::CursorInfo {
    fn from(c: p::CursorInfo) -> Self {
        Self { field: c.field, tie_breaker: c.tie_breaker, last_value: c.last_value, last_tie_breaker: c.last_tie_breaker }
    }
}

impl From<wit::CursorInfo> for p::CursorInfo {
    fn from(c: wit::CursorInfo) -> Self {
        Self { field: c.field, tie_breaker: c.tie_breaker, last_value: c.last_value, last_tie_breaker: c.last_tie_breaker }
    }
}

impl From<p::Checkpoint> for wit::Checkpoint {
    fn from(c: p::Checkpoint) -> Self {
        Self {
            kind: match c.kind {
                p::CheckpointKind::Source => wit::CheckpointKind::Source,
                p::CheckpointKind::Destination => wit::CheckpointKind::Destination,
            },
            sequence: c.sequence,
            cursor: c.cursor.map(Into::into),
            records: c.records,
            bytes: c.bytes,
        }
    }
}

impl From<wit::Checkpoint> for p::Checkpoint {
    fn from(c: wit::Checkpoint) -> Self {
        Self {
            kind: match c.kind {
                wit::CheckpointKind::Source => p::CheckpointKind::Source,
                wit::CheckpointKind::Destination => p::CheckpointKind::Destination,
            },
            sequence: c.sequence,
            cursor: c.cursor.map(Into::into),
            records: c.records,
            bytes: c.bytes,
        }
    }
}

impl From<p::CommittedToken> for wit::CommittedToken {
    fn from(t: p::CommittedToken) -> Self {
        Self { run_id: t.run_id, sequence: t.sequence, cursor: t.cursor.map(Into::into) }
    }
}

impl From<wit::CommitTokenBase> for p::CommitTokenBase {
    fn from(b: wit::CommitTokenBase) -> Self {
        Self { pipeline: b.pipeline, stream: b.stream_name, run_id: b.run_id }
    }
}

fn phases(v: Vec<p::PhaseTiming>) -> Vec<wit::PhaseTiming> {
    v.into_iter().map(|t| wit::PhaseTiming { name: t.name, ms: t.ms }).collect()
}

impl From<p::ReadSummary> for wit::ReadSummary {
    fn from(s: p::ReadSummary) -> Self {
        Self {
            records_read: s.records_read,
            bytes_read: s.bytes_read,
            batches_emitted: s.batches_emitted,
            checkpoints: s.checkpoints,
            records_skipped: s.records_skipped,
            phases: phases(s.phases),
        }
    }
}

impl From<p::WriteSummary> for wit::WriteSummary {
    fn from(s: p::WriteSummary) -> Self {
        Self {
            records_written: s.records_written,
            bytes_written: s.bytes_written,
            batches_written: s.batches_written,
            checkpoints: s.checkpoints,
            records_skipped: s.records_skipped,
            phases: phases(s.phases),
        }
    }
}

impl From<p::TransformSummary> for wit::TransformSummary {
    fn from(s: p::TransformSummary) -> Self {
        Self {
            records_in: s.records_in,
            records_out: s.records_out,
            batches_emitted: s.batches_emitted,
            phases: phases(s.phases),
        }
    }
}

impl From<wit::StreamContext> for p::StreamContext {
    fn from(c: wit::StreamContext) -> Self {
        Self {
            pipeline: c.pipeline,
            run_id: c.run_id,
            stream_name: c.stream_name,
            schema: c.schema,
            selected_columns: c.selected_columns,
            sync_mode: match c.sync_mode {
                wit::SyncMode::FullRefresh => p::SyncMode::FullRefresh,
                wit::SyncMode::Incremental => p::SyncMode::Incremental,
                wit::SyncMode::Cdc => p::SyncMode::Cdc,
            },
            cursor: c.cursor.map(Into::into),
            write_mode: match c.write_mode {
                wit::WriteMode::Append => p::WriteMode::Append,
                wit::WriteMode::Replace => p::WriteMode::Replace,
                wit::WriteMode::Upsert(keys) => p::WriteMode::Upsert(keys),
            },
            limits: c.limits.into(),
            policies: p::Policies {
                on_data_error: match c.policies.on_data_error {
                    wit::DataErrorPolicy::Fail => p::DataErrorPolicy::Fail,
                    wit::DataErrorPolicy::Skip => p::DataErrorPolicy::Skip,
                    wit::DataErrorPolicy::Dlq => p::DataErrorPolicy::Dlq,
                },
                schema_evolution: {
                    let s = c.policies.schema_evolution;
                    p::SchemaPolicy {
                        new_column: match s.new_column {
                            wit::NewColumnPolicy::Add => p::NewColumnPolicy::Add,
                            wit::NewColumnPolicy::Ignore => p::NewColumnPolicy::Ignore,
                            wit::NewColumnPolicy::Fail => p::NewColumnPolicy::Fail,
                        },
                        removed_column: match s.removed_column {
                            wit::RemovedColumnPolicy::Ignore => p::RemovedColumnPolicy::Ignore,
                            wit::RemovedColumnPolicy::Fail => p::RemovedColumnPolicy::Fail,
                        },
                        type_change: match s.type_change {
                            wit::TypeChangePolicy::Coerce => p::TypeChangePolicy::Coerce,
                            wit::TypeChangePolicy::Fail => p::TypeChangePolicy::Fail,
                            wit::TypeChangePolicy::Null => p::TypeChangePolicy::Null,
                        },
                        nullability_change: match s.nullability_change {
                            wit::NullabilityChangePolicy::Allow => p::NullabilityChangePolicy::Allow,
                            wit::NullabilityChangePolicy::Fail => p::NullabilityChangePolicy::Fail,
                        },
                    }
                },
            },
            commit_token_base: c.commit_token_base.map(Into::into),
            options: c.options,
        }
    }
}

impl From<p::Metric> for wit::MetricRecord {
    fn from(m: p::Metric) -> Self {
        Self {
            name: m.name,
            value: match m.value {
                p::MetricValue::Counter(v) => wit::MetricValue::Counter(v),
                p::MetricValue::Gauge(v) => wit::MetricValue::Gauge(v),
                p::MetricValue::Histogram(v) => wit::MetricValue::Histogram(v),
            },
            labels: m.labels.into_iter().map(|l| wit::Label { key: l.key, value: l.value }).collect(),
        }
    }
}

fn log_level(l: p::LogLevel) -> wit::LogLevel {
    match l {
        p::LogLevel::Trace => wit::LogLevel::Trace,
        p::LogLevel::Debug => wit::LogLevel::Debug,
        p::LogLevel::Info => wit::LogLevel::Info,
        p::LogLevel::Warn => wit::LogLevel::Warn,
        p::LogLevel::Error => wit::LogLevel::Error,
    }
}

fn state_scope(s: p::StateScope) -> wit::StateScope {
    match s {
        p::StateScope::Pipeline => wit::StateScope::Pipeline,
        p::StateScope::Stream => wit::StateScope::Stream,
    }
}

// ---- host calls in plain types (the rest of the SDK uses only these) ----

pub fn host_log(level: p::LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<wit::Label> =
        fields.iter().map(|(k, v)| wit::Label { key: (*k).to_string(), value: (*v).to_string() }).collect();
    wit_host::log(log_level(level), message, &fields);
}

pub fn host_metric(m: p::Metric) {
    wit_host::metric(&m.into());
}

pub fn host_emit_batch(frame: &[u8]) -> Result<(), p::ConnectorError> {
    wit_host::emit_batch(frame).map_err(Into::into)
}

pub fn host_next_batch() -> Result<p::NextItem, p::ConnectorError> {
    Ok(match wit_host::next_batch()? {
        wit::NextItem::Batch(frame) => p::NextItem::Batch(frame),
        wit::NextItem::Checkpoint(cp) => p::NextItem::Checkpoint(cp.into()),
        wit::NextItem::EndOfStream => p::NextItem::EndOfStream,
    })
}

pub fn host_checkpoint(cp: p::Checkpoint) -> Result<(), p::ConnectorError> {
    wit_host::emit_checkpoint(&cp.into()).map_err(Into::into)
}

pub fn host_state_get(scope: p::StateScope, key: &str) -> Result<Option<String>, p::ConnectorError> {
    wit_host::state_get(state_scope(scope), key).map_err(Into::into)
}

pub fn host_state_put(scope: p::StateScope, key: &str, value: &str) -> Result<(), p::ConnectorError> {
    wit_host::state_put(state_scope(scope), key, value).map_err(Into::into)
}

pub fn host_state_compare_and_set(
    scope: p::StateScope,
    key: &str,
    expected: Option<&str>,
    value: &str,
) -> Result<bool, p::ConnectorError> {
    wit_host::state_compare_and_set(state_scope(scope), key, expected, value).map_err(Into::into)
}
