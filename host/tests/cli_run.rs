//! `rapidbyte run` as users run it: the binary, a pipeline file, SQLite
//! state beside it, a real PostgreSQL destination. Interrupted runs (Ctrl-C,
//! SIGKILL) resume with nothing lost and, exactly-once, nothing duplicated,
//! checked row by row.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rapidbyte_tests::pg::TestDb;

const ROWS: i64 = 60_000;

fn rapidbyte() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rapidbyte"));
    c.arg("--connector-dir")
        .arg(rapidbyte_tests::connector_dir())
        .env("RAPIDBYTE_CACHE_DIR", rapidbyte_tests::workspace().join("target/rapidbyte-cache"))
        .env("NO_COLOR", "1");
    c
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rapidbyte-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A slow incremental generator → PostgreSQL pipeline (1,000-row batches,
/// a checkpoint every 5,000 rows, 10 ms per batch: about 0.6 s of reading).
fn pipeline(dir: &Path, db: &TestDb, delivery: &str, state: &str) -> PathBuf {
    let c = db.connector_config();
    let yaml = format!(
        "pipeline: cli-{delivery}\n\
         source: {{use: generator, config: {{rows: {ROWS}, batch_rows: 1000, pause_ms: 10}}}}\n\
         destination: {{use: postgres, config: {{host: {}, port: {}, user: {}, database: {}}}}}\n\
         streams:\n  - {{name: events, sync_mode: incremental, cursor_field: id, delivery: {delivery}}}\n\
         limits: {{checkpoint_interval_rows: 5000}}\n{state}",
        c["host"].as_str().unwrap(),
        c["port"],
        c["user"].as_str().unwrap(),
        c["database"].as_str().unwrap()
    );
    let path = dir.join("pipeline.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

async fn counts(db: &TestDb) -> (i64, i64, i64) {
    let exists: bool = db.client.query_one("SELECT to_regclass('public.events') IS NOT NULL", &[]).await.unwrap().get(0);
    if !exists {
        return (0, 0, -1);
    }
    let row = db
        .client
        .query_one("SELECT count(*), count(DISTINCT id), coalesce(max(id), -1) FROM public.events", &[])
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Starts a run and waits until the destination holds committed rows.
async fn start_and_wait_for_rows(db: &TestDb, path: &Path) -> Child {
    let child = rapidbyte().arg("run").arg(path).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    #[allow(clippy::zombie_processes)] // every path below returns the child or waits for it
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    loop {
        let (n, _, _) = counts(db).await;
        if n > 0 {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("no rows were committed within 60 s\n{}", text(&out));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn run_to_end(path: &Path) -> Output {
    let out = rapidbyte().arg("run").arg(path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    out
}

/// Every id 0..ROWS once.
async fn assert_exactly_once(db: &TestDb) {
    assert_eq!(counts(db).await, (ROWS, ROWS, ROWS - 1), "each source row exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_commits_to_the_last_checkpoint_and_the_next_run_resumes() {
    let db = TestDb::create("cli_ctrl_c").await;
    let dir = temp_dir("ctrl-c");
    let path = pipeline(&dir, &db, "auto", "");
    let child = start_and_wait_for_rows(&db, &path).await;
    signal(&child, libc::SIGINT);
    let out = finish(child);
    assert_eq!(out.status.code(), Some(130), "Ctrl-C has its own exit code\n{}", text(&out));
    let (n, distinct, max) = counts(&db).await;
    eprintln!("Ctrl-C: {n} rows committed before the stop");
    assert!(n > 0 && n < ROWS, "stopped part-way: {n} rows");
    assert_eq!((n, max + 1), (distinct, n), "no gaps, no duplicates");
    assert_eq!(n % 5000, 0, "the cut falls on a checkpoint (every 5,000 rows), got {n}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cancelled"), "{}", text(&out));
    assert!(dir.join("pipeline.state.db").is_file(), "state lives beside the pipeline");

    let second = run_to_end(&path).await;
    assert_exactly_once(&db).await;
    let stdout = String::from_utf8_lossy(&second.stdout);
    let resumed: i64 = ROWS - n;
    assert!(stdout.contains(&resumed.to_string()), "the second run moves only the {resumed} remaining rows\n{stdout}");

    let runs = rapidbyte().arg("runs").arg(&path).arg("--json").output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("runs --json");
    let outcomes: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["succeeded", "cancelled"], "newest first");
    assert_eq!(runs[0]["records_written"], resumed);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_is_exactly_once() {
    let db = TestDb::create("cli_kill_eo").await;
    let dir = temp_dir("kill-eo");
    let path = pipeline(&dir, &db, "exactly-once", "");
    let child = start_and_wait_for_rows(&db, &path).await;
    signal(&child, libc::SIGKILL);
    let _ = finish(child);
    let (n, _, _) = counts(&db).await;
    eprintln!("SIGKILL (exactly-once): {n} rows committed before the kill");
    assert!(n < ROWS, "killed part-way");
    run_to_end(&path).await;
    assert_exactly_once(&db).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_at_least_once_loses_nothing() {
    let db = TestDb::create("cli_kill_alo").await;
    let dir = temp_dir("kill-alo");
    let path = pipeline(&dir, &db, "at-least-once", "");
    let child = start_and_wait_for_rows(&db, &path).await;
    signal(&child, libc::SIGKILL);
    let _ = finish(child);
    run_to_end(&path).await;
    let (n, distinct, max) = counts(&db).await;
    eprintln!("SIGKILL (at-least-once): {n} rows after the resume, {distinct} distinct");
    assert_eq!((distinct, max), (ROWS, ROWS - 1), "every row arrived");
    assert!(n >= ROWS, "at-least-once may repeat rows after the last committed checkpoint: {n}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_state_backend_keeps_cursor_and_history() {
    let db = TestDb::create("cli_pg_state").await;
    let dir = temp_dir("pg-state");
    let state = format!("state: {{backend: postgres, url: \"{}\", schema: rb_state}}\n", db.url());
    let path = pipeline(&dir, &db, "auto", &state);
    run_to_end(&path).await;
    run_to_end(&path).await;
    assert_exactly_once(&db).await;
    let cursor: String = db
        .client
        .query_one("SELECT value FROM rb_state.state WHERE scope = 'cli-auto/events' AND key = 'cursor'", &[])
        .await
        .expect("the cursor is kept in PostgreSQL")
        .get(0);
    assert!(cursor.contains(&format!("\"{}\"", ROWS - 1)), "cursor at the last row: {cursor}");
    let last: i64 =
        db.client.query_one("SELECT records_written FROM rb_state.runs ORDER BY run_id DESC LIMIT 1", &[]).await.unwrap().get(0);
    assert_eq!(last, 0, "the second run finds no new rows");
    let runs: i64 = db.client.query_one("SELECT count(*) FROM rb_state.runs WHERE outcome = 'succeeded'", &[]).await.unwrap().get(0);
    assert_eq!(runs, 2);
    assert!(!dir.join("pipeline.state.db").exists(), "no SQLite file with the postgres backend");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn progress_lines_summary_and_prometheus_file() {
    let dir = temp_dir("progress");
    let path = dir.join("slow.yaml");
    std::fs::write(
        &path,
        "pipeline: slow\nsource: {use: generator, config: {rows: 60000, batch_rows: 1000, pause_ms: 40}}\n\
         destination: {use: verify, config: {expect_rows: 60000}}\nstreams: [{name: generated}]\n",
    )
    .unwrap();
    let metrics = dir.join("metrics.prom");
    let out = rapidbyte()
        .args(["run", "--progress-interval", "1", "--metrics-file"])
        .arg(&metrics)
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let progress: Vec<&str> = stderr.lines().filter(|l| l.contains("progress generated")).collect();
    assert!(!progress.is_empty(), "a run of over two seconds logs progress every second when stderr is not a terminal\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("records out") && stdout.contains("60000"), "the summary table\n{stdout}");
    let prom = std::fs::read_to_string(&metrics).expect("metrics file written");
    assert!(
        prom.contains("rapidbyte_records_written_total{pipeline=\"slow\",stream=\"generated\",role=\"destination\"} 60000"),
        "{prom}"
    );
    assert!(prom.contains("# TYPE rapidbyte_records_read_total counter"), "{prom}");
    assert!(prom.contains("# TYPE rapidbyte_flush_seconds summary") || prom.contains("# TYPE rapidbyte_encode_seconds summary"), "phases in seconds: {prom}");
    let problems = rapidbyte::telemetry::metrics::lint(&prom);
    assert!(problems.is_empty(), "the exposition breaks Prometheus naming: {problems:?}\n{prom}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// For machines: `--progress json` prints one JSON object per stream and
/// interval and one when it finishes, `--log-format json` makes every log
/// line a JSON object, so stderr is JSON throughout; `--color always` colours
/// logs, and without a terminal (or with NO_COLOR) nothing is coloured.
#[test]
fn progress_and_logs_as_json_lines_and_colour_on_request() {
    let dir = temp_dir("json-progress");
    let path = dir.join("slow.yaml");
    std::fs::write(
        &path,
        "pipeline: slow\nsource: {use: generator, config: {rows: 40000, batch_rows: 1000, pause_ms: 40}}\n\
         destination: {use: verify, config: {expect_rows: 40000}}\nstreams: [{name: generated}]\n",
    )
    .unwrap();
    let out = rapidbyte().args(["--log-format", "json", "run", "--progress", "json", "--progress-interval", "1"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}\n{stderr}"))).collect();
    let progress: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "progress" && l["stream"] == "generated").collect();
    let running = progress.iter().find(|p| p["state"] == "running").unwrap_or_else(|| panic!("no running progress:\n{stderr}"));
    assert_eq!(running["records_estimated"], 40000, "the generator's estimate: {running}");
    assert!(running["percent"].as_f64().is_some_and(|p| p > 0.0 && p < 100.0) && running["eta_seconds"].is_number(), "{running}");
    let last = progress.last().unwrap();
    assert_eq!((last["state"].as_str(), last["percent"].as_f64(), last["records_written"].as_u64()), (Some("done"), Some(100.0), Some(40000)), "{last}");
    assert_eq!(progress.iter().filter(|p| p["state"] == "done").count(), 1, "a finished stream is said once:\n{stderr}");
    assert!(lines.iter().any(|l| l["level"] == "INFO" && l["message"] == "run started" && l["pipeline"] == "slow"), "no JSON log line `run started`:\n{stderr}");

    let plain = rapidbyte().args(["run", "--progress", "off"]).arg(&path).output().unwrap();
    assert!(!String::from_utf8_lossy(&plain.stderr).contains('\x1b'), "colour without a terminal:\n{}", text(&plain));
    let coloured = rapidbyte().args(["--color", "always", "run", "--progress", "off"]).arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&coloured.stderr).contains("\x1b["), "no colour with --color always:\n{}", text(&coloured));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A row larger than `max_batch_bytes` is copied (it travels alone); the
/// same row above `max_record_bytes`, set from the environment, is refused
/// as data `RECORD_TOO_LARGE` naming the stream and the limit.
#[test]
fn a_big_row_is_copied_and_the_record_ceiling_comes_from_the_environment() {
    let dir = temp_dir("big-row");
    let path = dir.join("big.yaml");
    let big = "big_values: {ids: [2], bytes: 3145728}";
    std::fs::write(
        &path,
        format!(
            "pipeline: big\nsource: {{use: generator, config: {{rows: 5, {big}}}}}\n\
             destination: {{use: verify, config: {{expect_rows: 5, {big}}}}}\nstreams: [{{name: generated}}]\nretry: {{max_attempts: 1}}\n"
        ),
    )
    .unwrap();
    let out = rapidbyte().arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "a 3 MiB row at the default 1 MiB max_batch_bytes is copied\n{}", text(&out));
    let out = rapidbyte().arg("run").arg(&path).env("RAPIDBYTE_LIMITS__MAX_RECORD_BYTES", "2097152").output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("RECORD_TOO_LARGE") && all.contains("max_record_bytes = 2097152") && all.contains("stream `generated`"), "{all}");
    let out = rapidbyte().arg("run").arg(&path).env("RAPIDBYTE_LIMITS__MAX_RECORD_BYTES", "65536").output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "a ceiling below max_batch_bytes is refused before anything runs\n{all}");
    assert!(all.contains("RAPIDBYTE_LIMITS__MAX_RECORD_BYTES") && all.contains("smaller than `limits.max_batch_bytes`"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two pipeline files that share a `pipeline:` name but read different
/// sources keep separate commit tokens: the second does not resume after
/// the first one's position (which would skip its rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipeline_files_sharing_a_name_keep_their_own_positions() {
    let db = TestDb::create("cli_name_clash").await;
    db.client
        .batch_execute(
            "CREATE SCHEMA a; CREATE TABLE a.items AS SELECT i::int8 AS id FROM generate_series(1, 300) i;
             CREATE SCHEMA b; CREATE TABLE b.items AS SELECT i::int8 + 1000 AS id FROM generate_series(1, 500) i;",
        )
        .await
        .unwrap();
    let c = db.connector_config();
    let conn = format!("host: {}, port: {}, user: {}, database: {}", c["host"].as_str().unwrap(), c["port"], c["user"].as_str().unwrap(), c["database"].as_str().unwrap());
    for (side, expect) in [("a", 300i64), ("b", 800)] {
        let dir = temp_dir(&format!("clash-{side}"));
        let path = dir.join("pipeline.yaml");
        std::fs::write(
            &path,
            format!(
                "pipeline: clash\nsource: {{use: postgres, config: {{{conn}, schema: {side}}}}}\n\
                 destination: {{use: postgres, config: {{{conn}, schema: dst}}}}\n\
                 streams:\n  - {{name: items, sync_mode: incremental, cursor_field: id, delivery: exactly-once}}\n"
            ),
        )
        .unwrap();
        run_to_end(&path).await;
        let n: i64 = db.client.query_one("SELECT count(*) FROM dst.items", &[]).await.unwrap().get(0);
        assert_eq!(n, expect, "after the `{side}` file: each file's rows, none skipped");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `--wait` queues a run behind the holder of the run lease: two started
/// together both finish, and every row lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_with_wait_queues_behind_the_first() {
    let db = TestDb::create("cli_wait").await;
    let dir = temp_dir("wait");
    let path = pipeline(&dir, &db, "exactly-once", "");
    let first = rapidbyte().args(["run", "--wait"]).arg(&path).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let second = rapidbyte().args(["run", "--wait"]).arg(&path).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    for out in [finish(first), finish(second)] {
        assert_eq!(out.status.code(), Some(0), "both finish\n{}", text(&out));
    }
    assert_exactly_once(&db).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `rapidbyte run` of one pipeline started together, on a fresh state
/// file: each round, both finish (the second waits for the run lease, then
/// finds nothing new) or the loser is refused naming the holder, and every
/// row lands once. Before the state file waited for a concurrent opener,
/// the second run failed with "database is locked". A 50-round version
/// against the CLI is `scripts/overlapping-runs.sh`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_started_together_write_each_row_once() {
    for round in 0..4 {
        let db = TestDb::create(&format!("cli_overlap{round}")).await;
        let dir = temp_dir(&format!("overlap{round}"));
        let path = pipeline(&dir, &db, "exactly-once", "");
        let (a, b) = (rapidbyte().arg("run").arg(&path).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
                      rapidbyte().arg("run").arg(&path).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
        let outs = [finish(a), finish(b)];
        for out in &outs {
            if out.status.code() != Some(0) {
                let all = text(out);
                assert!(all.contains("RUN_IN_PROGRESS") && all.contains("being written by run"), "round {round}: refused only by the lease, naming the holder\n{all}");
                assert_eq!(out.status.code(), Some(2), "round {round}: refused before anything ran\n{all}");
            }
        }
        assert!(outs.iter().any(|o| o.status.code() == Some(0)), "round {round}: one run finishes");
        assert_exactly_once(&db).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `rapidbyte check` shows each connector's exact network grants: the
/// endpoints its config names (with a defaulted port said so), the
/// addresses they resolve to, and `sandbox.grants`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_each_connectors_network_grants() {
    let db = TestDb::create("cli_grants").await;
    let dir = temp_dir("grants");
    let c = db.connector_config();
    let path = dir.join("pipeline.yaml");
    std::fs::write(
        &path,
        format!(
            "pipeline: grants\nsource: {{use: generator, config: {{rows: 10}}, sandbox: {{grants: [\"127.0.0.1:9\"]}}}}\n\
             destination: {{use: postgres, config: {{host: 127.0.0.1, user: {}, database: {}}}}}\nstreams: [{{name: generated}}]\n",
            c["user"].as_str().unwrap(),
            c["database"].as_str().unwrap()
        ),
    )
    .unwrap();
    let out = rapidbyte().arg("check").arg(&path).output().unwrap();
    let all = text(&out);
    assert!(all.contains("network source-generator: 127.0.0.1:9 → 127.0.0.1:9"), "the pipeline's grant is shown\n{all}");
    assert!(
        all.contains("network dest-postgres: 127.0.0.1:5432 → 127.0.0.1:5432 (127.0.0.1:5432 TLS prefer by the host; port 5432 is the connector's default"),
        "the endpoint and its defaulted port are shown\n{all}"
    );
    assert_eq!(out.status.code(), Some(0), "{all}");

    // Pinned: `sandbox.allowed_endpoints` without the defaulted port refuses
    // check and run, and the run writes nothing.
    let pinned = std::fs::read_to_string(&path)
        .unwrap()
        .replace("database: ", "port: 5432, database: ")
        .replace("destination: {use: postgres,", "destination: {use: postgres, sandbox: {allowed_endpoints: [\"127.0.0.1:6432\"]},");
    std::fs::write(&path, &pinned).unwrap();
    let out = rapidbyte().arg("check").arg(&path).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("endpoint `127.0.0.1:5432` is not in `sandbox.allowed_endpoints` (127.0.0.1:6432)"), "{all}");
    let out = rapidbyte().arg("run").arg(&path).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("allowed_endpoints"), "{}", text(&out));
    let tables: i64 = db.client.query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'events'", &[]).await.unwrap().get(0);
    assert_eq!(tables, 0, "nothing was written");
    std::fs::write(&path, pinned.replace("127.0.0.1:6432", "127.0.0.1:5432")).unwrap();
    let out = rapidbyte().arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "the endpoint pinned: {}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = rapidbyte().args(["completions", shell]).output().unwrap();
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && script.contains("conformance") && script.contains("discover"), "{shell}: {}", text(&out));
    }
    let out = rapidbyte().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
    let out = rapidbyte().arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH rapidbyte 1") && page.contains("conformance"), "{page}");
}

#[test]
fn a_metrics_file_in_a_missing_folder_is_refused_before_anything_runs() {
    let dir = temp_dir("metrics-folder");
    let path = dir.join("p.yaml");
    std::fs::write(&path, "pipeline: m\nsource: {use: generator, config: {rows: 10}}\ndestination: {use: verify}\nstreams: [{name: s}]\n").unwrap();
    let out = rapidbyte().arg("run").arg(&path).arg("--metrics-file").arg(dir.join("no/such/folder/m.prom")).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("--metrics-file") && all.contains("folder does not exist"), "{all}");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "nothing but the pipeline file: {files:?}");
    // Phases are printed in the unit they are measured in.
    let out = rapidbyte().arg("run").arg(&path).arg("--json").output().unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("\"phase_seconds\"") && !json.contains("_ms\""), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `init` → `check` → `run` against the real PostgreSQL: the written file is
/// accepted as it is, copies every table, and its defaults hold on the next
/// run (the change-time cursor picks up a new and an updated row, upserted
/// on the key; the keyless table is replaced whole).
#[test]
fn init_writes_a_pipeline_that_check_accepts_and_run_copies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::create("init"));
    rt.block_on(db.client.batch_execute(
        "CREATE SCHEMA shop;
         CREATE TABLE shop.orders (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, amount numeric(10,2));
         INSERT INTO shop.orders SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', g FROM generate_series(1, 300) g;
         CREATE TABLE shop.tags (name text);
         INSERT INTO shop.tags VALUES ('a'), ('b');",
    ))
    .unwrap();
    let dir = temp_dir("init");
    let file = dir.join("shop.yaml");
    let url = db.url();
    let out = rapidbyte().args(["init"]).arg(&file).args(["--source", &url, "--schema", "shop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("cursor_field: \"updated_at\"") && written.contains("primary_key: [\"id\"]") && written.contains("schema: \"shop_copy\""), "{written}");
    let again = rapidbyte().args(["init"]).arg(&file).args(["--source", &url, "--schema", "shop"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "an existing file is kept: {}", text(&again));

    let check = rapidbyte().arg("check").arg(&file).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "check refused what init wrote:\n{written}\n{}", text(&check));
    // A stream whose table the source does not have fails the check, named.
    let typo = dir.join("typo.yaml");
    std::fs::write(&typo, written.replace("- name: \"orders\"", "- name: \"orderz\"")).unwrap();
    let check = rapidbyte().arg("check").arg(&typo).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains("FAIL  stream `orderz`: the source has no such stream (did you mean `orders`?)"), "{}", text(&check));
    std::fs::write(&typo, written.replace("cursor_field: \"updated_at\"", "cursor_field: \"updatedat\"")).unwrap();
    let check = rapidbyte().arg("check").arg(&typo).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains("FAIL  stream `orders`: no such column: `cursor_field` names `updatedat`, did you mean `updated_at`?"), "{}", text(&check));
    let run = rapidbyte().arg("run").arg(&file).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    rt.block_on(db.client.batch_execute(
        "INSERT INTO shop.orders VALUES (301, '2026-02-01', 7);
         UPDATE shop.orders SET amount = 999, updated_at = '2026-02-02' WHERE id = 5;
         INSERT INTO shop.tags VALUES ('c');",
    ))
    .unwrap();
    let run = rapidbyte().arg("run").arg(&file).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let q = |sql: &str| rt.block_on(db.client.query_one(sql, &[])).unwrap();
    let copy = q("SELECT count(*), sum(amount)::text FROM shop_copy.orders");
    let source = q("SELECT count(*), sum(amount)::text FROM shop.orders");
    assert_eq!((copy.get::<_, i64>(0), copy.get::<_, String>(1)), (source.get::<_, i64>(0), source.get::<_, String>(1)));
    assert_eq!(q("SELECT count(*) FROM shop_copy.orders WHERE id = 5 AND amount = 999").get::<_, i64>(0), 1);
    assert_eq!(q("SELECT string_agg(name, ',' ORDER BY name) FROM shop_copy.tags").get::<_, String>(0), "a,b,c");
    let _ = std::fs::remove_dir_all(&dir);
}
