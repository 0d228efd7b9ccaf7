//! Target tables: the PostgreSQL type of each incoming Arrow field, and the
//! DDL that creates a table exactly like the source's (SPEC § Schema).

use crate::type_name::TypeName;
use rapidbyte_pgcopy::{ENUM_LABELS_KEY, PG_DOMAIN_KEY, PG_EXTENSION_KEY, PG_KIND_KEY, PG_TYPE_KEY};
use rapidbyte_pgconnect::ident;
use rapidbyte_sdk::arrow::datatypes::{DataType, Field, Schema};
use rapidbyte_sdk::{schema_metadata, ConnectorError};

/// The PostgreSQL type for a field: the source's own type when it recorded
/// one (`rapidbyte.pg_type`), else the natural type of the Arrow type.
pub fn column_type(field: &Field, stream: &str) -> Result<String, ConnectorError> {
    if let Some(recorded) = field.metadata().get(PG_TYPE_KEY) {
        // The text becomes DDL: accept type names only, never statements.
        return checked_type_name(recorded, field, stream);
    }
    rapidbyte_pgcopy::PgType::for_arrow(field.data_type()).map(|t| t.sql_name()).ok_or_else(|| {
        ConnectorError::schema(
            "UNSUPPORTED_TYPE",
            format!("stream `{stream}`: column `{}` has Arrow type {}, which has no PostgreSQL mapping", field.name(), field.data_type()),
        )
    })
}

/// A user type a stream needs in the destination database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDdl {
    /// The type's name, as the source recorded it.
    pub name: String,
    /// What to do when it does not exist.
    pub action: TypeAction,
}

/// How a missing user type is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeAction {
    /// Created by this single statement (enum, composite).
    Create(String),
    /// A domain: created by this statement (its CHECK and DEFAULT
    /// expressions are the source's SQL), provided none of `calls` is a
    /// volatile or unknown function; then verified against the catalog.
    CreateDomain { sql: String, calls: Vec<String> },
    /// Provided by an extension (or a type the source has and we cannot
    /// create): the stream fails naming it.
    Missing { extension: Option<String> },
}

/// The user types the fields name (nested ones included), in dependency
/// order (a type after the types it is built from), each once.
pub fn user_types(schema: &Schema, stream: &str) -> Result<Vec<TypeDdl>, ConnectorError> {
    let mut out = Vec::new();
    for f in schema.fields() {
        collect_types(f, stream, &mut out)?;
    }
    Ok(out)
}

fn push(out: &mut Vec<TypeDdl>, name: &str, action: TypeAction) {
    if !out.iter().any(|t| t.name == name) {
        out.push(TypeDdl { name: name.to_string(), action });
    }
}

fn bad_metadata(stream: &str, field: &Field, what: &str) -> ConnectorError {
    ConnectorError::schema("BAD_TYPE_METADATA", format!("stream `{stream}`: column `{}` carries {what}", field.name()))
}

fn collect_types(f: &Field, stream: &str, out: &mut Vec<TypeDdl>) -> Result<(), ConnectorError> {
    // Nested types first: they must exist before the type built from them.
    match f.data_type() {
        DataType::Struct(children) => {
            for c in children {
                collect_types(c, stream, out)?;
            }
        }
        DataType::List(item) | DataType::LargeList(item) => collect_types(item, stream, out)?,
        _ => {}
    }
    let md = f.metadata();
    let Some(name) = md.get(PG_TYPE_KEY) else { return Ok(()) };
    let name = checked_type_name(name, f, stream)?;
    if let Some(labels) = md.get(ENUM_LABELS_KEY) {
        let labels: Vec<String> =
            serde_json::from_str(labels).map_err(|e| bad_metadata(stream, f, &format!("unreadable enum labels: {e}")))?;
        let list = labels.iter().map(|l| rapidbyte_pgconnect::literal(l)).collect::<Vec<_>>().join(", ");
        // A domain over an enum carries the enum's labels: the enum is its base.
        let enum_name = match md.get(PG_DOMAIN_KEY) {
            Some(def) => checked_type_name(&domain_def(def, f, stream)?.base, f, stream)?,
            None => name.clone(),
        };
        push(out, &enum_name, TypeAction::Create(format!("CREATE TYPE {enum_name} AS ENUM ({list})")));
    }
    match md.get(PG_KIND_KEY).map(String::as_str) {
        Some("domain") => {
            let def = domain_def(md.get(PG_DOMAIN_KEY).map(String::as_str).unwrap_or("{}"), f, stream)?;
            let base = checked_type_name(&def.base, f, stream)?;
            let mut sql = format!("CREATE DOMAIN {name} AS {base}");
            if let Some(default) = &def.default {
                // One expression, kept inside its own parentheses; what it calls
                // is checked after creation like the CHECKs.
                if !balanced(default) {
                    return Err(bad_metadata(stream, f, &format!("a domain default that is not one expression: `{default}`")));
                }
                sql.push_str(&format!(" DEFAULT ({default})"));
            }
            if def.not_null {
                sql.push_str(" NOT NULL");
            }
            for (cname, check) in &def.checks {
                if !checked_constraint(check) {
                    return Err(bad_metadata(stream, f, &format!("a domain constraint that is not a CHECK: `{check}`")));
                }
                sql.push_str(&format!(" CONSTRAINT {} {check}", ident(cname)));
            }
            let mut calls: Vec<String> = def.checks.iter().flat_map(|(_, c)| called_functions(c)).collect();
            calls.extend(def.default.as_deref().map(called_functions).unwrap_or_default());
            calls.sort();
            calls.dedup();
            push(out, &name, TypeAction::CreateDomain { sql, calls });
        }
        Some("composite") => {
            let DataType::Struct(children) = f.data_type() else {
                return Err(bad_metadata(stream, f, "a composite type that is not a struct"));
            };
            let mut attrs = Vec::new();
            for c in children {
                attrs.push(format!("{} {}", ident(c.name()), column_type(c, stream)?));
            }
            push(out, &name, TypeAction::Create(format!("CREATE TYPE {name} AS ({})", attrs.join(", "))));
        }
        Some("enum") | None => {
            if let Some(ext) = md.get(PG_EXTENSION_KEY) {
                push(out, &name, TypeAction::Missing { extension: Some(ext.clone()) });
            }
        }
        Some(other) => return Err(bad_metadata(stream, f, &format!("an unknown type kind `{other}`"))),
    }
    Ok(())
}

struct DomainDef {
    base: String,
    not_null: bool,
    checks: Vec<(String, String)>,
    default: Option<String>,
}

fn domain_def(json: &str, f: &Field, stream: &str) -> Result<DomainDef, ConnectorError> {
    #[derive(serde::Deserialize)]
    struct Check {
        name: String,
        def: String,
    }
    #[derive(serde::Deserialize)]
    struct Def {
        base: String,
        #[serde(default)]
        not_null: bool,
        #[serde(default)]
        checks: Vec<Check>,
        #[serde(default)]
        default: Option<String>,
    }
    let d: Def = serde_json::from_str(json).map_err(|e| bad_metadata(stream, f, &format!("an unreadable domain definition: {e}")))?;
    Ok(DomainDef {
        base: d.base,
        not_null: d.not_null,
        checks: d.checks.into_iter().map(|c| (c.name, c.def)).collect(),
        default: d.default,
    })
}

/// The schema of a qualified type name (`s.t`, `"S"."T"`) as SQL, for a
/// name [`checked_type_name`] returned; `None` for an unqualified name.
pub fn type_schema(name: &str) -> Option<String> {
    TypeName::parse(name).ok().and_then(|t| t.schema())
}

/// A type name from the source's metadata, parsed with the strict type
/// grammar and rendered by us: it is pasted into DDL, so nothing but a type
/// name gets through (SPEC § Security; the source is not trusted).
fn checked_type_name(recorded: &str, field: &Field, stream: &str) -> Result<String, ConnectorError> {
    TypeName::parse(recorded).map(|t| t.to_string()).map_err(|e| {
        ConnectorError::schema(
            "BAD_TYPE_METADATA",
            format!("stream `{stream}`: column `{}` carries an invalid type name `{}`: {e}", field.name(), recorded.escape_debug()),
        )
    })
}

/// The names of the functions an expression calls, as PostgreSQL deparses
/// it (`name(…)`, `schema.name(…)`), lower-cased; cast targets
/// (`::character varying(10)`) and call-like syntax (`ANY (…)`,
/// `COALESCE(…)`…) are not calls. Used to refuse source SQL that would run a
/// volatile function: PostgreSQL records no dependencies on built-in
/// functions, so the catalog alone cannot tell (`lo_export`, `pg_read_file`).
pub fn called_functions(expr: &str) -> Vec<String> {
    const SYNTAX: [&str; 13] =
        ["check", "any", "all", "some", "in", "coalesce", "nullif", "greatest", "least", "row", "array", "exists", "cast"];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut in_cast) = (0, false);
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A string literal ('' escapes a quote).
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            in_cast = false;
            continue;
        }
        if c == ':' && chars.get(i + 1) == Some(&':') {
            in_cast = true;
            i += 2;
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '"' {
            let mut word = String::new();
            if c == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    word.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                    word.push(chars[i].to_ascii_lowercase());
                    i += 1;
                }
            }
            if chars.get(i) == Some(&'.') {
                // A qualifier: the name follows.
                i += 1;
                continue;
            }
            let mut j = i;
            while chars.get(j) == Some(&' ') {
                j += 1;
            }
            if chars.get(j) == Some(&'(') && !in_cast && !SYNTAX.contains(&word.as_str()) {
                out.push(word);
            }
            continue;
        }
        if in_cast && c == '(' {
            // A cast's type modifiers.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if !(in_cast && (c == ' ' || c == '[' || c == ']')) {
            in_cast = false;
        }
        i += 1;
    }
    out.sort();
    out.dedup();
    out
}

/// An expression whose parentheses balance outside quotes and that holds
/// no `;` outside quotes: wrapped in parentheses it is one expression.
fn balanced(expr: &str) -> bool {
    let mut depth = 0i64;
    let mut quote: Option<char> = None;
    for c in expr.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            (None, ';') => return false,
            _ => {}
        }
    }
    depth == 0 && quote.is_none() && !expr.trim().is_empty() && !expr.contains("--") && !expr.contains("/*")
}

/// A domain CHECK from the source's metadata: `CHECK (…)` whose inside is
/// one balanced expression, so nothing can follow the constraint.
fn checked_constraint(def: &str) -> bool {
    def.strip_prefix("CHECK (").and_then(|d| d.strip_suffix(')')).is_some_and(balanced)
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
    use rapidbyte_sdk::arrow::datatypes::TimeUnit;

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
    fn qualified_type_names_split_outside_quotes() {
        assert_eq!(type_schema("s.mood").as_deref(), Some("s"));
        assert_eq!(type_schema(r#""a.b"."c.d""#).as_deref(), Some(r#""a.b""#));
        assert_eq!(type_schema("mood"), None);
        assert_eq!(type_schema(r#""x.y""#), None);
        assert_eq!(type_schema("numeric(12,2)"), None);
        assert_eq!(type_schema("time(2) with time zone"), None);
    }

    #[test]
    fn calls_are_found_in_deparsed_expressions() {
        assert_eq!(called_functions("CHECK ((lo_export((1)::oid, '/tmp/x'::text) > 0))"), ["lo_export"]);
        assert_eq!(called_functions("pg_catalog.pg_read_file('/etc/passwd'::text)"), ["pg_read_file"]);
        assert_eq!(called_functions("CHECK ((char_length((VALUE)::text) <= 10))"), ["char_length"]);
        assert!(called_functions("CHECK (((VALUE)::text = ANY ((ARRAY['YES'::character varying, 'NO'::character varying])::text[])))").is_empty());
        assert!(called_functions("CHECK ((VALUE >= (0)::numeric(10,2)))").is_empty());
        assert!(called_functions("CHECK ((VALUE ~ '^f(x)$'::text))").is_empty(), "calls inside literals are text");
        assert_eq!(called_functions("now()"), ["now"]);
        assert_eq!(called_functions("\"Weird\"(1)"), ["Weird"]);
    }

    #[test]
    fn domain_defaults_are_one_expression() {
        assert!(balanced("'x'::text"));
        assert!(balanced("(0)::numeric"));
        assert!(balanced("now()"));
        assert!(!balanced("1) CHECK (lo_export(1, '/tmp/x') > 0"));
        assert!(!balanced("1; DROP TABLE t"));
        assert!(!balanced("1 -- x"));
        assert!(!balanced("'unterminated"));
    }

    #[test]
    fn domain_constraints_are_one_check_and_nothing_after() {
        assert!(checked_constraint("CHECK ((VALUE > 0))"));
        assert!(checked_constraint("CHECK ((VALUE ~ '^(a|b)$'::text))"));
        assert!(checked_constraint("CHECK ((VALUE <> ')'::text))"));
        assert!(!checked_constraint("CHECK (true) DEFAULT pg_read_file('/etc/passwd')"));
        assert!(!checked_constraint("CHECK (true)); DROP TABLE t; --"));
        assert!(!checked_constraint("CHECK (true); DROP TABLE t"));
        assert!(!checked_constraint("NOT NULL"));
        assert!(!checked_constraint("CHECK (unbalanced"));
    }

    #[test]
    fn hostile_type_metadata_never_reaches_ddl() {
        for evil in ["text, canary_col int", "text) INHERITS (other", "text, SET UNLOGGED", "text DEFAULT (pg_read_file('x'))"] {
            let f = Field::new("x", DataType::Utf8, true).with_metadata(HashMap::from([(PG_TYPE_KEY.to_string(), evil.to_string())]));
            assert_eq!(column_type(&f, "s").unwrap_err().code, "BAD_TYPE_METADATA", "{evil}");
            let schema = Schema::new(vec![f]);
            assert!(create_table("\"public\".\"t\"", &schema, &[], "s").is_err(), "{evil}");
        }
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
