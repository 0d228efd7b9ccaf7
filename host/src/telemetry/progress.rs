//! Live progress of a run from the connectors' metrics as they arrive
//! (SPEC § Metrics): bars on a terminal (one per stream and an overall one,
//! with share and ETA where the source reported an estimate), plain
//! periodic log lines otherwise, JSON lines for machines, and the
//! Prometheus text exposition in a file and/or over HTTP.
//!
//! Log lines printed while bars are shown go above them ([`above_bars`]),
//! so a warning during a run never breaks the redraw.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rapidbyte_protocol::{metric_names as m, Role};

use crate::telemetry::metrics::{MetricsHub, StreamPhase};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Bars redrawn on stderr (a terminal).
    Bars,
    /// A log line per stream every `interval` (pipes, CI).
    Log(Duration),
    /// A JSON object per stream on stderr every `interval` (`--progress json`).
    Json(Duration),
    /// Nothing (`--quiet`, `--json`).
    Off,
}

/// Where Prometheus metrics go.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// Rewritten every second and at the end.
    pub file: Option<PathBuf>,
    /// Served at `http://<addr>/metrics`.
    pub addr: Option<std::net::SocketAddr>,
}

/// Runs until [`Reporter::finish`].
pub struct Reporter {
    task: tokio::task::JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The bars being shown, if any: log output goes above them.
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Runs `print` with the bars (if shown) cleared, then redraws them: what
/// it writes to the terminal lands above the bars.
pub fn above_bars<R>(print: impl FnOnce() -> R) -> R {
    let bars = BARS.lock().ok().and_then(|b| b.clone());
    match bars {
        Some(bars) => bars.suspend(print),
        None => print(),
    }
}

/// A log writer for the tracing subscriber: each event is written whole,
/// above the bars.
pub struct AboveBars(Vec<u8>);

impl AboveBars {
    /// A writer for one event.
    pub fn stderr() -> Self {
        Self(Vec::with_capacity(256))
    }
}

impl std::io::Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for AboveBars {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            above_bars(|| {
                use std::io::Write;
                let _ = std::io::stderr().lock().write_all(&self.0);
            });
        }
    }
}

/// One stream's progress at a moment.
#[derive(Debug, Clone, PartialEq)]
struct View {
    read: u64,
    written: u64,
    bytes: u64,
    /// The source's estimate of records, when it gave a usable one.
    estimate: Option<u64>,
    phase: StreamPhase,
}

impl View {
    fn of(hub: &MetricsHub, stream: &str) -> Self {
        // The estimate is a planner's guess (contract 0.2); the host shows
        // it and never decides anything on it.
        let estimate = hub
            .gauge(stream, Role::Source, crate::sandbox::host_api::RECORDS_ESTIMATED)
            .filter(|e| e.is_finite() && *e >= 1.0)
            .map(|e| e.min(u64::MAX as f64) as u64);
        Self {
            read: hub.counter(stream, Role::Source, m::RECORDS_READ),
            written: hub.counter(stream, Role::Destination, m::RECORDS_WRITTEN),
            bytes: hub.counter(stream, Role::Destination, m::BYTES_WRITTEN).max(hub.counter(stream, Role::Source, m::BYTES_READ)),
            estimate,
            phase: hub.phase(stream),
        }
    }

    /// Seconds the stream has run (frozen once it finished, so its rate stays).
    fn seconds(&self) -> f64 {
        match self.phase {
            StreamPhase::Waiting => 0.0,
            StreamPhase::Running(d) | StreamPhase::Done(d, _) => d.as_secs_f64(),
        }
    }

    fn rate(&self) -> f64 {
        let s = self.seconds();
        if s > 0.0 { self.written as f64 / s } else { 0.0 }
    }

    /// The total the bar runs to: the estimate, never below the count, and
    /// the count itself once the stream is done.
    fn total(&self) -> Option<u64> {
        match self.phase {
            StreamPhase::Done(_, true) => Some(self.written),
            _ => self.estimate.map(|e| e.max(self.written)),
        }
    }

    fn percent(&self) -> Option<f64> {
        let total = self.total()?;
        Some(if total == 0 { 100.0 } else { (self.written as f64 / total as f64 * 100.0).min(100.0) })
    }

    /// Seconds left at the current rate, while running with an estimate ahead of the count.
    fn eta(&self) -> Option<f64> {
        let (StreamPhase::Running(_), Some(total)) = (self.phase, self.estimate) else { return None };
        let rate = self.rate();
        (rate > 0.0 && total > self.written).then(|| (total - self.written) as f64 / rate)
    }

    fn state(&self) -> &'static str {
        match self.phase {
            StreamPhase::Waiting => "waiting",
            StreamPhase::Running(_) => "running",
            StreamPhase::Done(_, true) => "done",
            StreamPhase::Done(_, false) => "failed",
        }
    }

    /// The words beside the bar, the most useful first (a narrow terminal
    /// cuts the end): ETA, rows, rate, size.
    fn message(&self) -> String {
        let rows = match self.total() {
            Some(total) if !matches!(self.phase, StreamPhase::Done(..)) => format!("{}/{} rows", count(self.written), count(total)),
            _ => format!("{} rows", count(self.written)),
        };
        let tail = format!("{rows} · {}/s · {}", count(self.rate().round() as u64), size(self.bytes));
        match self.phase {
            StreamPhase::Waiting => "waiting".into(),
            StreamPhase::Running(_) => match self.eta() {
                Some(eta) => format!("ETA {} · {tail}", duration(eta)),
                None => tail,
            },
            StreamPhase::Done(d, ok) => format!("{} in {} · {tail}", if ok { "done" } else { "failed" }, duration(d.as_secs_f64())),
        }
    }

    /// The plain line of the log display.
    fn line(&self, stream: &str) -> String {
        let share = self.percent().map(|p| format!(" {p:.1}%")).unwrap_or_default();
        format!("{stream}: {} · read {} · written {}{share} · {}", self.state(), self.read, self.written, self.message())
    }

    fn json(&self, pipeline: &str, stream: &str, elapsed: f64) -> serde_json::Value {
        serde_json::json!({
            "event": "progress",
            "pipeline": pipeline,
            "stream": stream,
            "state": self.state(),
            "records_read": self.read,
            "records_written": self.written,
            "bytes": self.bytes,
            "records_estimated": self.estimate,
            "percent": self.percent().map(|p| (p * 10.0).round() / 10.0),
            "rows_per_second": self.rate().round(),
            "eta_seconds": self.eta().map(f64::round),
            "stream_seconds": (self.seconds() * 1000.0).round() / 1000.0,
            "elapsed_seconds": (elapsed * 1000.0).round() / 1000.0,
        })
    }
}

/// The whole run's line: done streams count what they wrote, others their
/// estimate; without an estimate for every unfinished stream there is no share.
fn overall(views: &[View], elapsed: f64) -> (u64, Option<u64>, String) {
    let written: u64 = views.iter().map(|v| v.written).sum();
    let total: Option<u64> = views.iter().map(View::total).sum();
    let done = views.iter().filter(|v| matches!(v.phase, StreamPhase::Done(..))).count();
    let rate = if elapsed > 0.0 { written as f64 / elapsed } else { 0.0 };
    let mut words = Vec::new();
    if let Some(t) = total
        && rate > 0.0
        && t > written
        && done < views.len()
    {
        words.push(format!("ETA {}", duration((t - written) as f64 / rate)));
    }
    words.push(format!("{done}/{} streams done", views.len()));
    words.push(format!("{} rows", count(written)));
    words.push(format!("{}/s", count(rate.round() as u64)));
    (written, total, words.join(" · "))
}

/// 1234567 as `1.23M`.
fn count(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}G", n as f64 / 1e9),
    }
}

fn size(bytes: u64) -> String {
    let mib = bytes as f64 / 1048576.0;
    if mib >= 1024.0 { format!("{:.2} GiB", mib / 1024.0) } else { format!("{mib:.1} MiB") }
}

/// Seconds as `1h02m`, `3m05s`, `42s` or `1.5s`.
fn duration(seconds: f64) -> String {
    if seconds < 10.0 {
        return format!("{seconds:.1}s");
    }
    let s = seconds.round().min(360_000.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The bars of a run on stderr.
struct Bars {
    streams: Vec<(String, ProgressBar)>,
    total: ProgressBar,
}

impl Bars {
    fn new(streams: &[String]) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let layout = Layout::of(streams.iter().map(String::as_str));
        let streams = streams
            .iter()
            .map(|s| {
                let bar = multi.add(ProgressBar::no_length().with_prefix(s.clone()));
                bar.set_style(layout.spinner());
                (s.clone(), bar)
            })
            .collect();
        let total = multi.add(ProgressBar::no_length().with_prefix("total"));
        total.set_style(layout.spinner());
        *BARS.lock().expect("bars lock") = Some(multi);
        Self { streams, total }
    }

    fn draw(&self, hub: &MetricsHub, elapsed: f64) {
        // Measured each frame: the terminal may be resized during a run.
        let layout = Layout::of(self.streams.iter().map(|(s, _)| s.as_str()));
        let mut views = Vec::with_capacity(self.streams.len());
        for (stream, bar) in &self.streams {
            let view = View::of(hub, stream);
            if !bar.is_finished() {
                show(bar, view.written, view.total(), view.message(), &layout);
                if let StreamPhase::Done(..) = view.phase {
                    bar.finish();
                }
            }
            views.push(view);
        }
        let (written, total, message) = overall(&views, elapsed);
        show(&self.total, written, total, message, &layout);
    }

    /// Leaves the last frame on screen.
    fn close(self) {
        for (_, bar) in &self.streams {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
        self.total.finish();
        *BARS.lock().expect("bars lock") = None;
    }
}

fn show(bar: &ProgressBar, position: u64, total: Option<u64>, message: String, layout: &Layout) {
    match total {
        Some(t) => {
            bar.set_style(layout.bar());
            bar.set_length(t);
        }
        None => {
            bar.set_style(layout.spinner());
            bar.unset_length();
        }
    }
    bar.set_position(position);
    bar.set_message(message);
}

/// How wide the name and the bar are on this terminal: the words after
/// them (ETA first) get what is left, and are cut at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    name: usize,
    bar: usize,
}

impl Layout {
    fn of<'a>(streams: impl Iterator<Item = &'a str>) -> Self {
        let columns = console::Term::stderr().size_checked().map_or(80, |(_, cols)| usize::from(cols));
        Self::for_width(columns, streams.map(|s| s.chars().count()).max().unwrap_or(5))
    }

    fn for_width(columns: usize, longest_name: usize) -> Self {
        let name = longest_name.clamp(5, (columns / 4).clamp(5, 28));
        // Room for " 100% " and about 30 columns of words; the bar takes what is left, up to 30.
        let bar = columns.saturating_sub(name + 6 + 30).min(30);
        Self { name, bar: if bar < 8 { 0 } else { bar } }
    }

    fn bar(&self) -> ProgressStyle {
        let bar = if self.bar > 0 { format!(" {{bar:{}}}", self.bar) } else { String::new() };
        ProgressStyle::with_template(&format!("{{prefix:{}!}}{bar} {{percent:>3}}% {{wide_msg}}", self.name))
            .expect("a valid template")
            .progress_chars("=> ")
    }

    fn spinner(&self) -> ProgressStyle {
        ProgressStyle::with_template(&format!("{{prefix:{}!}} {{spinner}} {{wide_msg}}", self.name)).expect("a valid template")
    }
}

impl Reporter {
    /// Starts showing progress of `streams`.
    pub async fn start(hub: Arc<MetricsHub>, pipeline: &str, streams: Vec<String>, display: Display, export: Export) -> std::io::Result<Self> {
        let server = match export.addr {
            Some(addr) => Some(serve(addr, Arc::clone(&hub), pipeline.to_string()).await?),
            None => None,
        };
        let (h, p, e) = (Arc::clone(&hub), pipeline.to_string(), export.clone());
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = Arc::clone(&stop);
        let bars = (display == Display::Bars).then(|| Bars::new(&streams));
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let tick = if display == Display::Bars { Duration::from_millis(250) } else { Duration::from_secs(1) };
            let (mut last_export, mut last_line) = (Instant::now(), Instant::now());
            let mut said_done: Vec<bool> = vec![false; streams.len()];
            loop {
                // The last frame is drawn after the stop, so a terminal always shows the final counts.
                let last = tokio::select! {
                    _ = tokio::time::sleep(tick) => false,
                    _ = stopped.notified() => true,
                };
                let elapsed = started.elapsed().as_secs_f64();
                match display {
                    Display::Bars => {
                        if let Some(b) = &bars {
                            b.draw(&h, elapsed);
                        }
                    }
                    Display::Log(every) | Display::Json(every) => {
                        let due = last || last_line.elapsed() >= every;
                        if due {
                            last_line = Instant::now();
                        }
                        for (i, s) in streams.iter().enumerate() {
                            let view = View::of(&h, s);
                            let finished = matches!(view.phase, StreamPhase::Done(..));
                            // A finished stream is said once, when it finishes; a waiting one not at all.
                            let say = if finished { !std::mem::replace(&mut said_done[i], true) } else { due && view.phase != StreamPhase::Waiting };
                            if !say {
                                continue;
                            }
                            if let Display::Json(_) = display {
                                above_bars(|| eprintln!("{}", crate::telemetry::secret::scrub(&view.json(&p, s, elapsed).to_string())));
                            } else {
                                tracing::info!(pipeline = %p, "progress {}", view.line(s));
                            }
                        }
                    }
                    Display::Off => {}
                }
                if last || last_export.elapsed() >= Duration::from_secs(1) {
                    write_file(&e, &h, &p);
                    last_export = Instant::now();
                }
                if last {
                    if let Some(b) = bars {
                        b.close();
                    }
                    return;
                }
            }
        });
        Ok(Self { task, stop, server })
    }

    /// Draws the last frame, writes the final metrics file and stops.
    pub async fn finish(self) {
        self.stop.notify_one();
        let _ = self.task.await;
        if let Some(s) = &self.server {
            s.abort();
        }
    }
}

fn write_file(export: &Export, hub: &MetricsHub, pipeline: &str) {
    let Some(path) = &export.file else { return };
    // Write then rename, so a scraper never reads half a file.
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, hub.prometheus_text(pipeline)).and_then(|_| std::fs::rename(&tmp, path)).is_err() {
        tracing::warn!(path = %path.display(), "cannot write the metrics file");
    }
}

/// A minimal HTTP endpoint: any GET answers with the text exposition.
async fn serve(addr: std::net::SocketAddr, hub: Arc<MetricsHub>, pipeline: String) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("serving Prometheus metrics at http://{}/metrics", listener.local_addr()?);
    Ok(tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = hub.prometheus_text(&pipeline);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(written: u64, estimate: Option<u64>, phase: StreamPhase) -> View {
        View { read: written, written, bytes: 0, estimate, phase }
    }

    #[test]
    fn an_estimate_gives_a_share_and_an_eta_while_running() {
        let running = StreamPhase::Running(Duration::from_secs(10));
        assert_eq!(view(50, None, running).percent(), None, "no estimate, no share");
        let v = view(50, Some(100), running);
        assert_eq!((v.percent(), v.eta()), (Some(50.0), Some(10.0)));
        assert!(v.message().starts_with("ETA 10s · 50/100 rows · 5/s"), "{}", v.message());
        // An estimate the count has passed: capped at 100%, and no ETA.
        let v = view(150, Some(100), running);
        assert_eq!((v.percent(), v.eta()), (Some(100.0), None));
        // Done: 100% of what was written, whatever the estimate said, and
        // the rate is over the stream's own time (it no longer falls).
        let v = view(80, Some(100), StreamPhase::Done(Duration::from_secs(4), true));
        assert_eq!((v.percent(), v.eta(), v.rate()), (Some(100.0), None, 20.0));
        assert!(v.message().starts_with("done in 4.0s · 80 rows · 20/s"), "{}", v.message());
        assert_eq!((duration(42.0), duration(185.0), duration(3720.0), duration(1.25)), ("42s".into(), "3m05s".into(), "1h02m".into(), "1.2s".into()));
        assert_eq!((count(9_999), count(12_345), count(2_500_000)), ("9999".into(), "12.3k".into(), "2.50M".into()));
    }

    #[test]
    fn the_overall_line_has_a_share_only_when_every_open_stream_has_an_estimate() {
        let running = StreamPhase::Running(Duration::from_secs(1));
        let done = StreamPhase::Done(Duration::from_secs(1), true);
        let (w, t, msg) = overall(&[view(10, None, done), view(30, Some(90), running)], 2.0);
        assert_eq!((w, t), (40, Some(100)));
        assert!(msg.starts_with("ETA 3.0s · 1/2 streams done · 40 rows"), "{msg}");
        let (_, t, _) = overall(&[view(10, None, running), view(30, Some(90), running)], 2.0);
        assert_eq!(t, None);
    }

    #[test]
    fn a_narrow_terminal_keeps_the_share_and_the_eta_in_view() {
        assert_eq!(Layout::for_width(120, 10), Layout { name: 10, bar: 30 });
        assert_eq!(Layout::for_width(60, 30), Layout { name: 15, bar: 9 });
        assert_eq!(Layout::for_width(40, 30), Layout { name: 10, bar: 0 });
        assert!(Layout::for_width(20, 3).name >= 5);
    }

    #[test]
    fn json_lines_carry_the_numbers() {
        let v = view(50, Some(100), StreamPhase::Running(Duration::from_secs(10)));
        let j = v.json("p", "s", 12.0);
        assert_eq!((j["state"].as_str(), j["percent"].as_f64(), j["eta_seconds"].as_f64(), j["records_written"].as_u64()), (Some("running"), Some(50.0), Some(10.0), Some(50)));
    }
}
