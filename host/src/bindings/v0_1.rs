//! `rapidbyte:connector@0.1.0`: bindings and conversions.
#![allow(clippy::all)]

use rapidbyte_protocol as p;
use wasmtime::component::{HasSelf, Linker};

mod generated {
    pub mod source {
        wasmtime::component::bindgen!({
            world: "rapidbyte:connector/source@0.1.0",
            path: "../wit/v0.1",
            imports: { default: async },
            exports: { default: async },
        });
    }
    pub mod destination {
        wasmtime::component::bindgen!({
            world: "rapidbyte:connector/destination@0.1.0",
            path: "../wit/v0.1",
            imports: { default: async },
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
            imports: { default: async },
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
    async fn log(&mut self, level: wit::LogLevel, message: String, fields: Vec<wit::Label>) {
        HostApi::log(self, level.into(), message, fields.into_iter().map(Into::into).collect());
    }

    async fn metric(&mut self, m: wit::MetricRecord) {
        HostApi::metric(self, m.into());
    }

    async fn emit_batch(&mut self, batch: Vec<u8>) -> Result<(), wit::ConnectorError> {
        HostApi::emit_batch(self, batch).await.map_err(Into::into)
    }

    async fn next_batch(&mut self) -> Result<wit::NextItem, wit::ConnectorError> {
        HostApi::next_batch(self).await.map(Into::into).map_err(Into::into)
    }

    async fn emit_checkpoint(&mut self, cp: wit::Checkpoint) -> Result<(), wit::ConnectorError> {
        HostApi::checkpoint(self, cp.into()).await.map_err(Into::into)
    }

    async fn state_get(&mut self, scope: wit::StateScope, key: String) -> Result<Option<String>, wit::ConnectorError> {
        HostApi::state_get(self, scope.into(), key).map_err(Into::into)
    }

    async fn state_put(&mut self, scope: wit::StateScope, key: String, value: String) -> Result<(), wit::ConnectorError> {
        HostApi::state_put(self, scope.into(), key, value).map_err(Into::into)
    }

    async fn state_compare_and_set(
        &mut self,
        scope: wit::StateScope,
        key: String,
        expected: Option<String>,
        value: String,
    ) -> Result<bool, wit::ConnectorError> {
        HostApi::state_compare_and_set(self, scope.into(), key, expected, value).map_err(Into::into)
    }
}

impl wit::Host for HostState {}

// ---- conversions: wit -> protocol ----

impl From<wit::LogLevel> for p::LogLevel {
    fn from(l: wit::LogLevel) -> Self {
        match l {
            wit::LogLevel::Trace => Self::Trace,
            wit::LogLevel::Debug => Self::Debug,
            wit::LogLevel::Info => Self::Info,
            wit::LogLevel::Warn => Self::Warn,
            wit::LogLevel::Error => Self::Error,
        }
    }
}

impl From<wit::Label> for p::Label {
    fn from(l: wit::Label) -> Self {
        Self { key: l.key, value: l.value }
    }
}

impl From<wit::MetricRecord> for p::Metric {
    fn from(m: wit::MetricRecord) -> Self {
        Self {
            name: m.name,
            value: match m.value {
                wit::MetricValue::Counter(v) => p::MetricValue::Counter(v),
                wit::MetricValue::Gauge(v) => p::MetricValue::Gauge(v),
                wit::MetricValue::Histogram(v) => p::MetricValue::Histogram(v),
            },
            labels: m.labels.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wit::StateScope> for p::StateScope {
    fn from(s: wit::StateScope) -> Self {
        match s {
            wit::StateScope::Pipeline => Self::Pipeline,
            wit::StateScope::Stream => Self::Stream,
        }
    }
}

impl From<wit::ErrorCategory> for p::ErrorCategory {
    fn from(c: wit::ErrorCategory) -> Self {
        match c {
            wit::ErrorCategory::Config => Self::Config,
            wit::ErrorCategory::Auth => Self::Auth,
            wit::ErrorCategory::Permission => Self::Permission,
            wit::ErrorCategory::RateLimit => Self::RateLimit,
            wit::ErrorCategory::TransientNetwork => Self::TransientNetwork,
            wit::ErrorCategory::TransientDb => Self::TransientDb,
            wit::ErrorCategory::Data => Self::Data,
            wit::ErrorCategory::Schema => Self::Schema,
            wit::ErrorCategory::Internal => Self::Internal,
        }
    }
}

impl From<p::ErrorCategory> for wit::ErrorCategory {
    fn from(c: p::ErrorCategory) -> Self {
        match c {
            p::ErrorCategory::Config => Self::Config,
            p::ErrorCategory::Auth => Self::Auth,
            p::ErrorCategory::Permission => Self::Permission,
            p::ErrorCategory::RateLimit => Self::RateLimit,
            p::ErrorCategory::TransientNetwork => Self::TransientNetwork,
            p::ErrorCategory::TransientDb => Self::TransientDb,
            p::ErrorCategory::Data => Self::Data,
            p::ErrorCategory::Schema => Self::Schema,
            p::ErrorCategory::Internal => Self::Internal,
        }
    }
}

impl From<wit::CommitState> for p::CommitState {
    fn from(s: wit::CommitState) -> Self {
        match s {
            wit::CommitState::BeforeCommit => Self::BeforeCommit,
            wit::CommitState::AfterCommitUnknown => Self::AfterCommitUnknown,
            wit::CommitState::AfterCommitConfirmed => Self::AfterCommitConfirmed,
        }
    }
}

impl From<p::CommitState> for wit::CommitState {
    fn from(s: p::CommitState) -> Self {
        match s {
            p::CommitState::BeforeCommit => Self::BeforeCommit,
            p::CommitState::AfterCommitUnknown => Self::AfterCommitUnknown,
            p::CommitState::AfterCommitConfirmed => Self::AfterCommitConfirmed,
        }
    }
}

impl From<wit::BackoffClass> for p::BackoffClass {
    fn from(b: wit::BackoffClass) -> Self {
        match b {
            wit::BackoffClass::Fast => Self::Fast,
            wit::BackoffClass::Normal => Self::Normal,
            wit::BackoffClass::Slow => Self::Slow,
        }
    }
}

impl From<p::BackoffClass> for wit::BackoffClass {
    fn from(b: p::BackoffClass) -> Self {
        match b {
            p::BackoffClass::Fast => Self::Fast,
            p::BackoffClass::Normal => Self::Normal,
            p::BackoffClass::Slow => Self::Slow,
        }
    }
}

impl From<wit::ConnectorError> for p::ConnectorError {
    fn from(e: wit::ConnectorError) -> Self {
        Self {
            category: e.category.into(),
            code: e.code,
            message: e.message,
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
            backoff_class: e.backoff_class.into(),
            safe_to_retry: e.safe_to_retry,
            commit_state: e.commit_state.map(Into::into),
            details: e.details,
        }
    }
}

impl From<p::ConnectorError> for wit::ConnectorError {
    fn from(e: p::ConnectorError) -> Self {
        Self {
            category: e.category.into(),
            code: e.code,
            message: e.message,
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
            backoff_class: e.backoff_class.into(),
            safe_to_retry: e.safe_to_retry,
            commit_state: e.commit_state.map(Into::into),
            details: e.details,
        }
    }
}

fn feature(f: wit::Feature) -> p::Feature {
    match f {
        wit::Feature::ExactlyOnce => p::Feature::ExactlyOnce,
        wit::Feature::BulkLoadCopy => p::Feature::BulkLoadCopy,
        wit::Feature::Upsert => p::Feature::Upsert,
        wit::Feature::Replace => p::Feature::Replace,
        wit::Feature::Incremental => p::Feature::Incremental,
        wit::Feature::Cdc => p::Feature::Cdc,
        wit::Feature::SchemaEvolution => p::Feature::SchemaEvolution,
        wit::Feature::PartitionedRead => p::Feature::PartitionedRead,
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

impl From<wit::OpenInfo> for p::OpenInfo {
    fn from(o: wit::OpenInfo) -> Self {
        Self {
            name: o.name,
            version: o.version,
            protocol_version: o.protocol_version,
            features: o.features.into_iter().map(feature).collect(),
            default_limits: o.default_limits.into(),
        }
    }
}

fn sync_mode(m: wit::SyncMode) -> p::SyncMode {
    match m {
        wit::SyncMode::FullRefresh => p::SyncMode::FullRefresh,
        wit::SyncMode::Incremental => p::SyncMode::Incremental,
        wit::SyncMode::Cdc => p::SyncMode::Cdc,
    }
}

impl From<wit::StreamSchema> for p::StreamSchema {
    fn from(s: wit::StreamSchema) -> Self {
        Self {
            name: s.name,
            schema: s.schema,
            primary_key: s.primary_key,
            cursor_candidates: s.cursor_candidates,
            sync_modes: s.sync_modes.into_iter().map(sync_mode).collect(),
        }
    }
}

impl From<wit::CursorInfo> for p::CursorInfo {
    fn from(c: wit::CursorInfo) -> Self {
        Self { field: c.field, tie_breaker: c.tie_breaker, last_value: c.last_value, last_tie_breaker: c.last_tie_breaker }
    }
}

impl From<p::CursorInfo> for wit::CursorInfo {
    fn from(c: p::CursorInfo) -> Self {
        Self { field: c.field, tie_breaker: c.tie_breaker, last_value: c.last_value, last_tie_breaker: c.last_tie_breaker }
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

impl From<p::NextItem> for wit::NextItem {
    fn from(i: p::NextItem) -> Self {
        match i {
            p::NextItem::Batch(b) => Self::Batch(b),
            p::NextItem::Checkpoint(c) => Self::Checkpoint(c.into()),
            p::NextItem::EndOfStream => Self::EndOfStream,
        }
    }
}

fn phases(v: Vec<wit::PhaseTiming>) -> Vec<p::PhaseTiming> {
    v.into_iter().map(|t| p::PhaseTiming { name: t.name, ms: t.ms }).collect()
}

impl From<wit::ReadSummary> for p::ReadSummary {
    fn from(s: wit::ReadSummary) -> Self {
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

impl From<wit::WriteSummary> for p::WriteSummary {
    fn from(s: wit::WriteSummary) -> Self {
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

impl From<wit::TransformSummary> for p::TransformSummary {
    fn from(s: wit::TransformSummary) -> Self {
        Self { records_in: s.records_in, records_out: s.records_out, batches_emitted: s.batches_emitted, phases: phases(s.phases) }
    }
}

impl From<wit::CommittedToken> for p::CommittedToken {
    fn from(t: wit::CommittedToken) -> Self {
        Self { run_id: t.run_id, sequence: t.sequence, cursor: t.cursor.map(Into::into) }
    }
}

impl From<p::CommitTokenBase> for wit::CommitTokenBase {
    fn from(b: p::CommitTokenBase) -> Self {
        Self { pipeline: b.pipeline, stream_name: b.stream, run_id: b.run_id }
    }
}

impl From<p::StreamContext> for wit::StreamContext {
    fn from(c: p::StreamContext) -> Self {
        let s = c.policies.schema_evolution;
        Self {
            pipeline: c.pipeline,
            run_id: c.run_id,
            stream_name: c.stream_name,
            schema: c.schema,
            selected_columns: c.selected_columns,
            sync_mode: match c.sync_mode {
                p::SyncMode::FullRefresh => wit::SyncMode::FullRefresh,
                p::SyncMode::Incremental => wit::SyncMode::Incremental,
                p::SyncMode::Cdc => wit::SyncMode::Cdc,
            },
            cursor: c.cursor.map(Into::into),
            write_mode: match c.write_mode {
                p::WriteMode::Append => wit::WriteMode::Append,
                p::WriteMode::Replace => wit::WriteMode::Replace,
                p::WriteMode::Upsert(k) => wit::WriteMode::Upsert(k),
            },
            limits: c.limits.into(),
            policies: wit::Policies {
                on_data_error: match c.policies.on_data_error {
                    p::DataErrorPolicy::Fail => wit::DataErrorPolicy::Fail,
                    p::DataErrorPolicy::Skip => wit::DataErrorPolicy::Skip,
                    p::DataErrorPolicy::Dlq => wit::DataErrorPolicy::Dlq,
                },
                schema_evolution: wit::SchemaPolicy {
                    new_column: match s.new_column {
                        p::NewColumnPolicy::Add => wit::NewColumnPolicy::Add,
                        p::NewColumnPolicy::Ignore => wit::NewColumnPolicy::Ignore,
                        p::NewColumnPolicy::Fail => wit::NewColumnPolicy::Fail,
                    },
                    removed_column: match s.removed_column {
                        p::RemovedColumnPolicy::Ignore => wit::RemovedColumnPolicy::Ignore,
                        p::RemovedColumnPolicy::Fail => wit::RemovedColumnPolicy::Fail,
                    },
                    type_change: match s.type_change {
                        p::TypeChangePolicy::Coerce => wit::TypeChangePolicy::Coerce,
                        p::TypeChangePolicy::Fail => wit::TypeChangePolicy::Fail,
                        p::TypeChangePolicy::Null => wit::TypeChangePolicy::Null,
                    },
                    nullability_change: match s.nullability_change {
                        p::NullabilityChangePolicy::Allow => wit::NullabilityChangePolicy::Allow,
                        p::NullabilityChangePolicy::Fail => wit::NullabilityChangePolicy::Fail,
                    },
                },
            },
            commit_token_base: c.commit_token_base.map(Into::into),
            options: c.options,
        }
    }
}

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
