//! The sandbox a connector runs in. Here: deny-by-default WASI (SPEC
//! § Security): no environment, no files, no network but the endpoints a
//! connector's own config names (and any extra grants in the pipeline
//! file), resolved by the host and checked before every connect. Beside it:
//! the wasmtime Engine, Linker and per-stream Store with their limits
//! (`runtime`), the host functions a connector may call, in plain types
//! (`host_api`), and the bounds on what it sends (`untrusted`).

pub mod compile_cache;
pub mod host_api;
pub mod memory;
pub mod name_lookup;
pub mod runtime;
pub mod tls;
pub mod untrusted;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapidbyte_protocol::Manifest;

pub use name_lookup::NameGrants;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// How long a connector may run its own code between host calls unless
/// `sandbox.max_busy_seconds` says otherwise: far above any batch's work,
/// short enough that a spinning guest does not hold a run forever.
pub const DEFAULT_BUSY_LIMIT: Duration = Duration::from_secs(60);

/// Per-instance limits and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// Linear memory cap in bytes (default: [`default_memory_bytes`] of the
    /// default `max_record_bytes`).
    pub memory_bytes: usize,
    /// Wall-clock limit of one call (`None`: unlimited).
    pub call_timeout: Option<Duration>,
    /// The longest the instance may run its own code without calling the
    /// host (`None`: unlimited); default [`DEFAULT_BUSY_LIMIT`].
    pub busy_limit: Option<Duration>,
    /// Extra `host:port` grants from the pipeline file.
    pub grants: Vec<String>,
    /// `sandbox.allowed_endpoints`: when set, the only `host:port` pairs the
    /// connector may be granted at all.
    pub allowed_endpoints: Option<Vec<String>>,
    /// Fault injection for crash-safety tests: trap the instance at its
    /// k-th host call (1-based). Never set by pipeline files.
    pub trap_at_host_call: Option<u64>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        Self {
            memory_bytes: default_memory_bytes(crate::sandbox::host_api::DEFAULT_MAX_RECORD_BYTES),
            call_timeout: None,
            busy_limit: Some(DEFAULT_BUSY_LIMIT),
            grants: Vec::new(),
            allowed_endpoints: None,
            trap_at_host_call: None,
        }
    }
}

/// Working room every instance gets besides its largest record.
const BASE_MEMORY_BYTES: u64 = 256 << 20;

/// How many times its size a record may occupy in a connector at once: a
/// source holds it as its system's bytes (COPY data), as Arrow arrays, and
/// as the IPC frame (arrow's writer builds the body, then copies it into the
/// frame); a destination holds the frame, the decoded arrays and its own
/// encoding (COPY data).
const RECORD_COPIES: u64 = 4;

/// wasm32's whole address space.
const WASM32_MEMORY_BYTES: u64 = 4 << 30;

/// The memory cap of an instance whose pipeline section sets no
/// `sandbox.memory_mb`: 256 MiB plus four times `max_record_bytes`, at most
/// 4 GiB — 1280 MiB with the default 256 MiB records. Linear memory grows
/// only as the connector uses it, so a high cap costs nothing until a big
/// record arrives.
pub fn default_memory_bytes(max_record_bytes: u64) -> usize {
    let bytes = BASE_MEMORY_BYTES.saturating_add(max_record_bytes.saturating_mul(RECORD_COPIES)).min(WASM32_MEMORY_BYTES);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// A grant could not be worked out.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SandboxError {
    /// A config field the connector declares as an endpoint is missing or malformed.
    #[error("connector `{connector}`: endpoint field `{field}` {problem}")]
    #[diagnostic(code(rapidbyte::sandbox::endpoint), help("set the field in the connector's config section"))]
    BadEndpoint { connector: String, field: String, problem: String },
    /// A TLS setting (`sslmode`, `sslrootcert`, …) that cannot be used.
    #[error("connector `{connector}`: TLS setting `{field}` {problem}")]
    #[diagnostic(code(rapidbyte::sandbox::tls), help("sslmode is disable, prefer (default), require, verify-ca or verify-full; sslrootcert, sslcert and sslkey are PEM files on this machine"))]
    BadTls { connector: String, field: String, problem: String },
    /// The host could not open a TLS relay.
    #[error("connector `{connector}`: cannot open the TLS relay: {reason}")]
    #[diagnostic(code(rapidbyte::sandbox::relay))]
    Relay { connector: String, reason: String },
    /// An endpoint outside the pipeline's `sandbox.allowed_endpoints`.
    #[error("connector `{connector}`: endpoint `{endpoint}` is not in `sandbox.allowed_endpoints` ({allowed})")]
    #[diagnostic(
        code(rapidbyte::sandbox::not_allowed),
        help("the connector's config (or its default port) or `sandbox.grants` names it; add it to `allowed_endpoints` if it is meant, else fix the config")
    )]
    NotAllowed { connector: String, endpoint: String, allowed: String },
    /// A name did not resolve.
    #[error("connector `{connector}`: cannot resolve `{endpoint}`: {reason}")]
    #[diagnostic(code(rapidbyte::sandbox::resolve), help("check the host name, or grant an IP address"))]
    Unresolvable { connector: String, endpoint: String, reason: String },
}

/// The `host:port` endpoints named by `config` per the manifest, plus
/// `grants`; each must be in `allowed` when that is set (a component's
/// manifest picks its endpoint fields and default ports, so the user pins
/// what it may reach).
pub fn endpoints(
    manifest: &Manifest,
    config: &serde_json::Value,
    grants: &[String],
    allowed: Option<&[String]>,
) -> Result<Vec<String>, SandboxError> {
    let bad = |field: &str, problem: &str| SandboxError::BadEndpoint {
        connector: manifest.name.clone(),
        field: field.to_string(),
        problem: problem.to_string(),
    };
    let mut out = Vec::new();
    for ep in &manifest.endpoints {
        let host = match config.pointer(&ep.host_pointer) {
            Some(serde_json::Value::String(h)) => h.clone(),
            None => return Err(bad(&ep.host_pointer, "is missing")),
            Some(_) => return Err(bad(&ep.host_pointer, "must be a string")),
        };
        // `db:5432` or a URL in the host field: refused here, not later as a
        // name that cannot be resolved.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let port_in_host = ep.port_pointer.is_some() && host.contains(':') && bare.parse::<std::net::Ipv6Addr>().is_err();
        if port_in_host || host.contains(['/', '@']) || host.contains(char::is_whitespace) {
            let port_field = ep.port_pointer.as_deref().unwrap_or("/port").trim_start_matches('/');
            return Err(bad(
                &ep.host_pointer,
                &format!("`{}` is not a host name or address (a port goes in `{port_field}`, and a URL is not a host)", host.escape_debug()),
            ));
        }
        let not_a_port = || bad(ep.port_pointer.as_deref().unwrap_or_default(), "must be a port number from 1 to 65535");
        let port = match ep.port_pointer.as_deref().and_then(|p| config.pointer(p)) {
            Some(serde_json::Value::Number(n)) => Some(n.as_u64().filter(|p| (1..=65535).contains(p)).ok_or_else(not_a_port)? as u16),
            Some(serde_json::Value::String(s)) => Some(s.trim().parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(not_a_port)?),
            Some(_) => return Err(not_a_port()),
            None => ep.default_port,
        };
        match port {
            Some(p) => out.push(format!("{host}:{p}")),
            None if host.contains(':') => out.push(host),
            None => return Err(bad(&ep.host_pointer, "names no port and the connector declares no default")),
        }
    }
    out.extend(grants.iter().cloned());
    if let Some(allowed) = allowed {
        let key = |ep: &str| ep.rsplit_once(':').map(|(h, p)| (name_lookup::host_key(h), p.to_string())).unwrap_or_default();
        if let Some(outside) = out.iter().find(|ep| !allowed.iter().any(|a| key(a) == key(ep))) {
            return Err(SandboxError::NotAllowed {
                connector: manifest.name.clone(),
                endpoint: outside.clone(),
                allowed: if allowed.is_empty() { "empty: no network".into() } else { allowed.join(", ") },
            });
        }
    }
    Ok(out)
}

/// What a connector may reach, as the host resolved it before the
/// instance started.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// The exact addresses it may connect to.
    pub addrs: HashSet<SocketAddr>,
    /// The names it may look up, answered from `addrs` (see [`name_lookup`]).
    pub names: NameGrants,
}

/// Resolves endpoints to the exact addresses a connector may connect to.
pub async fn resolve(connector: &str, endpoints: &[String]) -> Result<Reach, SandboxError> {
    let mut reach = Reach::default();
    for ep in endpoints {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(ep.as_str())
            .await
            .map_err(|e| SandboxError::Unresolvable { connector: connector.to_string(), endpoint: ep.clone(), reason: e.to_string() })?
            .collect();
        if let Some((host, _port)) = ep.rsplit_once(':') {
            reach.names.add(host, addrs.iter().map(|a| a.ip()));
        }
        reach.addrs.extend(addrs);
    }
    Ok(reach)
}

/// A WASI context granting nothing but TCP connects to `allowed`. Refused
/// connects are recorded in `refused` so errors can name the address. Name
/// lookups are not the system's: [`name_lookup`] answers them.
pub fn wasi_ctx(allowed: HashSet<SocketAddr>, refused: Arc<Mutex<Vec<String>>>) -> WasiCtx {
    let allowed = Arc::new(allowed);
    let mut b = WasiCtxBuilder::new();
    // TCP stays on so every attempt reaches the check below (and is named
    // when refused); UDP stays off.
    b.allow_tcp(true).allow_udp(false).allow_ip_name_lookup(false);
    b.socket_addr_check(move |addr, usage| {
        let ok = match usage {
            // wasmtime checks the implicit bind of 0.0.0.0:0 before each connect.
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpConnect => allowed.contains(&addr),
            _ => false,
        };
        if !ok && matches!(usage, SocketAddrUse::TcpConnect) {
            host_api::record_refusal(&refused, format!("connect to {addr}"));
        }
        Box::pin(async move { ok })
    });
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapidbyte_protocol::{EndpointField, Role};

    fn manifest() -> Manifest {
        Manifest {
            name: "source-x".into(),
            version: "0.1.0".into(),
            role: Role::Source,
            contract: "0.1.0".into(),
            features: vec![],
            endpoints: vec![EndpointField {
                host_pointer: "/host".into(),
                port_pointer: Some("/port".into()),
                default_port: Some(5432),
                tls: None,
            }],
        }
    }

    #[test]
    fn endpoints_come_from_declared_fields_and_grants() {
        let m = manifest();
        let with_port = serde_json::json!({"host": "db.internal", "port": 6543});
        assert_eq!(endpoints(&m, &with_port, &[], None).unwrap(), vec!["db.internal:6543"]);
        let default_port = serde_json::json!({"host": "127.0.0.1"});
        assert_eq!(
            endpoints(&m, &default_port, &["127.0.0.1:9000".into()], None).unwrap(),
            vec!["127.0.0.1:5432", "127.0.0.1:9000"]
        );
        let missing = serde_json::json!({"port": 1});
        assert!(endpoints(&m, &missing, &[], None).unwrap_err().to_string().contains("/host"));
        let bad_port = serde_json::json!({"host": "h", "port": 70000});
        assert!(endpoints(&m, &bad_port, &[], None).is_err());
    }

    #[test]
    fn allowed_endpoints_pin_what_config_defaults_and_grants_may_name() {
        let m = manifest();
        let pinned = ["DB.internal.:5432".to_string()];
        let config = serde_json::json!({"host": "db.internal"});
        assert_eq!(endpoints(&m, &config, &[], Some(&pinned)).unwrap(), vec!["db.internal:5432"]);
        // The same host on another port (the component's default, a typo, a grant) is refused.
        let other_port = serde_json::json!({"host": "db.internal", "port": 22});
        let e = endpoints(&m, &other_port, &[], Some(&pinned)).unwrap_err();
        assert!(matches!(&e, SandboxError::NotAllowed { endpoint, .. } if endpoint == "db.internal:22"), "{e}");
        assert!(endpoints(&m, &config, &["127.0.0.1:9000".into()], Some(&pinned)).is_err());
        assert!(endpoints(&m, &config, &[], Some(&[])).unwrap_err().to_string().contains("no network"));
    }

    #[test]
    fn the_default_memory_cap_follows_the_record_ceiling() {
        assert_eq!(default_memory_bytes(256 << 20), 1280 << 20);
        assert_eq!(default_memory_bytes(1 << 20), 260 << 20);
        assert_eq!(default_memory_bytes(2 << 30), 4 << 30, "never above wasm32's 4 GiB");
        assert_eq!(SandboxSpec::default().memory_bytes, 1280 << 20);
    }

    #[tokio::test]
    async fn resolve_gives_exact_addresses() {
        let reach = resolve("c", &["127.0.0.1:5432".into(), "localhost:6000".into()]).await.unwrap();
        assert!(reach.addrs.contains(&"127.0.0.1:5432".parse().unwrap()));
        assert!(reach.addrs.contains(&"127.0.0.1:6000".parse().unwrap()));
        // A name the host resolved is one the guest may look up, to the same addresses.
        let looked_up = reach.names.answer("localhost").expect("granted name");
        assert!(looked_up.iter().all(|ip| reach.addrs.contains(&std::net::SocketAddr::new(*ip, 6000))), "{looked_up:?}");
        assert!(reach.names.answer("example.com").is_none());
    }
}
