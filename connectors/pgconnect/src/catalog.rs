//! Reading table shapes from pg_catalog.

use rapidbyte_pgcopy::{CatalogType, Column, PgType};
use rapidbyte_sdk::ConnectorError;
use tokio_postgres::Client;

use crate::classify;

/// One column as the catalog describes it.
pub struct CatalogColumn {
    /// Column name.
    pub name: String,
    /// Its type as the catalog describes it.
    pub ty: CatalogType,
    /// Whether it accepts NULL.
    pub nullable: bool,
}

const COLUMNS: &str = "
SELECT a.attname, t.oid, t.typname, t.typtype::text, a.atttypmod, format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull, e.oid, e.typname, e.typtype::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum";

/// The columns of `schema.table`, in table order (empty when the table does
/// not exist).
pub async fn try_columns(client: &Client, schema: &str, table: &str, stream: &str) -> Result<Vec<CatalogColumn>, ConnectorError> {
    let rows = client.query(COLUMNS, &[&schema, &table]).await.map_err(|e| classify(&e, Some(stream)))?;
    Ok(rows.iter().map(row_to_column).collect())
}

fn row_to_column(r: &tokio_postgres::Row) -> CatalogColumn {
    let typmod: i32 = r.get(4);
    let element = r.get::<_, Option<u32>>(7).map(|oid| {
        Box::new(CatalogType {
            oid,
            name: r.get(8),
            category: r.get::<_, String>(9).chars().next().unwrap_or('b'),
            typmod,
            formatted: String::new(),
            element: None,
        })
    });
    CatalogColumn {
        name: r.get(0),
        ty: CatalogType {
            oid: r.get(1),
            name: r.get(2),
            category: r.get::<_, String>(3).chars().next().unwrap_or('b'),
            typmod,
            formatted: r.get(5),
            element,
        },
        nullable: r.get(6),
    }
}

/// The columns of `schema.table`, in table order; a `config` error when the
/// table does not exist.
pub async fn columns(client: &Client, schema: &str, table: &str, stream: &str) -> Result<Vec<CatalogColumn>, ConnectorError> {
    let cols = try_columns(client, schema, table, stream).await?;
    if cols.is_empty() {
        return Err(ConnectorError::config(
            "TABLE_NOT_FOUND",
            format!("stream `{stream}`: table {schema}.{table} does not exist or has no columns visible to this user"),
        ));
    }
    Ok(cols)
}

/// Maps catalog columns to decoder columns; an unsupported type is a
/// `schema` error naming the column and the type.
pub fn decoder_columns(cols: &[CatalogColumn], stream: &str) -> Result<Vec<Column>, ConnectorError> {
    cols.iter()
        .map(|c| {
            let ty = PgType::from_catalog(&c.ty).map_err(|_| {
                ConnectorError::schema(
                    "UNSUPPORTED_TYPE",
                    format!(
                        "stream `{stream}`: column `{}` has type {}, which the PostgreSQL source cannot read exactly; leave the column out with `columns:`",
                        c.name, c.ty.formatted
                    ),
                )
            })?;
            Ok(Column { name: c.name.clone(), ty, nullable: c.nullable })
        })
        .collect()
}

/// Tables and views in `schema`.
pub async fn tables(client: &Client, schema: &str) -> Result<Vec<String>, ConnectorError> {
    let rows = client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY c.relname",
            &[&schema],
        )
        .await
        .map_err(|e| classify(&e, None))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The primary key columns of `schema.table`, in key order.
pub async fn primary_key(client: &Client, schema: &str, table: &str) -> Result<Vec<String>, ConnectorError> {
    let rows = client
        .query(
            "SELECT a.attname FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
             WHERE i.indisprimary AND n.nspname = $1 AND c.relname = $2
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&schema, &table],
        )
        .await
        .map_err(|e| classify(&e, None))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether rows can be read in the order of this type (a cursor candidate).
pub fn orderable(ty: &PgType) -> bool {
    matches!(
        ty,
        PgType::Int2
            | PgType::Int4
            | PgType::Int8
            | PgType::Numeric { .. }
            | PgType::Timestamp
            | PgType::Timestamptz
            | PgType::Date
            | PgType::Text
            | PgType::Varchar(_)
    )
}

/// The labels of enum type `oid`, in sort order.
pub async fn enum_labels(client: &Client, oid: u32, stream: &str) -> Result<Vec<String>, ConnectorError> {
    let rows = client
        .query("SELECT enumlabel::text FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder", &[&oid])
        .await
        .map_err(|e| classify(&e, Some(stream)))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
