//! OpenTelemetry: a run with `--otlp-endpoint` sends its spans (pipeline →
//! stream → connector call) and the standard metrics to a collector over
//! OTLP/HTTP. The collector here is a small receiver in the test that keeps
//! each request's path and JSON body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// Accepts OTLP/HTTP requests on a free port; answers each with 200.
fn receiver() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let keep = Arc::clone(&got);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let keep = Arc::clone(&keep);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = header.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    keep.lock().unwrap().push((path, json));
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
                }
            });
        }
    });
    (port, got)
}

fn connector_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), |t| workspace.join(t));
    target.join("connectors")
}

/// Every span of the trace requests: (name, span id, parent span id).
fn spans(requests: &[(String, Value)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (_, body) in requests.iter().filter(|(p, _)| p == "/v1/traces") {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            assert_eq!(service_name(&rs["resource"]), Some("rapidbyte"), "{rs}");
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    let text = |k: &str| span[k].as_str().unwrap_or_default().to_string();
                    out.push((text("name"), text("spanId"), text("parentSpanId")));
                }
            }
        }
    }
    out
}

fn service_name(resource: &Value) -> Option<&str> {
    resource["attributes"].as_array()?.iter().find(|a| a["key"] == "service.name")?["value"]["stringValue"].as_str()
}

/// The sum of a metric's data points with `stream` = the given name.
fn metric_sum(requests: &[(String, Value)], name: &str, stream: &str) -> f64 {
    let mut total = 0.0;
    for (_, body) in requests.iter().filter(|(p, _)| p == "/v1/metrics") {
        for rm in body["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                for m in sm["metrics"].as_array().into_iter().flatten().filter(|m| m["name"] == name) {
                    for p in m["sum"]["dataPoints"].as_array().into_iter().flatten() {
                        let on_stream = p["attributes"].as_array().into_iter().flatten().any(|a| a["key"] == "stream" && a["value"]["stringValue"] == stream);
                        if on_stream {
                            total += p["asInt"].as_str().and_then(|v| v.parse().ok()).or_else(|| p["asInt"].as_f64()).or_else(|| p["asDouble"].as_f64()).unwrap_or(0.0);
                        }
                    }
                }
            }
        }
    }
    total
}

#[test]
fn a_run_sends_its_spans_and_metrics_over_otlp() {
    let (port, got) = receiver();
    let dir = std::env::temp_dir().join(format!("rapidbyte-otlp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "pipeline: traced\nsource: {use: generator, config: {rows: 3000, batch_rows: 500}}\ndestination: {use: verify, config: {expect_rows: 3000}}\nstreams: [{name: alpha}, {name: beta}]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rapidbyte"))
        .current_dir(&dir)
        .arg("--connector-dir")
        .arg(connector_dir())
        .args(["--otlp-endpoint", &format!("http://127.0.0.1:{port}"), "run", "p.yaml"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = got.lock().unwrap().clone();

    let spans = spans(&requests);
    let named = |n: &str| spans.iter().filter(|s| s.0 == n).cloned().collect::<Vec<_>>();
    let pipeline = named("pipeline");
    assert_eq!(pipeline.len(), 1, "one pipeline span: {spans:?}");
    let streams = named("stream");
    assert_eq!(streams.len(), 2, "a span per stream: {spans:?}");
    assert!(streams.iter().all(|s| s.2 == pipeline[0].1), "streams nest under the pipeline: {spans:?}");
    let calls = named("connector");
    assert!(calls.len() >= 8, "open, run and close of both connectors of both streams: {spans:?}");
    assert!(calls.iter().all(|c| streams.iter().any(|s| s.1 == c.2)), "connector calls nest under their stream: {spans:?}");

    for stream in ["alpha", "beta"] {
        assert_eq!(metric_sum(&requests, "rapidbyte.records_written", stream), 3000.0, "{requests:?}");
        assert_eq!(metric_sum(&requests, "rapidbyte.records_read", stream), 3000.0);
        assert!(metric_sum(&requests, "rapidbyte.written_bytes", stream) > 0.0);
    }
}
