//! PostgreSQL source connector.
//!
//! Reads each stream with one `COPY (SELECT …) TO STDOUT (FORMAT binary)`
//! (a single consistent snapshot) decoded straight into Arrow builders by
//! `rapidbyte-pgcopy`, with the original PostgreSQL type in each field's
//! metadata (SPEC § Performance, § Schema). Incremental streams read rows
//! strictly after the committed (cursor, tie-breaker) position, ordered by
//! them, and checkpoint the position reached (SPEC § State and checkpoints).

mod sql;

use std::time::Instant;

use futures_util::StreamExt;
use rapidbyte_pgcopy::{CopyDecoder, DecodeErrorKind};
use rapidbyte_sdk::arrow::array::cast::AsArray;
use rapidbyte_sdk::arrow::array::{Array, RecordBatch};
use rapidbyte_sdk::{
    host, metric_names as m, ConnectorError, CursorInfo, DataErrorPolicy, DeadLetter, Emitter, PhaseTiming, ReadSummary, Source,
    StreamContext, StreamSchema, SyncMode,
};
use rapidbyte_pgconnect::{catalog, classify, split_qualified, Connection};

/// Field metadata: the labels of an enum column, as a JSON array in sort order.
pub use rapidbyte_pgcopy::ENUM_LABELS_KEY;

/// The source's config is just the connection (see `rapidbyte-pgconnect`).
struct PgSource {
    pg: Connection,
}

impl Source for PgSource {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        let ((), pg) = rapidbyte_pgconnect::open(json)?;
        Ok(Self { pg })
    }

    fn validate(&mut self) -> Result<(), ConnectorError> {
        let schema = self.pg.config().schema.clone();
        let (rt, client) = self.pg.connected()?;
        rt.block_on(catalog::tables(client, &schema)).map(|_| ())
    }

    fn discover(&mut self) -> Result<Vec<StreamSchema>, ConnectorError> {
        let schema = self.pg.config().schema.clone();
        let (rt, client) = self.pg.connected()?;
        rt.block_on(async {
            let mut out = Vec::new();
            for table in catalog::tables(client, &schema).await? {
                let cols = catalog::columns(client, &schema, &table, &table).await?;
                // Skip columns we cannot read rather than the whole table.
                let readable: Vec<_> = cols
                    .into_iter()
                    .filter(|c| rapidbyte_pgcopy::PgType::from_catalog(&c.ty).is_ok())
                    .collect();
                let columns = catalog::decoder_columns(&readable, &table)?;
                out.push(StreamSchema {
                    name: table.clone(),
                    schema: rapidbyte_sdk::ipc::encode_schema(&rapidbyte_pgcopy::schema(&columns))?,
                    primary_key: catalog::primary_key(client, &schema, &table).await?,
                    cursor_candidates: columns.iter().filter(|c| catalog::orderable(&c.ty)).map(|c| c.name.clone()).collect(),
                    sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
                });
            }
            Ok(out)
        })
    }

    fn read(&mut self, ctx: &StreamContext, out: &mut Emitter) -> Result<ReadSummary, ConnectorError> {
        let default_schema = self.pg.config().schema.clone();
        let (rt, client) = self.pg.connected()?;
        let stream = ctx.stream_name.as_str();
        let (schema, table) = split_qualified(stream, &default_schema);
        rt.block_on(async {
            let all = catalog::columns(client, schema, table, stream).await?;
            // The cursor may be a column the stream does not select: resolve it
            // against every column, from the one catalog read.
            let position = incremental_position(ctx, schema, table, &all, stream)?;
            let selected: Vec<catalog::CatalogColumn> = if ctx.selected_columns.is_empty() {
                all
            } else {
                let mut picked = Vec::new();
                let mut all = all;
                for name in &ctx.selected_columns {
                    let i = all.iter().position(|c| &c.name == name).ok_or_else(|| {
                        ConnectorError::config("COLUMN_NOT_FOUND", format!("stream `{stream}`: column `{name}` is not in {schema}.{table}"))
                    })?;
                    picked.push(all.remove(i));
                }
                picked
            };
            let mut columns = catalog::decoder_columns(&selected, stream)?;
            let data_columns = columns.len();
            let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
            let inc = position.as_ref().map(|p| sql::Incremental {
                cursor: (p.cursor.as_str(), p.cursor_type.as_str()),
                tie_breaker: p.tie_breaker.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                last_cursor: p.last_cursor.as_deref(),
                last_tie_breaker: p.last_tie_breaker.as_deref(),
            });
            if let Some(p) = &position {
                columns.push(text_column(sql::CURSOR_ALIAS));
                if p.tie_breaker.is_some() {
                    columns.push(text_column(sql::TIE_BREAKER_ALIAS));
                }
            }
            let query = sql::copy_query(schema, table, &names, inc.as_ref());
            let mut decoder = CopyDecoder::new(columns);
            // § Schema: the primary key travels in the schema metadata so a
            // destination can recreate it (only when every key column is read).
            let key = catalog::primary_key(client, schema, table).await?;
            let decoded = decoder.schema();
            // Each field carries what a destination needs to recreate its type
            // (PgType::field: type names, enum labels, domains, extensions).
            let fields: Vec<_> = decoded.fields().iter().take(data_columns).cloned().collect();
            let mut metadata = std::collections::HashMap::new();
            if let Some(key) = metadata_key(&key, &names) {
                metadata.insert(rapidbyte_sdk::schema_metadata::PRIMARY_KEY.to_string(), key.join(","));
            }
            let data_schema = std::sync::Arc::new(rapidbyte_sdk::arrow::datatypes::Schema::new_with_metadata(fields, metadata));
            let target = (out.limits().max_batch_bytes as usize).saturating_mul(3) / 4;
            // § Metrics: the planner's row count, for progress only (a full
            // refresh reads the whole table; an incremental read, less).
            if position.is_none() {
                host::report_estimate(catalog::estimate(client, schema, table).await);
            }
            let copy = client.copy_out(query.as_str()).await.map_err(|e| classify(&e, Some(stream)))?;
            futures_util::pin_mut!(copy);
            let mut reader = Reader {
                out,
                data_schema,
                position: position.as_ref(),
                cursor: position.as_ref().map(|p| p.committed()),
                ctx,
                key: metadata_key(&key, &names),
                skipped: 0,
            };
            let (mut fetch_ms, mut decode_ms) = (0.0f64, 0.0f64);
            let (mut batch_fetch, mut batch_decode) = (0.0f64, 0.0f64);
            loop {
                let started = Instant::now();
                let next = copy.next().await;
                batch_fetch += started.elapsed().as_secs_f64() * 1e3;
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(|e| classify(&e, Some(stream)))?;
                let started = Instant::now();
                reader.feed(&mut decoder, &chunk)?;
                batch_decode += started.elapsed().as_secs_f64() * 1e3;
                if decoder.buffered_bytes() >= target {
                    reader.emit(&mut decoder)?;
                    report_phases(&mut fetch_ms, &mut decode_ms, &mut batch_fetch, &mut batch_decode);
                    if reader.out.checkpoint_due() {
                        reader.out.checkpoint(reader.cursor.clone())?;
                    }
                }
            }
            loop {
                match decoder.finish() {
                    Ok(()) => break,
                    Err(e) => reader.reject(&mut decoder, e)?,
                }
            }
            reader.emit(&mut decoder)?;
            report_phases(&mut fetch_ms, &mut decode_ms, &mut batch_fetch, &mut batch_decode);
            reader.out.checkpoint(reader.cursor.clone())?;
            let mut summary = reader.out.summary();
            summary.records_skipped += reader.skipped;
            summary.phases.push(PhaseTiming { name: m::FETCH_MS.into(), ms: fetch_ms as u64 });
            summary.phases.push(PhaseTiming { name: m::DECODE_MS.into(), ms: decode_ms as u64 });
            Ok(summary)
        })
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        self.pg.close();
        Ok(())
    }
}

fn text_column(name: &str) -> rapidbyte_pgcopy::Column {
    rapidbyte_pgcopy::Column { name: name.into(), ty: rapidbyte_pgcopy::PgType::Text, nullable: true }
}

/// The primary key, when every key column is read.
fn metadata_key(key: &[String], names: &[String]) -> Option<Vec<String>> {
    (!key.is_empty() && key.iter().all(|k| names.contains(k))).then(|| key.to_vec())
}

/// One stream's read: emits batches, moves the cursor, and applies the
/// on-data-error policy to rows that cannot be read (SPEC § Errors).
struct Reader<'a> {
    out: &'a mut Emitter,
    data_schema: rapidbyte_sdk::arrow::datatypes::SchemaRef,
    position: Option<&'a Position>,
    cursor: Option<CursorInfo>,
    ctx: &'a StreamContext,
    /// The primary key columns, when all are read (the dead letter's key).
    key: Option<Vec<String>>,
    skipped: u64,
}

impl Reader<'_> {
    /// Feeds a COPY chunk; a row that cannot be read goes to [`Reader::reject`]
    /// and decoding goes on after it.
    fn feed(&mut self, decoder: &mut CopyDecoder, chunk: &[u8]) -> Result<(), ConnectorError> {
        let mut input = chunk;
        loop {
            match decoder.feed(input) {
                Ok(()) => return Ok(()),
                Err(e) => self.reject(decoder, e)?,
            }
            // The rest of the chunk is kept by the decoder.
            input = &[];
        }
    }

    /// § Errors: a value error is skipped and counted under `skip`, handed
    /// to the destination's dead-letter table under `dlq`; anything else
    /// (and every error under `fail`) is the stream's failure.
    fn reject(&mut self, decoder: &mut CopyDecoder, e: rapidbyte_pgcopy::DecodeError) -> Result<(), ConnectorError> {
        let stream = self.ctx.stream_name.as_str();
        match (e.kind, self.ctx.policies.on_data_error) {
            (DecodeErrorKind::Value, DataErrorPolicy::Skip) => {
                host::warn(&format!("stream `{stream}`: skipped a row the source cannot read: {e}"));
                self.skipped += 1;
                host::counter(m::RECORDS_SKIPPED, 1);
                Ok(())
            }
            (DecodeErrorKind::Value, DataErrorPolicy::Dlq) => {
                let rejected = decoder.take_rejected().ok_or_else(|| decode_error(stream, e.clone()))?;
                // The rows before it go first, so the dead letter sits between
                // its neighbours and in the chunk of the checkpoint that covers it.
                self.emit(decoder)?;
                let data = |c: &str| self.data_schema.field_with_name(c).is_ok();
                let row = DeadLetter {
                    key: self.key.as_ref().map(|key| rejected.json(|c| key.iter().any(|k| k == c))),
                    content: rejected.json(data),
                    error: decode_error(stream, e),
                };
                host::dead_letter(row)?;
                // Past the row, so a resume does not read it again.
                if let (Some(p), Some(cursor)) = (self.position, self.cursor.as_mut())
                    && let Some(value) = rejected.text(sql::CURSOR_ALIAS)
                {
                    cursor.last_value = Some(value.to_string());
                    cursor.last_tie_breaker = p.tie_breaker.as_ref().and_then(|_| rejected.text(sql::TIE_BREAKER_ALIAS)).map(str::to_string);
                }
                Ok(())
            }
            _ => Err(decode_error(stream, e)),
        }
    }

    /// Emits the decoded rows (without the cursor text columns) and moves
    /// the cursor to the last row's position.
    fn emit(&mut self, decoder: &mut CopyDecoder) -> Result<(), ConnectorError> {
        emit(decoder, self.out, &self.data_schema, self.position, &mut self.cursor, &self.ctx.stream_name)
    }
}

fn decode_error(stream: &str, e: rapidbyte_pgcopy::DecodeError) -> ConnectorError {
    ConnectorError::data("DECODE_FAILED", format!("stream `{stream}`: {e}"))
}

/// Reports per-batch phase latencies (SPEC § Metrics) and folds them into totals.
fn report_phases(fetch_total: &mut f64, decode_total: &mut f64, fetch: &mut f64, decode: &mut f64) {
    host::timing_ms(m::FETCH_MS, *fetch);
    host::timing_ms(m::DECODE_MS, *decode);
    *fetch_total += *fetch;
    *decode_total += *decode;
    *fetch = 0.0;
    *decode = 0.0;
}

/// Emits the decoded rows (without the cursor text columns) and moves the
/// cursor to the last row's position.
fn emit(
    decoder: &mut CopyDecoder,
    out: &mut Emitter,
    data_schema: &rapidbyte_sdk::arrow::datatypes::SchemaRef,
    position: Option<&Position>,
    cursor: &mut Option<CursorInfo>,
    stream: &str,
) -> Result<(), ConnectorError> {
    let Some(batch) = decoder.take_batch().map_err(|e| decode_error(stream, e))? else {
        return Ok(());
    };
    let data_columns = data_schema.fields().len();
    if let Some(p) = position {
        let last = batch.num_rows() - 1;
        let text = |i: usize| {
            let col = batch.column(i).as_string::<i32>();
            (!col.is_null(last)).then(|| col.value(last).to_string())
        };
        *cursor = Some(CursorInfo {
            field: p.cursor.clone(),
            tie_breaker: p.tie_breaker.as_ref().map(|(n, _)| n.clone()),
            last_value: text(data_columns),
            last_tie_breaker: p.tie_breaker.as_ref().and_then(|_| text(data_columns + 1)),
        });
    }
    let data: RecordBatch = batch
        .project(&(0..data_columns).collect::<Vec<_>>())
        .and_then(|b| b.with_schema(std::sync::Arc::clone(data_schema)))
        .map_err(|e| ConnectorError::internal("PROJECT", e.to_string()))?;
    out.emit(&data)
}

/// Where an incremental read starts.
struct Position {
    cursor: String,
    cursor_type: String,
    tie_breaker: Option<(String, String)>,
    last_cursor: Option<String>,
    last_tie_breaker: Option<String>,
}

impl Position {
    fn committed(&self) -> CursorInfo {
        CursorInfo {
            field: self.cursor.clone(),
            tie_breaker: self.tie_breaker.as_ref().map(|(n, _)| n.clone()),
            last_value: self.last_cursor.clone(),
            last_tie_breaker: self.last_tie_breaker.clone(),
        }
    }
}

/// For incremental streams: the cursor and tie-breaker columns with their
/// SQL types (so comparisons happen in the column's own type).
fn incremental_position(
    ctx: &StreamContext,
    schema: &str,
    table: &str,
    all: &[catalog::CatalogColumn],
    stream: &str,
) -> Result<Option<Position>, ConnectorError> {
    if ctx.sync_mode != SyncMode::Incremental {
        return Ok(None);
    }
    let cursor = ctx.cursor.as_ref().ok_or_else(|| {
        ConnectorError::config("CURSOR_REQUIRED", format!("stream `{stream}` is incremental but names no `cursor_field`"))
    })?;
    let typed = |name: &str| -> Result<String, ConnectorError> {
        let c = all.iter().find(|c| c.name == name).ok_or_else(|| {
            ConnectorError::config("COLUMN_NOT_FOUND", format!("stream `{stream}`: cursor column `{name}` is not in {schema}.{table}"))
        })?;
        rapidbyte_pgcopy::PgType::from_catalog(&c.ty).ok().filter(catalog::orderable).ok_or_else(|| {
            ConnectorError::config(
                "CURSOR_TYPE",
                format!("stream `{stream}`: column `{name}` of type {} cannot be a cursor (use an integer, numeric, timestamp, timestamptz, date or text column)", c.ty.formatted),
            )
        })?;
        Ok(c.ty.formatted.clone())
    };
    let cursor_type = typed(&cursor.field)?;
    let tie_breaker = match &cursor.tie_breaker {
        Some(tb) => Some((tb.clone(), typed(tb)?)),
        None => None,
    };
    Ok(Some(Position {
        cursor: cursor.field.clone(),
        cursor_type,
        tie_breaker,
        last_cursor: cursor.last_value.clone(),
        last_tie_breaker: cursor.last_tie_breaker.clone(),
    }))
}

rapidbyte_sdk::export_source!(
    PgSource,
    features: ["incremental"],
    endpoints: ["/host,/port,5432"],
    tls: ["/host,postgres"],
    config_schema: include_str!("../config.schema.json")
);
