//! Data safety on a fresh or crowded destination (issue 13's first cases):
//! an empty exactly-once stream into a database that has never seen
//! rapidbyte, replace into a table whose name fills PostgreSQL's 63 bytes,
//! and many streams of one run creating the shared bookkeeping at once.

use rapidbyte::engine::stream::run_stream;
use rapidbyte_protocol::{CommitTokenBase, WriteMode};
use rapidbyte_tests::pg::TestDb;
use rapidbyte_tests::{job, load, runtime, services};
use serde_json::json;

fn exactly_once(j: &mut rapidbyte::engine::stream::StreamJob, stream: &str) {
    j.context.commit_token_base =
        Some(CommitTokenBase { pipeline: "safety".into(), stream_name: stream.into(), run_id: j.context.run_id.clone() });
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_exactly_once_stream_into_a_fresh_destination_succeeds() {
    let db = TestDb::create("empty_fresh").await;
    db.client.batch_execute("CREATE TABLE empty_t (id int PRIMARY KEY, v text)").await.unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut dest = db.connector_config();
    dest["schema"] = json!("never_seen");
    for run in ["first", "second"] {
        let mut j = job("empty_t", (&src, db.connector_config()), (&dst, dest.clone()));
        j.context.run_id = run.into();
        exactly_once(&mut j, "empty_t");
        let r = run_stream(rt.clone(), j, services()).await;
        assert!(r.succeeded(), "{run}: {:?}", r.error());
    }
    // The token of the empty stream is recorded, in the schema the run created.
    assert_eq!(count(&db, "SELECT count(*) FROM never_seen.rapidbyte_commits WHERE stream = 'empty_t'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_into_a_table_with_a_63_byte_name_keeps_the_target() {
    let db = TestDb::create("long_names").await;
    let name = format!("t{}", "x".repeat(62));
    assert_eq!(name.len(), 63);
    db.client
        .batch_execute(&format!(
            "CREATE TABLE \"{name}\" (id int PRIMARY KEY, v text);
             INSERT INTO \"{name}\" SELECT i, 'v' || i FROM generate_series(1, 3000) i;
             CREATE SCHEMA dst;"
        ))
        .await
        .unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut dest = db.connector_config();
    dest["schema"] = json!("dst");
    for run in 1..=3 {
        let mut j = job(&name, (&src, db.connector_config()), (&dst, dest.clone()));
        j.context.run_id = format!("run{run}");
        j.context.write_mode = WriteMode::Replace;
        let r = run_stream(rt.clone(), j, services()).await;
        assert!(r.succeeded(), "run {run}: {:?}", r.error());
        assert_eq!(count(&db, &format!("SELECT count(*) FROM dst.\"{name}\"")).await, 3000, "run {run}: the target is whole");
        assert_eq!(
            count(&db, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'dst' AND c.relkind = 'r' AND c.relname NOT LIKE 'rapidbyte\\_%'").await,
            1,
            "run {run}: only the target is left, no staging table"
        );
    }
    // A name PostgreSQL would truncate is refused before anything is written.
    let mut too_long = dest.clone();
    too_long["table_prefix"] = json!("p_");
    let mut j = job(&name, (&src, db.connector_config()), (&dst, too_long));
    j.context.write_mode = WriteMode::Replace;
    let r = run_stream(rt.clone(), j, services()).await;
    let e = r.error().and_then(|e| e.connector_error()).cloned().expect("a 65-byte target name is refused");
    assert_eq!(e.code, "NAME_TOO_LONG", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_of_one_run_share_a_fresh_destination() {
    let db = TestDb::create("crowd").await;
    let tables = 12;
    for t in 0..tables {
        db.client
            .batch_execute(&format!("CREATE TABLE s{t} (id int PRIMARY KEY); INSERT INTO s{t} SELECT generate_series(1, 50);"))
            .await
            .unwrap();
    }
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    // Each round targets a schema no stream has created yet: every stream
    // races to create the schema and the commit-token table.
    for round in 0..3 {
        let mut dest = db.connector_config();
        dest["schema"] = json!(format!("fresh{round}"));
        let handles: Vec<_> = (0..tables)
            .map(|t| {
                let stream = format!("s{t}");
                let mut j = job(&stream, (&src, db.connector_config()), (&dst, dest.clone()));
                j.context.run_id = format!("round{round}");
                exactly_once(&mut j, &stream);
                tokio::spawn(run_stream(rt.clone(), j, services()))
            })
            .collect();
        for h in handles {
            let r = h.await.unwrap();
            assert!(r.succeeded(), "round {round}, stream {}: {:?}", r.stream, r.error());
        }
        for t in 0..tables {
            assert_eq!(count(&db, &format!("SELECT count(*) FROM fresh{round}.s{t}")).await, 50);
        }
        assert_eq!(count(&db, &format!("SELECT count(*) FROM fresh{round}.rapidbyte_commits")).await, tables as i64);
    }
}

/// Two runs of one pipeline started together, exactly-once and incremental
/// (the default for this destination): whatever the interleaving, each row
/// lands once — the second run either waits for the first and resumes after
/// its last token, or is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_of_one_pipeline_never_duplicate_or_lose_rows() {
    let db = TestDb::create("overlap").await;
    db.client
        .batch_execute("CREATE TABLE ev (id int8 PRIMARY KEY, v text); INSERT INTO ev SELECT i, 'v' || i FROM generate_series(1, 60000) i;")
        .await
        .unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    for round in 0..6 {
        let mut dest = db.connector_config();
        dest["schema"] = json!(format!("o{round}"));
        let runs: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|who| {
                let mut j = job("ev", (&src, db.connector_config()), (&dst, dest.clone()));
                j.context.run_id = format!("round{round}-{who}");
                j.context.sync_mode = rapidbyte_protocol::SyncMode::Incremental;
                j.context.cursor = Some(rapidbyte_protocol::CursorInfo { field: "id".into(), ..Default::default() });
                exactly_once(&mut j, "ev");
                tokio::spawn(run_stream(rt.clone(), j, services()))
            })
            .collect();
        let mut ok = 0;
        for h in runs {
            let r = h.await.unwrap();
            match r.error().and_then(|e| e.connector_error()) {
                None if r.succeeded() => ok += 1,
                Some(e) => {
                    assert_eq!(e.code, "RUN_IN_PROGRESS", "round {round}: {e}");
                    assert!(e.message.contains(&format!("round{round}-")), "the loser names the holder: {}", e.message);
                }
                None => panic!("round {round}: {:?}", r.error()),
            }
        }
        assert!(ok >= 1, "round {round}: one run finishes");
        let (n, distinct): (i64, i64) = {
            let r = db.client.query_one(&format!("SELECT count(*), count(DISTINCT id) FROM o{round}.ev"), &[]).await.unwrap();
            (r.get(0), r.get(1))
        };
        assert_eq!((n, distinct), (60000, 60000), "round {round}: every row once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_refused_by_the_lease_names_the_run_that_holds_it() {
    let db = TestDb::create("lease_holder").await;
    db.client.batch_execute("CREATE TABLE ev (id int8 PRIMARY KEY); INSERT INTO ev SELECT generate_series(1, 10); CREATE SCHEMA dst;").await.unwrap();
    // Another session holds the lease of (safety, ev), as a live run would.
    let holder = TestDb::connect_to(&db).await;
    holder
        .batch_execute(
            "CREATE TABLE dst.rapidbyte_leases (pipeline text NOT NULL, stream text NOT NULL, run_id text NOT NULL,
               started_at timestamptz NOT NULL DEFAULT now(), backend_pid int NOT NULL, PRIMARY KEY (pipeline, stream));
             INSERT INTO dst.rapidbyte_leases VALUES ('safety', 'ev', 'the-other-run', now(), pg_backend_pid());
             SELECT pg_advisory_lock(hashtextextended('rapidbyte-run:safety/ev', 0));",
        )
        .await
        .unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut dest = db.connector_config();
    dest["schema"] = json!("dst");
    let mut j = job("ev", (&src, db.connector_config()), (&dst, dest));
    j.context.run_id = "late".into();
    exactly_once(&mut j, "ev");
    let r = run_stream(rt, j, services()).await;
    let e = r.error().and_then(|e| e.connector_error()).cloned().expect("refused while the lease is held");
    assert_eq!(e.code, "RUN_IN_PROGRESS", "{e}");
    assert!(e.message.contains("the-other-run"), "{}", e.message);
    assert_eq!(count(&db, "SELECT count(*) FROM pg_class WHERE relname = 'ev' AND relnamespace = 'dst'::regnamespace").await, 0, "nothing written");
}

/// A domain's CHECK and DEFAULT are the source's SQL: recreated in the
/// destination only when they call nothing volatile (built-in functions
/// leave no trace in pg_depend, so the destination checks every called name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_calling_a_volatile_function_is_not_recreated() {
    let (from, to) = (TestDb::create("dom_from").await, TestDb::create("dom_to").await);
    from.client
        .batch_execute(
            "CREATE DOMAIN stamp AS timestamptz DEFAULT now() NOT NULL;
             CREATE DOMAIN risky AS int CHECK (VALUE > 0 OR random() > 2);
             CREATE TABLE good (id int PRIMARY KEY, s stamp);
             CREATE TABLE bad (id int PRIMARY KEY, r risky);
             INSERT INTO good VALUES (1, '2024-01-01'); INSERT INTO bad VALUES (1, 5);",
        )
        .await
        .unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let ok = run_stream(rt.clone(), job("good", (&src, from.connector_config()), (&dst, to.connector_config())), services()).await;
    assert!(ok.succeeded(), "a stable default is recreated: {:?}", ok.error());
    let default: String = to.client.query_one("SELECT pg_get_expr(typdefaultbin, 0) FROM pg_type WHERE typname = 'stamp'", &[]).await.unwrap().get(0);
    assert_eq!(default, "now()");
    let refused = run_stream(rt, job("bad", (&src, from.connector_config()), (&dst, to.connector_config())), services()).await;
    let e = refused.error().and_then(|e| e.connector_error()).cloned().expect("a volatile CHECK is refused");
    assert_eq!(e.code, "UNSAFE_DOMAIN_CHECK", "{e}");
    assert!(e.message.contains("random"), "{}", e.message);
    assert_eq!(count(&to, "SELECT count(*) FROM pg_type WHERE typname = 'risky'").await, 0, "nothing of it was created");
    assert_eq!(count(&to, "SELECT count(*) FROM pg_class WHERE relname = 'bad'").await, 0, "nor the table");
}

/// Names and values a pipeline or source controls reach SQL text only
/// through `rapidbyte-pgquote`: each reads back exactly, whatever
/// `standard_conforming_strings` is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_names_and_values_read_back_exactly() {
    use rapidbyte_pgquote::{ident, literal};
    let db = TestDb::create("quoting").await;
    let tricky = ["", "plain", "it's", r"C:\dir\", r"\'; DROP TABLE x; --", r#"say "hi""#, "\\\\''\\", "é ✓ 中"];
    for conforming in ["on", "off"] {
        db.client.batch_execute(&format!("SET standard_conforming_strings = {conforming}")).await.unwrap();
        for s in tricky {
            let sql = format!("SELECT {}::text", literal(s));
            let back: String = db.client.query_one(&sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0);
            assert_eq!(back, s, "literal, standard_conforming_strings = {conforming}: {sql}");
            if s.is_empty() {
                continue; // a zero-length identifier is an error, as it should be
            }
            let sql = format!("SELECT 1 AS {}", ident(s));
            let row = db.client.query_one(&sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(row.columns()[0].name(), s, "identifier: {sql}");
        }
    }
}

/// Exactly-once with a backslash and a quote in the pipeline name and in
/// every cursor value: the token (written as SQL text) and the resumed
/// source query (the cursor as a literal) carry them exactly, so a rerun
/// after new rows adds just those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_resumes_exactly_with_backslashes_and_quotes() {
    let db = TestDb::create("eo_quotes").await;
    db.client
        .batch_execute(
            r#"CREATE TABLE ev (k text COLLATE "C" PRIMARY KEY);
              INSERT INTO ev SELECT 'a\''' || lpad(i::text, 4, '0') || '\' FROM generate_series(1, 300) i;"#,
        )
        .await
        .unwrap();
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let mut dest = db.connector_config();
    dest["schema"] = json!("dst");
    let pipeline = r"p\'1";
    for run in ["first", "second"] {
        if run == "second" {
            db.client.batch_execute(r"INSERT INTO ev SELECT 'b\''' || i || '\' FROM generate_series(1, 7) i").await.unwrap();
        }
        let mut j = job("ev", (&src, db.connector_config()), (&dst, dest.clone()));
        j.context.run_id = run.into();
        j.context.sync_mode = rapidbyte_protocol::SyncMode::Incremental;
        j.context.cursor = Some(rapidbyte_protocol::CursorInfo { field: "k".into(), ..Default::default() });
        j.context.limits.checkpoint_interval_rows = 100;
        j.context.commit_token_base = Some(CommitTokenBase { pipeline: pipeline.into(), stream_name: "ev".into(), run_id: run.into() });
        let r = run_stream(rt.clone(), j, services()).await;
        assert!(r.succeeded(), "{run}: {:?}", r.error());
    }
    assert_eq!(count(&db, "SELECT count(*) FROM dst.ev").await, 307, "every row once");
    assert_eq!(count(&db, "SELECT count(DISTINCT k) FROM dst.ev").await, 307);
    let row = db.client.query_one("SELECT pipeline, cursor->>'last_value' FROM dst.rapidbyte_commits", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0).as_str(), row.get::<_, String>(1).as_str()), (pipeline, r"b\'7\"));
}
