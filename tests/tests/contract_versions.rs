//! Contract versions side by side (ARCHITECTURE.md, SPEC § Roles and
//! worlds): the PostgreSQL connectors as released for contract 0.1
//! (`fixtures/components/v0.1`, built from the frozen `wit/v0.1`) run
//! unchanged against today's 0.2 connectors, in both directions, with
//! exactly-once across a crash, and every value of the type table exact.

use std::sync::Arc;

use rapidbyte::sandbox::runtime::{LoadedComponent, Runtime};
use rapidbyte::engine::stream::{run_stream, StreamJob};
use rapidbyte::Contract;
use rapidbyte_protocol::{CommitTokenBase, CursorInfo, SyncMode};
use rapidbyte_tests::pg::{TestDb, TYPES_DDL};
use rapidbyte_tests::{job, load, runtime, services, workspace};
use serde_json::json;

/// A connector of one contract version.
#[derive(Debug, Clone, Copy)]
enum Built {
    /// As released for 0.1, from the fixtures.
    V0_1,
    /// Built today by `cargo xtask build`.
    Current,
}

fn component(rt: &Runtime, built: Built, file: &str) -> Arc<LoadedComponent> {
    match built {
        Built::V0_1 => {
            let path = workspace().join("fixtures/components/v0.1").join(file);
            rt.load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        Built::Current => load(rt, file),
    }
}

const SEED: &str = "CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL, price numeric(10,2));
    INSERT INTO items SELECT i, 'item ' || i, i * 1.25 FROM generate_series(1, 2000) i;
    CREATE SCHEMA dst;";

fn dest_config(db: &TestDb) -> serde_json::Value {
    let mut c = db.connector_config();
    c["schema"] = json!("dst");
    c
}

/// An exactly-once incremental job from `items` into `dst.items`, in chunks
/// of 250 rows so a run commits many times.
fn eo_job(db: &TestDb, rt: &Runtime, versions: (Built, Built), run: &str) -> StreamJob {
    let src = component(rt, versions.0, "source_postgres.wasm");
    let dst = component(rt, versions.1, "dest_postgres.wasm");
    let mut j = job("items", (&src, db.connector_config()), (&dst, dest_config(db)));
    j.context.run_id = run.into();
    j.context.sync_mode = SyncMode::Incremental;
    j.context.cursor = Some(CursorInfo { field: "id".into(), ..Default::default() });
    j.context.limits.checkpoint_interval_rows = 250;
    j.context.limits.max_batch_bytes = 8 << 10;
    j.context.commit_token_base = Some(CommitTokenBase { pipeline: "tests".into(), stream_name: "items".into(), run_id: run.into() });
    j
}

async fn difference(db: &TestDb, a: &str, b: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM ((SELECT t::text FROM {a} t EXCEPT ALL SELECT t::text FROM {b} t)
          UNION ALL (SELECT t::text FROM {b} t EXCEPT ALL SELECT t::text FROM {a} t)) d"
    );
    db.client.query_one(&sql, &[]).await.unwrap().get(0)
}

/// Crashes one side mid-stream, resumes, and checks that every row landed
/// once; then copies the type table and compares every value.
async fn across(name: &str, versions: (Built, Built), crash_source: bool) {
    let db = TestDb::create(name).await;
    db.client.batch_execute(SEED).await.unwrap();
    let rt = runtime();
    let mut crash = eo_job(&db, &rt, versions, "run-1");
    let side = if crash_source { &mut crash.source } else { &mut crash.destination };
    side.sandbox.trap_at_host_call = Some(if crash_source { 60 } else { 11 });
    let first = run_stream(Arc::clone(&rt), crash, services()).await;
    assert!(!first.succeeded(), "{versions:?}: the injected fault must stop the first run");
    let committed: i64 = db.client.query_one("SELECT count(*) FROM dst.items", &[]).await.map(|r| r.get(0)).unwrap_or(0);
    assert!(committed < 2000, "{versions:?}: the crash came before the end ({committed} rows)");
    let resume = run_stream(Arc::clone(&rt), eo_job(&db, &rt, versions, "run-2"), services()).await;
    assert!(resume.succeeded(), "{versions:?}: {:?}", resume.error());
    let (n, distinct): (i64, i64) = {
        let r = db.client.query_one("SELECT count(*), count(DISTINCT id) FROM dst.items", &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((n, distinct), (2000, 2000), "{versions:?}: every source row exactly once");
    assert_eq!(difference(&db, "public.items", "dst.items").await, 0, "{versions:?}");

    db.client.batch_execute(TYPES_DDL).await.unwrap();
    let src = component(&rt, versions.0, "source_postgres.wasm");
    let dst = component(&rt, versions.1, "dest_postgres.wasm");
    let types = run_stream(Arc::clone(&rt), job("all_types", (&src, db.connector_config()), (&dst, dest_config(&db))), services()).await;
    assert!(types.succeeded(), "{versions:?}: {:?}", types.error());
    assert_eq!(difference(&db, "public.all_types", "dst.all_types").await, 0, "{versions:?}: every value of every type");
}

#[test]
fn each_component_loads_under_its_own_contract() {
    let rt = runtime();
    for file in ["source_postgres.wasm", "dest_postgres.wasm"] {
        assert_eq!(component(&rt, Built::V0_1, file).contract, Contract::V0_1, "{file}");
        assert_eq!(component(&rt, Built::Current, file).contract, Contract::V0_2, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_1_source_feeds_a_v0_2_destination_exactly_once() {
    across("cv_01_to_02", (Built::V0_1, Built::Current), false).await;
}

/// The 0.1 destination hears the 0.2 source's crash as the error it always
/// did (`UPSTREAM_FAILED`), rolls back the open chunk and resumes exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_2_source_feeds_a_v0_1_destination_exactly_once() {
    across("cv_02_to_01", (Built::Current, Built::V0_1), true).await;
}
