//! Measures the PostgreSQL source's read speed through the host (batches
//! discarded) against a native tokio-postgres binary COPY read of the same
//! table. Not a test: run by hand, one mode per process so peak RSS is the
//! mode's own.
//!
//! ```text
//! cargo run -p rapidbyte-tests --release --bin source_read -- seed 1000000
//! cargo run -p rapidbyte-tests --release --bin source_read -- host
//! cargo run -p rapidbyte-tests --release --bin source_read -- native-raw
//! cargo run -p rapidbyte-tests --release --bin source_read -- native-arrow
//! ```

use std::time::Instant;

use futures_util::StreamExt;
use rapidbyte::engine::channel::Item;
use rapidbyte::engine::run::peak_rss_bytes;
use rapidbyte::sandbox::SandboxSpec;
use rapidbyte::engine::stream::{read_stream, ConnectorSpec};
use rapidbyte_protocol::{Limits, StreamContext};
use rapidbyte_tests::pg::host_port_user;
use rapidbyte_tests::{load, runtime, services};
use tokio_postgres::NoTls;

const DB: &str = "rb_bench";
const TABLE: &str = "src_mixed";

fn base_url() -> String {
    rapidbyte_tests::pg::url()
}

fn db_url() -> String {
    let base = base_url();
    format!("{}/{DB}", base.rsplit_once('/').expect("url with database").0)
}

async fn client(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    rapidbyte::engine::run::bound_large_allocations();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("seed") => seed(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000)).await,
        Some("host") => host().await,
        Some("native-raw") => native(false).await,
        Some("native-arrow") => native(true).await,
        Some("load") => load_pg(args.get(1).map(String::as_str).unwrap_or("copy")).await,
        _ => eprintln!("usage: source_read seed N | host | native-raw | native-arrow | load [copy|insert]"),
    }
}

async fn seed(rows: i64) {
    let admin = client(&base_url()).await;
    let _ = admin.batch_execute(&format!("CREATE DATABASE {DB}")).await;
    let c = client(&db_url()).await;
    let started = Instant::now();
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {TABLE};
         CREATE TABLE {TABLE} (id bigint PRIMARY KEY, n int, qty int2, code text, body text, amount numeric(12,2),
           score float8, created timestamptz, flag bool, attrs jsonb, uid uuid);
         INSERT INTO {TABLE} SELECT i, (i * 7) % 100000, (i % 300)::int2, 'c' || (i % 1000),
           CASE WHEN i % 10 = 0 THEN NULL ELSE repeat('x', 20 + (i * 13) % 180) END,
           (i % 100000) / 100.0, i * 0.5, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second',
           CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END,
           jsonb_build_object('k', i % 10, 'tag', 't' || (i % 7)), md5(i::text)::uuid
         FROM generate_series(1, {rows}) i;"
    ))
    .await
    .expect("seed");
    c.batch_execute(&format!("VACUUM ANALYZE {TABLE}")).await.expect("vacuum");
    let size: String = c.query_one(&format!("SELECT pg_size_pretty(pg_table_size('{TABLE}'))"), &[]).await.unwrap().get(0);
    println!("seeded {rows} rows into {DB}.{TABLE} ({size}) in {:.1} s", started.elapsed().as_secs_f64());
}

async fn host() {
    let rt = runtime();
    let source = load(&rt, "source_postgres.wasm");
    let (host, port, user) = host_port_user(&base_url());
    let config = serde_json::json!({"host": host, "port": port, "user": user, "database": DB});
    let ctx = StreamContext {
        pipeline: "bench".into(),
        run_id: "bench".into(),
        stream_name: TABLE.into(),
        limits: Limits { max_batch_bytes: 4 << 20, ..Limits::default() },
        ..StreamContext::default()
    };
    let (mut rows, mut bytes) = (0u64, 0u64);
    let started = Instant::now();
    let svc = services();
    let report = read_stream(
        rt,
        ConnectorSpec { component: source, config_json: config.to_string(), sandbox: SandboxSpec::default() },
        ctx,
        svc.clone(),
        |item| {
            if let Item::Batch { frame, rows: r } = item {
                rows += r;
                bytes += frame.len() as u64;
            }
        },
        16 << 20,
    )
    .await;
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = report.error {
        eprintln!("failed: {e}");
        std::process::exit(1);
    }
    print_line("host (source-postgres.wasm → host, discarded)", rows, bytes, secs);
    let phase = |name: &str| svc.metrics.histogram_sum(TABLE, rapidbyte_protocol::Role::Source, name) / 1e3;
    println!(
        "  source phases: fetch {:.3} s, decode {:.3} s, encode {:.3} s (the rest: host validation, copies, scheduling)",
        phase("fetch_ms"),
        phase("decode_ms"),
        phase("encode_ms")
    );
}

async fn native(decode: bool) {
    let c = client(&db_url()).await;
    let mut decoder = if decode {
        // Same column mapping the connector uses (asked before COPY starts:
        // the connection is busy while it streams).
        let cols = c
            .query(
                "SELECT a.attname, t.oid, t.typname, t.typtype::text, a.atttypmod, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                 WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&TABLE],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| rapidbyte_pgcopy::Column {
                name: r.get(0),
                ty: rapidbyte_pgcopy::PgType::from_catalog(&rapidbyte_pgcopy::CatalogType {
                    oid: r.get(1),
                    name: r.get(2),
                    category: r.get::<_, String>(3).chars().next().unwrap(),
                    typmod: r.get(4),
                    formatted: r.get(5),
                    element: None,
                    ..Default::default()
                })
                .unwrap(),
                nullable: r.get(6),
            })
            .collect();
        Some(rapidbyte_pgcopy::CopyDecoder::new(cols))
    } else {
        None
    };
    let started = Instant::now();
    let copy = c.copy_out(&format!("COPY (SELECT * FROM {TABLE}) TO STDOUT (FORMAT binary)")).await.expect("copy");
    futures_util::pin_mut!(copy);
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = copy.next().await {
        let chunk = chunk.expect("chunk");
        bytes += chunk.len() as u64;
        if let Some(d) = decoder.as_mut() {
            d.feed(&chunk).expect("decode");
            if d.buffered_bytes() >= 3 << 20 {
                rows += d.take_batch().unwrap().map(|b| b.num_rows() as u64).unwrap_or(0);
            }
        }
    }
    if let Some(d) = decoder.as_mut() {
        d.finish().expect("finish");
        rows += d.take_batch().unwrap().map(|b| b.num_rows() as u64).unwrap_or(0);
    }
    let secs = started.elapsed().as_secs_f64();
    let label = if decode { "native tokio-postgres COPY + Arrow decode" } else { "native tokio-postgres COPY (bytes only)" };
    print_line(label, rows, bytes, secs);
}

fn print_line(label: &str, rows: u64, bytes: u64, secs: f64) {
    println!(
        "{label}: {rows} rows, {:.1} MB, {secs:.3} s, {:.0} rows/s, peak RSS {:.1} MiB",
        bytes as f64 / 1e6,
        rows as f64 / secs,
        peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0
    );
}

/// source-postgres → host → dest-postgres into `dst.src_mixed` (dropped
/// first; created by the destination with the source's primary key).
async fn load_pg(method: &str) {
    let c = client(&db_url()).await;
    c.batch_execute("DROP SCHEMA IF EXISTS dst CASCADE; CREATE SCHEMA dst").await.expect("schema");
    let rt = runtime();
    let (src, dst) = (load(&rt, "source_postgres.wasm"), load(&rt, "dest_postgres.wasm"));
    let (host, port, user) = host_port_user(&base_url());
    let config = serde_json::json!({"host": host, "port": port, "user": user, "database": DB});
    let mut dest_config = config.clone();
    dest_config["schema"] = serde_json::json!("dst");
    dest_config["load_method"] = serde_json::json!(method);
    let mut job = rapidbyte_tests::job(TABLE, (&src, config), (&dst, dest_config));
    job.context.limits = Limits { max_batch_bytes: 4 << 20, ..Limits::default() };
    job.max_inflight_bytes = 16 << 20;
    let svc = services();
    let started = Instant::now();
    let report = rapidbyte::engine::stream::run_stream(rt, job, svc.clone()).await;
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = report.error() {
        eprintln!("failed: {e}");
        std::process::exit(1);
    }
    let rows = svc.metrics.counter(TABLE, rapidbyte_protocol::Role::Destination, "records_written");
    let bytes = svc.metrics.counter(TABLE, rapidbyte_protocol::Role::Destination, "bytes_written");
    print_line(&format!("pg → host → pg ({method}, PK'd target)"), rows, bytes, secs);
    let phase = |role, name: &str| svc.metrics.histogram_sum(TABLE, role, name) / 1e3;
    use rapidbyte_protocol::Role::{Destination as D, Source as S};
    println!(
        "  phases: fetch {:.2} s, decode {:.2} s, encode {:.2} s | flush {:.2} s, commit {:.2} s",
        phase(S, "fetch_ms"),
        phase(S, "decode_ms"),
        phase(S, "encode_ms"),
        phase(D, "flush_ms"),
        phase(D, "commit_ms")
    );
}
