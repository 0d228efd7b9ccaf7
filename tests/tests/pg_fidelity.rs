//! The "everything" fidelity test (issue 11): every PostgreSQL value copies
//! exactly PostgreSQL → PostgreSQL at default settings.
//!
//! `fixtures/types/everything.sql` seeds one table holding every type with
//! its edge values (and the user types it needs). The test copies it with
//! each load method into another schema — one that exists and one the
//! destination must create — and compares the copy with the source column
//! by column, value by value, as PostgreSQL's own output text under pinned
//! settings; plus column types, NOT NULL flags, the primary key and the
//! definitions of the user types the columns use. Every difference is
//! collected and printed, so one failing run tells a connector developer
//! everything that is wrong.
//!
//! Needs PostgreSQL 15+ and the contrib extensions citext, hstore and cube.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use rapidbyte::pipeline::LimitsSection;
use rapidbyte::engine::stream::{run_stream, StreamReport};
use rapidbyte_pgquote::ident;
use rapidbyte_protocol::Limits;
use rapidbyte_tests::pg::TestDb;
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::json;
use tokio_postgres::Client;

/// The seed: extensions, user types and the `everything` table.
const EVERYTHING: &str = include_str!("../../fixtures/types/everything.sql");

/// The settings both sides are read under, so equal values print equally.
const PINNED: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';
                      SET extra_float_digits = 1; SET bytea_output = 'hex'";

/// How much of a value a message shows.
const SHOW_CHARS: usize = 200;

/// How much of an error message a report shows (errors may quote values).
const SHOW_ERROR_CHARS: usize = 600;

// ------------------------------------------------------------------ the runs

/// Checks the server can hold the seed: version and extensions.
async fn require_server(db: &TestDb, extensions: &[&str]) {
    let row = db.client.query_one("SELECT current_setting('server_version_num')::int, version()", &[]).await.unwrap();
    let (num, version): (i32, String) = (row.get(0), row.get(1));
    assert!(num >= 150000, "the fidelity test needs PostgreSQL 15+ (multiranges, numeric(5,-2)); the server is {version}");
    for ext in extensions {
        let available: bool =
            db.client.query_one("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)", &[ext]).await.unwrap().get(0);
        assert!(available, "the fidelity test needs the contrib extension `{ext}` (install postgresql-contrib)");
    }
}

/// Copies `public.<stream>` of `from` into `to` (schema `schema`) with one
/// load method, at default limits.
async fn copy_stream(from: &TestDb, to: &TestDb, stream: &str, schema: &str, method: &str) -> StreamReport {
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut config = to.connector_config();
    config["schema"] = json!(schema);
    config["load_method"] = json!(method);
    let mut j = job(stream, (&src, from.connector_config()), (&dst, config));
    // `job` shrinks some limits for the other tests; this one runs at the
    // defaults a pipeline file without a `limits` section gets.
    j.context.limits = Limits::default();
    j.max_inflight_bytes = usize::try_from(LimitsSection::default().max_inflight_bytes).expect("fits");
    run_stream(rt, j, services()).await
}

/// The stream's error, with the other side's error too when both failed.
fn stream_failure(report: &StreamReport) -> Option<String> {
    let first = report.error()?;
    let mut text = shorten(&first.to_string(), SHOW_ERROR_CHARS);
    for side in [&report.source.error, &report.destination.error].into_iter().flatten() {
        // The other side's error, unless it only repeats the first.
        if !std::ptr::eq(side, first) && !side.to_string().contains(&first.to_string()) {
            text.push_str(&format!("\n      (other side: {})", shorten(&side.to_string(), SHOW_ERROR_CHARS)));
        }
    }
    Some(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_postgres_value_copies_exactly_at_default_settings() {
    let db = TestDb::create("fidelity").await;
    require_server(&db, &["citext", "hstore"]).await;
    db.client.batch_execute(EVERYTHING).await.expect("seeding fixtures/types/everything.sql");
    db.client.batch_execute("CREATE SCHEMA fid_copy; CREATE SCHEMA fid_insert").await.unwrap();
    // (load method, target schema, whether the schema exists before the run)
    let runs = [("copy", "fid_copy", true), ("insert", "fid_insert", true), ("insert", "fid_new_schema", false)];
    let mut problems = Vec::new();
    for (method, schema, exists) in runs {
        let label = format!("{method} into {} schema {schema}", if exists { "existing" } else { "missing" });
        let report = copy_stream(&db, &db, "everything", schema, method).await;
        if let Some(error) = stream_failure(&report) {
            problems.push(format!("{label}: the stream failed: {error}"));
        }
        let found = table_differences(Side::new(&db.client, "public", "everything"), Side::new(&db.client, schema, "everything")).await;
        problems.extend(found.into_iter().map(|d| format!("{label}: {d}")));
    }
    assert!(problems.is_empty(), "{} problem(s) copying `everything`:\n  - {}\n", problems.len(), problems.join("\n  - "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_the_destination_database_lacks_fails_naming_the_type_and_its_extension() {
    // `cube` exists only in the source database: neither connector knows it,
    // and the destination cannot create a column of it.
    let (from, to) = (TestDb::create("fid_ext_from").await, TestDb::create("fid_ext_to").await);
    require_server(&from, &["cube"]).await;
    from.client
        .batch_execute(
            "CREATE EXTENSION cube;
             CREATE TABLE shapes (id int PRIMARY KEY, c cube);
             INSERT INTO shapes VALUES (1, '(1,2),(3,4)'), (2, '(0)'), (3, NULL);",
        )
        .await
        .unwrap();
    let report = copy_stream(&from, &to, "shapes", "public", "copy").await;
    let error = stream_failure(&report).expect("a column of a type the destination database lacks cannot copy");
    assert!(error.contains("cube") && error.to_lowercase().contains("extension"), "the error names the type and its extension: {error}");
}

/// The comparison itself: a faithful copy shows nothing, one changed value
/// shows exactly that value, a copy without constraints shows exactly the
/// constraints, and a user type with other labels shows its definition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comparison_finds_exactly_what_differs() {
    let db = TestDb::create("fid_compare").await;
    require_server(&db, &["citext", "hstore"]).await;
    db.client.batch_execute(EVERYTHING).await.expect("seeding fixtures/types/everything.sql");
    db.client
        .batch_execute(
            "CREATE SCHEMA same; CREATE TABLE same.everything (LIKE public.everything INCLUDING ALL);
             INSERT INTO same.everything SELECT * FROM public.everything;
             CREATE SCHEMA ctas; CREATE TABLE ctas.everything AS SELECT * FROM public.everything;",
        )
        .await
        .unwrap();
    let src = Side::new(&db.client, "public", "everything");
    let same = Side::new(&db.client, "same", "everything");
    let none = table_differences(src, same).await;
    assert!(none.is_empty(), "a faithful copy differs:\n{}", none.join("\n"));

    // The last of 147,456 characters, NULL against '', char(n) padding.
    for (change, column, shows) in [
        ("UPDATE same.everything SET c_numeric = c_numeric - 1e-16383 WHERE id = 1", "c_numeric", "first difference at char 147455"),
        ("UPDATE same.everything SET c_text = NULL WHERE id = 1", "c_text", "target NULL"),
        ("UPDATE same.everything SET c_char = 'ab' WHERE id = 6", "c_char", "\"ab   \""),
    ] {
        db.client.batch_execute(&format!("BEGIN; {change}")).await.unwrap();
        let one = table_differences(src, same).await;
        db.client.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(one.len(), 1, "{change}: {one:#?}");
        assert!(one[0].contains(&format!("column {column}:")) && one[0].contains(shows), "{change}: {}", one[0]);
    }

    let ctas = table_differences(src, Side::new(&db.client, "ctas", "everything")).await;
    assert_eq!(ctas.len(), 3, "{ctas:#?}");
    for shows in ["column id: NOT NULL", "column c_notnull: NOT NULL", "primary key"] {
        assert!(ctas.iter().any(|d| d.contains(shows)), "{shows}: {ctas:#?}");
    }

    db.client
        .batch_execute(
            "CREATE TABLE moods (id int PRIMARY KEY, m mood);
             CREATE SCHEMA other; CREATE TYPE other.mood AS ENUM ('sad', 'ok', 'happy');
             CREATE TABLE other.moods (id int PRIMARY KEY, m other.mood);",
        )
        .await
        .unwrap();
    let types = table_differences(Side::new(&db.client, "public", "moods"), Side::new(&db.client, "other", "moods")).await;
    assert_eq!(types.len(), 1, "{types:#?}");
    assert!(types[0].contains("column m: type definition") && types[0].contains("'meh'"), "{}", types[0]);
}

// ------------------------------------------------------------ the comparison

/// One table to compare.
#[derive(Clone, Copy)]
struct Side<'a> {
    client: &'a Client,
    schema: &'a str,
    table: &'a str,
}

impl<'a> Side<'a> {
    fn new(client: &'a Client, schema: &'a str, table: &'a str) -> Self {
        Self { client, schema, table }
    }

    fn qualified(&self) -> String {
        rapidbyte_pgquote::qualified(self.schema, self.table)
    }
}

/// A column as the catalog describes it.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// `format_type(atttypid, atttypmod)`, with the table's own schema first
    /// on the search path, so `dst.mood` and `public.mood` both print `mood`
    /// (the copy may reuse the source's user type or create its own: the
    /// definitions are compared separately).
    type_name: String,
    not_null: bool,
    type_oid: u32,
}

async fn columns(side: Side<'_>) -> Option<Vec<Column>> {
    let c = side.client;
    let path: String = c.query_one("SELECT current_setting('search_path')", &[]).await.unwrap().get(0);
    c.query_one("SELECT set_config('search_path', $1, false)", &[&format!("{}, public", ident(side.schema))]).await.unwrap();
    let rows = c
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull, atttypid,
                    to_regclass($1) IS NOT NULL
             FROM (SELECT to_regclass($1) AS rel) r LEFT JOIN pg_attribute a ON a.attrelid = r.rel AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&side.qualified()],
        )
        .await
        .unwrap();
    c.query_one("SELECT set_config('search_path', $1, false)", &[&path]).await.unwrap();
    if !rows.first().is_some_and(|r| r.get::<_, bool>(4)) {
        return None;
    }
    Some(
        rows.iter()
            .filter(|r| r.get::<_, Option<String>>(0).is_some())
            .map(|r| Column { name: r.get(0), type_name: r.get(1), not_null: r.get(2), type_oid: r.get(3) })
            .collect(),
    )
}

async fn primary_key(side: Side<'_>) -> Option<String> {
    side.client
        .query_opt(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'",
            &[&side.qualified()],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
}

/// A type's definition, down to the built-in types it is made of: enum
/// labels in order; a domain's base type, NOT NULL, default and CHECK
/// constraints (sorted, names ignored); composite attribute names and types;
/// array element types; the extension an extension type comes from.
fn describe_type(client: &Client, oid: u32, depth: u32) -> Pin<Box<dyn Future<Output = String> + Send + '_>> {
    Box::pin(async move {
        if depth > 16 {
            return format!("(type {oid}: nested too deep)");
        }
        let Some(t) = client
            .query_opt(
                "SELECT t.typname::text, n.nspname::text, t.typtype::text, t.typcategory::text, t.typelem, t.typbasetype,
                        format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typrelid, t.typdefault, e.extname::text
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 LEFT JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
                 LEFT JOIN pg_extension e ON e.oid = d.refobjid
                 WHERE t.oid = $1",
                &[&oid],
            )
            .await
            .unwrap()
        else {
            return format!("(no type {oid})");
        };
        let (name, schema, kind, category): (String, String, String, String) = (t.get(0), t.get(1), t.get(2), t.get(3));
        let (elem, base, base_name): (u32, u32, Option<String>) = (t.get(4), t.get(5), t.get(6));
        let (not_null, relid, default, extension): (bool, u32, Option<String>, Option<String>) = (t.get(7), t.get(8), t.get(9), t.get(10));
        if category == "A" && elem != 0 {
            return format!("{}[]", describe_type(client, elem, depth + 1).await);
        }
        if let Some(ext) = extension {
            return format!("{name} (extension {ext})");
        }
        if schema == "pg_catalog" {
            return name;
        }
        match kind.as_str() {
            "e" => {
                let labels: Option<String> = client
                    .query_one("SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = $1", &[&oid])
                    .await
                    .unwrap()
                    .get(0);
                format!("enum {name} ({})", labels.unwrap_or_default())
            }
            "d" => {
                let checks: Vec<String> = client
                    .query("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contypid = $1 AND contype = 'c' ORDER BY 1", &[&oid])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut s = format!("domain {name} over {}", base_name.unwrap_or_default());
                let inner = describe_type(client, base, depth + 1).await;
                if inner.contains(' ') {
                    s.push_str(&format!(" = {inner}"));
                }
                if not_null {
                    s.push_str(" NOT NULL");
                }
                if let Some(d) = default {
                    s.push_str(&format!(" DEFAULT {d}"));
                }
                for c in checks {
                    s.push_str(&format!(" {c}"));
                }
                s
            }
            "c" => {
                let attrs = client
                    .query(
                        "SELECT attname::text, format_type(atttypid, atttypmod), atttypid FROM pg_attribute
                         WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                        &[&relid],
                    )
                    .await
                    .unwrap();
                let mut parts = Vec::new();
                for a in attrs {
                    let (attname, fmt, atttype): (String, String, u32) = (a.get(0), a.get(1), a.get(2));
                    let inner = describe_type(client, atttype, depth + 1).await;
                    parts.push(if inner.contains(' ') { format!("{attname} {fmt} = {inner}") } else { format!("{attname} {fmt}") });
                }
                format!("composite {name} ({})", parts.join(", "))
            }
            "r" => {
                let sub: u32 = client.query_one("SELECT rngsubtype FROM pg_range WHERE rngtypid = $1", &[&oid]).await.unwrap().get(0);
                format!("range {name} of {}", describe_type(client, sub, depth + 1).await)
            }
            other => format!("{name} (typtype {other})"),
        }
    })
}

/// A column's value in one row: its output text, or None for NULL.
async fn value(side: Side<'_>, key: &str, column: &str, id: &str) -> Option<String> {
    let sql = format!(
        "SELECT format('%L', {c}) = 'NULL', concat({c}) FROM {t} WHERE {k}::text = $1",
        c = ident(column),
        t = side.qualified(),
        k = ident(key)
    );
    let row = side.client.query_one(&sql, &[&id]).await.unwrap();
    if row.get::<_, bool>(0) {
        None
    } else {
        Some(row.get(1))
    }
}

/// Per row (keyed by the key's text, in key order): md5 and length of each
/// column's `format('%L', c)` — the output text quoted, NULL as `NULL`, so
/// NULL, '' and 'NULL' all differ and char(n) padding counts.
async fn fingerprints(side: Side<'_>, key: &str, cols: &[&str]) -> Vec<(String, Vec<(String, i32)>)> {
    let list: Vec<String> = cols.iter().map(|c| format!("md5(format('%L', t.{c})), length(format('%L', t.{c}))", c = ident(c))).collect();
    let sql = format!("SELECT t.{k}::text, {} FROM {} t ORDER BY t.{k}", list.join(", "), side.qualified(), k = ident(key));
    side.client
        .query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (0..cols.len()).map(|i| (r.get(1 + 2 * i), r.get(2 + 2 * i))).collect()))
        .collect()
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `s`, or its first `n` characters and how long it was.
fn shorten(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len > n {
        format!("{}… ({len} chars)", cut(s, n))
    } else {
        s.to_string()
    }
}

fn show(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) => {
            let n = s.chars().count();
            if n > SHOW_CHARS {
                format!("{:?}… ({n} chars)", cut(s, SHOW_CHARS))
            } else {
                format!("{s:?}")
            }
        }
    }
}

/// Where two long texts first differ, with a little context.
fn first_difference(a: &str, b: &str) -> Option<String> {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().max(b.len()) <= SHOW_CHARS {
        return None;
    }
    let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let around = |v: &[char]| -> String { v[at.saturating_sub(40).min(v.len())..(at + 80).min(v.len())].iter().collect() };
    Some(format!("; first difference at char {at}: source …{:?}… target …{:?}…", around(&a), around(&b)))
}

/// Everything that differs between two tables: the table itself, columns
/// (names, order, types, NOT NULL, user-type definitions), the primary key,
/// the rows' keys, and each column's values, by PostgreSQL's output text
/// under pinned settings (whole values compared, messages cut to 200 chars).
async fn table_differences(src: Side<'_>, dst: Side<'_>) -> Vec<String> {
    for side in [src, dst] {
        side.client.batch_execute(PINNED).await.unwrap();
    }
    let mut out = Vec::new();
    let source_columns = columns(src).await.unwrap_or_else(|| panic!("source table {} does not exist", src.qualified()));
    let Some(target_columns) = columns(dst).await else {
        return vec![format!("the target table {} does not exist", dst.qualified())];
    };

    // Columns.
    let by_name: HashMap<&str, &Column> = target_columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let source_names: Vec<&str> = source_columns.iter().map(|c| c.name.as_str()).collect();
    for c in &target_columns {
        if !source_names.contains(&c.name.as_str()) {
            out.push(format!("column {}: only in the target ({})", c.name, c.type_name));
        }
    }
    let mut common = Vec::new();
    for s in &source_columns {
        let Some(t) = by_name.get(s.name.as_str()) else {
            out.push(format!("column {}: missing from the target (source type {})", s.name, s.type_name));
            continue;
        };
        common.push(s.name.as_str());
        if s.type_name != t.type_name {
            out.push(format!("column {}: type {} in the source, {} in the target", s.name, s.type_name, t.type_name));
        }
        if s.not_null != t.not_null {
            out.push(format!("column {}: NOT NULL {} in the source, {} in the target", s.name, s.not_null, t.not_null));
        }
        let (sd, td) = (describe_type(src.client, s.type_oid, 0).await, describe_type(dst.client, t.type_oid, 0).await);
        if sd != td {
            out.push(format!("column {}: type definition differs: source {sd}; target {td}", s.name));
        }
    }
    let target_order: Vec<&str> = target_columns.iter().map(|c| c.name.as_str()).filter(|n| common.contains(n)).collect();
    if target_order != common {
        out.push(format!("column order differs: source {common:?}, target {target_order:?}"));
    }
    let (spk, tpk) = (primary_key(src).await, primary_key(dst).await);
    if spk != tpk {
        out.push(format!("primary key: {spk:?} in the source, {tpk:?} in the target"));
    }

    // Rows and values.
    let key = source_columns[0].name.clone();
    if !common.contains(&key.as_str()) {
        out.push(format!("cannot compare values: the key column {key} is missing from the target"));
        return out;
    }
    let (sv, tv) = (fingerprints(src, &key, &common).await, fingerprints(dst, &key, &common).await);
    let target_rows: HashMap<&str, &Vec<(String, i32)>> = tv.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let source_keys: Vec<&str> = sv.iter().map(|(k, _)| k.as_str()).collect();
    let missing: Vec<&str> = source_keys.iter().copied().filter(|k| !target_rows.contains_key(k)).collect();
    let extra: Vec<&str> = tv.iter().map(|(k, _)| k.as_str()).filter(|k| !source_keys.contains(k)).collect();
    if !missing.is_empty() {
        out.push(format!("rows missing from the target ({} of {}): {key} {}", missing.len(), sv.len(), missing.join(", ")));
    }
    if !extra.is_empty() {
        out.push(format!("rows only in the target ({}): {key} {}", extra.len(), extra.join(", ")));
    }
    for (i, column) in common.iter().enumerate() {
        let differing: Vec<&str> = sv
            .iter()
            .filter_map(|(k, vals)| target_rows.get(k.as_str()).filter(|t| t[i] != vals[i]).map(|_| k.as_str()))
            .collect();
        let Some(first) = differing.first() else { continue };
        let (a, b) = (value(src, &key, column, first).await, value(dst, &key, column, first).await);
        let at = match (&a, &b) {
            (Some(a), Some(b)) => first_difference(a, b).unwrap_or_default(),
            _ => String::new(),
        };
        out.push(format!(
            "column {column}: {} of {} rows differ ({key} {}); first at {key} {first}: source {}, target {}{at}",
            differing.len(),
            sv.len() - missing.len(),
            differing.join(", "),
            show(&a),
            show(&b),
        ));
    }
    out
}
