//! Target tables: the PostgreSQL type of each incoming Arrow field, and the
//! DDL that creates a table exactly like the source's (SPEC § Schema).

use rapidbyte_pgcopy::PG_TYPE_KEY;
use rapidbyte_pgconnect::ident;
use rapidbyte_sdk::arrow::datatypes::{DataType, Field, IntervalUnit, Schema, TimeUnit};
use rapidbyte_sdk::{schema_metadata, ConnectorError};

/// The PostgreSQL type for a field: the source's own type when it recorded
/// one (`rapidbyte.pg_type`), else the natural type of the Arrow type.
pub fn column_type(field: &Field, stream: &str) -> Result<String, ConnectorError> {
    if let Some(recorded) = field.metadata().get(PG_TYPE_KEY) {
        // The text becomes DDL: accept type names only, never statements.
        let safe = recorded.chars().all(|c| c.is_ascii_alphanumeric() || " _(),[].\"-".contains(c)) && !recorded.contains("--");
        if !safe || recorded.is_empty() {
            return Err(ConnectorError::schema(
                "BAD_TYPE_METADATA",
                format!("stream `{stream}`: column `{}` carries an invalid type name `{recorded}`", field.name()),
            ));
        }
        return Ok(recorded.clone());
    }
    arrow_to_pg(field.data_type()).ok_or_else(|| {
        ConnectorError::schema(
            "UNSUPPORTED_TYPE",
            format!("stream `{stream}`: column `{}` has Arrow type {}, which has no PostgreSQL mapping", field.name(), field.data_type()),
        )
    })
}

fn arrow_to_pg(t: &DataType) -> Option<String> {
    Some(match t {
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) if *s >= 0 => format!("numeric({p},{s})"),
        DataType::Utf8 => "text".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Binary => "bytea".into(),
        DataType::Date32 => "date".into(),
        DataType::Time64(TimeUnit::Microsecond) => "time".into(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => "timestamp".into(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => "timestamptz".into(),
        DataType::Interval(IntervalUnit::MonthDayNano) => "interval".into(),
        DataType::FixedSizeBinary(16) => "uuid".into(),
        DataType::List(item) => format!("{}[]", arrow_to_pg(item.data_type())?),
        _ => return None,
    })
}

/// The enum types the fields name, with the statement creating each from
/// the source's labels (run only where the type does not exist yet).
pub fn enum_types(schema: &Schema, stream: &str) -> Result<Vec<(String, String)>, ConnectorError> {
    let mut out = Vec::new();
    for f in schema.fields() {
        let Some(labels) = f.metadata().get(rapidbyte_pgcopy::ENUM_LABELS_KEY) else { continue };
        let name = column_type(f, stream)?;
        let labels: Vec<String> = serde_json::from_str(labels).map_err(|e| {
            ConnectorError::schema("BAD_ENUM_METADATA", format!("stream `{stream}`: column `{}` carries unreadable enum labels: {e}", f.name()))
        })?;
        let list = labels.iter().map(|l| rapidbyte_pgconnect::literal(l)).collect::<Vec<_>>().join(", ");
        out.push((name.clone(), format!("CREATE TYPE {name} AS ENUM ({list})")));
    }
    Ok(out)
}

/// The primary key: the write mode's keys, else the source's (schema metadata).
pub fn primary_key(schema: &Schema, upsert_keys: Option<&[String]>) -> Vec<String> {
    if let Some(keys) = upsert_keys.filter(|k| !k.is_empty()) {
        return keys.to_vec();
    }
    schema
        .metadata()
        .get(schema_metadata::PRIMARY_KEY)
        .map(|k| k.split(',').map(str::to_string).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// `CREATE TABLE` for `schema`: durable (never UNLOGGED), NOT NULL where the
/// field is not nullable, with the primary key.
pub fn create_table(qualified: &str, schema: &Schema, key: &[String], stream: &str) -> Result<String, ConnectorError> {
    let mut parts = Vec::new();
    for f in schema.fields() {
        let not_null = if f.is_nullable() { "" } else { " NOT NULL" };
        parts.push(format!("{} {}{not_null}", ident(f.name()), column_type(f, stream)?));
    }
    if !key.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")));
    }
    Ok(format!("CREATE TABLE {qualified} ({})", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn recorded_types_win_and_are_checked() {
        let f = Field::new("p", DataType::Decimal128(12, 2), false)
            .with_metadata(HashMap::from([(PG_TYPE_KEY.to_string(), "numeric(12,2)".to_string())]));
        assert_eq!(column_type(&f, "s").unwrap(), "numeric(12,2)");
        let evil = Field::new("x", DataType::Utf8, true)
            .with_metadata(HashMap::from([(PG_TYPE_KEY.to_string(), "text); DROP TABLE t; --".to_string())]));
        assert_eq!(column_type(&evil, "s").unwrap_err().code, "BAD_TYPE_METADATA");
        let plain = Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true);
        assert_eq!(column_type(&plain, "s").unwrap(), "timestamptz");
    }

    #[test]
    fn create_table_has_not_null_and_key() {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("n", DataType::Utf8, true)])
            .with_metadata(HashMap::from([(schema_metadata::PRIMARY_KEY.to_string(), "id".to_string())]));
        let key = primary_key(&schema, None);
        assert_eq!(
            create_table("\"public\".\"t\"", &schema, &key, "s").unwrap(),
            r#"CREATE TABLE "public"."t" ("id" bigint NOT NULL, "n" text, PRIMARY KEY ("id"))"#
        );
        assert_eq!(primary_key(&schema, Some(&["n".to_string()])), vec!["n"]);
    }
}
