//! The on-data-error policy (SPEC § Errors) against a real PostgreSQL.
//!
//! Destination: a target table whose CHECK constraints and primary key
//! reject known rows; under `fail` the stream fails and nothing lands,
//! under `skip` exactly the other rows land and the rejected ones are
//! counted, under `dlq` the rejected ones are in `rapidbyte_dead_letters`
//! with their key, full content and error — for both load methods, for
//! append and upsert, all exactly-once. Dead letters commit with their
//! chunk: a crash between chunks and the resume neither lose nor repeat one.
//!
//! Source: rows of a SQL_ASCII database holding text that is not UTF-8
//! cannot be read; `fail` fails with DECODE_FAILED, `skip` drops and counts
//! exactly them, `dlq` hands exactly them to the dead-letter table (contract
//! 0.2), once each across a crash and its resume; a 0.1 destination cannot
//! take them and the stream fails saying so.

use std::collections::BTreeSet;
use std::sync::Arc;

use rapidbyte::sandbox::host_api::{RunServices, RunSummary};
use rapidbyte::sandbox::runtime::Runtime;
use rapidbyte::engine::stream::{run_stream, StreamJob, StreamReport};
use rapidbyte_protocol::{
    CommitState, CommitTokenBase, ConnectorError, CursorInfo, DataErrorPolicy, ErrorCategory, ReadSummary, Role, SyncMode,
    WriteMode, WriteSummary,
};
use rapidbyte_tests::pg::TestDb;
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::json;
use tokio_postgres::Client;

// ---------------------------------------------------------------------------
// The source table and which of its rows the target rejects.

const ROWS: i64 = 20_000;
/// Pre-inserted in every target as (DUP, 0, 'pre'): appending the source's
/// row with this id is a unique violation; upserting it updates the row.
const DUP: i64 = 12_345;
const STREAM: &str = "items";

/// Ids whose qty is negative (CHECK qty_nonneg): the first rows (so `fail`
/// fails in the first chunk), neighbours (bisection down to adjacent rows),
/// both sides of the 10,000-row checkpoint boundary, and a spread.
fn bad_qty() -> BTreeSet<i64> {
    let mut s: BTreeSet<i64> = [1, 2, 3, 777, 9_999, 10_000, 10_001].into();
    s.extend((1..=ROWS).filter(|i| i % 1009 == 0));
    s
}

/// Ids whose name is longer than 10 characters (CHECK name_short),
/// including the last three rows.
fn bad_name() -> BTreeSet<i64> {
    let mut s: BTreeSet<i64> = [4, 4_242, 12_000, 19_998, 19_999, 20_000].into();
    s.extend((1..=ROWS).filter(|i| i % 1013 == 500));
    s
}

fn bad() -> BTreeSet<i64> {
    let (q, n) = (bad_qty(), bad_name());
    assert!(q.is_disjoint(&n) && !q.contains(&DUP) && !n.contains(&DUP), "the test's sets must be disjoint");
    q.union(&n).copied().collect()
}

/// What the target refuses under each write mode: with append also the
/// duplicate key, with upsert the duplicate just updates.
fn rejected(mode: &WriteMode) -> BTreeSet<i64> {
    let mut r = bad();
    if !matches!(mode, WriteMode::Upsert(_)) {
        r.insert(DUP);
    }
    r
}

async fn seed_source(client: &Client) {
    client.batch_execute("CREATE TABLE items (id int8 PRIMARY KEY, qty int4, name text)").await.unwrap();
    // Generated in id order in one INSERT: the heap (and so the read
    // order of a full refresh) is id order.
    let (q, n): (Vec<i64>, Vec<i64>) = (bad_qty().into_iter().collect(), bad_name().into_iter().collect());
    client
        .execute(
            "INSERT INTO items SELECT i,
                CASE WHEN i = ANY($1::int8[]) THEN -1 - (i % 7)::int4 ELSE (i % 97)::int4 END,
                CASE WHEN i = ANY($2::int8[]) THEN 'far too long ' || i ELSE 'n' || i END
             FROM generate_series(1::int8, $3::int8) i",
            &[&q, &n, &ROWS],
        )
        .await
        .unwrap();
}

/// The target table in `schema`, with the constraints that reject rows,
/// holding the one pre-inserted row.
async fn create_target(db: &TestDb, schema: &str) {
    db.client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.items (
               id int8 PRIMARY KEY,
               qty int4 CONSTRAINT qty_nonneg CHECK (qty >= 0),
               name text CONSTRAINT name_short CHECK (length(name) <= 10));
             INSERT INTO {schema}.items VALUES ({DUP}, 0, 'pre');"
        ))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Jobs and reports.

fn dest_config(db: &TestDb, schema: &str, method: &str) -> serde_json::Value {
    let mut c = db.connector_config();
    c["schema"] = json!(schema);
    c["load_method"] = json!(method);
    c
}

fn token_base(run: &str) -> CommitTokenBase {
    CommitTokenBase { pipeline: "tests".into(), stream_name: STREAM.into(), run_id: run.into() }
}

/// `items` → `dest`, exactly-once (`job()` sets no commit token base, so
/// it is set here as the engine does for an exactly-once pipeline).
fn items_job(rt: &Arc<Runtime>, source: serde_json::Value, dest: serde_json::Value, run: &str, mode: WriteMode, policy: DataErrorPolicy) -> StreamJob {
    let (src, dst) = (load(rt, "source_postgres.wasm"), load(rt, "dest_postgres.wasm"));
    let mut j = job(STREAM, (&src, source), (&dst, dest));
    j.context.run_id = run.into();
    j.context.write_mode = mode;
    j.context.policies.on_data_error = policy;
    // Several batches per chunk; job() makes chunks of 10,000 rows.
    j.context.limits.max_batch_bytes = 64 << 10;
    j.context.commit_token_base = Some(token_base(run));
    j
}

/// The same, incremental on `id` in chunks of 2,000 rows: a run has ~10
/// commits and a rerun resumes after the committed token's cursor.
fn chunked_job(rt: &Arc<Runtime>, db: &TestDb, schema: &str, method: &str, run: &str, mode: WriteMode) -> StreamJob {
    let mut j = items_job(rt, db.connector_config(), dest_config(db, schema, method), run, mode, DataErrorPolicy::Dlq);
    j.context.sync_mode = SyncMode::Incremental;
    j.context.cursor = Some(CursorInfo { field: "id".into(), ..Default::default() });
    j.context.limits.checkpoint_interval_rows = 2_000;
    j.context.limits.max_batch_bytes = 16 << 10;
    j
}

fn write_summary(r: &StreamReport) -> WriteSummary {
    match &r.destination.summary {
        Some(RunSummary::Write(w)) => w.clone(),
        other => panic!("no write summary: {other:?} ({:?})", r.error()),
    }
}

fn read_summary(r: &StreamReport) -> ReadSummary {
    match &r.source.summary {
        Some(RunSummary::Read(s)) => s.clone(),
        other => panic!("no read summary: {other:?} ({:?})", r.error()),
    }
}

fn connector_error(r: &StreamReport, what: &str) -> ConnectorError {
    assert!(!r.succeeded(), "{what}: the stream must fail");
    r.error().and_then(|e| e.connector_error()).cloned().unwrap_or_else(|| panic!("{what}: not a connector error: {:?}", r.error()))
}

// ---------------------------------------------------------------------------
// Checks, in SQL.

async fn ids(client: &Client, sql: &str) -> BTreeSet<i64> {
    client.query(sql, &[]).await.unwrap().iter().map(|r| r.get::<_, i64>(0)).collect()
}

/// Rows of `table` missing from the expected contents, and expected rows
/// missing from `table` (whole rows, duplicates counted): the source's
/// rows with id ≤ `through` not in `rejected`, plus the pre-inserted row
/// when `with_pre`.
async fn target_difference(client: &Client, table: &str, rejected: &BTreeSet<i64>, through: i64, with_pre: bool) -> (Vec<i64>, Vec<i64>) {
    let rejected: Vec<i64> = rejected.iter().copied().collect();
    let expected = "SELECT id, qty, name FROM public.items WHERE id <= $2 AND id <> ALL($1::int8[])
                    UNION ALL SELECT $4::int8, 0, 'pre'::text WHERE $3";
    let diff = |a: &str, b: &str| format!("SELECT id FROM (({a}) EXCEPT ALL ({b})) d ORDER BY id");
    let actual = format!("SELECT id, qty, name FROM {table}");
    let q = |sql: String| {
        let rejected = rejected.clone();
        async move {
            client
                .query(&sql, &[&rejected, &through, &with_pre, &DUP])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, i64>(0))
                .collect::<Vec<_>>()
        }
    };
    (q(diff(&actual, expected)).await, q(diff(expected, &actual)).await)
}

async fn assert_target(client: &Client, table: &str, rejected: &BTreeSet<i64>, through: i64, with_pre: bool, what: &str) {
    let (extra, missing) = target_difference(client, table, rejected, through, with_pre).await;
    assert!(extra.is_empty() && missing.is_empty(), "{what}: {table} has unexpected rows {extra:?} and lacks {missing:?}");
    let (n, distinct): (i64, i64) = {
        let r = client.query_one(&format!("SELECT count(*), count(DISTINCT id) FROM {table}"), &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(n, distinct, "{what}: no id twice");
}

async fn table_exists(client: &Client, table: &str) -> bool {
    client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).await.unwrap().get(0)
}

/// Every dead letter of `schema`: exactly the ids `expected`, each once,
/// key = the primary key, data = the whole source row, the error naming
/// the constraint that refused it, labelled with the pipeline, stream and
/// the run that wrote it (`run_of`).
async fn assert_dead_letters(db: &TestDb, schema: &str, expected: &BTreeSet<i64>, run_of: impl Fn(i64) -> String, what: &str) {
    let table = format!("{schema}.rapidbyte_dead_letters");
    if expected.is_empty() && !table_exists(&db.client, &table).await {
        return;
    }
    assert!(table_exists(&db.client, &table).await, "{what}: {table} exists");
    let rows = db
        .client
        .query(
            &format!(
                "SELECT (row_key->>'id')::int8, row_key = jsonb_build_object('id', (row_key->>'id')::int8),
                        row_data->>'name', (row_data->>'qty')::int4, row_data = to_jsonb(s),
                        error_category, error_code, error_message, pipeline, stream, run_id, failed_at IS NOT NULL
                 FROM {table} d LEFT JOIN public.items s ON s.id = (d.row_key->>'id')::int8 ORDER BY d.id"
            ),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<i64> = rows.iter().map(|r| r.get::<_, i64>(0)).collect();
    let got_set: BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(got.len(), got_set.len(), "{what}: a dead letter written twice: {got:?}");
    assert_eq!(&got_set, expected, "{what}: dead-lettered ids");
    let (q, n) = (bad_qty(), bad_name());
    let source: std::collections::HashMap<i64, (i32, String)> = db
        .client
        .query("SELECT id, qty, name FROM public.items WHERE id = ANY($1::int8[])", &[&got])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    for r in &rows {
        let id: i64 = r.get(0);
        let (qty, name) = &source[&id];
        assert!(r.get::<_, bool>(1), "{what}: row_key of {id} is exactly {{\"id\": {id}}}");
        assert_eq!(r.get::<_, Option<String>>(2).as_deref(), Some(name.as_str()), "{what}: row_data->>'name' of {id}");
        assert_eq!(r.get::<_, Option<i32>>(3), Some(*qty), "{what}: row_data->>'qty' of {id}");
        assert!(r.get::<_, Option<bool>>(4) == Some(true), "{what}: row_data of {id} is the whole source row");
        let (category, code, message): (String, String, String) = (r.get(5), r.get(6), r.get(7));
        assert_eq!(category, "data", "{what}: category of {id}");
        assert!(!code.is_empty(), "{what}: error_code of {id}");
        let constraint = if q.contains(&id) {
            "qty_nonneg"
        } else if n.contains(&id) {
            "name_short"
        } else {
            "items_pkey"
        };
        assert!(message.contains(constraint), "{what}: the message for {id} names {constraint}: {message}");
        let (pipeline, stream, run_id): (String, String, String) = (r.get(8), r.get(9), r.get(10));
        assert_eq!((pipeline.as_str(), stream.as_str()), ("tests", STREAM), "{what}: labels of {id}");
        assert_eq!(run_id, run_of(id), "{what}: run_id of {id}");
        assert!(r.get::<_, bool>(11), "{what}: failed_at of {id}");
    }
}

/// The committed token of `schema` (sequence, cursor's last id), read under
/// the connector's token lock so a chunk transaction still finishing on a
/// dead connection has ended first.
async fn committed_token(db: &TestDb, schema: &str) -> Option<(i64, Option<i64>)> {
    let table = format!("{schema}.rapidbyte_commits");
    if !table_exists(&db.client, &table).await {
        return None;
    }
    db.client
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('tests' || '/' || 'items', 0))")
        .await
        .unwrap();
    let row = db
        .client
        .query_opt(&format!("SELECT sequence, (cursor->>'last_value')::int8 FROM {table} WHERE pipeline = 'tests' AND stream = $1"), &[&STREAM])
        .await
        .unwrap();
    db.client.batch_execute("COMMIT").await.unwrap();
    row.map(|r| (r.get(0), r.get(1)))
}

fn count_in(set: &BTreeSet<i64>, through: i64) -> u64 {
    set.range(..=through).count() as u64
}

// ---------------------------------------------------------------------------
// 1. The destination rejects rows: each policy, each load method, append
//    and upsert, exactly-once.

async fn destination_policies(method: &str, mode: WriteMode) {
    let upsert = matches!(mode, WriteMode::Upsert(_));
    let db = TestDb::create(&format!("dle_{method}_{}", if upsert { "upsert" } else { "append" })).await;
    seed_source(&db.client).await;
    let rejected = rejected(&mode);
    let what = |p: &str| format!("{method}/{mode:?}/{p}");

    // fail: the first chunk holds id 1 (qty < 0): the stream fails with a
    // data error before commit and the target keeps only its own row.
    create_target(&db, "p_fail").await;
    let rt = runtime();
    let r = run_stream(rt.clone(), items_job(&rt, db.connector_config(), dest_config(&db, "p_fail", method), "run-fail", mode.clone(), DataErrorPolicy::Fail), services()).await;
    let e = connector_error(&r, &what("fail"));
    assert_eq!(e.category, ErrorCategory::Data, "{}: {e}", what("fail"));
    assert_eq!(e.commit_state, Some(CommitState::BeforeCommit), "{}: {e}", what("fail"));
    assert!(e.message.contains("qty_nonneg"), "{}: names the violated constraint: {e}", what("fail"));
    assert_target(&db.client, "p_fail.items", &BTreeSet::new(), 0, true, &what("fail")).await;
    assert!(!table_exists(&db.client, "p_fail.rapidbyte_dead_letters").await, "{}: no dead letters under fail", what("fail"));
    assert_eq!(committed_token(&db, "p_fail").await, None, "{}: no chunk committed", what("fail"));

    // skip: exactly the other rows land; the rejected ones are counted.
    create_target(&db, "p_skip").await;
    let svc = services();
    let r = run_stream(rt.clone(), items_job(&rt, db.connector_config(), dest_config(&db, "p_skip", method), "run-skip", mode.clone(), DataErrorPolicy::Skip), svc.clone()).await;
    assert!(r.succeeded(), "{}: {:?}", what("skip"), r.error());
    assert_target(&db.client, "p_skip.items", &rejected, ROWS, !upsert, &what("skip")).await;
    let (w, s) = (write_summary(&r), read_summary(&r));
    let kept_out = rejected.len() as u64;
    assert_eq!(s.records_read, ROWS as u64, "{}: the source read every row", what("skip"));
    assert_eq!(s.records_skipped, 0, "{}: the source skipped nothing", what("skip"));
    assert_eq!(w.records_skipped, kept_out, "{}: WriteSummary.records_skipped", what("skip"));
    assert_eq!(w.records_written, ROWS as u64 - kept_out, "{}: WriteSummary.records_written counts only rows in the target", what("skip"));
    let d = Role::Destination;
    assert_eq!(svc.metrics.counter(STREAM, d, "records_skipped"), kept_out, "{}: metric records_skipped", what("skip"));
    assert_eq!(svc.metrics.counter(STREAM, d, "records_written"), ROWS as u64 - kept_out, "{}: metric records_written", what("skip"));
    assert_eq!(svc.metrics.counter(STREAM, d, "records_dead_lettered"), 0, "{}", what("skip"));
    assert!(!table_exists(&db.client, "p_skip.rapidbyte_dead_letters").await, "{}: no dead letters under skip", what("skip"));
    let (seq, _) = committed_token(&db, "p_skip").await.unwrap_or_else(|| panic!("{}: the run committed its token", what("skip")));
    assert!(seq >= 2, "{}: 20,000 rows in chunks of 10,000 are at least two commits, last sequence {seq}", what("skip"));

    // dlq: the good rows land, the rejected ones are dead letters, once each.
    create_target(&db, "p_dlq").await;
    let svc = services();
    let r = run_stream(rt.clone(), items_job(&rt, db.connector_config(), dest_config(&db, "p_dlq", method), "run-dlq", mode.clone(), DataErrorPolicy::Dlq), svc.clone()).await;
    assert!(r.succeeded(), "{}: {:?}", what("dlq"), r.error());
    assert_target(&db.client, "p_dlq.items", &rejected, ROWS, !upsert, &what("dlq")).await;
    assert_dead_letters(&db, "p_dlq", &rejected, |_| "run-dlq".into(), &what("dlq")).await;
    let w = write_summary(&r);
    assert_eq!(w.records_written, ROWS as u64 - kept_out, "{}: WriteSummary.records_written counts only rows in the target", what("dlq"));
    assert_eq!(w.records_skipped, 0, "{}: dead-lettered rows are not skipped ones", what("dlq"));
    assert_eq!(svc.metrics.counter(STREAM, d, "records_dead_lettered"), kept_out, "{}: metric records_dead_lettered", what("dlq"));
    assert_eq!(svc.metrics.counter(STREAM, d, "records_written"), ROWS as u64 - kept_out, "{}: metric records_written", what("dlq"));
    assert_eq!(svc.metrics.counter(STREAM, d, "records_skipped"), 0, "{}", what("dlq"));
    assert!(committed_token(&db, "p_dlq").await.is_some_and(|(seq, _)| seq >= 2), "{}: the run committed its tokens", what("dlq"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_copy_append() {
    destination_policies("copy", WriteMode::Append).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_insert_append() {
    destination_policies("insert", WriteMode::Append).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_copy_upsert() {
    destination_policies("copy", WriteMode::Upsert(vec!["id".into()])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_insert_upsert() {
    destination_policies("insert", WriteMode::Upsert(vec!["id".into()])).await;
}

// ---------------------------------------------------------------------------
// 2. Exactly-once under dlq: ~10 chunks, a crash between them, a resume
//    from the committed token and a rerun that finds nothing new.

async fn dlq_resume(method: &str, mode: WriteMode) {
    let upsert = matches!(mode, WriteMode::Upsert(_));
    let db = TestDb::create(&format!("dlr_{method}_{}", if upsert { "upsert" } else { "append" })).await;
    seed_source(&db.client).await;
    let rejected = rejected(&mode);
    let rt = runtime();

    // An uninterrupted run: ~10 commits, exact target and dead letters. Its
    // host-call count places the crashes below.
    create_target(&db, "whole").await;
    let r = run_stream(rt.clone(), chunked_job(&rt, &db, "whole", method, "run-whole", mode.clone()), services()).await;
    assert!(r.succeeded(), "{method}: {:?}", r.error());
    let (seq, cursor) = committed_token(&db, "whole").await.expect("a committed token");
    assert!(seq >= 10, "{method}: chunks of 2,000 rows of 20,000 are at least 10 commits, last sequence {seq}");
    assert_eq!(cursor, Some(ROWS), "{method}: the token's cursor is the last id");
    assert_target(&db.client, "whole.items", &rejected, ROWS, !upsert, method).await;
    assert_dead_letters(&db, "whole", &rejected, |_| "run-whole".into(), method).await;
    let calls = r.destination.calls_entered;
    assert!(calls > 30, "{method}: {calls} host calls");

    let mut rolled_back_letters = 0;
    for (i, k) in [calls / 4, calls * 2 / 5, calls * 3 / 5, calls * 4 / 5].into_iter().enumerate() {
        let schema = format!("crash{i}");
        let what = format!("{method}/{mode:?}: crash at host call {k} of {calls}");
        create_target(&db, &schema).await;
        let mut crash = chunked_job(&rt, &db, &schema, method, "run-1", mode.clone());
        crash.destination.sandbox.trap_at_host_call = Some(k);
        let first = run_stream(rt.clone(), crash, services()).await;
        assert!(!first.succeeded(), "{what}: the injected fault must stop the run");
        // What committed is exactly the chunks through the token's cursor:
        // their good rows and their dead letters, nothing of later chunks.
        let (seq, through) = committed_token(&db, &schema).await.unwrap_or_else(|| panic!("{what}: no chunk committed before the crash"));
        let through = through.unwrap_or_else(|| panic!("{what}: token {seq} has no cursor"));
        assert!(seq >= 1 && through < ROWS, "{what}: the crash came mid-run, after some commits (sequence {seq}, through id {through})");
        eprintln!("{what}: committed sequence {seq} through id {through}; the crashed run failed with {:?}", first.error().map(|e| e.to_string()));
        let pre_kept = !upsert || DUP > through;
        assert_target(&db.client, &format!("{schema}.items"), &rejected, through, pre_kept, &format!("{what}, after the crash")).await;
        let committed_letters: BTreeSet<i64> = rejected.range(..=through).copied().collect();
        assert_dead_letters(&db, &schema, &committed_letters, |_| "run-1".into(), &format!("{what}, after the crash")).await;
        rolled_back_letters += aborted_inserts(&db, &schema, committed_letters.len() as i64).await;

        // The resume reads after the token's cursor: the rest lands once.
        let svc = services();
        let resume = run_stream(rt.clone(), chunked_job(&rt, &db, &schema, method, "run-2", mode.clone()), svc.clone()).await;
        assert!(resume.succeeded(), "{what}: {:?}", resume.error());
        assert_target(&db.client, &format!("{schema}.items"), &rejected, ROWS, !upsert, &format!("{what}, resumed")).await;
        let run_of = |id: i64| if id <= through { "run-1".to_string() } else { "run-2".to_string() };
        assert_dead_letters(&db, &schema, &rejected, run_of, &format!("{what}, resumed")).await;
        let rest = (ROWS - through) as u64;
        let rest_rejected = rejected.len() as u64 - count_in(&rejected, through);
        assert_eq!(read_summary(&resume).records_read, rest, "{what}: the resume read only rows after id {through}");
        assert_eq!(write_summary(&resume).records_written, rest - rest_rejected, "{what}: resumed records_written");
        assert_eq!(svc.metrics.counter(STREAM, Role::Destination, "records_dead_lettered"), rest_rejected, "{what}: resumed records_dead_lettered");

        // Running again finds nothing new and dead-letters nothing twice.
        let again = run_stream(rt.clone(), chunked_job(&rt, &db, &schema, method, "run-3", mode.clone()), services()).await;
        assert!(again.succeeded(), "{what}: {:?}", again.error());
        assert_eq!(write_summary(&again).records_written, 0, "{what}: a rerun writes nothing");
        assert_target(&db.client, &format!("{schema}.items"), &rejected, ROWS, !upsert, &format!("{what}, rerun")).await;
        assert_dead_letters(&db, &schema, &rejected, run_of, &format!("{what}, rerun")).await;
    }
    // At least one crash came after dead letters of its open chunk were
    // written: the rollback, not luck, kept them out.
    assert!(rolled_back_letters > 0, "{method}/{mode:?}: no crash point rolled back a dead letter; move the crash points");
}

/// Dead letters inserted into `schema` beyond the `committed` ones, i.e.
/// by chunk transactions that rolled back (the statistics count inserts of
/// aborted transactions too; a killed backend reports them as it exits).
async fn aborted_inserts(db: &TestDb, schema: &str, committed: i64) -> i64 {
    let mut inserted = 0;
    for _ in 0..30 {
        inserted = db
            .client
            .query_opt(
                "SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'rapidbyte_dead_letters'",
                &[&schema],
            )
            .await
            .unwrap()
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0);
        if inserted > committed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    eprintln!("{schema}: {inserted} dead letters inserted, {committed} committed");
    inserted - committed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_exactly_once_across_a_crash_copy_append() {
    dlq_resume("copy", WriteMode::Append).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_exactly_once_across_a_crash_insert_append() {
    dlq_resume("insert", WriteMode::Append).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_exactly_once_across_a_crash_copy_upsert() {
    dlq_resume("copy", WriteMode::Upsert(vec!["id".into()])).await;
}

// ---------------------------------------------------------------------------
// 3. The source cannot read a row: text that is not UTF-8, stored in a
//    SQL_ASCII database (which accepts any byte).

const ASCII_ROWS: i64 = 3_000;

/// Rows whose `name` holds byte 0xff: the first two (so nothing is read
/// before the first), one in the middle and the last.
fn bad_names() -> BTreeSet<i64> {
    [1, 2, 1_500, 3_000].into()
}

/// Rows whose second text column `note` holds 0xfe (a good `name` before it).
fn bad_notes() -> BTreeSet<i64> {
    [777, 2_999].into()
}

async fn run_ascii(src: &TestDb, dst: &TestDb, schema: &str, policy: DataErrorPolicy, svc: RunServices) -> StreamReport {
    let rt = runtime();
    let (s, d) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut cfg = dst.connector_config();
    cfg["schema"] = json!(schema);
    let mut j = job(STREAM, (&s, src.connector_config()), (&d, cfg));
    j.context.run_id = format!("run-{schema}");
    j.context.policies.on_data_error = policy;
    // Many batches: skipping must work inside a batch and across their edges.
    j.context.limits.max_batch_bytes = 16 << 10;
    j.context.limits.checkpoint_interval_rows = 1_000;
    run_stream(rt, j, svc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_the_source_cannot_read_follow_the_policy() {
    let src = TestDb::create_with("dle_ascii", "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0").await;
    let (names, notes): (Vec<i64>, Vec<i64>) = (bad_names().into_iter().collect(), bad_notes().into_iter().collect());
    src.client.batch_execute("CREATE TABLE items (id int8 PRIMARY KEY, name text, note text)").await.unwrap();
    src.client
        .execute(
            "INSERT INTO items SELECT i,
                CASE WHEN i = ANY($1::int8[]) THEN E'bad\\377' || i ELSE 'n' || i END,
                CASE WHEN i = ANY($2::int8[]) THEN E'bad\\376' || i ELSE 'm' || i END
             FROM generate_series(1::int8, $3::int8) i",
            &[&names, &notes, &ASCII_ROWS],
        )
        .await
        .unwrap();
    let invalid: i64 = src
        .client
        .query_one("SELECT count(*) FROM items WHERE position('\\xff'::bytea in convert_to(name, 'SQL_ASCII')) > 0 OR position('\\xfe'::bytea in convert_to(note, 'SQL_ASCII')) > 0", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(invalid, 6, "the SQL_ASCII database holds the invalid bytes");
    let bad: BTreeSet<i64> = bad_names().union(&bad_notes()).copied().collect();
    let dst = TestDb::create("dle_ascii_dst").await;

    // fail: DECODE_FAILED at the first row; nothing arrives.
    let r = run_ascii(&src, &dst, "p_fail", DataErrorPolicy::Fail, services()).await;
    let e = connector_error(&r, "fail");
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Data, "DECODE_FAILED"), "fail: {e}");
    assert!(e.message.contains("UTF-8"), "fail: says what is wrong with the row: {e}");
    assert!(r.source.error.is_some(), "fail: the source failed");
    let landed = if table_exists(&dst.client, "p_fail.items").await { ids(&dst.client, "SELECT id FROM p_fail.items").await } else { BTreeSet::new() };
    assert!(landed.is_empty(), "fail: nothing arrives, got {} rows", landed.len());

    // skip: every other row arrives unchanged; the source counts the bad ones.
    let svc = services();
    let r = run_ascii(&src, &dst, "p_skip", DataErrorPolicy::Skip, svc.clone()).await;
    assert!(r.succeeded(), "skip: {:?}", r.error());
    let expected: BTreeSet<i64> = (1..=ASCII_ROWS).filter(|i| !bad.contains(i)).collect();
    assert_eq!(ids(&dst.client, "SELECT id FROM p_skip.items").await, expected, "skip: exactly the readable rows arrive");
    let intact: i64 = dst
        .client
        .query_one("SELECT count(*) FROM p_skip.items WHERE name = 'n' || id AND note = 'm' || id", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(intact, expected.len() as i64, "skip: the rows that arrive are unchanged");
    let s = read_summary(&r);
    assert_eq!(s.records_skipped, bad.len() as u64, "skip: ReadSummary.records_skipped");
    assert_eq!(s.records_read, expected.len() as u64, "skip: ReadSummary.records_read counts the rows emitted");
    assert_eq!(svc.metrics.counter(STREAM, Role::Source, "records_skipped"), bad.len() as u64, "skip: source metric records_skipped");
    assert_eq!(write_summary(&r).records_written, expected.len() as u64, "skip: records_written");
    assert_eq!(write_summary(&r).records_skipped, 0, "skip: the destination rejected nothing");

    // dlq: each unreadable row is handed to the destination's dead-letter
    // table, in its chunk, exactly once — across a crash and its resume too.
    let (svc, rt) = (services(), runtime());
    let r = run_stream(rt.clone(), ascii_dlq_job(&rt, &src, &dst, "p_dlq", "run-dlq", None), svc.clone()).await;
    assert!(r.succeeded(), "dlq: {:?}", r.error());
    assert_eq!(ids(&dst.client, "SELECT id FROM p_dlq.items").await, expected, "dlq: exactly the readable rows arrive");
    assert_source_dead_letters(&dst, "p_dlq", &bad, "dlq").await;
    assert_eq!(svc.metrics.counter(STREAM, Role::Destination, "records_dead_lettered"), bad.len() as u64, "dlq: records_dead_lettered");
    assert_eq!(read_summary(&r).records_read, expected.len() as u64, "dlq: records_read counts the rows emitted");
    let calls = r.destination.calls_entered;
    for (i, k) in [calls / 3, calls * 2 / 3].into_iter().enumerate() {
        let schema = format!("p_dlq_crash{i}");
        let mut crash = ascii_dlq_job(&rt, &src, &dst, &schema, "run-1", None);
        crash.destination.sandbox.trap_at_host_call = Some(k);
        let first = run_stream(rt.clone(), crash, services()).await;
        assert!(!first.succeeded(), "dlq crash at {k} of {calls}: the fault must stop the run");
        let resume = run_stream(rt.clone(), ascii_dlq_job(&rt, &src, &dst, &schema, "run-2", None), services()).await;
        assert!(resume.succeeded(), "dlq crash at {k}: {:?}", resume.error());
        assert_eq!(ids(&dst.client, &format!("SELECT id FROM {schema}.items")).await, expected, "dlq crash at {k}: every readable row once");
        let n: i64 = dst.client.query_one(&format!("SELECT count(*) FROM {schema}.items"), &[]).await.unwrap().get(0);
        assert_eq!(n, expected.len() as i64, "dlq crash at {k}: no row twice");
        assert_source_dead_letters(&dst, &schema, &bad, &format!("dlq crash at {k}")).await;
    }

    // A destination of contract 0.1 cannot take the source's dead letters:
    // the stream fails saying so, rather than lose the rows.
    let old = rt.load(&rapidbyte_tests::workspace().join("fixtures/components/v0.1/dest_postgres.wasm")).unwrap();
    let r = run_stream(rt.clone(), ascii_dlq_job(&rt, &src, &dst, "p_dlq_old", "run-old", Some(old)), services()).await;
    let e = connector_error(&r, "dlq into a 0.1 destination");
    assert_eq!((e.category, e.code.as_str()), (ErrorCategory::Config, "DEAD_LETTERS_UNSUPPORTED"), "{e}");
    assert!(e.message.contains("0.1.0") && e.message.contains("on_data_error: skip"), "says why and what to do: {e}");
    assert!(r.source.error.is_some(), "the source failed, as the root cause");
}

/// `items` of the SQL_ASCII database → `schema`, under `dlq`, exactly-once
/// and incremental in chunks of 1,000 rows (into `destination`, or today's
/// PostgreSQL destination).
fn ascii_dlq_job(rt: &Arc<Runtime>, src: &TestDb, dst: &TestDb, schema: &str, run: &str, destination: Option<Arc<rapidbyte::sandbox::runtime::LoadedComponent>>) -> StreamJob {
    let d = destination.unwrap_or_else(|| load(rt, "dest_postgres.wasm"));
    let mut cfg = dst.connector_config();
    cfg["schema"] = json!(schema);
    let mut j = job(STREAM, (&load(rt, "source_postgres.wasm"), src.connector_config()), (&d, cfg));
    j.context.run_id = run.into();
    j.context.policies.on_data_error = DataErrorPolicy::Dlq;
    j.context.sync_mode = SyncMode::Incremental;
    j.context.cursor = Some(CursorInfo { field: "id".into(), ..Default::default() });
    j.context.limits.max_batch_bytes = 16 << 10;
    j.context.limits.checkpoint_interval_rows = 1_000;
    j.context.commit_token_base = Some(token_base(run));
    j
}

/// The dead letters of rows the source could not read: exactly `bad`, once
/// each, keyed by id, with the whole row — the readable values as values,
/// the unreadable one as its bytes in hex — and the decode error.
async fn assert_source_dead_letters(dst: &TestDb, schema: &str, bad: &BTreeSet<i64>, what: &str) {
    let rows = dst
        .client
        .query(
            &format!(
                "SELECT (row_key->>'id')::int8, row_key = jsonb_build_object('id', (row_key->>'id')::int8),
                        (row_data->>'id')::int8, row_data->>'name', row_data->>'note', error_category, error_code, error_message, stream
                 FROM {schema}.rapidbyte_dead_letters ORDER BY id"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let got: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), *bad, "{what}: dead-lettered ids");
    assert_eq!(got.len(), bad.len(), "{what}: a dead letter written twice: {got:?}");
    let hex = |prefix: &str, id: i64| format!("\\x{}{}", prefix, id.to_string().bytes().map(|b| format!("{b:02x}")).collect::<String>());
    for r in &rows {
        let id: i64 = r.get(0);
        assert!(r.get::<_, bool>(1), "{what}: row_key of {id}");
        assert_eq!(r.get::<_, Option<i64>>(2), Some(id), "{what}: row_data->>'id' of {id}");
        let name = if bad_names().contains(&id) { hex("626164ff", id) } else { format!("n{id}") };
        let note = if bad_notes().contains(&id) { hex("626164fe", id) } else { format!("m{id}") };
        assert_eq!(r.get::<_, Option<String>>(3), Some(name), "{what}: row_data->>'name' of {id}");
        // A row is rejected at its first bad value; a bad name hides nothing in note.
        assert_eq!(r.get::<_, Option<String>>(4), Some(note), "{what}: row_data->>'note' of {id}");
        let (category, code, message, stream): (String, String, String, String) = (r.get(5), r.get(6), r.get(7), r.get(8));
        assert_eq!((category.as_str(), code.as_str(), stream.as_str()), ("data", "DECODE_FAILED", STREAM), "{what}: error of {id}");
        assert!(message.contains("UTF-8"), "{what}: the message says what is wrong: {message}");
    }
}
