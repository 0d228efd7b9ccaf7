//! Developer tasks for the Rapidbyte workspace: `cargo xtask help`.

mod bench;
mod tls_cluster;
mod cmd;
mod conformance;
mod connectors;
mod pg;
mod scaffold;
mod scaffold_check;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use cmd::Result;

const CONNECTOR_DIR_ENV: &str = "RAPIDBYTE_CONNECTOR_DIR";

const USAGE: &str = "\
Usage: cargo xtask <command> [options]

Commands:
  build [--debug]              Build all connectors (connectors/*, and the broken
                               test fixtures in tests/connectors/*) for wasm32-wasip2
                               with the `connector` profile (--debug: dev profile)
                               and copy them to target/connectors/.
  test [-- <cargo test args>]  Check PostgreSQL (starting it if needed), build the
                               connectors, then `cargo test` with
                               RAPIDBYTE_CONNECTOR_DIR=target/connectors; then
                               scaffold a source and a destination (new-connector),
                               build them and run the protocol conformance cases.
  run <pipeline.yaml> [args]   Build the connectors, seed PostgreSQL with
                               <stem>.seed.sql if it exists next to the pipeline,
                               then `cargo run -p rapidbyte -- run <pipeline> [args]`.
  pg [--start]                 Check that PostgreSQL answers at $RAPIDBYTE_TEST_PG
                               (default postgres://postgres@127.0.0.1:5432/test);
                               --start: start the local clusters if it does not.
  bench [--rows N] [--reps K] [--width narrow|mixed|wide] [--tls]
                               PostgreSQL → PostgreSQL through a release rapidbyte,
                               interleaved with the raw psql binary COPY pipe;
                               verified; medians and JSON under target/bench/.
                               --tls: also both over TLS verify-full, on a cluster of
                               its own with ssl = on (plain runs use sslmode=disable).
  new-connector <source|destination> <name> [--dir <path>]
                               Scaffold a working connector crate: connectors/source-<name>
                               or connectors/dest-<name>, added to the workspace members
                               (--dir: a standalone crate at <path>, outside the repository),
                               with a README and a starter conformance.yaml subject.
  conformance [-- <args>]      Build the connectors and the host, then run
                               `rapidbyte conformance <component> --config <subject> [args]`
                               for every fixtures/conformance/subjects/*.yaml; fails if any fails.
  help                         Show this text.

See docs/CONNECTOR_GUIDE.md for writing a connector.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    match command.as_str() {
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "build" => build(rest),
        "test" => test(rest),
        "run" => run(rest),
        "pg" => pg(rest),
        "bench" => bench::run(&args[1..]),
        "new-connector" => scaffold::run(rest),
        "conformance" => conformance::run(rest),
        other => usage_error(&format!("unknown command `{other}`")),
    }
}

fn usage_error(message: &str) -> Result<ExitCode> {
    eprintln!("error: {message}\n\n{USAGE}");
    Ok(ExitCode::from(2))
}

/// `build [--debug]`
fn build(args: &[String]) -> Result<ExitCode> {
    let debug = match args {
        [] => false,
        [flag] if flag == "--debug" => true,
        _ => return usage_error(&format!("`build` takes only --debug, got {args:?}")),
    };
    connectors::build(debug)?;
    Ok(ExitCode::SUCCESS)
}

/// `pg [--start]`
fn pg(args: &[String]) -> Result<ExitCode> {
    let start = match args {
        [] => false,
        [flag] if flag == "--start" => true,
        _ => return usage_error(&format!("`pg` takes only --start, got {args:?}")),
    };
    pg::ensure(start)?;
    Ok(ExitCode::SUCCESS)
}

/// `test [-- <cargo test args>]`
fn test(args: &[String]) -> Result<ExitCode> {
    let extra = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    pg::ensure(true).map_err(|e| format!("{e}\nThe tests need PostgreSQL; not running them."))?;
    connectors::build(false)?;
    let mut test = cmd::cargo();
    test.arg("test")
        .args(extra)
        .env(CONNECTOR_DIR_ENV, cmd::connector_dir())
        .env(pg::URL_ENV, pg::test_url());
    let status = cmd::run(&mut test)?;
    if !status.success() {
        return Ok(cmd::exit_code(status));
    }
    // After the tests (which built the host binary): the author kit still works.
    scaffold_check::run()?;
    Ok(ExitCode::SUCCESS)
}

/// `run <pipeline.yaml> [args]`
fn run(args: &[String]) -> Result<ExitCode> {
    let Some((pipeline, extra)) = args.split_first() else {
        return usage_error("`run` needs a pipeline file: cargo xtask run <pipeline.yaml>");
    };
    let pipeline = Path::new(pipeline);
    if !pipeline.is_file() {
        return Err(format!(
            "pipeline file {} does not exist",
            pipeline.display()
        ));
    }
    connectors::build(false)?;
    let seed = seed_script(pipeline);
    if seed.is_file() {
        seed_database(&seed)?;
    }
    let mut engine = cmd::cargo();
    engine
        // Run from the caller's directory so relative paths in args work.
        .current_dir(std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?)
        .arg("run")
        .arg("--manifest-path")
        .arg(cmd::workspace_root().join("Cargo.toml"))
        .args(["-p", "rapidbyte", "--", "run"])
        .arg(pipeline)
        .args(extra)
        .env(CONNECTOR_DIR_ENV, cmd::connector_dir());
    Ok(cmd::exit_code(cmd::run(&mut engine)?))
}

/// `dir/name.yaml` -> `dir/name.seed.sql`.
fn seed_script(pipeline: &Path) -> PathBuf {
    let stem = pipeline.file_stem().unwrap_or_default().to_string_lossy();
    pipeline.with_file_name(format!("{stem}.seed.sql"))
}

/// Runs the seed script with psql against the test database.
fn seed_database(seed: &Path) -> Result<()> {
    pg::ensure(true).map_err(|e| format!("{e}\nCannot seed from {}.", seed.display()))?;
    let url = pg::test_url();
    println!("Seeding the test database from {}", seed.display());
    let mut psql = Command::new("psql");
    psql.args([
        "--no-psqlrc",
        "--quiet",
        "-v",
        "ON_ERROR_STOP=1",
        "--dbname",
    ])
    .arg(&url)
    .arg("--file")
    .arg(seed);
    cmd::run_checked(&mut psql, &format!("seeding from {}", seed.display())).map_err(|e| {
        format!(
            "{e}\n(psql needs the PostgreSQL client: e.g. `apt-get install postgresql-client`; \
             the database in {}={url} must exist)",
            pg::URL_ENV
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_script_sits_next_to_pipeline() {
        assert_eq!(
            seed_script(Path::new("fixtures/pipelines/pg_to_verify.yaml")),
            Path::new("fixtures/pipelines/pg_to_verify.seed.sql")
        );
        assert_eq!(seed_script(Path::new("p.yml")), Path::new("p.seed.sql"));
    }

    #[test]
    fn unknown_commands_exit_2() {
        let code = dispatch(&["certify".to_owned()]).unwrap();
        assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::from(2)));
    }

    #[test]
    fn usage_lists_every_command() {
        for command in ["build", "test", "run", "pg", "bench", "new-connector", "conformance", "help"] {
            assert!(USAGE.contains(&format!("\n  {command} ")), "{command}");
        }
    }
}
