//! A hostile source for sandbox tests: on `run-read` it attempts the one
//! forbidden thing its config names, and reports what happened.
//!
//! Config: `{"attempt": "env" | "file" | "connect" | "dns" | "loop" | "sleep" | "alloc" | "bad-ipc" | "oversize" | "flood" | "echo" | "error", "address": "127.0.0.1:9", "name": "example.com", "error": {…}}`
//! (`dns`: looks `name` up through the guest's resolver)
//! (`flood`: a 4 MiB log with escape sequences, 20,000 metric names, an 8 MiB
//! state value, then an error whose message carries escape sequences)
//! (`error` returns the given error record unchanged, to test the boundary).
//! (`echo`: repeats its whole config — `password` included — in a log
//! message and field, a metric name and label, a state value and its error).
//!
//! When the sandbox holds, `env`, `file`, `connect` and `dns` end with a
//! `permission` error of code `DENIED` carrying what the guest observed;
//! if the attempt succeeds the error code is `ESCAPED` (a test failure).
//! `loop`, `sleep` and `alloc` never return: the host must stop them. `bad-ipc` and
//! `oversize` emit frames the host must refuse (`oversize`: two rows above
//! `max_batch_bytes` in one frame; a single row would be allowed to travel alone).

use rapidbyte_sdk::{config, ConnectorError, Emitter, ReadSummary, Source, StreamContext};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    attempt: String,
    #[serde(default)]
    address: Option<String>,
    /// For `dns`: the name to look up.
    #[serde(default)]
    name: Option<String>,
    /// For `error`: the exact error record to return.
    #[serde(default)]
    error: Option<rapidbyte_protocol::ConnectorError>,
    /// For `echo`: a secret to leak.
    #[serde(default)]
    password: Option<String>,
}

struct Hostile {
    config: Config,
    raw: String,
}

fn denied(what: String) -> ConnectorError {
    ConnectorError::permission("DENIED", what)
}

fn escaped(what: String) -> ConnectorError {
    ConnectorError::internal("ESCAPED", what)
}

impl Source for Hostile {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        Ok(Self { config: config::parse(json)?, raw: json.to_string() })
    }

    fn read(&mut self, _ctx: &StreamContext, out: &mut Emitter) -> Result<ReadSummary, ConnectorError> {
        match self.config.attempt.as_str() {
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                match std::env::var("PATH") {
                    Ok(_) => Err(escaped("read environment variable PATH".into())),
                    Err(_) if vars.is_empty() => Err(denied("no environment variable is visible".into())),
                    Err(_) => Err(escaped(format!("environment variables visible: {vars:?}"))),
                }
            }
            "file" => {
                let attempts = [
                    ("read /etc/passwd", std::fs::read("/etc/passwd").map(|_| ())),
                    ("list .", std::fs::read_dir(".").map(|_| ())),
                    ("create /tmp/rapidbyte-hostile", std::fs::write("/tmp/rapidbyte-hostile", b"x")),
                ];
                let escapes: Vec<&str> = attempts.iter().filter(|(_, r)| r.is_ok()).map(|(w, _)| *w).collect();
                if escapes.is_empty() {
                    let errors: Vec<String> = attempts.iter().map(|(w, r)| format!("{w}: {}", r.as_ref().unwrap_err())).collect();
                    Err(denied(errors.join("; ")))
                } else {
                    Err(escaped(format!("file system reachable: {escapes:?}")))
                }
            }
            "connect" => {
                let address = self.config.address.clone().unwrap_or_else(|| "127.0.0.1:9".into());
                match std::net::TcpStream::connect(&address) {
                    Ok(_) => Err(escaped(format!("connected to {address}"))),
                    Err(e) => Err(denied(format!("connect to {address}: {e} ({:?})", e.kind()))),
                }
            }
            "dns" => {
                use std::net::ToSocketAddrs;
                let name = self.config.name.clone().unwrap_or_else(|| "example.com".into());
                match (name.as_str(), 0).to_socket_addrs().map(|a| a.map(|a| a.ip()).collect::<Vec<_>>()) {
                    Ok(ips) if !ips.is_empty() => Err(escaped(format!("resolved {name} to {ips:?}"))),
                    Ok(_) => Err(denied(format!("look up {name}: no address"))),
                    Err(e) => Err(denied(format!("look up {name}: {e}"))),
                }
            }
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            // Blocks in a host wait (WASI poll), not in wasm code: only the
            // async host's timeout can stop it.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Err(escaped("slept an hour without being stopped".into()))
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "flood" => {
                // Everything a connector controls, at sizes no host should keep:
                // escape sequences in a huge log, a flood of metric names, an
                // oversized state value, a write to the host's cursor key, and an
                // escape-laden error at the end.
                let esc = "\u{1b}[2J\u{1b}]0;owned\u{7}";
                rapidbyte_sdk::host::warn(&format!("{esc}{}", "x".repeat(4 << 20)));
                for i in 0..20_000 {
                    rapidbyte_sdk::host::counter(&format!("flood_{i}"), 1);
                }
                let state = rapidbyte_sdk::host::state_put(
                    rapidbyte_sdk::StateScope::Stream,
                    "big",
                    &"v".repeat(8 << 20),
                );
                let state = match state {
                    Ok(()) => "stored".to_string(),
                    Err(e) => e.code,
                };
                // The host's own key for the stream's committed cursor: moving it
                // would make the next run skip rows.
                let _ = rapidbyte_sdk::host::state_put(
                    rapidbyte_sdk::StateScope::Stream,
                    "cursor",
                    r#"{"field":"id","last_value":"999999999"}"#,
                );
                Err(ConnectorError::internal("FLOODED", format!("{esc} state put: {state}")).with_retry_after_ms(u64::MAX))
            }
            "echo" => {
                let pw = self.config.password.clone().unwrap_or_default();
                rapidbyte_sdk::host::log(rapidbyte_sdk::LogLevel::Warn, &format!("my config: {}", self.raw), &[("password", &pw)]);
                rapidbyte_sdk::host::counter(&format!("echo_{pw}"), 1);
                let mut m = rapidbyte_protocol::Metric::counter("echoed", 1);
                m.labels = rapidbyte_sdk::host::labels(&[("password", &pw)]);
                rapidbyte_sdk::host::metric(m);
                let _ = rapidbyte_sdk::host::state_put(rapidbyte_sdk::StateScope::Stream, "echo", &pw);
                Err(ConnectorError::config("ECHO", format!("config was {}", self.raw)))
            }
            "error" => Err(self.config.error.clone().unwrap_or_else(|| ConnectorError::config("NO_ERROR", "config.error is missing"))),
            "bad-ipc" => {
                out.emit_frame(b"this is not an Arrow IPC stream")?;
                Err(escaped("the host accepted a malformed IPC frame".into()))
            }
            "oversize" => {
                let size = out.limits().max_batch_bytes as usize;
                let batch = rapidbyte_testdata_free_batch(&[size, size]);
                out.emit_frame(&batch)?;
                Err(escaped("the host accepted a frame above max_batch_bytes".into()))
            }
            other => Err(ConnectorError::config("UNKNOWN_ATTEMPT", format!("unknown attempt `{other}`"))),
        }
    }
}

/// A valid IPC frame of one binary row per entry of `sizes`, each that many bytes.
fn rapidbyte_testdata_free_batch(sizes: &[usize]) -> Vec<u8> {
    use rapidbyte_sdk::arrow::array::{BinaryArray, RecordBatch};
    use rapidbyte_sdk::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![Field::new("blob", DataType::Binary, false)]));
    let values: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![7u8; n]).collect();
    let batch = RecordBatch::try_new(schema, vec![Arc::new(BinaryArray::from_iter_values(values.iter().map(Vec::as_slice)))])
        .expect("one binary column");
    let mut buf = Vec::new();
    rapidbyte_sdk::ipc::encode_batch(&batch, &mut buf).expect("encode");
    buf
}

rapidbyte_sdk::export_source!(Hostile);
