//! The PostgreSQL destination against a real server: every type round-trips
//! source → destination with identical values and column types (compared by
//! query), and each write mode gives the expected table.

use rapidbyte::engine::stream::run_stream;
use rapidbyte_protocol::{CommitTokenBase, SyncMode, WriteMode};
use rapidbyte_tests::pg::{TestDb, TYPES_DDL};
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::json;

fn dest_config(db: &TestDb, schema: &str) -> serde_json::Value {
    let mut c = db.connector_config();
    c["schema"] = json!(schema);
    c
}

/// Both load methods must give identical tables.
const METHODS: [&str; 2] = ["copy", "insert"];

async fn copy_stream(db: &TestDb, stream: &str, write_mode: WriteMode, to_schema: &str) -> rapidbyte::engine::stream::StreamReport {
    load_stream(db, stream, write_mode, to_schema, "copy").await
}

async fn load_stream(db: &TestDb, stream: &str, write_mode: WriteMode, to_schema: &str, method: &str) -> rapidbyte::engine::stream::StreamReport {
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut config = dest_config(db, to_schema);
    config["load_method"] = json!(method);
    let mut j = job(stream, (&src, db.connector_config()), (&dst, config));
    j.context.write_mode = write_mode;
    run_stream(rt, j, services()).await
}

/// Rows of `a` missing from `b` plus rows of `b` missing from `a`, compared
/// as PostgreSQL's text of the whole row (every column, exact output).
async fn row_difference(db: &TestDb, a: &str, b: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM ((SELECT t::text FROM {a} t EXCEPT ALL SELECT t::text FROM {b} t)
          UNION ALL (SELECT t::text FROM {b} t EXCEPT ALL SELECT t::text FROM {a} t)) d"
    );
    db.client.query_one(&sql, &[]).await.unwrap().get(0)
}

async fn column_types(db: &TestDb, table: &str) -> Vec<(String, String, bool)> {
    db.client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_with_identical_values_and_types() {
    let db = TestDb::create("dst_types").await;
    db.client.batch_execute(TYPES_DDL).await.unwrap();
    for method in METHODS {
        db.client.batch_execute(&format!("CREATE SCHEMA dst_{method}")).await.unwrap();
        let report = load_stream(&db, "all_types", WriteMode::Append, &format!("dst_{method}"), method).await;
        assert!(report.succeeded(), "{method}: {:?}", report.error());
        let target = format!("dst_{method}.all_types");
        assert_eq!(row_difference(&db, "public.all_types", &target).await, 0, "{method}");
        assert_eq!(count(&db, &target).await, 5);
        assert_eq!(column_types(&db, "public.all_types").await, column_types(&db, &target).await, "{method}");
    }
    assert_eq!(row_difference(&db, "dst_copy.all_types", "dst_insert.all_types").await, 0, "COPY and INSERT agree");
    db.client.batch_execute("ALTER SCHEMA dst_copy RENAME TO dst").await.unwrap();
    let pk: String = db
        .client
        .query_one("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'dst.all_types'::regclass AND contype = 'p'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pk, "PRIMARY KEY (id)");
    let unlogged: String = db
        .client
        .query_one("SELECT relpersistence::text FROM pg_class WHERE oid = 'dst.all_types'::regclass", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unlogged, "p", "durable table, never UNLOGGED");
}

const SEED: &str = "CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL, price numeric(10,2));
    INSERT INTO items SELECT i, 'item ' || i, i * 1.25 FROM generate_series(1, 2000) i;
    CREATE SCHEMA dst;";

async fn count(db: &TestDb, table: &str) -> i64 {
    db.client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_adds_rows_each_run() {
    let db = TestDb::create("dst_append").await;
    db.client
        .batch_execute("CREATE TABLE events (at timestamptz, what text); INSERT INTO events SELECT now(), 'e' || i FROM generate_series(1, 1500) i; CREATE SCHEMA dst;")
        .await
        .unwrap();
    for (run, method) in [(1, "copy"), (2, "insert")] {
        let r = load_stream(&db, "events", WriteMode::Append, "dst", method).await;
        assert!(r.succeeded(), "{:?}", r.error());
        assert_eq!(count(&db, "dst.events").await, 1500 * run, "append run {run} ({method})");
    }
    // Into a table with a primary key, appending the same rows again is a
    // data error before commit, and nothing of the chunk lands.
    db.client.batch_execute(SEED.replace("CREATE SCHEMA dst;", "").as_str()).await.unwrap();
    assert!(copy_stream(&db, "items", WriteMode::Append, "dst").await.succeeded());
    let again = copy_stream(&db, "items", WriteMode::Append, "dst").await;
    let e = again.error().and_then(|e| e.connector_error()).cloned().expect("duplicate keys fail");
    assert_eq!(e.category, rapidbyte_protocol::ErrorCategory::Data);
    assert_eq!(e.commit_state, Some(rapidbyte_protocol::CommitState::BeforeCommit));
    assert!(e.message.contains("line"), "names the row: {}", e.message);
    assert!(
        e.message.contains("exactly-once") && e.message.contains("upsert") && e.message.contains("on_data_error: skip"),
        "names the ways forward: {}",
        e.message
    );
    assert_eq!(count(&db, "dst.items").await, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_swaps_in_the_new_contents() {
    for method in METHODS {
    let db = TestDb::create("dst_replace").await;
    db.client.batch_execute(SEED).await.unwrap();
    db.client.batch_execute("CREATE TABLE dst.items (id int8 PRIMARY KEY, name text NOT NULL, price numeric(10,2)); INSERT INTO dst.items VALUES (999999, 'stale', 0)").await.unwrap();
    for _ in 0..2 {
        let r = load_stream(&db, "items", WriteMode::Replace, "dst", method).await;
        assert!(r.succeeded(), "{:?}", r.error());
        assert_eq!(row_difference(&db, "public.items", "dst.items").await, 0, "replace holds exactly the source rows");
    }
    let leftovers: i64 = db
        .client
        .query_one("SELECT count(*) FROM pg_class WHERE relname LIKE '%rapidbyte_staging%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0, "no staging table left behind");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_updates_existing_keys_and_inserts_new_ones() {
    for method in METHODS {
    let db = TestDb::create("dst_upsert").await;
    db.client.batch_execute(SEED).await.unwrap();
    let keys = WriteMode::Upsert(vec!["id".into()]);
    let r = load_stream(&db, "items", keys.clone(), "dst", method).await;
    assert!(r.succeeded(), "{:?}", r.error());
    db.client
        .batch_execute("UPDATE items SET price = price + 1000, name = 'changed' WHERE id % 100 = 0;
                        INSERT INTO items SELECT i, 'new ' || i, 1 FROM generate_series(2001, 2100) i;")
        .await
        .unwrap();
    let r = load_stream(&db, "items", keys, "dst", method).await;
    assert!(r.succeeded(), "{:?}", r.error());
    assert_eq!(count(&db, "dst.items").await, 2100);
    assert_eq!(row_difference(&db, "public.items", "dst.items").await, 0, "{method}: upsert converges on the source");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_records_the_committed_token_with_the_data() {
    let db = TestDb::create("dst_eo").await;
    db.client.batch_execute(SEED).await.unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut j = job("items", (&src, db.connector_config()), (&dst, dest_config(&db, "dst")));
    j.context.sync_mode = SyncMode::Incremental;
    j.context.cursor = Some(rapidbyte_protocol::CursorInfo { field: "id".into(), ..Default::default() });
    j.context.limits.checkpoint_interval_rows = 500;
    j.context.limits.max_batch_bytes = 16 << 10;
    let base = CommitTokenBase { pipeline: "tests".into(), stream_name: "items".into(), run_id: j.context.run_id.clone() };
    j.context.commit_token_base = Some(base.clone());
    let svc = services();
    let r = run_stream(rt, j, svc.clone()).await;
    assert!(r.succeeded(), "{:?}", r.error());
    // § Metrics: the destination reports its standard metrics.
    let d = rapidbyte_protocol::Role::Destination;
    assert_eq!(svc.metrics.counter("items", d, "records_written"), 2000);
    assert!(svc.metrics.counter("items", d, "batches_written") > 1);
    assert!(svc.metrics.counter("items", d, "bytes_written") > 2000 * 8);
    let chunks = svc.metrics.counter("items", d, "checkpoint_count");
    for phase in ["flush_ms", "commit_ms"] {
        let observed = svc.metrics.snapshot().into_iter().find(|(k, _)| k.role == d && k.name == phase).map(|(_, v)| v);
        assert!(
            matches!(observed, Some(rapidbyte::telemetry::metrics::Aggregate::Histogram { count, .. }) if count >= chunks),
            "{phase}: {observed:?} for {chunks} chunks"
        );
    }
    let (run_id, seq, cursor): (String, i64, String) = {
        let row = db.client.query_one("SELECT run_id, sequence, cursor->>'last_value' FROM dst.rapidbyte_commits WHERE stream = 'items'", &[]).await.unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    assert_eq!(run_id, base.run_id);
    assert!(seq >= 4, "one token per checkpoint chunk, last sequence {seq}");
    assert_eq!(cursor, "2000");
    assert_eq!(count(&db, "dst.items").await, 2000);
}

/// An exactly-once job from `items` into `dst`, incremental on `id`, in
/// small chunks so a run has many commits.
fn eo_job(db: &TestDb, rt: &std::sync::Arc<rapidbyte::sandbox::runtime::Runtime>, run: &str, dest: serde_json::Value) -> rapidbyte::engine::stream::StreamJob {
    let (src, dst) = (load(rt, "source_postgres.wasm"), load(rt, "dest_postgres.wasm"));
    let mut j = job("items", (&src, db.connector_config()), (&dst, dest));
    j.context.run_id = run.into();
    j.context.sync_mode = SyncMode::Incremental;
    j.context.cursor = Some(rapidbyte_protocol::CursorInfo { field: "id".into(), ..Default::default() });
    j.context.limits.checkpoint_interval_rows = 250;
    j.context.limits.max_batch_bytes = 8 << 10;
    j.context.commit_token_base =
        Some(CommitTokenBase { pipeline: "tests".into(), stream_name: "items".into(), run_id: run.into() });
    j
}

/// A proxy to the test server losing the `nth` COMMIT as `fault`, and the
/// destination config (schema `dst`) that goes through it.
async fn through_proxy(db: &TestDb, nth: usize, fault: rapidbyte_tests::proxy::CommitFault) -> (rapidbyte_tests::proxy::Proxy, serde_json::Value) {
    let (host, port, _) = rapidbyte_tests::pg::host_port_user(&rapidbyte_tests::pg::url());
    let upstream = tokio::net::lookup_host((host.as_str(), port)).await.unwrap().next().unwrap();
    let proxy = rapidbyte_tests::proxy::start(upstream, Some((nth, fault))).await.expect("proxy");
    let mut config = dest_config(db, "dst");
    config["host"] = json!("127.0.0.1");
    config["port"] = json!(proxy.port);
    (proxy, config)
}

async fn exactly_once_holds(db: &TestDb) {
    let (n, distinct): (i64, i64) = {
        let r = db.client.query_one("SELECT count(*), count(DISTINCT id) FROM dst.items", &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((n, distinct), (2000, 2000), "every source row exactly once");
    assert_eq!(row_difference(db, "public.items", "dst.items").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_killed_between_chunks_resumes_exactly_once() {
    // Trap the destination at several host-call boundaries: after some
    // commits and before others. Each resume must neither lose nor repeat.
    for (i, k) in [6u64, 11, 25, 40].into_iter().enumerate() {
        let db = TestDb::create(&format!("dst_kill{i}")).await;
        db.client.batch_execute(SEED).await.unwrap();
        let rt = runtime();
        let mut crash = eo_job(&db, &rt, "run-1", dest_config(&db, "dst"));
        crash.destination.sandbox.trap_at_host_call = Some(k);
        let first = run_stream(rt.clone(), crash, services()).await;
        assert!(!first.succeeded(), "the injected fault at call {k} must stop the run");
        let partial: i64 = db.client.query_one("SELECT count(*) FROM dst.items", &[]).await.map(|r| r.get(0)).unwrap_or(0);
        assert!(partial < 2000, "k={k}: the crash came before the end");
        let resume = run_stream(rt.clone(), eo_job(&db, &rt, "run-2", dest_config(&db, "dst")), services()).await;
        assert!(resume.succeeded(), "k={k}: {:?}", resume.error());
        exactly_once_holds(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_answer_is_after_commit_unknown_and_resume_is_exact() {
    use rapidbyte_tests::proxy::CommitFault;
    for fault in [CommitFault::DropAfterForward, CommitFault::DropBeforeForward] {
        let db = TestDb::create("dst_lost").await;
        db.client.batch_execute(SEED).await.unwrap();
        // Lose the fourth COMMIT on the destination's connection: the first
        // closes `committed` (the resume check), the next three close chunks.
        let (proxy, via_proxy) = through_proxy(&db, 4, fault).await;
        let rt = runtime();
        let first = run_stream(rt.clone(), eo_job(&db, &rt, "run-1", via_proxy), services()).await;
        let e = first.error().and_then(|e| e.connector_error()).cloned().unwrap_or_else(|| panic!("{fault:?}: {:?}", first.error()));
        assert_eq!(e.code, "COMMIT_FAILED", "{fault:?}: {e}");
        assert_eq!(e.category, rapidbyte_protocol::ErrorCategory::TransientDb);
        assert_eq!(e.commit_state, Some(rapidbyte_protocol::CommitState::AfterCommitUnknown));
        assert!(!e.safe_to_retry);
        assert_eq!(proxy.commits.load(std::sync::atomic::Ordering::SeqCst), 4);
        // The token committed with the data says exactly what landed. Read it
        // under the connector's token lock: the lost COMMIT may still be
        // finishing on the server (the connector's `committed` waits the same way).
        db.client
            .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('tests' || '/' || 'items', 0))")
            .await
            .unwrap();
        let row = db.client.query_one("SELECT sequence, (cursor->>'last_value')::int8 FROM dst.rapidbyte_commits", &[]).await.unwrap();
        db.client.batch_execute("COMMIT").await.unwrap();
        let (sequence, through): (i64, i64) = (row.get(0), row.get(1));
        let expected_sequence = if fault == CommitFault::DropAfterForward { 3 } else { 2 };
        assert_eq!(sequence, expected_sequence, "{fault:?}: the third chunk's commit landed only if it was forwarded");
        let landed: i64 = db.client.query_one("SELECT count(*) FROM dst.items", &[]).await.unwrap().get(0);
        assert_eq!(landed, through, "{fault:?}: data and token commit together");
        drop(proxy);
        let resume = run_stream(rt.clone(), eo_job(&db, &rt, "run-2", dest_config(&db, "dst")), services()).await;
        assert!(resume.succeeded(), "{fault:?}: {:?}", resume.error());
        exactly_once_holds(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_evolution_policies_one_case_per_axis_and_option() {
    use rapidbyte_protocol::{NewColumnPolicy as N, NullabilityChangePolicy as L, RemovedColumnPolicy as R, SchemaPolicy, TypeChangePolicy as T};
    let db = TestDb::create("dst_evo").await;
    db.client
        .batch_execute(
            "CREATE TABLE evo (id int8 PRIMARY KEY, a int4 NOT NULL, b text, c numeric(10,2) NOT NULL);
             INSERT INTO evo SELECT i, i * 10, CASE WHEN i % 2 = 0 THEN 'b' || i END, i * 1.5 FROM generate_series(1, 100) i;",
        )
        .await
        .unwrap();
    let base = SchemaPolicy::default();
    // (name, policy, existing target table, expected error code or None, check SQL returning true on success)
    let cases: Vec<(&str, SchemaPolicy, &str, Option<&str>, &str)> = vec![
        ("new_add", SchemaPolicy { new_column: N::Add, ..base }, "id int8 PRIMARY KEY, a int4 NOT NULL, b text", None,
         "SELECT count(*) = 100 AND sum(c) = 7575 FROM t.evo"),
        ("new_ignore", SchemaPolicy { new_column: N::Ignore, ..base }, "id int8 PRIMARY KEY, a int4 NOT NULL, b text", None,
         "SELECT count(*) = 100 AND NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 't' AND table_name = 'evo' AND column_name = 'c') FROM t.evo"),
        ("new_fail", SchemaPolicy { new_column: N::Fail, ..base }, "id int8 PRIMARY KEY, a int4 NOT NULL, b text", Some("NEW_COLUMN"), ""),
        ("removed_ignore", SchemaPolicy { removed_column: R::Ignore, ..base }, "id int8 PRIMARY KEY, a int4 NOT NULL, b text, c numeric(10,2) NOT NULL, old text", None,
         "SELECT count(*) = 100 AND count(old) = 0 FROM t.evo"),
        ("removed_fail", SchemaPolicy { removed_column: R::Fail, ..base }, "id int8 PRIMARY KEY, a int4 NOT NULL, b text, c numeric(10,2) NOT NULL, old text", Some("REMOVED_COLUMN"), ""),
        ("type_fail", SchemaPolicy { type_change: T::Fail, ..base }, "id int8 PRIMARY KEY, a text, b text, c numeric(10,2) NOT NULL", Some("TYPE_CHANGED"), ""),
        ("type_null", SchemaPolicy { type_change: T::Null, ..base }, "id int8 PRIMARY KEY, a text, b text, c numeric(10,2) NOT NULL", None,
         "SELECT count(*) = 100 AND count(a) = 0 FROM t.evo"),
        ("type_coerce", SchemaPolicy { type_change: T::Coerce, ..base }, "id int8 PRIMARY KEY, a int8 NOT NULL, b text, c numeric(10,2) NOT NULL", None,
         "SELECT count(*) = 100 AND sum(a) = 50500 FROM t.evo"),
        ("null_allow", SchemaPolicy { nullability_change: L::Allow, ..base }, "id int8 PRIMARY KEY, a int4 NOT NULL, b text NOT NULL, c numeric(10,2) NOT NULL", None,
         "SELECT count(*) = 100 AND count(b) = 50 FROM t.evo"),
        ("null_fail", SchemaPolicy { nullability_change: L::Fail, ..base }, "id int8 PRIMARY KEY, a int4 NOT NULL, b text NOT NULL, c numeric(10,2) NOT NULL", Some("NULLABILITY_CHANGED"), ""),
    ];
    for (name, policy, existing, expect_error, check) in cases {
        db.client.batch_execute(&format!("DROP SCHEMA IF EXISTS t CASCADE; CREATE SCHEMA t; CREATE TABLE t.evo ({existing})")).await.unwrap();
        let rt = runtime();
        let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
        let mut j = job("evo", (&src, db.connector_config()), (&dst, dest_config(&db, "t")));
        j.context.policies.schema_evolution = policy;
        let r = run_stream(rt, j, services()).await;
        match expect_error {
            Some(code) => {
                let e = r.error().and_then(|e| e.connector_error()).cloned().unwrap_or_else(|| panic!("{name}: expected {code}, got {:?}", r.error()));
                assert_eq!((e.category, e.code.as_str()), (rapidbyte_protocol::ErrorCategory::Schema, code), "{name}: {e}");
                assert_eq!(count(&db, "t.evo").await, 0, "{name}: nothing written before the policy check");
            }
            None => {
                assert!(r.succeeded(), "{name}: {:?}", r.error());
                let ok: bool = db.client.query_one(check, &[]).await.unwrap().get(0);
                assert!(ok, "{name}: {check}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_server_rejects_is_rolled_back_before_commit() {
    // A deferred unique constraint is checked at COMMIT: the server answers
    // with an error, so the chunk is rolled back and safe to retry.
    let db = TestDb::create("dst_deferred").await;
    db.client
        .batch_execute(
            "CREATE TABLE dup (id int8, v text); INSERT INTO dup SELECT i % 50, 'v' FROM generate_series(1, 100) i;
             CREATE SCHEMA dst; CREATE TABLE dst.dup (id int8, v text, UNIQUE (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .await
        .unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let svc = services();
    let r = run_stream(rt, job("dup", (&src, db.connector_config()), (&dst, dest_config(&db, "dst"))), svc.clone()).await;
    let e = r.error().and_then(|e| e.connector_error()).cloned().expect("the COMMIT is rejected");
    assert_eq!(e.commit_state, Some(rapidbyte_protocol::CommitState::BeforeCommit), "{e}");
    assert_eq!(e.category, rapidbyte_protocol::ErrorCategory::Data, "{e}");
    assert_eq!(count(&db, "dst.dup").await, 0);
    // Reported counts are what is durable: nothing of the rolled-back chunk.
    let written = svc.metrics.counter("dup", rapidbyte_protocol::Role::Destination, rapidbyte_protocol::metric_names::RECORDS_WRITTEN);
    assert_eq!(written, 0, "a rolled-back chunk is not counted as written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_moves_to_another_database_with_its_enum_type() {
    let (from, to) = (TestDb::create("xdb_from").await, TestDb::create("xdb_to").await);
    from.client.batch_execute(TYPES_DDL).await.unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let r = run_stream(rt, job("all_types", (&src, from.connector_config()), (&dst, to.connector_config())), services()).await;
    assert!(r.succeeded(), "{:?}", r.error());
    assert_eq!(table_text(&from).await, table_text(&to).await);
    assert_eq!(column_types(&from, "all_types").await, column_types(&to, "all_types").await);
    let labels: String = to.client.query_one("SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'mood'::regtype", &[]).await.unwrap().get(0);
    assert_eq!(labels, "sad,ok,happy");
}

async fn table_text(db: &TestDb) -> Vec<String> {
    db.client.query("SELECT t::text FROM all_types t ORDER BY id", &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

/// § State and checkpoints: an incremental source that ends with rows after
/// its last checkpoint fails the stream; the destination rolls those rows
/// back (they would commit with no token and be read again), and the next
/// run copies each row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_after_the_last_checkpoint_are_never_committed_without_a_token() {
    let db = TestDb::create("dst_uncovered").await;
    db.client.batch_execute("CREATE SCHEMA dst;").await.unwrap();
    let rt = runtime();
    let (broken, dst) = (load(&rt, "source_broken.wasm"), load(&rt, "dest_postgres.wasm"));
    let eo = |mode: &str, run: &str| {
        let mut j = job("generated", (&broken, json!({"mode": mode, "rows": 1000})), (&dst, dest_config(&db, "dst")));
        j.context.run_id = run.into();
        j.context.sync_mode = SyncMode::Incremental;
        j.context.cursor = Some(rapidbyte_protocol::CursorInfo { field: "id".into(), ..Default::default() });
        j.context.limits.checkpoint_interval_rows = 300;
        j.context.limits.max_batch_bytes = 8 << 10;
        j.context.commit_token_base = Some(CommitTokenBase { pipeline: "tests".into(), stream_name: "generated".into(), run_id: run.into() });
        j
    };
    let first = run_stream(rt.clone(), eo("no_final_checkpoint", "run-1"), services()).await;
    match &first.source.error {
        Some(rapidbyte::sandbox::runtime::InstanceError::Protocol { detail, .. }) => assert!(detail.contains("after its last checkpoint"), "{detail}"),
        other => panic!("the uncovered rows must fail the stream: {other:?}"),
    }
    let (n, max): (i64, Option<i64>) = {
        let r = db.client.query_one("SELECT count(*), max(id) FROM dst.generated", &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert!(n < 1000 && max.is_none_or(|m| m + 1 == n), "only checkpoint-covered rows stay: {n} rows, max id {max:?}");
    let second = run_stream(rt.clone(), eo("none", "run-2"), services()).await;
    assert!(second.succeeded(), "{:?}", second.error());
    let r = db.client.query_one("SELECT count(*), count(DISTINCT id) FROM dst.generated", &[]).await.unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1)), (1000, 1000), "each row once after the rerun");
}

/// § Errors: a server that goes silent while it owes the answer to a COMMIT
/// (a partition, a stuck middlebox) is a lost connection after
/// `io_timeout_seconds`, reported as after-commit-unknown — not a hang —
/// and the resume is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_becomes_after_commit_unknown_instead_of_a_hang() {
    use rapidbyte_tests::proxy::CommitFault;
    let db = TestDb::create("dst_silent").await;
    db.client.batch_execute(SEED).await.unwrap();
    let (proxy, mut via_proxy) = through_proxy(&db, 4, CommitFault::HoldAnswer).await;
    via_proxy["io_timeout_seconds"] = json!(2);
    let rt = runtime();
    // Liveness: without the I/O timeout this waits for the held answer forever.
    let first = tokio::time::timeout(std::time::Duration::from_secs(120), run_stream(rt.clone(), eo_job(&db, &rt, "run-1", via_proxy), services()))
        .await
        .expect("the silence ended the run");
    let e = first.error().and_then(|e| e.connector_error()).cloned().unwrap_or_else(|| panic!("{:?}", first.error()));
    assert_eq!(e.commit_state, Some(rapidbyte_protocol::CommitState::AfterCommitUnknown), "{e}");
    assert!(e.retryable, "a lost connection is transient: {e}");
    drop(proxy);
    // The old session is still open on the server behind the silent link,
    // holding the run lease, until the server notices the peer is gone: end it
    // as the server would.
    db.client
        .batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'rapidbyte'")
        .await
        .unwrap();
    let resume = run_stream(rt.clone(), eo_job(&db, &rt, "run-2", dest_config(&db, "dst")), services()).await;
    assert!(resume.succeeded(), "{:?}", resume.error());
    exactly_once_holds(&db).await;
}

/// A write the server refuses for want of a privilege is a `permission`
/// error whose hint names the privileges a write needs (not SELECT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_names_the_privilege_a_write_needs() {
    let db = TestDb::create("dst_priv").await;
    let role = format!("rb_ro_{}", std::process::id());
    db.client
        .batch_execute(&format!(
            "CREATE TABLE items (id int8 PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a');
             CREATE SCHEMA dst; CREATE TABLE dst.items (id int8 PRIMARY KEY, name text);
             DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA dst TO {role}; GRANT SELECT ON dst.items TO {role};"
        ))
        .await
        .unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut config = dest_config(&db, "dst");
    config["user"] = json!(role);
    let r = run_stream(rt, job("items", (&src, db.connector_config()), (&dst, config)), services()).await;
    let e = r.error().and_then(|e| e.connector_error()).cloned().expect("the write is refused");
    db.client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.unwrap();
    assert_eq!(e.category, rapidbyte_protocol::ErrorCategory::Permission, "{e}");
    assert!(e.message.contains("INSERT") && e.message.contains("CREATE"), "the hint names what a write needs: {e}");
    assert_eq!(count(&db, "dst.items").await, 0);
}
