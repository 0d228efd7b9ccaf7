//! The dead-letter table and the JSON form of a rejected row (SPEC § Errors,
//! `on_data_error: dlq`).
//!
//! A row the destination rejects is written to `rapidbyte_dead_letters` in
//! the target schema, inside the chunk's transaction, so it commits (or
//! rolls back) together with the chunk and its exactly-once token: a retry
//! never dead-letters a row twice.

use rapidbyte_pgconnect::ident;
use rapidbyte_pgcopy::json::row_json;
use rapidbyte_sdk::arrow::array::RecordBatch;
use rapidbyte_sdk::{ConnectorError, StreamContext};
use tokio_postgres::Client;

/// The dead-letter table's name, in the target schema.
pub const TABLE: &str = "rapidbyte_dead_letters";

/// `CREATE TABLE IF NOT EXISTS` for the dead-letter table.
pub fn ddl(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (
            id bigserial PRIMARY KEY,
            pipeline text NOT NULL,
            stream text NOT NULL,
            run_id text NOT NULL,
            row_key jsonb,
            row_data jsonb NOT NULL,
            error_category text NOT NULL,
            error_code text NOT NULL,
            error_message text NOT NULL,
            failed_at timestamptz NOT NULL DEFAULT now()
        )",
        ident(schema),
        ident(TABLE)
    )
}

/// Writes one dead letter: the row's key columns and full content as JSON,
/// and the error that rejected it.
pub async fn write(
    client: &Client,
    schema: &str,
    ctx: &StreamContext,
    batch: &RecordBatch,
    row: usize,
    key: &[String],
    error: &ConnectorError,
) -> Result<(), tokio_postgres::Error> {
    let data = row_json(batch, row, None);
    let key = (!key.is_empty()).then(|| row_json(batch, row, Some(key)));
    insert(client, schema, ctx, key.as_deref(), &data, error).await
}

/// Writes one dead letter a source handed over (contract 0.2): its key and
/// content are the source's JSON, taken as data, never as SQL (bound
/// parameters); what is not a JSON object jsonb can hold is kept as a JSON
/// string of the text, so the record is never lost to its own encoding.
pub async fn write_from_source(
    client: &Client,
    schema: &str,
    ctx: &StreamContext,
    row: &rapidbyte_sdk::DeadLetter,
) -> Result<(), tokio_postgres::Error> {
    let key = row.key.as_deref().map(json_object);
    insert(client, schema, ctx, key.as_deref(), &json_object(&row.content), &row.error).await
}

/// `text` if it is a JSON object jsonb accepts, else `text` as a JSON string.
fn json_object(text: &str) -> String {
    let object = serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object());
    if object && !text.contains("\\u0000") {
        return text.to_string();
    }
    let mut out = String::new();
    rapidbyte_pgcopy::json::json_string(&mut out, text);
    out
}

async fn insert(
    client: &Client,
    schema: &str,
    ctx: &StreamContext,
    key: Option<&str>,
    data: &str,
    error: &ConnectorError,
) -> Result<(), tokio_postgres::Error> {
    let sql = format!(
        "INSERT INTO {}.{} (pipeline, stream, run_id, row_key, row_data, error_category, error_code, error_message)
         VALUES ($1, $2, $3, $4::text::jsonb, $5::text::jsonb, $6, $7, $8)",
        ident(schema),
        ident(TABLE)
    );
    let category = error.category.to_string();
    client
        .execute(
            sql.as_str(),
            &[&ctx.pipeline, &ctx.stream_name, &ctx.run_id, &key, &data, &category, &error.code, &error.message],
        )
        .await
        .map(|_| ())
}
