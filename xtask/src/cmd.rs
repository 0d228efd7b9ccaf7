//! Workspace paths and running child processes (printed as `$ cmd ...`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};

pub type Result<T> = std::result::Result<T, String>;

/// The workspace root: the parent of xtask's own directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in a subdirectory of the workspace root")
        .to_path_buf()
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Where `cargo xtask build` puts the connector components; also the
/// host's default connector directory.
pub fn connector_dir() -> PathBuf {
    target_dir().join("connectors")
}

/// A `cargo` command (the cargo that runs xtask, via `CARGO`), run from the
/// workspace root so that `default-members` apply.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(workspace_root());
    cmd
}

/// Prints the command, runs it with inherited stdio and returns its status.
pub fn run(cmd: &mut Command) -> Result<ExitStatus> {
    println!("$ {}", describe(cmd));
    cmd.status().map_err(|e| spawn_error(cmd, &e))
}

/// Like [`run`], but a non-zero exit is an error naming `what` failed.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let status = run(cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status}); see the output above"))
    }
}

/// The error message for a command that could not be started.
pub fn spawn_error(cmd: &Command, err: &std::io::Error) -> String {
    let program = program_name(cmd.get_program());
    if err.kind() == std::io::ErrorKind::NotFound {
        format!("`{program}` was not found on PATH")
    } else {
        format!("could not run `{program}`: {err}")
    }
}

/// Maps a child's exit status to our own exit code (signals become 1).
pub fn exit_code(status: ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
        None => ExitCode::FAILURE,
    }
}

/// A shell-like rendering of the command, environment overrides first.
pub fn describe(cmd: &Command) -> String {
    let envs = cmd
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), quote(v))));
    let program = std::iter::once(program_name(cmd.get_program()));
    let args = cmd.get_args().map(quote);
    envs.chain(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The program's file name (`cargo`, not the full toolchain path).
fn program_name(program: &OsStr) -> String {
    Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned()
}

/// Quotes an argument for display if it contains shell-special characters.
pub fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote(OsStr::new("--profile")), "--profile");
        assert_eq!(quote(OsStr::new("a b")), "'a b'");
        assert_eq!(quote(OsStr::new("")), "''");
        assert_eq!(quote(OsStr::new("it's")), r"'it'\''s'");
    }

    #[test]
    fn describes_env_program_and_args() {
        let mut cmd = Command::new("/opt/rust/bin/cargo");
        cmd.arg("test").arg("a b").env("X", "1");
        assert_eq!(describe(&cmd), "X=1 cargo test 'a b'");
    }

    #[test]
    fn root_contains_xtask() {
        assert!(workspace_root().join("xtask").join("Cargo.toml").is_file());
    }
}
