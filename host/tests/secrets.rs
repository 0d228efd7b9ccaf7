//! SPEC § Security: a password never leaves the process. Every command —
//! `run` (human, `--json`, `-vv`, Prometheus file), `check`, `discover`,
//! `runs`, `conformance` — and the error paths they reach run with one
//! distinctive password, in connector configs through `${VAR}`, in a state
//! backend URL (percent-encoded), under a key of the wrong type, and echoed
//! back by a hostile connector; none of their output, files or stored run
//! history shows it.

use std::path::PathBuf;
use std::process::{Command, Output};

use rapidbyte_tests::pg::{host_port_user, TestDb};

/// Quotes, `#`, `: ` and a newline: every way it could break or leak.
const PASSWORD: &str = "Zq8#Pw: \"s3cr'T-91\nnext";
/// Fragments that show the password, whole or in part, in any encoding.
const SHOWS: [&str; 3] = ["Zq8", "s3cr", "T-91"];

fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn rapidbyte() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rapidbyte"));
    c.current_dir(rapidbyte_tests::workspace())
        .arg("--connector-dir")
        .arg(rapidbyte_tests::connector_dir())
        .env("RAPIDBYTE_CACHE_DIR", rapidbyte_tests::workspace().join("target/rapidbyte-cache"))
        .env("RB_SECRET_PW", PASSWORD)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    c
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rapidbyte-secrets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Everything a command showed.
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: &str, text: impl Into<String>) {
        self.0.push((what.to_string(), text.into()));
    }

    fn command(&mut self, what: &str, out: Output) -> Output {
        self.add(&format!("{what} stdout"), String::from_utf8_lossy(&out.stdout));
        self.add(&format!("{what} stderr"), tail(&out));
        out
    }

    fn assert_clean(&self) {
        for (what, text) in &self.0 {
            for s in SHOWS {
                assert!(!text.contains(s), "{what} shows the password (`{s}`):\n{text}");
            }
        }
    }
}

/// The end of a command's stderr (`-vv` writes megabytes).
fn tail(out: &Output) -> String {
    let e = String::from_utf8_lossy(&out.stderr);
    let start = e.len().saturating_sub(4000);
    let start = (start..e.len()).find(|i| e.is_char_boundary(*i)).unwrap_or(e.len());
    format!("{}\n…{}", String::from_utf8_lossy(&out.stdout), &e[start..])
}

fn status(out: &Output) -> Option<i32> {
    out.status.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_appears_in_any_command_output() {
    let db = TestDb::create("secrets_every_command").await;
    db.client
        .batch_execute("CREATE TABLE public.accounts (id int PRIMARY KEY, name text); INSERT INTO public.accounts SELECT g, 'n' || g FROM generate_series(1, 500) g")
        .await
        .unwrap();
    let (host, port, user) = host_port_user(&db.url());
    let database = db.url().rsplit_once('/').unwrap().1.to_string();
    let dir = temp_dir("every-command");
    let pg = |extra: &str| format!("{{host: {host}, port: {port}, user: {user}, database: {database}, password: \"${{RB_SECRET_PW}}\"{extra}}}");
    let state_url = format!("postgres://{user}:{}@{host}:{port}/{database}", percent_encoded(PASSWORD));
    let good = format!(
        "pipeline: secrets\n\
         source: {{use: postgres, config: {}}}\n\
         destination: {{use: postgres, config: {}}}\n\
         streams: [{{name: accounts, write_mode: replace}}]\n\
         state: {{backend: postgres, url: \"{state_url}\", schema: rb_secret_state}}\n\
         retry: {{max_attempts: 2}}\n",
        pg(", schema: public"),
        pg(", schema: copied")
    );
    let path = dir.join("good.yaml");
    std::fs::write(&path, &good).unwrap();
    let mut seen = Seen(Vec::new());

    // run: human, then JSON with -vv and a Prometheus file.
    let out = seen.command("run", rapidbyte().arg("run").arg(&path).output().unwrap());
    assert_eq!(status(&out), Some(0), "{}", tail(&out));
    let metrics = dir.join("metrics.prom");
    let out = seen.command(
        "run --json -vv",
        rapidbyte().args(["-vv", "run", "--json", "--metrics-file"]).arg(&metrics).arg(&path).output().unwrap(),
    );
    assert_eq!(status(&out), Some(0), "{}", tail(&out));
    assert!(out.stderr.len() > 10_000, "-vv logs a lot: {} bytes", out.stderr.len());
    seen.add("prometheus file", std::fs::read_to_string(&metrics).unwrap());
    let copied: i64 = db.client.query_one("SELECT count(*) FROM copied.accounts", &[]).await.unwrap().get(0);
    assert_eq!(copied, 500, "the password did not stop the copy");

    for args in [&["check"][..], &["discover"], &["discover", "--json"], &["runs"], &["runs", "--json"]] {
        let out = seen.command(&args.join(" "), rapidbyte().args(args).arg(&path).output().unwrap());
        assert_eq!(status(&out), Some(0), "{args:?}: {}", tail(&out));
    }

    // Error paths, each with the password somewhere in the file.
    let broken = [
        ("secret under a number key", good.replace("state: {", "limits: {parallelism: \"${RB_SECRET_PW}\"}\nstate: {")),
        ("secret as an enum value", good.replace("{name: accounts,", "{name: accounts, sync_mode: \"${RB_SECRET_PW}\",")),
        ("secret in a URL of the wrong type", good.replace("schema: rb_secret_state}", "schema: rb_secret_state, path: [\"{state_url}\"]}")),
        ("state backend unreachable", good.replace(&format!("@{host}:{port}/"), &format!("@{host}:1/"))),
        ("source unreachable", good.replace(&format!("port: {port}, user: {user}, database: {database}, password: \"${{RB_SECRET_PW}}\", schema: public"), &format!("port: 1, user: {user}, database: {database}, password: \"${{RB_SECRET_PW}}\", schema: public"))),
        ("source database missing", good.replace(&format!("database: {database}, password: \"${{RB_SECRET_PW}}\", schema: public"), "database: no_such_db_for_secrets, password: \"${RB_SECRET_PW}\", schema: public")),
        ("unknown key beside the password", good.replace(", schema: copied", ", schema: copied, passwrd: \"${RB_SECRET_PW}\"")),
        (
            "a connector echoing its password",
            good.replace(
                &format!("source: {{use: postgres, config: {}}}", pg(", schema: public")),
                "source: {use: hostile, config: {attempt: echo, password: \"${RB_SECRET_PW}\"}}",
            )
            .replace("write_mode: replace", "delivery: at-least-once"),
        ),
    ];
    for (what, yaml) in &broken {
        assert_ne!(yaml, &good, "{what}: the fixture changed nothing");
        let p = dir.join("broken.yaml");
        std::fs::write(&p, yaml).unwrap();
        // `check` does not read, so it cannot see the echo.
        let commands: &[&[&str]] = if what.contains("echo") { &[&["run"], &["run", "--json"]] } else { &[&["run"], &["run", "--json"], &["check"]] };
        for &args in commands {
            let started = std::time::Instant::now();
            let out = seen.command(&format!("{what}: {}", args.join(" ")), rapidbyte().args(args).arg(&p).output().unwrap());
            eprintln!("{what}: {args:?} → {:?} in {:.1} s\n{}", status(&out), started.elapsed().as_secs_f64(), tail(&out));
            assert_ne!(status(&out), Some(0), "{what}: {args:?} should fail\n{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    // The echo reached the history and was scrubbed there too.
    let out = seen.command("runs after failures", rapidbyte().args(["runs", "--json"]).arg(&path).output().unwrap());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ECHO") || String::from_utf8_lossy(&out.stdout).contains("config was"), "the echo run was recorded");
    let history: Vec<String> = db
        .client
        .query("SELECT coalesce(error, '') FROM rb_secret_state.runs", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    seen.add("run history", history.join("\n"));
    // A connector's own state (`rb_secret_state.state`) is its own: it may keep what it was given.

    // conformance with the password in the subject file.
    let subject = dir.join("subject.yaml");
    std::fs::write(
        &subject,
        format!(
            "component: dest_postgres.wasm\nconfig: {{host: {host}, port: {port}, user: {user}, database: {database}, schema: conformance_secrets, password: \"{}\"}}\nstream: items\npostgres: \"{}\"\n",
            PASSWORD.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"),
            db.url()
        ),
    )
    .unwrap();
    let component = rapidbyte_tests::connector_dir().join("dest_postgres.wasm");
    for json in [false, true] {
        let mut c = rapidbyte();
        c.arg("conformance").arg(&component).arg("--config").arg(&subject).args(["--only", "protocol"]);
        if json {
            c.arg("--json");
        }
        let out = seen.command(&format!("conformance json={json}"), c.output().unwrap());
        assert!(!out.stdout.is_empty(), "conformance printed its table");
    }
    seen.assert_clean();
    let _ = std::fs::remove_dir_all(&dir);
}
