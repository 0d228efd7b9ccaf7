//! A real single binary: `cargo install` into a temporary root, then a
//! PostgreSQL → PostgreSQL pipeline run by the installed binary from an
//! unrelated directory, with no rapidbyte environment, no checkout beside
//! it and no user connector directory: the PostgreSQL components come from
//! the binary itself (host/build.rs embeds them).

use std::path::PathBuf;
use std::process::Command;

use rapidbyte_tests::pg::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_binary_runs_postgres_to_postgres_on_its_own() {
    let workspace = rapidbyte_tests::workspace();
    let scratch = std::env::temp_dir().join(format!("rapidbyte-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let (root, home, work) = (scratch.join("root"), scratch.join("home"), scratch.join("work"));
    for d in [&root, &home, &work] {
        std::fs::create_dir_all(d).unwrap();
    }
    // A debug build in the workspace's target directory reuses what the
    // test build compiled (cargo released its lock before running tests).
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), |t| workspace.join(t));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args(["install", "--quiet", "--locked", "--debug", "--path", "host", "--root"])
        .arg(&root)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo install");
    assert!(status.success(), "cargo install failed");
    let binary: PathBuf = root.join("bin/rapidbyte");
    assert!(binary.is_file(), "no {}", binary.display());

    let db = TestDb::create("install").await;
    db.client
        .batch_execute(
            "CREATE SCHEMA src; CREATE TABLE src.items (id bigint PRIMARY KEY, name text, price numeric(12,2));
             INSERT INTO src.items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 5000) g;",
        )
        .await
        .unwrap();
    let c = db.connector_config();
    let connection = format!("host: {}, port: {}, user: {}, database: {}", c["host"].as_str().unwrap(), c["port"], c["user"].as_str().unwrap(), c["database"].as_str().unwrap());
    std::fs::write(
        work.join("copy.yaml"),
        format!(
            "pipeline: installed\nsource: {{use: postgres, config: {{{connection}, schema: src}}}}\n\
             destination: {{use: postgres, config: {{{connection}, schema: dst}}}}\nstreams: [{{name: items}}]\n"
        ),
    )
    .unwrap();

    let clean = |cmd: &mut Command| {
        cmd.current_dir(&work).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("HOME", &home).env("NO_COLOR", "1");
    };
    let mut list = Command::new(&binary);
    clean(list.arg("connectors"));
    let listed = list.output().unwrap();
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listing.contains("postgres") && listing.contains("built in"), "{listing}");
    for test_connector in ["generator", "verify", "hostile", "broken"] {
        assert!(!listing.contains(test_connector), "a test connector is listed:\n{listing}");
    }

    let mut run = Command::new(&binary);
    clean(run.args(["run", "copy.yaml"]));
    let out = run.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let row = db.client.query_one("SELECT count(*), sum(price)::text FROM dst.items", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, String>(1)), (5000, "15628125.00".to_string()));
    // Its state sits beside the pipeline file, not in the checkout.
    assert!(work.join("copy.state.db").is_file());
    let _ = std::fs::remove_dir_all(&scratch);
}
