//! The PostgreSQL source against a real server: every supported type value
//! by value (PostgreSQL itself is the oracle), exact type metadata,
//! incremental continuation with ties, and actionable config errors.

use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use rapidbyte::engine::channel::Item;
use rapidbyte::sandbox::SandboxSpec;
use rapidbyte::engine::stream::{read_stream, ConnectorSpec, SideReport};
use rapidbyte_protocol::{Checkpoint, CursorInfo, ErrorCategory, Limits, StreamContext, SyncMode};
use rapidbyte_tests::pg::{TestDb, TYPES_DDL};
use rapidbyte_tests::{load, runtime, services};
use serde_json::json;


/// The oracle: PostgreSQL's own rendering of each column, in a form the
/// Arrow side can produce exactly (see `arrow_text`).
fn oracle_expr(column: &str, ty: &DataType) -> String {
    let c = format!("\"{column}\"");
    let e = match ty {
        DataType::Float32 => format!("encode(float4send({c}), 'hex')"),
        DataType::Float64 => format!("encode(float8send({c}), 'hex')"),
        DataType::Binary => format!("encode({c}, 'hex')"),
        DataType::Date32 => format!("({c} - date '1970-01-01')::text"),
        DataType::Time64(_) | DataType::Timestamp(_, _) => format!("(extract(epoch from {c}) * 1000000)::int8::text"),
        // interval: Struct<months, days, microseconds>.
        DataType::Struct(f) if f[0].name() == "months" => format!(
            "(extract(year from {c}) * 12 + extract(month from {c}))::int8 || ' ' || extract(day from {c})::int8 || ' ' || \
             ((extract(hour from {c}) * 3600 + extract(minute from {c}) * 60) * 1000000 + extract(microseconds from {c}))::int8"
        ),
        _ => format!("format('%s', {c})"),
    };
    format!("CASE WHEN {c} IS NULL THEN NULL ELSE {e} END")
}

fn quote_array_element(s: &str) -> String {
    let needs = s.is_empty() || s.eq_ignore_ascii_case("null") || s.chars().any(|ch| " ,\"{}\\\t".contains(ch));
    if needs { format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")) } else { s.to_string() }
}

/// The Arrow side's rendering of one value, in the oracle's form.
fn arrow_text(a: &ArrayRef, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float32 => format!("{:08x}", a.as_primitive::<Float32Type>().value(i).to_bits()),
        DataType::Float64 => format!("{:016x}", a.as_primitive::<Float64Type>().value(i).to_bits()),
        DataType::Decimal128(_, _) => a.as_primitive::<Decimal128Type>().value_as_string(i),
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::Boolean => (if a.as_boolean().value(i) { "t" } else { "f" }).to_string(),
        DataType::Binary => a.as_binary::<i32>().value(i).iter().map(|b| format!("{b:02x}")).collect(),
        DataType::Date32 => a.as_primitive::<Date32Type>().value(i).to_string(),
        DataType::Time64(TimeUnit::Microsecond) => a.as_primitive::<Time64MicrosecondType>().value(i).to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => a.as_primitive::<TimestampMicrosecondType>().value(i).to_string(),
        DataType::Struct(f) if f[0].name() == "months" => {
            let s = a.as_struct();
            format!(
                "{} {} {}",
                s.column(0).as_primitive::<Int32Type>().value(i),
                s.column(1).as_primitive::<Int32Type>().value(i),
                s.column(2).as_primitive::<Int64Type>().value(i)
            )
        }
        DataType::FixedSizeBinary(16) => {
            let b = a.as_fixed_size_binary().value(i);
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
        }
        // array: Struct<items: List, shape>; these test arrays are one-dimensional.
        DataType::Struct(f) if f[0].name() == "items" => {
            let s = a.as_struct();
            assert!(s.column(1).is_null(i), "a one-dimensional array has no shape");
            let list = s.column(0).as_list::<i32>().value(i);
            let items: Vec<String> = (0..list.len())
                .map(|j| match arrow_text(&list, j) {
                    None => "NULL".to_string(),
                    Some(s) if list.data_type() == &DataType::Utf8 => quote_array_element(&s),
                    Some(s) => s,
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        other => panic!("no oracle for Arrow type {other}"),
    })
}

struct Read {
    batches: Vec<RecordBatch>,
    checkpoints: Vec<Checkpoint>,
    report: SideReport,
}

async fn read(db: &TestDb, ctx: StreamContext, config: serde_json::Value, sandbox: SandboxSpec) -> Read {
    let rt = runtime();
    let source = load(&rt, "source_postgres.wasm");
    let collected = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let sink = Arc::clone(&collected);
    let _ = db;
    let report = read_stream(
        rt,
        ConnectorSpec { component: source, config_json: config.to_string(), sandbox },
        ctx,
        services(),
        move |item| {
            let mut s = sink.lock().unwrap();
            match item {
                Item::Batch { frame, .. } => {
                    let mut r = arrow_ipc::reader::StreamReader::try_new(frame.as_slice(), None).unwrap();
                    s.0.push(r.next().unwrap().unwrap());
                }
                Item::Checkpoint(cp) => s.1.push(cp),
                Item::DeadLetter(_) | Item::End | Item::Abort(_) => {}
            }
        },
        16 << 20,
    )
    .await;
    let (batches, checkpoints) = std::mem::take(&mut *collected.lock().unwrap());
    Read { batches, checkpoints, report }
}

fn ctx(stream: &str) -> StreamContext {
    StreamContext {
        pipeline: "pg-tests".into(),
        run_id: "r1".into(),
        stream_name: stream.into(),
        limits: Limits { max_batch_bytes: 1 << 20, ..Limits::default() },
        ..StreamContext::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_value_by_value() {
    let db = TestDb::create("types").await;
    db.client.batch_execute(TYPES_DDL).await.unwrap();
    let r = read(&db, ctx("all_types"), db.connector_config(), SandboxSpec::default()).await;
    assert!(r.report.error.is_none(), "{:?}", r.report.error);
    let batch = arrow_select_concat(&r.batches);
    assert_eq!(batch.num_rows(), 5);
    let schema = batch.schema();
    let mut compared = 0;
    for (ci, field) in schema.fields().iter().enumerate() {
        let sql = format!("SELECT {} FROM all_types ORDER BY id", oracle_expr(field.name(), field.data_type()));
        let expected: Vec<Option<String>> = db.client.query(&sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        // The source reads in physical order; rows were inserted by id.
        let ids = batch.column(0).as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            let want = &expected[(ids.value(row) - 1) as usize];
            let got = arrow_text(batch.column(ci), row);
            assert_eq!(&got, want, "column {} ({}) row id {}", field.name(), field.data_type(), ids.value(row));
            compared += 1;
        }
        // The recorded type recreates the column exactly.
        let recorded = field.metadata().get("rapidbyte.pg_type").unwrap_or_else(|| panic!("{} has no pg_type", field.name()));
        let probe = db
            .client
            .query_one(
                &format!(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'all_types'::regclass AND attname = '{}'",
                    field.name()
                ),
                &[],
            )
            .await
            .unwrap();
        let original: String = probe.get(0);
        db.client.batch_execute(&format!("DROP TABLE IF EXISTS probe; CREATE TABLE probe (x {recorded})")).await.unwrap();
        let recreated: String = db
            .client
            .query_one("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'probe'::regclass AND attname = 'x'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(recreated, original, "column {}: recorded type `{recorded}` does not recreate `{original}`", field.name());
    }
    assert_eq!(compared, 27 * 5);
    // Exact mappings where the issue names them.
    let ty = |n: &str| schema.field_with_name(n).unwrap().data_type().clone();
    assert_eq!(ty("c_num_ps"), DataType::Decimal128(12, 2));
    assert_eq!(ty("c_tstz"), DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
    assert_eq!(ty("c_num"), DataType::Utf8, "unconstrained numeric is exact text, never float");
    assert!(schema.field_with_name("c_int4").unwrap().is_nullable());
    assert!(!schema.field_with_name("id").unwrap().is_nullable());
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert!(!batches.is_empty(), "no batches");
    arrow_select::concat::concat_batches(&batches[0].schema(), batches).unwrap()
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_reads_exactly_the_new_rows_including_ties() {
    let db = TestDb::create("incr").await;
    db.client
        .batch_execute(
            "CREATE TABLE events (id int8 PRIMARY KEY, ts timestamptz NOT NULL, v text);
             INSERT INTO events SELECT i, '2024-01-01 00:00:00+00'::timestamptz + (i / 10) * interval '1 microsecond', 'v' || i
             FROM generate_series(1, 1000) i;",
        )
        .await
        .unwrap();
    let mut c = ctx("events");
    c.sync_mode = SyncMode::Incremental;
    c.cursor = Some(CursorInfo { field: "ts".into(), tie_breaker: Some("id".into()), ..Default::default() });
    c.limits.checkpoint_interval_rows = 300;
    c.limits.max_batch_bytes = 16 << 10;
    let first = read(&db, c.clone(), db.connector_config(), SandboxSpec::default()).await;
    assert!(first.report.error.is_none(), "{:?}", first.report.error);
    assert_eq!(ids(&first.batches), (1..=1000).collect::<Vec<_>>());
    assert!(first.checkpoints.len() > 1, "checkpoints follow the interval: {}", first.checkpoints.len());
    let last = first.checkpoints.last().unwrap().cursor.clone().unwrap();
    assert_eq!(last.last_value.as_deref(), Some("2024-01-01 00:00:00.0001+00"), "microseconds kept");
    assert_eq!(last.last_tie_breaker.as_deref(), Some("1000"));

    // New rows: five share the last cursor value (ties), the rest come after.
    db.client
        .batch_execute(
            "INSERT INTO events SELECT i, '2024-01-01 00:00:00.0001+00', 'tie' FROM generate_series(1001, 1005) i;
             INSERT INTO events SELECT i, '2024-01-01 00:00:01+00'::timestamptz + i * interval '1 microsecond', 'new'
             FROM generate_series(1006, 1100) i;",
        )
        .await
        .unwrap();
    c.cursor = Some(last.clone());
    let second = read(&db, c.clone(), db.connector_config(), SandboxSpec::default()).await;
    assert!(second.report.error.is_none(), "{:?}", second.report.error);
    assert_eq!(ids(&second.batches), (1001..=1100).collect::<Vec<_>>(), "exactly the new rows, ties included, none twice");

    // Nothing new: no rows, and the position holds.
    c.cursor = second.checkpoints.last().unwrap().cursor.clone();
    let third = read(&db, c.clone(), db.connector_config(), SandboxSpec::default()).await;
    assert!(third.batches.is_empty());
    assert_eq!(third.checkpoints.last().unwrap().cursor, c.cursor);
}

fn error_of(r: &Read) -> rapidbyte_protocol::ConnectorError {
    r.report.error.as_ref().and_then(|e| e.connector_error()).cloned().unwrap_or_else(|| panic!("expected a connector error, got {:?}", r.report.error))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_gives_actionable_categories() {
    let db = TestDb::create("badcfg").await;
    // aclitem has no binary send/receive functions: binary COPY cannot carry it.
    db.client.batch_execute("CREATE TABLE t (id int4, p aclitem)").await.unwrap();

    let missing = read(&db, ctx("no_such_table"), db.connector_config(), SandboxSpec::default()).await;
    let e = error_of(&missing);
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Config, "TABLE_NOT_FOUND"));
    assert!(e.message.contains("no_such_table"), "{}", e.message);

    let mut cols = ctx("t");
    cols.selected_columns = vec!["id".into(), "nope".into()];
    let e = error_of(&read(&db, cols, db.connector_config(), SandboxSpec::default()).await);
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Config, "COLUMN_NOT_FOUND"));
    assert!(e.message.contains("nope"), "{}", e.message);

    let e = error_of(&read(&db, ctx("t"), db.connector_config(), SandboxSpec::default()).await);
    assert_eq!(e.category, ErrorCategory::Schema);
    assert!(e.message.contains("`p`") && e.message.contains("aclitem"), "{}", e.message);

    let mut unreachable = db.connector_config();
    unreachable["port"] = json!(1);
    let e = error_of(&read(&db, ctx("t"), unreachable, SandboxSpec::default()).await);
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::TransientNetwork, "UNREACHABLE"));
    assert!(e.retryable);

    let mut no_db = db.connector_config();
    no_db["database"] = json!("rb_surely_missing_db");
    let e = error_of(&read(&db, ctx("t"), no_db, SandboxSpec::default()).await);
    assert_eq!(e.category, ErrorCategory::Config, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_login_is_an_auth_error() {
    // The local server trusts every connection, so a wrong password cannot
    // be produced here; a role that may not log in fails authorization with
    // SQLSTATE 28000 through the same path.
    let db = TestDb::create("auth").await;
    let role = format!("{}_nologin", db.name);
    db.client.batch_execute(&format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} NOLOGIN")).await.unwrap();
    let mut config = db.connector_config();
    config["user"] = json!(role);
    let e = error_of(&read(&db, ctx("t"), config, SandboxSpec::default()).await);
    db.client.batch_execute(&format!("DROP ROLE {role}")).await.unwrap();
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Auth, "AUTH_FAILED"), "{e}");
    assert!(!e.retryable);
}

async fn probe(config: serde_json::Value) -> rapidbyte::engine::stream::Probe {
    let rt = runtime();
    let source = load(&rt, "source_postgres.wasm");
    let spec = ConnectorSpec { component: source, config_json: config.to_string(), sandbox: SandboxSpec::default() };
    rapidbyte::engine::stream::probe(&rt, &spec, "pg-tests", services()).await.expect("probe")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_and_discover_describe_the_real_database() {
    let db = TestDb::create("discover").await;
    db.client
        .batch_execute(
            "CREATE TABLE b_orders (id int8, line int4, placed timestamptz NOT NULL, note text, geo point, acl aclitem, PRIMARY KEY (id, line));
             CREATE TABLE a_plain (v numeric(5,1));",
        )
        .await
        .unwrap();
    let first = probe(db.connector_config()).await;
    assert!(first.validation.is_ok(), "{:?}", first.validation);
    assert_eq!(first.open_info.name, "source-postgres");
    let streams = first.streams.unwrap().unwrap();
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a_plain", "b_orders"], "sorted, one per table");
    let orders = &streams[1];
    assert_eq!(orders.primary_key, ["id", "line"]);
    assert_eq!(orders.cursor_candidates, ["id", "line", "placed", "note"]);
    let schema = arrow_ipc::reader::StreamReader::try_new(orders.schema.as_slice(), None).unwrap().schema();
    let fields: Vec<(String, bool)> = schema.fields().iter().map(|f| (f.name().clone(), f.is_nullable())).collect();
    assert_eq!(
        fields,
        [("id".into(), false), ("line".into(), false), ("placed".into(), false), ("note".into(), true), ("geo".into(), true)],
        "columns in table order with nullability; the unsupported `acl` is left out"
    );
    // Deterministic: a second discover gives the same bytes.
    let second = probe(db.connector_config()).await;
    assert_eq!(second.streams.unwrap().unwrap(), streams);

    let mut bad = db.connector_config();
    bad["database"] = json!("rb_surely_missing_db");
    let e = probe(bad).await.validation.unwrap_err();
    assert_eq!(e.connector_error().map(|e| e.category), Some(ErrorCategory::Config), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_respect_the_limit_a_big_row_travels_alone_and_one_above_the_ceiling_is_a_data_error() {
    let db = TestDb::create("limits").await;
    db.client
        .batch_execute(
            "CREATE TABLE wide (id int8, body text);
             INSERT INTO wide SELECT i, repeat('x', 500) FROM generate_series(1, 2000) i;",
        )
        .await
        .unwrap();
    let mut c = ctx("wide");
    c.limits.max_batch_bytes = 32 << 10;
    let ok = read(&db, c.clone(), db.connector_config(), SandboxSpec::default()).await;
    assert!(ok.report.error.is_none(), "{:?}", ok.report.error);
    assert_eq!(ok.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2000);
    assert!(ok.batches.len() >= 30, "1 MB of rows in 32 KiB frames: {} batches", ok.batches.len());

    db.client.batch_execute("INSERT INTO wide VALUES (2001, repeat('y', 100000))").await.unwrap();
    // A row above max_batch_bytes travels alone, in a frame of its own (SPEC § Batches) ...
    let big = read(&db, c.clone(), db.connector_config(), SandboxSpec::default()).await;
    assert!(big.report.error.is_none(), "{:?}", big.report.error);
    assert_eq!(big.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2001);
    let alone = big
        .batches
        .iter()
        .find(|b| b.column(1).as_string::<i32>().iter().any(|v| v.is_some_and(|v| v.len() == 100_000)))
        .expect("the big row arrived");
    assert_eq!(alone.num_rows(), 1, "the big row travels alone");
    // ... and above the host's max_record_bytes (64 KiB here) it is a data error.
    let rt = runtime();
    let source = load(&rt, "source_postgres.wasm");
    c.limits.max_record_bytes = 64 << 10;
    let report = rapidbyte::engine::stream::read_stream(
        rt,
        ConnectorSpec { component: source, config_json: db.connector_config().to_string(), sandbox: SandboxSpec::default() },
        c,
        services(),
        |_| {},
        16 << 20,
    )
    .await;
    let e = report.error.as_ref().and_then(|e| e.connector_error()).unwrap_or_else(|| panic!("{:?}", report.error));
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Data, "RECORD_TOO_LARGE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_metrics_are_reported_per_batch() {
    let db = TestDb::create("metrics").await;
    db.client
        .batch_execute("CREATE TABLE m (id int8); INSERT INTO m SELECT generate_series(1, 5000);")
        .await
        .unwrap();
    let rt = runtime();
    let source = load(&rt, "source_postgres.wasm");
    let svc = services();
    let mut c = ctx("m");
    c.limits.max_batch_bytes = 8 << 10;
    let report = read_stream(
        rt,
        ConnectorSpec { component: source, config_json: db.connector_config().to_string(), sandbox: SandboxSpec::default() },
        c,
        svc.clone(),
        |_| {},
        1 << 20,
    )
    .await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let hub = &svc.metrics;
    let role = rapidbyte_protocol::Role::Source;
    assert_eq!(hub.counter("m", role, "records_read"), 5000);
    let batches = hub.counter("m", role, "batches_emitted");
    assert!(batches > 3, "{batches}");
    assert!(hub.counter("m", role, "bytes_read") > 5000 * 8);
    assert!(hub.counter("m", role, "checkpoint_count") >= 1);
    let observed = |name: &str| {
        hub.snapshot().into_iter().find(|(k, _)| k.name == name && k.stream == "m").map(|(_, v)| v)
    };
    for phase in ["fetch_ms", "decode_ms", "encode_ms"] {
        match observed(phase) {
            Some(rapidbyte::telemetry::metrics::Aggregate::Histogram { count, .. }) => assert_eq!(count, batches, "{phase} once per batch"),
            other => panic!("{phase}: {other:?}"),
        }
    }
}
