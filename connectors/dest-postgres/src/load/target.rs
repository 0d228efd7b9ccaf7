//! The target table of a stream: created, or checked against the incoming
//! schema under the schema-evolution policies (SPEC § Schema), before any
//! data is written; and what COPY writes into for the write mode.

use rapidbyte_pgconnect::catalog::try_columns;
use rapidbyte_pgconnect::{chunk, ident};
use rapidbyte_pgcopy::{CopyEncoder, EncodeColumn, PgType};
use rapidbyte_sdk::arrow::datatypes::{Schema, SchemaRef};
use rapidbyte_sdk::{
    ConnectorError, NewColumnPolicy, NullabilityChangePolicy, RemovedColumnPolicy, TypeChangePolicy, WriteMode,
};

use super::naming::{staging_name, MAX_IDENT};
use super::user_types::create_type;
use super::{before_commit, ensure_schema, Session, Target};
use crate::ddl;

/// The temporary table an upsert chunk is loaded into.
const UPSERT_STAGE: &str = "rapidbyte_upsert_stage";

impl Session<'_> {
    /// The user types the incoming schema needs (shared by streams, so made
    /// idempotently and before the stream's transaction opens).
    pub(super) async fn create_user_types(&mut self, incoming: &SchemaRef) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        self.ensure_bookkeeping().await?;
        for t in ddl::user_types(incoming, &stream).map_err(before_commit)? {
            // A type the source qualified lives in a schema of the same name,
            // as in the source database.
            if let Some(schema) = ddl::type_schema(&t.name) {
                ensure_schema(self.client, &schema, self.create_schema, &stream).await?;
            }
            create_type(self.client, &t, &stream).await?;
        }
        Ok(())
    }

    /// Creates or checks the target table for `schema` (first batch only),
    /// inside the stream's open transaction.
    pub(super) async fn prepare(&mut self, incoming: &SchemaRef) -> Result<Target, ConnectorError> {
        let stream = self.stream().to_string();
        // PostgreSQL would silently truncate a longer name to another table's.
        if self.table.len() > MAX_IDENT {
            return Err(before_commit(ConnectorError::config(
                "NAME_TOO_LONG",
                format!(
                    "stream `{stream}`: table name `{}` is {} bytes; PostgreSQL keeps only {MAX_IDENT} (shorten the stream name or `table_prefix`)",
                    self.table,
                    self.table.len()
                ),
            )));
        }
        let qualified = self.qualified(&self.table);
        let upsert_keys = match &self.ctx.write_mode {
            WriteMode::Upsert(keys) => Some(keys.clone()),
            _ => None,
        };
        let key = ddl::primary_key(incoming, upsert_keys.as_deref());
        if upsert_keys.is_some() && key.is_empty() {
            return Err(before_commit(ConnectorError::config(
                "UPSERT_WITHOUT_KEY",
                format!("stream `{stream}`: upsert needs `primary_key` in the pipeline (the source declared none)"),
            )));
        }
        // Replace loads a fresh table built from the incoming schema, then swaps it in.
        let (copy_table, staging) = if self.ctx.write_mode == WriteMode::Replace {
            let staging = staging_name(&self.table);
            let q = self.qualified(&staging);
            self.client.batch_execute(&format!("DROP TABLE IF EXISTS {q}")).await.map_err(|e| chunk::error(&e, &stream))?;
            let create = ddl::create_table(&q, incoming, &key, &stream).map_err(before_commit)?;
            self.client.batch_execute(&create).await.map_err(|e| chunk::error(&e, &stream))?;
            (staging.clone(), Some(staging))
        } else {
            (self.table.clone(), None)
        };
        let mut existing = try_columns(self.client, &self.schema, &copy_table, &stream).await?;
        if existing.is_empty() {
            let create = ddl::create_table(&qualified, incoming, &key, &stream).map_err(before_commit)?;
            self.client.batch_execute(&create).await.map_err(|e| chunk::error(&e, &stream))?;
            existing = try_columns(self.client, &self.schema, &copy_table, &stream).await?;
        }
        // § Schema: columns the target lacks follow the new-column policy.
        let mut keep = Vec::new();
        for (i, f) in incoming.fields().iter().enumerate() {
            if existing.iter().any(|c| &c.name == f.name()) {
                keep.push(i);
                continue;
            }
            match self.ctx.policies.schema_evolution.new_column {
                NewColumnPolicy::Add => {
                    let ty = ddl::column_type(f, &stream).map_err(before_commit)?;
                    let q = self.qualified(&copy_table);
                    self.client
                        .batch_execute(&format!("ALTER TABLE {q} ADD COLUMN {} {ty}", ident(f.name())))
                        .await
                        .map_err(|e| chunk::error(&e, &stream))?;
                    keep.push(i);
                }
                NewColumnPolicy::Ignore => {}
                NewColumnPolicy::Fail => {
                    return Err(before_commit(ConnectorError::schema(
                        "NEW_COLUMN",
                        format!("stream `{stream}`: column `{}` is not in {qualified} and the new-column policy is fail", f.name()),
                    )));
                }
            }
        }
        let existing = try_columns(self.client, &self.schema, &copy_table, &stream).await?;
        let policy = self.ctx.policies.schema_evolution;
        let schema_error = |code: &str, msg: String| before_commit(ConnectorError::schema(code, format!("stream `{stream}`: {msg}")));
        // § Schema: a column the target has and the source no longer sends.
        if policy.removed_column == RemovedColumnPolicy::Fail {
            if let Some(c) = existing.iter().find(|c| incoming.field_with_name(&c.name).is_err()) {
                return Err(schema_error(
                    "REMOVED_COLUMN",
                    format!("column `{}` of {qualified} is no longer sent by the source and the removed-column policy is fail", c.name),
                ));
            }
        }
        // § Schema: type and nullability changes, decided before any data is written.
        let mut kept = Vec::new();
        for &i in &keep {
            let f = incoming.field(i);
            let c = existing.iter().find(|c| &c.name == f.name()).expect("column exists after prepare");
            let target_ty = PgType::from_catalog(&c.ty).map_err(|_| {
                schema_error("UNSUPPORTED_TYPE", format!("target column `{}` has type {}, which this connector cannot write", c.name, c.ty.formatted))
            })?;
            let recorded = f.metadata().get(rapidbyte_pgcopy::PG_TYPE_KEY);
            // Field names and metadata inside nested types may differ; the
            // shape and the recorded type name may not.
            let changed = !target_ty.arrow_type().equals_datatype(f.data_type())
                || recorded.is_some_and(|r| *r != target_ty.sql_name());
            if changed {
                let now = recorded.cloned().unwrap_or_else(|| f.data_type().to_string());
                match policy.type_change {
                    TypeChangePolicy::Fail => {
                        return Err(schema_error(
                            "TYPE_CHANGED",
                            format!("column `{}` is {} in {qualified} but the source sends {now}; the type-change policy is fail", c.name, c.ty.formatted),
                        ));
                    }
                    // The column is left out of the load: it receives NULL (or its default).
                    TypeChangePolicy::Null => continue,
                    // Converted where the conversion is exact (checked by the encoder below).
                    TypeChangePolicy::Coerce => {}
                }
            }
            if f.is_nullable() && !c.nullable {
                match policy.nullability_change {
                    NullabilityChangePolicy::Fail => {
                        return Err(schema_error(
                            "NULLABILITY_CHANGED",
                            format!("column `{}` is NOT NULL in {qualified} but the source may send NULL; the nullability-change policy is fail", c.name),
                        ));
                    }
                    NullabilityChangePolicy::Allow => {
                        let q = self.qualified(&copy_table);
                        self.client
                            .batch_execute(&format!("ALTER TABLE {q} ALTER COLUMN {} DROP NOT NULL", ident(&c.name)))
                            .await
                            .map_err(|e| chunk::error(&e, &stream))?;
                    }
                }
            }
            kept.push(i);
        }
        let keep = kept;
        let projected = Schema::new(keep.iter().map(|&i| incoming.field(i).clone()).collect::<Vec<_>>());
        let mut encode_columns = Vec::new();
        for f in projected.fields() {
            let c = existing.iter().find(|c| &c.name == f.name()).expect("column exists after prepare");
            let ty = PgType::from_catalog(&c.ty).map_err(|e| {
                schema_error("UNSUPPORTED_TYPE", format!("target column `{}` has type {}, which this connector cannot write: {}", c.name, c.ty.formatted, e.reason))
            })?;
            encode_columns.push(EncodeColumn {
                name: c.name.clone(),
                ty,
                oid: c.ty.oid,
                element_oid: c.ty.element.as_ref().map(|e| e.oid),
            });
        }
        let encoder = CopyEncoder::new(encode_columns, &projected).map_err(|e| {
            before_commit(ConnectorError::schema("TYPE_MISMATCH", format!("stream `{stream}`: {e}")))
        })?;
        let columns: Vec<String> = projected.fields().iter().map(|f| f.name().clone()).collect();
        let load_into = if upsert_keys.is_some() { ident(UPSERT_STAGE) } else { self.qualified(&copy_table) };
        let column_list = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        Ok(Target {
            copy_sql: format!("COPY {load_into} ({column_list}) FROM STDIN (FORMAT binary)"),
            qualified,
            load_into,
            encoder,
            keep,
            columns,
            upsert_keys: upsert_keys.map(|_| key.clone()),
            key,
            staging,
        })
    }
}
