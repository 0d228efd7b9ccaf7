//! One owner for the mapping between generated WIT types and this crate's
//! types. wasmtime's `bindgen!` (host) and wit-bindgen (guest SDK) generate
//! the same Rust names for `rapidbyte:connector/types`, so each side invokes
//! [`wit_conversions!`] on its generated module and gets `From` impls in both
//! directions, instead of keeping two hand-written copies that could drift.

/// Implements `From` in both directions between `$w::X` (a generated
/// `rapidbyte:connector/types@0.1.0` module, brought into scope under a
/// single name) and this crate's types.
///
/// ```text
/// use generated::rapidbyte::connector::types as wit;
/// rapidbyte_protocol::wit_conversions!(wit);
/// ```
#[macro_export]
macro_rules! wit_conversions {
    // The newest contract: every type, both ways.
    ($w:ident) => {
        $crate::wit_conversions!(@common $w; present: [max_record_bytes]; absent: []);
        $crate::__wit_enum!($w, AbortReason { SourceFailed, Cancelled, HostStopped });
        $crate::__wit_variant!($w, NextItem { Batch(frame), Checkpoint(cp), EndOfStream, Aborted(reason), DeadLetter(row) });
        $crate::__wit_record!($w, DeadLetter = DeadLetter { into: [content, error], opt: [key], vec: [] });
        $crate::__wit_record!($w, StreamEstimate = StreamEstimate { into: [], opt: [records, bytes], vec: [] });
    };
    // Contract 0.1: the types it shares with 0.2; the fields 0.2 added are
    // left out going to 0.1 and read as their defaults coming from it.
    // `NextItem` is converted by the host's 0.1 shim (0.2 has more variants).
    ($w:ident, v0_1) => {
        $crate::wit_conversions!(@common $w; present: []; absent: [max_record_bytes]);
    };
    (@common $w:ident; present: [$($present:ident),*]; absent: [$($absent:ident),*]) => {
        $crate::__wit_enum!($w, ErrorCategory { Config, Auth, Permission, RateLimit, TransientNetwork, TransientDb, Data, Schema, Internal });
        $crate::__wit_enum!($w, BackoffClass { Fast, Normal, Slow });
        $crate::__wit_enum!($w, CommitState { BeforeCommit, AfterCommitUnknown, AfterCommitConfirmed });
        $crate::__wit_enum!($w, Feature { ExactlyOnce, BulkLoadCopy, Upsert, Replace, Incremental, Cdc, SchemaEvolution, PartitionedRead });
        $crate::__wit_enum!($w, LogLevel { Trace, Debug, Info, Warn, Error });
        $crate::__wit_enum!($w, SyncMode { FullRefresh, Incremental, Cdc });
        $crate::__wit_enum!($w, CheckpointKind { Source, Destination });
        $crate::__wit_enum!($w, StateScope { Pipeline, Stream });
        $crate::__wit_enum!($w, DataErrorPolicy { Fail, Skip, Dlq });
        $crate::__wit_enum!($w, NewColumnPolicy { Add, Ignore, Fail });
        $crate::__wit_enum!($w, RemovedColumnPolicy { Ignore, Fail });
        $crate::__wit_enum!($w, TypeChangePolicy { Coerce, Fail, Null });
        $crate::__wit_enum!($w, NullabilityChangePolicy { Allow, Fail });

        $crate::__wit_variant!($w, MetricValue { Counter(v), Gauge(v), Histogram(v) });
        $crate::__wit_variant!($w, WriteMode { Append, Replace, Upsert(keys) });

        $crate::__wit_record!($w, ConnectorError = ConnectorError {
            into: [category, code, message, retryable, retry_after_ms, backoff_class, safe_to_retry, details],
            opt: [commit_state], vec: []
        });
        $crate::__wit_record!($w, Label = Label { into: [key, value], opt: [], vec: [] });
        $crate::__wit_record!($w, Metric = MetricRecord { into: [name, value], opt: [], vec: [labels] });
        $crate::__wit_record!($w, Limits = Limits {
            into: [max_batch_bytes, max_inflight_batches, checkpoint_interval_bytes, checkpoint_interval_rows, checkpoint_interval_seconds $(, $present)*],
            opt: [], vec: [], absent: [$($absent),*]
        });
        $crate::__wit_record!($w, OpenInfo = OpenInfo {
            into: [name, version, protocol_version, default_limits], opt: [], vec: [features]
        });
        $crate::__wit_record!($w, StreamSchema = StreamSchema {
            into: [name, schema, primary_key, cursor_candidates], opt: [], vec: [sync_modes]
        });
        $crate::__wit_record!($w, CursorInfo = CursorInfo {
            into: [field, tie_breaker, last_value, last_tie_breaker], opt: [], vec: []
        });
        $crate::__wit_record!($w, Checkpoint = Checkpoint { into: [kind, sequence, records, bytes], opt: [cursor], vec: [] });
        $crate::__wit_record!($w, CommittedToken = CommittedToken { into: [run_id, sequence], opt: [cursor], vec: [] });
        $crate::__wit_record!($w, CommitTokenBase = CommitTokenBase { into: [pipeline, stream_name, run_id], opt: [], vec: [] });
        $crate::__wit_record!($w, PhaseTiming = PhaseTiming { into: [name, ms], opt: [], vec: [] });
        $crate::__wit_record!($w, ReadSummary = ReadSummary {
            into: [records_read, bytes_read, batches_emitted, checkpoints, records_skipped], opt: [], vec: [phases]
        });
        $crate::__wit_record!($w, WriteSummary = WriteSummary {
            into: [records_written, bytes_written, batches_written, checkpoints, records_skipped], opt: [], vec: [phases]
        });
        $crate::__wit_record!($w, TransformSummary = TransformSummary {
            into: [records_in, records_out, batches_emitted], opt: [], vec: [phases]
        });
        $crate::__wit_record!($w, SchemaPolicy = SchemaPolicy {
            into: [new_column, removed_column, type_change, nullability_change], opt: [], vec: []
        });
        $crate::__wit_record!($w, Policies = Policies { into: [on_data_error, schema_evolution], opt: [], vec: [] });
        $crate::__wit_record!($w, StreamContext = StreamContext {
            into: [pipeline, run_id, stream_name, schema, selected_columns, sync_mode, write_mode, limits, policies, options],
            opt: [cursor, commit_token_base], vec: []
        });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wit_enum {
    ($w:ident, $t:ident { $($v:ident),* $(,)? }) => {
        impl From<$crate::$t> for $w::$t {
            fn from(x: $crate::$t) -> Self {
                match x { $($crate::$t::$v => Self::$v,)* }
            }
        }
        impl From<$w::$t> for $crate::$t {
            fn from(x: $w::$t) -> Self {
                match x { $($w::$t::$v => Self::$v,)* }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wit_variant {
    ($w:ident, $t:ident { $($v:ident $(($x:ident))?),* $(,)? }) => {
        impl From<$crate::$t> for $w::$t {
            fn from(x: $crate::$t) -> Self {
                match x { $($crate::$t::$v $(($x))? => Self::$v $(($x.into()))?,)* }
            }
        }
        impl From<$w::$t> for $crate::$t {
            fn from(x: $w::$t) -> Self {
                match x { $($w::$t::$v $(($x))? => Self::$v $(($x.into()))?,)* }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wit_record {
    ($w:ident, $p:ident = $t:ident { into: [$($f:ident),*], opt: [$($o:ident),*], vec: [$($v:ident),*] $(,)? }) => {
        $crate::__wit_record!($w, $p = $t { into: [$($f),*], opt: [$($o),*], vec: [$($v),*], absent: [] });
    };
    // `absent`: fields of the plain type that an older `$w` lacks: dropped
    // going to it, their defaults coming from it.
    ($w:ident, $p:ident = $t:ident { into: [$($f:ident),*], opt: [$($o:ident),*], vec: [$($v:ident),*], absent: [$($a:ident),*] $(,)? }) => {
        impl From<$crate::$p> for $w::$t {
            fn from(x: $crate::$p) -> Self {
                Self {
                    $($f: x.$f.into(),)*
                    $($o: x.$o.map(Into::into),)*
                    $($v: x.$v.into_iter().map(Into::into).collect(),)*
                }
            }
        }
        impl From<$w::$t> for $crate::$p {
            fn from(x: $w::$t) -> Self {
                Self {
                    $($f: x.$f.into(),)*
                    $($o: x.$o.map(Into::into),)*
                    $($v: x.$v.into_iter().map(Into::into).collect(),)*
                    $($a: Default::default(),)*
                }
            }
        }
    };
}
