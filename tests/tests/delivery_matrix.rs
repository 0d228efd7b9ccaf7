//! SPEC § Delivery, the whole matrix: every sync mode × write mode ×
//! delivery guarantee that preflight accepts (incremental + replace is
//! refused; `broken_pipelines` shows it), PostgreSQL → PostgreSQL, crashed
//! by a trap at sampled host-call boundaries of the destination and the
//! source, then run again, and the destination compared with the source row
//! by row. A stream published whole (replace, full-refresh append) starts
//! from old contents and must show them or the complete new ones after
//! every crash, never a mix, and leave no staging table. An at-least-once
//! append whose replay a keyed target refuses goes on with
//! `on_data_error: skip`, the way forward its message names.

use std::sync::Arc;

use rapidbyte::engine::stream::StreamJob;
use rapidbyte::engine::supervise::run_with_retries;
use rapidbyte::sandbox::host_api::RunServices;
use rapidbyte::state::MemoryState;
use rapidbyte_protocol::{CommitTokenBase, CursorInfo, DataErrorPolicy, ErrorCategory, SyncMode, WriteMode};
use rapidbyte_tests::pg::TestDb;
use rapidbyte_tests::{job, load, runtime};
use serde_json::json;

/// The first version of the source (the old contents of whole streams).
const V1: &str = "CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL, price numeric(10,2), note text, at timestamptz);
    INSERT INTO items SELECT i, 'item ' || i, i * 1.25, CASE WHEN i % 7 = 0 THEN NULL ELSE repeat('n', i % 40) END,
        '2026-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 2000) i;
    CREATE TABLE v1 AS TABLE items;";
/// The source as the crashed run reads it: updated, deleted and new rows.
const V2: &str = "UPDATE items SET name = name || ' v2', price = price + 1 WHERE id % 3 = 0;
    DELETE FROM items WHERE id % 10 = 0;
    INSERT INTO items SELECT i, 'new ' || i, i * 0.5, NULL, now() FROM generate_series(2001, 2600) i;";

#[derive(Debug, Clone)]
struct Combo {
    sync: SyncMode,
    write: WriteMode,
    exactly_once: bool,
}

impl Combo {
    fn whole(&self) -> bool {
        rapidbyte_protocol::StreamContext { sync_mode: self.sync, write_mode: self.write.clone(), ..Default::default() }.published_whole()
    }

    /// Each source row once (an at-least-once append may repeat rows).
    fn exact(&self) -> bool {
        !(self.write == WriteMode::Append && !self.exactly_once)
    }

    /// What the destination must hold at the end, as a table expression.
    fn expected(&self) -> &'static str {
        match (&self.write, self.whole()) {
            // A whole copy appended beside the old contents.
            (WriteMode::Append, true) => "(SELECT * FROM public.v1 UNION ALL SELECT * FROM public.items)",
            _ => "public.items",
        }
    }
}

/// Every combination preflight accepts.
fn combos() -> Vec<Combo> {
    let mut all = Vec::new();
    for sync in [SyncMode::FullRefresh, SyncMode::Incremental] {
        for write in [WriteMode::Append, WriteMode::Replace, WriteMode::Upsert(vec!["id".into()])] {
            if sync == SyncMode::Incremental && write == WriteMode::Replace {
                continue;
            }
            for exactly_once in [true, false] {
                all.push(Combo { sync, write: write.clone(), exactly_once });
            }
        }
    }
    all
}

fn stream_job(db: &TestDb, c: &Combo, schema: &str, run: &str, rt: &Arc<rapidbyte::sandbox::runtime::Runtime>) -> StreamJob {
    let (src, dst) = (load(rt, "source_postgres.wasm"), load(rt, "dest_postgres.wasm"));
    let mut dest = db.connector_config();
    dest["schema"] = json!(schema);
    let mut j = job("items", (&src, db.connector_config()), (&dst, dest));
    j.context.pipeline = format!("matrix-{schema}");
    j.context.run_id = run.into();
    j.context.sync_mode = c.sync;
    j.context.write_mode = c.write.clone();
    if c.sync == SyncMode::Incremental {
        j.context.cursor = Some(CursorInfo { field: "id".into(), ..Default::default() });
    }
    j.context.limits.checkpoint_interval_rows = 300;
    j.context.limits.max_batch_bytes = 16 << 10;
    if c.exactly_once {
        j.context.commit_token_base = Some(CommitTokenBase { pipeline: j.context.pipeline.clone(), stream_name: "items".into(), run_id: run.into() });
    }
    j
}

/// Rows in `a` not in `b` (multiset) plus rows in `b` not in `a`.
async fn difference(db: &TestDb, a: &str, b: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM ((SELECT t::text FROM {a} t EXCEPT ALL SELECT t::text FROM {b} t)
          UNION ALL (SELECT t::text FROM {b} t EXCEPT ALL SELECT t::text FROM {a} t)) d"
    );
    db.client.query_one(&sql, &[]).await.unwrap().get(0)
}

/// Rows of `a` missing from `b`, and distinct rows of `b` that are not in `a`.
async fn lost_and_invented(db: &TestDb, a: &str, b: &str) -> (i64, i64) {
    let lost = format!("SELECT count(*) FROM (SELECT t::text FROM {a} t EXCEPT ALL SELECT t::text FROM {b} t) d");
    let invented = format!("SELECT count(*) FROM (SELECT t::text FROM {b} t EXCEPT SELECT t::text FROM {a} t) d");
    (db.client.query_one(&lost, &[]).await.unwrap().get(0), db.client.query_one(&invented, &[]).await.unwrap().get(0))
}

/// The destination schema before a run: empty, or the old contents of a whole stream.
async fn reset(db: &TestDb, c: &Combo, schema: &str) {
    let mut sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};");
    if c.whole() {
        sql += &format!("CREATE TABLE {schema}.items (LIKE public.items); INSERT INTO {schema}.items SELECT * FROM public.v1;");
    }
    db.client.batch_execute(&sql).await.unwrap();
}

async fn relations(db: &TestDb, schema: &str) -> Vec<String> {
    db.client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn run(rt: &Arc<rapidbyte::sandbox::runtime::Runtime>, j: StreamJob, state: &Arc<MemoryState>) -> rapidbyte::engine::supervise::StreamOutcome {
    run_with_retries(Arc::clone(rt), j, RunServices::new(state.clone()), 1).await
}

/// Checks the destination against what `c` promises; `Err` names the breach.
async fn check_final(db: &TestDb, c: &Combo, schema: &str) -> Result<(), String> {
    let target = format!("{schema}.items");
    if c.exact() {
        match difference(db, c.expected(), &target).await {
            0 => Ok(()),
            d => Err(format!("{d} rows differ between the source and the destination")),
        }
    } else {
        match lost_and_invented(db, c.expected(), &target).await {
            (0, 0) => Ok(()),
            (lost, invented) => Err(format!("{lost} source rows lost, {invented} rows the source never had")),
        }
    }
}

async fn check_crashed(db: &TestDb, c: &Combo, schema: &str) -> Result<(), String> {
    if !c.whole() {
        return Ok(());
    }
    let target = format!("{schema}.items");
    let old = difference(db, "public.v1", &target).await;
    let new = difference(db, c.expected(), &target).await;
    if old == 0 || new == 0 {
        Ok(())
    } else {
        Err(format!("after the crash the table is neither the old contents ({old} rows differ) nor the new ones ({new} differ)"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_combination_survives_crashes_row_for_row() {
    let db = TestDb::create("matrix").await;
    db.client.batch_execute(V1).await.unwrap();
    db.client.batch_execute(V2).await.unwrap();
    let rt = runtime();
    let mut failures = Vec::new();
    let mut points_tried = 0;
    for (i, c) in combos().into_iter().enumerate() {
        let schema = format!("m{i}");
        // A clean run: how many host calls each side makes, and what it leaves.
        reset(&db, &c, &schema).await;
        let clean = run(&rt, stream_job(&db, &c, &schema, "clean", &rt), &Arc::new(MemoryState::default())).await;
        assert!(clean.succeeded(), "{c:?}: the clean run failed: {:?}", clean.error());
        check_final(&db, &c, &schema).await.unwrap_or_else(|e| panic!("{c:?}: the clean run: {e}"));
        let clean_relations = relations(&db, &schema).await;
        let dest_calls = clean.destination.calls_entered;
        let source_calls = clean.source.calls_entered;
        assert!(dest_calls > 10 && source_calls > 10, "{c:?}: a run of several chunks ({dest_calls}, {source_calls} calls)");
        // Destination traps spread over the run (the last ones fall after
        // the final COMMIT), and two in the source.
        let mut traps: Vec<(bool, u64)> = (1..=6).map(|p| (true, (dest_calls * p / 6).max(1))).collect();
        traps.extend([(false, source_calls / 3), (false, source_calls * 2 / 3)]);
        for (n, (in_destination, k)) in traps.into_iter().enumerate() {
            reset(&db, &c, &schema).await;
            let state = Arc::new(MemoryState::default());
            let mut crash = stream_job(&db, &c, &schema, &format!("crash-{n}"), &rt);
            let side = if in_destination { &mut crash.destination } else { &mut crash.source };
            side.sandbox.trap_at_host_call = Some(k);
            let crashed = run(&rt, crash, &state).await;
            points_tried += 1;
            let at = format!("{c:?}, trap at {} host call {k}", if in_destination { "destination" } else { "source" });
            if let Err(e) = check_crashed(&db, &c, &schema).await {
                failures.push(format!("{at}: {e}"));
                continue;
            }
            // A whole stream leaves no staging table even between a crash and the next run.
            let between: Vec<String> = relations(&db, &schema).await.into_iter().filter(|r| !clean_relations.contains(r)).collect();
            if c.whole() && !between.is_empty() {
                failures.push(format!("{at}: after the crash, before the next run: {between:?}"));
            }
            let mut resumed = run(&rt, stream_job(&db, &c, &schema, &format!("resume-{n}"), &rt), &state).await;
            // An at-least-once append may replay rows; into a keyed table the
            // replay is refused as a data error whose message names the ways
            // forward. Take one: skip the rows already there.
            let refused_replay = resumed.error().and_then(|e| e.connector_error()).is_some_and(|e| e.category == ErrorCategory::Data);
            if !c.exact() && refused_replay {
                let mut skip = stream_job(&db, &c, &schema, &format!("resume-skip-{n}"), &rt);
                skip.context.policies.on_data_error = DataErrorPolicy::Skip;
                resumed = run(&rt, skip, &state).await;
            }
            if !resumed.succeeded() {
                failures.push(format!("{at}: the run after the crash failed: {:?} (crash: {:?})", resumed.error(), crashed.error()));
                continue;
            }
            if let Err(e) = check_final(&db, &c, &schema).await {
                failures.push(format!("{at}: {e}"));
                continue;
            }
            let left: Vec<String> = relations(&db, &schema).await.into_iter().filter(|r| !clean_relations.contains(r)).collect();
            if !left.is_empty() {
                failures.push(format!("{at}: left behind: {left:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {points_tried} crash points broke the promise:\n{}", failures.len(), failures.join("\n"));
}
