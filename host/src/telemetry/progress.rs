//! Live progress of a run from the connectors' metrics as they arrive
//! (SPEC § Metrics): a redrawn per-stream display on a terminal, plain
//! periodic log lines otherwise, and the Prometheus text exposition in a
//! file and/or over HTTP.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapidbyte_protocol::{metric_names as m, Role};

use crate::telemetry::metrics::MetricsHub;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Redraw a line per stream on stderr (a terminal).
    Live,
    /// A log line per stream every `interval` (pipes, CI).
    Log(Duration),
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

/// One stream's line.
fn line(hub: &MetricsHub, stream: &str, elapsed: f64) -> String {
    let read = hub.counter(stream, Role::Source, m::RECORDS_READ);
    let written = hub.counter(stream, Role::Destination, m::RECORDS_WRITTEN);
    let bytes = hub.counter(stream, Role::Destination, m::BYTES_WRITTEN).max(hub.counter(stream, Role::Source, m::BYTES_READ));
    let rate = if elapsed > 0.0 { written as f64 / elapsed } else { 0.0 };
    let mut text = format!(
        "{stream:<20} read {read:>12}  written {written:>12}  {:>9.1} MiB  {rate:>11.0} rows/s",
        bytes as f64 / 1048576.0
    );
    // The source's estimate (contract 0.2) gives a share and an ETA; it is
    // a planner's guess, so the share is capped and the ETA only shown
    // while the estimate is ahead of the count.
    let estimate = hub.gauge(stream, Role::Source, crate::sandbox::host_api::RECORDS_ESTIMATED).filter(|e| e.is_finite() && *e >= 1.0);
    if let Some(total) = estimate {
        let share = (written as f64 / total * 100.0).min(100.0);
        text.push_str(&format!("  {share:>5.1}% of ~{total:.0}"));
        if rate > 0.0 && total > written as f64 {
            text.push_str(&format!("  ETA {}", eta((total - written as f64) / rate)));
        }
    }
    text
}

/// Seconds as `1h02m`, `3m05s` or `42s`.
fn eta(seconds: f64) -> String {
    let s = seconds.round().min(360_000.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
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
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let tick = if display == Display::Live { Duration::from_millis(500) } else { Duration::from_secs(1) };
            let (mut last_export, mut last_log) = (Instant::now(), Instant::now());
            let mut drawn = false;
            loop {
                // The last frame is drawn after the stop, so a terminal always shows the final counts.
                let last = tokio::select! {
                    _ = tokio::time::sleep(tick) => false,
                    _ = stopped.notified() => true,
                };
                let elapsed = started.elapsed().as_secs_f64();
                match display {
                    Display::Live => {
                        let mut err = std::io::stderr().lock();
                        if drawn {
                            let _ = write!(err, "\x1b[{}A", streams.len());
                        }
                        drawn = true;
                        for s in &streams {
                            let _ = writeln!(err, "\x1b[2K{}", line(&h, s, elapsed));
                        }
                    }
                    Display::Log(every) if last_log.elapsed() >= every => {
                        last_log = Instant::now();
                        for s in &streams {
                            tracing::info!(pipeline = %p, "progress {}", line(&h, s, elapsed).split_whitespace().collect::<Vec<_>>().join(" "));
                        }
                    }
                    _ => {}
                }
                if last || last_export.elapsed() >= Duration::from_secs(1) {
                    write_file(&e, &h, &p);
                    last_export = Instant::now();
                }
                if last {
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
    use rapidbyte_protocol::Metric;

    #[test]
    fn a_source_estimate_shows_a_share_and_an_eta() {
        let hub = MetricsHub::default();
        hub.record("t", Role::Destination, &Metric::counter(m::RECORDS_WRITTEN, 50));
        assert!(!line(&hub, "t", 10.0).contains('%'), "no estimate, no share");
        hub.record("t", Role::Source, &Metric::gauge(crate::sandbox::host_api::RECORDS_ESTIMATED, 100.0));
        let l = line(&hub, "t", 10.0);
        assert!(l.contains("50.0% of ~100") && l.ends_with("ETA 10s"), "{l}");
        // An estimate the count has passed: capped, and no ETA.
        hub.record("t", Role::Destination, &Metric::counter(m::RECORDS_WRITTEN, 100));
        let l = line(&hub, "t", 10.0);
        assert!(l.contains("100.0% of ~100") && !l.contains("ETA"), "{l}");
        assert_eq!((eta(42.0), eta(185.0), eta(3720.0)), ("42s".into(), "3m05s".into(), "1h02m".into()));
    }
}
