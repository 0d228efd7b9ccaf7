//! `cargo xtask bench`: PostgreSQL → PostgreSQL through rapidbyte, side by
//! side with the raw `psql COPY … TO STDOUT (FORMAT binary) | psql COPY …
//! FROM STDIN (FORMAT binary)` pipe, interleaved, on the same seeded table,
//! into a table with the same primary key (SPEC § Performance).
//!
//! Every run is verified (row count, an order-independent checksum over the
//! text of every column, identical column types). Medians and per-run
//! numbers go to the terminal and to `target/bench/bench-<unix time>.json`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cmd::{self, Result};
use crate::{connectors, pg};

const DATABASE: &str = "rapidbyte_bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    Narrow,
    Mixed,
    Wide,
}

impl Width {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "narrow" => Ok(Self::Narrow),
            "mixed" => Ok(Self::Mixed),
            "wide" => Ok(Self::Wide),
            other => Err(format!("--width must be narrow, mixed or wide, not {other:?}")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Narrow => "narrow",
            Self::Mixed => "mixed",
            Self::Wide => "wide",
        }
    }

    /// Column definitions and the generate_series expressions filling them.
    fn columns(self) -> Vec<(&'static str, &'static str, &'static str)> {
        let mut cols = vec![("id", "bigint PRIMARY KEY", "i")];
        let narrow = [
            ("n", "int", "(i * 7) % 100000"),
            ("code", "text", "'c' || (i % 1000)"),
            ("score", "float8", "i * 0.5"),
            ("created", "timestamptz", "'2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second'"),
        ];
        let mixed_extra = [
            ("body", "text", "CASE WHEN i % 10 = 0 THEN NULL ELSE repeat('x', 20 + (i * 13) % 180) END"),
            ("amount", "numeric(12,2)", "(i % 100000) / 100.0"),
            ("flag", "bool", "CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END"),
            ("attrs", "jsonb", "jsonb_build_object('k', i % 10, 'tag', 't' || (i % 7))"),
            ("uid", "uuid", "md5(i::text)::uuid"),
            ("qty", "int2", "(i % 300)::int2"),
        ];
        cols.extend(narrow);
        if self != Self::Narrow {
            cols.extend(mixed_extra);
        }
        if self == Self::Wide {
            for (name, ty, expr) in [
                ("w1", "text", "md5(i::text)"),
                ("w2", "text", "md5((i + 1)::text)"),
                ("w3", "int8", "i * 31"),
                ("w4", "float8", "i / 7.0"),
                ("w5", "date", "date '2000-01-01' + (i % 9000)"),
                ("w6", "numeric(20,6)", "i / 1000.0"),
                ("w7", "text", "repeat('w', i % 50)"),
                ("w8", "int4[]", "ARRAY[i % 10, i % 100]"),
                ("w9", "timestamp", "'2020-01-01'::timestamp + i * interval '1 minute'"),
                ("w10", "bool", "i % 5 = 0"),
            ] {
                cols.push((name, ty, expr));
            }
        }
        cols
    }
}

struct Options {
    rows: u64,
    reps: usize,
    width: Width,
    /// Also run both sides over TLS `verify-full` against a cluster of the
    /// bench's own with `ssl = on` (the plain runs then use `sslmode=disable`).
    tls: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options { rows: 1_000_000, reps: 3, width: Width::Mixed, tls: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--rows" => o.rows = value("--rows")?.parse().map_err(|_| "--rows takes a whole number".to_string())?,
            "--reps" => o.reps = value("--reps")?.parse().map_err(|_| "--reps takes a whole number".to_string())?,
            "--width" => o.width = Width::parse(&value("--width")?)?,
            "--tls" => o.tls = true,
            other => return Err(format!("unknown bench option {other:?} (expected --rows N, --reps K, --width narrow|mixed|wide, --tls)")),
        }
    }
    if o.rows == 0 || o.reps == 0 {
        return Err("--rows and --reps must be at least 1".into());
    }
    Ok(o)
}

fn bench_url(base: &str) -> String {
    match base.rsplit_once('/') {
        Some((prefix, _)) if prefix.contains("://") && prefix.split("://").nth(1).is_some_and(|r| !r.is_empty()) => {
            format!("{prefix}/{DATABASE}")
        }
        _ => format!("{}/{DATABASE}", base.trim_end_matches('/')),
    }
}

fn psql(url: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql (install the PostgreSQL client): {e}"))?;
    if !out.status.success() {
        return Err(format!("psql failed on `{}`: {}", sql.chars().take(80).collect::<String>(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Row count and an order-independent checksum over every column's text.
fn fingerprint(url: &str, table: &str) -> Result<String> {
    psql(url, &format!("SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)::numeric), 0) FROM {table} t"))
}

fn column_types(url: &str, table: &str) -> Result<String> {
    psql(
        url,
        &format!(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum)
             FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped"
        ),
    )
}

struct Run {
    raw_seconds: f64,
    rapidbyte_seconds: f64,
    peak_rss_bytes: u64,
    phases: Vec<(String, f64)>,
    /// With --tls: (raw pipe, rapidbyte) seconds over verify-full.
    tls_seconds: Option<(f64, f64)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// `"key": number` from the CLI's JSON summary.
fn json_number(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = text[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || ".-+eE".contains(c))).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The `phase_seconds` object of the first stream.
fn json_phases(text: &str) -> Vec<(String, f64)> {
    let Some(at) = text.find("\"phase_seconds\"") else { return Vec::new() };
    let Some(open) = text[at..].find('{') else { return Vec::new() };
    let body = &text[at + open + 1..];
    let body = &body[..body.find('}').unwrap_or(body.len())];
    body.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once(':')?;
            Some((k.trim().trim_matches('"').to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

pub fn run(args: &[String]) -> Result<ExitCode> {
    let o = parse(args)?;
    let root = cmd::workspace_root();
    connectors::build(false)?;
    cmd::run_checked(cmd::cargo().args(["build", "--release", "-p", "rapidbyte"]), "building the release host")?;
    // --tls: a cluster of our own with ssl = on; plain runs say sslmode=disable.
    let cluster = if o.tls { Some(crate::tls_cluster::TlsCluster::start(&cmd::target_dir().join("bench").join("tls-cluster"))?) } else { None };
    let (endpoint, base) = match &cluster {
        Some(c) => (pg::parse_endpoint(&format!("postgres://postgres@127.0.0.1:{}/postgres", c.port))?, format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable", c.port)),
        None => (pg::ensure(true)?, pg::test_url()),
    };
    let url = match base.split_once('?') {
        Some((b, q)) => format!("{}?{q}", bench_url(b)),
        None => bench_url(&base),
    };
    if psql(&base, &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"))?.is_empty() {
        psql(&base, &format!("CREATE DATABASE {DATABASE}"))?;
    }
    let cols = o.width.columns();
    let ddl: Vec<String> = cols.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    let exprs: Vec<&str> = cols.iter().map(|(_, _, e)| *e).collect();
    println!("seeding {DATABASE}.src: {} rows, {} columns ({})", o.rows, cols.len(), o.width.name());
    let started = Instant::now();
    psql(
        &url,
        &format!(
            "DROP SCHEMA IF EXISTS bench_raw CASCADE; DROP SCHEMA IF EXISTS bench_dst CASCADE; DROP TABLE IF EXISTS src;
             CREATE TABLE src ({}); INSERT INTO src SELECT {} FROM generate_series(1, {}) i;
             CREATE SCHEMA bench_raw; CREATE SCHEMA bench_dst; CREATE TABLE bench_raw.src (LIKE public.src INCLUDING ALL);",
            ddl.join(", "),
            exprs.join(", "),
            o.rows
        ),
    )?;
    psql(&url, "VACUUM ANALYZE src")?;
    let source_print = fingerprint(&url, "public.src")?;
    let source_types = column_types(&url, "public.src")?;
    let table_bytes: f64 = psql(&url, "SELECT pg_table_size('src')")?.parse().unwrap_or(0.0);
    println!("seeded in {:.1} s ({:.1} MB on disk)", started.elapsed().as_secs_f64(), table_bytes / 1e6);

    let out_dir = cmd::target_dir().join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let user = base.split("://").nth(1).and_then(|r| r.split_once('@')).map(|(u, _)| u.split(':').next().unwrap_or("postgres")).unwrap_or("postgres");
    let pipeline = out_dir.join("pipeline.yaml");
    let plain = if cluster.is_some() { ", sslmode: disable" } else { "" };
    let connection = format!("host: \"{}\", port: {}, user: \"{user}\", database: {DATABASE}{plain}", endpoint.host, endpoint.port);
    let write_pipeline = |path: &std::path::Path, connection: &str| {
        std::fs::write(
            path,
            format!(
                "pipeline: bench\nsource:\n  use: postgres\n  config: {{{connection}}}\ndestination:\n  use: postgres\n  config: {{{connection}, schema: bench_dst}}\n\
                 streams:\n  - name: src\n"
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write_pipeline(&pipeline, &connection)?;
    // The TLS side: the certificate names localhost; verify-full checks it.
    let tls = match &cluster {
        Some(c) => {
            let ca = c.ca().display().to_string();
            let path = out_dir.join("pipeline-tls.yaml");
            let connection = format!("host: localhost, port: {}, user: \"{user}\", database: {DATABASE}, sslmode: verify-full, sslrootcert: \"{ca}\"", c.port);
            write_pipeline(&path, &connection)?;
            Some((format!("postgres://postgres@localhost:{}/{DATABASE}?sslmode=verify-full&sslrootcert={ca}", c.port), path))
        }
        None => None,
    };
    let binary = cmd::target_dir().join("release").join("rapidbyte");
    // Warm the compile cache so no rep pays for compiling the components.
    let warm = Command::new(&binary)
        .args(["-q", "connectors"])
        .env("RAPIDBYTE_CONNECTOR_DIR", cmd::connector_dir())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !warm.status.success() {
        return Err(format!("`rapidbyte connectors` failed: {}", String::from_utf8_lossy(&warm.stderr)));
    }

    let mut runs = Vec::new();
    for rep in 1..=o.reps {
        // A: the raw binary COPY pipe; B: rapidbyte, into a table it creates (same primary key).
        let raw_seconds = raw_pipe(&url, &url, &source_print, &source_types)?;
        let (rapidbyte_seconds, json) = rapidbyte_run(&binary, &pipeline, &url, &root, &source_print, &source_types)?;
        // The same over TLS verify-full, when asked.
        let tls_seconds = match &tls {
            Some((tls_url, tls_pipeline)) => Some((
                raw_pipe(tls_url, &url, &source_print, &source_types)?,
                rapidbyte_run(&binary, tls_pipeline, &url, &root, &source_print, &source_types)?.0,
            )),
            None => None,
        };
        let run = Run {
            raw_seconds,
            rapidbyte_seconds,
            peak_rss_bytes: json_number(&json, "peak_rss_bytes").unwrap_or(0.0) as u64,
            phases: json_phases(&json),
            tls_seconds,
        };
        println!(
            "rep {rep}: raw pipe {:.3} s, rapidbyte {:.3} s ({:.2}×), peak RSS {:.1} MiB — verified",
            run.raw_seconds,
            run.rapidbyte_seconds,
            run.rapidbyte_seconds / run.raw_seconds,
            run.peak_rss_bytes as f64 / 1048576.0
        );
        if let Some((raw, rb)) = run.tls_seconds {
            println!("       TLS verify-full: raw pipe {raw:.3} s, rapidbyte {rb:.3} s ({:.2}×; {:.2}× rapidbyte without TLS) — verified", rb / raw, rb / run.rapidbyte_seconds);
        }
        runs.push(run);
    }
    report(&o, &runs, table_bytes, &out_dir)
}

/// The raw `psql COPY | psql COPY` pipe over `conn` (TLS or not), into
/// bench_raw.src, verified through `check_url`; its wall seconds.
fn raw_pipe(conn: &str, check_url: &str, print: &str, types: &str) -> Result<f64> {
    psql(check_url, "TRUNCATE bench_raw.src")?;
    let t = Instant::now();
    let mut producer = Command::new("psql")
        .args(["-X", "-q", "-d", conn, "-c", "COPY src TO STDOUT (FORMAT binary)"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    let consumer = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conn, "-c", "COPY bench_raw.src FROM STDIN (FORMAT binary)"])
        .stdin(producer.stdout.take().expect("piped"))
        .status()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    let produced = producer.wait().map_err(|e| e.to_string())?;
    let seconds = t.elapsed().as_secs_f64();
    if !consumer.success() || !produced.success() {
        return Err("the raw psql pipe failed".into());
    }
    verify(check_url, "bench_raw.src", print, types)?;
    Ok(seconds)
}

/// One `rapidbyte run --json` of `pipeline`, verified; wall seconds and its JSON.
fn rapidbyte_run(binary: &std::path::Path, pipeline: &std::path::Path, check_url: &str, root: &std::path::Path, print: &str, types: &str) -> Result<(f64, String)> {
    psql(check_url, "DROP TABLE IF EXISTS bench_dst.src")?;
    let t = Instant::now();
    let out = Command::new(binary)
        .args(["-q", "run", "--json"])
        .arg(pipeline)
        .env("RAPIDBYTE_CONNECTOR_DIR", cmd::connector_dir())
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let seconds = t.elapsed().as_secs_f64();
    let json = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("rapidbyte run failed: {}{}", json, String::from_utf8_lossy(&out.stderr)));
    }
    verify(check_url, "bench_dst.src", print, types)?;
    Ok((seconds, json))
}

fn verify(url: &str, table: &str, expected: &str, types: &str) -> Result<()> {
    let got = fingerprint(url, table)?;
    if got != expected {
        return Err(format!("{table} differs from the source: {got} vs {expected}"));
    }
    let got_types = column_types(url, table)?;
    if got_types != types {
        return Err(format!("{table} column types differ:\n  {got_types}\nvs\n  {types}"));
    }
    Ok(())
}

fn report(o: &Options, runs: &[Run], table_bytes: f64, out_dir: &std::path::Path) -> Result<ExitCode> {
    let raw = median(runs.iter().map(|r| r.raw_seconds).collect());
    let rb = median(runs.iter().map(|r| r.rapidbyte_seconds).collect());
    let ratio = median(runs.iter().map(|r| r.rapidbyte_seconds / r.raw_seconds).collect());
    let rss = median(runs.iter().map(|r| r.peak_rss_bytes as f64).collect());
    let rows = o.rows as f64;
    println!("\n{} rows, {} width, {} reps (medians)", o.rows, o.width.name(), o.reps);
    println!("{:<22} {:>9} {:>12} {:>9} {:>12} {:>8}", "", "wall s", "rows/s", "MB/s", "peak RSS", "ratio");
    println!("{:<22} {:>9.3} {:>12.0} {:>9.1} {:>12} {:>8}", "raw psql COPY pipe", raw, rows / raw, table_bytes / 1e6 / raw, "-", "1.00");
    println!(
        "{:<22} {:>9.3} {:>12.0} {:>9.1} {:>8.1} MiB {:>7.2}×",
        "rapidbyte",
        rb,
        rows / rb,
        table_bytes / 1e6 / rb,
        rss / 1048576.0,
        ratio
    );
    let tls: Vec<(f64, f64)> = runs.iter().filter_map(|r| r.tls_seconds).collect();
    let mut tls_json = String::new();
    if !tls.is_empty() {
        let raw_tls = median(tls.iter().map(|t| t.0).collect());
        let rb_tls = median(tls.iter().map(|t| t.1).collect());
        let vs_plain = median(runs.iter().filter_map(|r| r.tls_seconds.map(|t| t.1 / r.rapidbyte_seconds)).collect());
        println!("{:<22} {:>9.3} {:>12.0} {:>9.1} {:>12} {:>7.2}×", "raw pipe, TLS", raw_tls, rows / raw_tls, table_bytes / 1e6 / raw_tls, "-", raw_tls / raw);
        println!("{:<22} {:>9.3} {:>12.0} {:>9.1} {:>12} {:>7.2}×", "rapidbyte, TLS", rb_tls, rows / rb_tls, table_bytes / 1e6 / rb_tls, "-", rb_tls / raw);
        println!("rapidbyte with TLS verify-full / without: {vs_plain:.2}× (median of reps); raw pipe with / without: {:.2}×", raw_tls / raw);
        tls_json = format!(", \"tls\": {{\"raw_seconds\": {raw_tls:.4}, \"rapidbyte_seconds\": {rb_tls:.4}, \"rapidbyte_tls_over_plain\": {vs_plain:.4}}}");
    }
    let mut phase_names: Vec<String> = runs.iter().flat_map(|r| r.phases.iter().map(|(k, _)| k.clone())).collect();
    phase_names.sort();
    phase_names.dedup();
    let mut phases_json = String::new();
    if !phase_names.is_empty() {
        println!("rapidbyte phases (median seconds, summed within each side):");
        for name in &phase_names {
            let v = median(runs.iter().map(|r| r.phases.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or(0.0)).collect());
            println!("  {name:<34} {v:>7.3}");
            let _ = write!(phases_json, "{}\"{name}\": {v:.4}", if phases_json.is_empty() { "" } else { ", " });
        }
    }
    let reps: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{{\"raw_seconds\": {:.4}, \"rapidbyte_seconds\": {:.4}, \"ratio\": {:.4}, \"peak_rss_bytes\": {}}}",
                r.raw_seconds,
                r.rapidbyte_seconds,
                r.rapidbyte_seconds / r.raw_seconds,
                r.peak_rss_bytes
            )
        })
        .collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let json = format!(
        "{{\"rows\": {}, \"width\": \"{}\", \"reps\": {}, \"table_bytes\": {}, \"median\": {{\"raw_seconds\": {raw:.4}, \"rapidbyte_seconds\": {rb:.4}, \"ratio\": {ratio:.4}, \"peak_rss_bytes\": {rss:.0}}}, \"phases\": {{{phases_json}}}{tls_json}, \"runs\": [{}]}}\n",
        o.rows,
        o.width.name(),
        o.reps,
        table_bytes,
        reps.join(", ")
    );
    let path: PathBuf = out_dir.join(format!("bench-{now}.json"));
    std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_json_helpers() {
        let o = parse(&["--rows".into(), "10".into(), "--width".into(), "wide".into()]).unwrap();
        assert_eq!((o.rows, o.reps, o.width), (10, 3, Width::Wide));
        assert!(parse(&["--rows".into(), "0".into()]).is_err());
        assert!(parse(&["--speed".into()]).is_err());
        assert_eq!(bench_url("postgres://postgres@127.0.0.1:5432/test"), "postgres://postgres@127.0.0.1:5432/rapidbyte_bench");
        let json = r#"{"peak_rss_bytes": 75497472, "streams": [{"phase_seconds": {"destination.flush": 1.5, "source.fetch": 0.25}}]}"#;
        assert_eq!(json_number(json, "peak_rss_bytes"), Some(75497472.0));
        assert_eq!(json_phases(json), vec![("destination.flush".to_string(), 1.5), ("source.fetch".to_string(), 0.25)]);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(Width::Mixed.columns().len(), 11);
    }
}
