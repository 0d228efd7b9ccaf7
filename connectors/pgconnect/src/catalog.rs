//! Reading table shapes from pg_catalog.

use rapidbyte_pgcopy::types::DomainDef;
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
       NOT a.attnotnull, e.oid, e.typname, e.typtype::text, format_type(e.oid, a.atttypmod),
       (t.typsend = 0 OR t.typreceive = 0), (e.typsend = 0 OR e.typreceive = 0)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' AND t.typname LIKE '\\_%'
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum";

/// One type by OID, with what resolving it needs: array element, domain
/// base, composite relation, binary I/O and the providing extension.
const TYPE: &str = "
SELECT t.typname::text, t.typtype::text, format_type(t.oid, $2::int4), (t.typsend = 0 OR t.typreceive = 0),
       CASE WHEN t.typcategory = 'A' AND t.typname LIKE '\\_%' THEN t.typelem END,
       t.typbasetype, t.typtypmod, t.typrelid, t.typnotnull,
       (SELECT x.extname::text FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
          AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LIMIT 1),
       pg_get_expr(t.typdefaultbin, 0)
FROM pg_type t WHERE t.oid = $1";

/// How deep user types may nest (composites of arrays of domains…).
const MAX_TYPE_DEPTH: usize = 16;

/// The columns of `schema.table`, in table order (empty when the table does
/// not exist). User types (enums, domains, composites, extension types) are
/// resolved in full, nested types included.
pub async fn try_columns(client: &Client, schema: &str, table: &str, stream: &str) -> Result<Vec<CatalogColumn>, ConnectorError> {
    let rows = client.query(COLUMNS, &[&schema, &table]).await.map_err(|e| classify(&e, Some(stream)))?;
    let mut cols: Vec<CatalogColumn> = rows.iter().map(row_to_column).collect();
    for c in &mut cols {
        complete(client, &mut c.ty, stream, 0).await?;
    }
    Ok(cols)
}

fn row_to_column(r: &tokio_postgres::Row) -> CatalogColumn {
    let typmod: i32 = r.get(4);
    let element = r.get::<_, Option<u32>>(7).map(|oid| {
        Box::new(CatalogType {
            oid,
            name: r.get(8),
            category: r.get::<_, String>(9).chars().next().unwrap_or('b'),
            typmod,
            formatted: r.get::<_, Option<String>>(10).unwrap_or_default(),
            lacks_binary_io: r.get::<_, Option<bool>>(12).unwrap_or(false),
            ..CatalogType::default()
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
            lacks_binary_io: r.get(11),
            ..CatalogType::default()
        },
        nullable: r.get(6),
    }
}

/// Whether a type needs more than the column query read: anything that is
/// not built in, and enums, domains and composites.
fn needs_lookup(t: &CatalogType) -> bool {
    t.oid >= rapidbyte_pgcopy::types::oid::FIRST_NORMAL || matches!(t.category, 'e' | 'd' | 'c')
}

/// Fills in what [`PgType::from_catalog`] needs of a column's user type:
/// enum labels, a domain's base and constraints, a composite's attributes,
/// the providing extension; recursively for array elements and nested
/// types. Built-in types read in the column query need nothing more.
fn complete<'a>(
    client: &'a Client,
    t: &'a mut CatalogType,
    stream: &'a str,
    depth: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ConnectorError>> + 'a>> {
    Box::pin(async move {
        if let Some(e) = t.element.as_deref_mut() {
            return complete(client, e, stream, depth + 1).await;
        }
        if !needs_lookup(t) {
            return Ok(());
        }
        let row = client.query_one(TYPE, &[&t.oid, &t.typmod]).await.map_err(|e| classify(&e, Some(stream)))?;
        fill(client, t, &row, stream, depth).await
    })
}

/// Type `oid` with typmod `typmod` in full, one catalog read per type.
fn resolve<'a>(
    client: &'a Client,
    oid: u32,
    typmod: i32,
    stream: &'a str,
    depth: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<CatalogType, ConnectorError>> + 'a>> {
    Box::pin(async move {
        let row = client.query_one(TYPE, &[&oid, &typmod]).await.map_err(|e| classify(&e, Some(stream)))?;
        let mut t = CatalogType { oid, typmod, ..CatalogType::default() };
        fill(client, &mut t, &row, stream, depth).await?;
        Ok(t)
    })
}

/// Fills `t` from its row of the `TYPE` query, resolving what it is built from.
async fn fill(client: &Client, t: &mut CatalogType, row: &tokio_postgres::Row, stream: &str, depth: usize) -> Result<(), ConnectorError> {
    if depth > MAX_TYPE_DEPTH {
        return Err(ConnectorError::schema(
            "TYPE_TOO_DEEP",
            format!("stream `{stream}`: type {} nests user types more than {MAX_TYPE_DEPTH} levels deep", t.formatted),
        ));
    }
    let db = |e: tokio_postgres::Error| classify(&e, Some(stream));
    t.name = row.get(0);
    t.category = row.get::<_, String>(1).chars().next().unwrap_or('b');
    if t.formatted.is_empty() {
        t.formatted = row.get(2);
    }
    t.lacks_binary_io = row.get(3);
    t.extension = row.get(9);
    if let Some(elem) = row.get::<_, Option<u32>>(4) {
        t.element = Some(Box::new(resolve(client, elem, t.typmod, stream, depth + 1).await?));
        return Ok(());
    }
    match t.category {
        'e' => {
            t.enum_labels = enum_labels(client, t.oid, stream).await?;
        }
        'd' => {
            t.base = Some(Box::new(resolve(client, row.get(5), row.get(6), stream, depth + 1).await?));
            let checks = client
                .query(
                    "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
                     WHERE contypid = $1 AND contype = 'c' ORDER BY conname",
                    &[&t.oid],
                )
                .await
                .map_err(db)?;
            t.domain = Some(DomainDef {
                not_null: row.get(8),
                checks: checks.iter().map(|r| (r.get(0), r.get(1))).collect(),
                default: row.get(10),
            });
        }
        'c' => {
            let relid: u32 = row.get(7);
            let attrs = client
                .query(
                    "SELECT attname::text, atttypid, atttypmod FROM pg_attribute
                     WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    &[&relid],
                )
                .await
                .map_err(db)?;
            for a in attrs {
                let ty = resolve(client, a.get(1), a.get(2), stream, depth + 1).await?;
                t.attributes.push((a.get(0), ty));
            }
        }
        _ => {}
    }
    Ok(())
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
            let ty = PgType::from_catalog(&c.ty).map_err(|e| {
                ConnectorError::schema(
                    "UNSUPPORTED_TYPE",
                    format!(
                        "stream `{stream}`: column `{}` has type {}, which the PostgreSQL source cannot read exactly ({}); leave the column out with `columns:`",
                        c.name, c.ty.formatted, e.reason
                    ),
                )
            })?;
            Ok(Column { name: c.name.clone(), ty, nullable: c.nullable })
        })
        .collect()
}

/// Whether the relation `qualified` (SQL text, quoted where needed) exists.
pub async fn relation_exists(client: &Client, qualified: &str) -> Result<bool, tokio_postgres::Error> {
    client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified]).await.map(|r| r.get::<_, bool>(0))
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
        ty.storage(),
        PgType::Int2
            | PgType::Int4
            | PgType::Int8
            | PgType::Numeric { .. }
            | PgType::Timestamp(_)
            | PgType::Timestamptz(_)
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

/// The planner's size of a table (`reltuples`: -1 before its first
/// ANALYZE, then unknown); progress only, so a failed read is no estimate.
pub async fn estimate(client: &Client, schema: &str, table: &str) -> rapidbyte_sdk::StreamEstimate {
    let row = client
        .query_opt(
            "SELECT c.reltuples::float8, pg_table_size(c.oid)::int8 FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &table],
        )
        .await;
    match row {
        Ok(Some(r)) => rapidbyte_sdk::StreamEstimate {
            records: Some(r.get::<_, f64>(0)).filter(|n| *n >= 0.0).map(|n| n as u64),
            bytes: Some(r.get::<_, i64>(1)).filter(|n| *n > 0).map(|n| n as u64),
        },
        _ => rapidbyte_sdk::StreamEstimate::default(),
    }
}
