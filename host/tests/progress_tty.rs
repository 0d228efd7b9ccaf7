//! The progress bars as a person sees them: `rapidbyte run` in a tmux pane
//! 60 columns wide (a terminal emulator, so the screen is what a user would
//! read), sampled while it runs. The bars show a share that reaches 100% and
//! an ETA while running, and a warning logged during the run (an injected
//! transient failure, retried) lands above the bars, whole, once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ sits in the workspace").to_path_buf()
}

fn connector_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), |t| workspace().join(t));
    let dir = target.join("connectors");
    assert!(dir.join("source_generator.wasm").is_file(), "no components in {}: run `cargo xtask build` first", dir.display());
    dir
}

/// A tmux server of this test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// The pane's lines as shown (`joined`: lines the terminal wrapped are one).
    fn screen(&self, joined: bool) -> Vec<String> {
        let mut c = self.cmd();
        c.args(["capture-pane", "-p", "-S", "-200"]);
        if joined {
            c.arg("-J");
        }
        let out = c.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim_end().to_string()).collect()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

#[test]
fn bars_show_a_share_and_an_eta_and_logs_print_above_them() {
    let connectors = connector_dir();
    let scratch = std::env::temp_dir().join(format!("rapidbyte-progress-tty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    // Two streams of 40 000 rows in 40 batches of 1 000, 60 ms apart (about
    // 2.5 s each); each fails once after 10 000 rows and is retried, which
    // logs a warning while the bars are on screen.
    let pipeline = "pipeline: tty\n\
        source: {use: generator, config: {rows: 40000, batch_rows: 1000, pause_ms: 60, fail_times: 1, fail_after_rows: 10000}}\n\
        destination: {use: verify}\n\
        streams: [{name: orders}, {name: a_stream_with_a_rather_long_name}]\n";
    std::fs::write(scratch.join("p.yaml"), pipeline).unwrap();
    let tmux = Tmux { socket: format!("rapidbyte-test-{}", std::process::id()) };
    let command = format!(
        "NO_COLOR=1 RAPIDBYTE_CONNECTOR_DIR= '{}' --connector-dir '{}' run p.yaml; echo EXIT=$?; sleep 120",
        env!("CARGO_BIN_EXE_rapidbyte"),
        connectors.display()
    );
    let started = tmux
        .cmd()
        .args(["new-session", "-d", "-x", "60", "-y", "50", "-c"])
        .arg(&scratch)
        .arg(&command)
        .status()
        .expect("tmux is installed (the image ships it)");
    assert!(started.success(), "tmux new-session failed");

    let mut screens: Vec<Vec<String>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let screen = tmux.screen(false);
        let done = screen.iter().any(|l| l.starts_with("EXIT="));
        screens.push(screen);
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not finish in 120 s:\n{}", screens.last().unwrap().join("\n"));
        std::thread::sleep(Duration::from_millis(150));
    }
    let last = screens.last().unwrap().clone();
    let joined = tmux.screen(true);
    let _ = std::fs::remove_dir_all(&scratch);
    let shown = last.join("\n");
    assert!(last.iter().any(|l| l == "EXIT=0"), "the run failed:\n{shown}");

    let bar = |screen: &[String], name: &str| screen.iter().find(|l| l.starts_with(name)).cloned();
    let percent = |line: &str| line.split_whitespace().find_map(|w| w.strip_suffix('%')?.parse::<u32>().ok());
    // While running: a stream's bar with a share below 100% and an ETA.
    let running: Vec<String> = screens
        .iter()
        .filter_map(|s| bar(s, "orders"))
        .filter(|l| percent(l).is_some_and(|p| p > 0 && p < 100) && l.contains("ETA "))
        .collect();
    assert!(!running.is_empty(), "no frame showed a share under 100% with an ETA; last screen:\n{shown}");
    // At the end: every bar at 100%, each within the pane's 60 columns.
    for name in ["orders", "a_stream_with_", "total"] {
        let line = bar(&last, name).unwrap_or_else(|| panic!("no `{name}` bar on the last screen:\n{shown}"));
        assert_eq!(percent(&line), Some(100), "`{name}` did not reach 100%:\n{shown}");
        assert!(line.chars().count() <= 60, "a bar is wider than the terminal: {line:?}");
    }
    // The warnings: above the bars, each whole on its own (joined) line,
    // once per stream, never mixed with a bar.
    let warnings: Vec<&String> = joined.iter().filter(|l| l.contains("WARN retrying stream")).collect();
    assert_eq!(warnings.len(), 2, "expected one retry warning per stream:\n{}", joined.join("\n"));
    for w in &warnings {
        assert!(w.ends_with("resume_from_committed=false") && !w.contains('%'), "a warning was cut or mixed with a bar: {w:?}");
    }
    let first_bar = last.iter().position(|l| l.starts_with("orders")).unwrap();
    let last_warning = last.iter().rposition(|l| l.contains("WARN")).unwrap();
    assert!(last_warning < first_bar, "a warning is below the bars:\n{shown}");
    for screen in &screens {
        assert!(
            !screen.iter().any(|l| l.contains('%') && (l.contains(" WARN ") || l.contains(" INFO "))),
            "a log line and a bar share a line:\n{}",
            screen.join("\n")
        );
    }
}
