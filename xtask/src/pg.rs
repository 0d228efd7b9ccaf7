//! `cargo xtask pg`: checks (and optionally starts) the test PostgreSQL.

use std::fmt;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::{self, Result};

pub const URL_ENV: &str = "RAPIDBYTE_TEST_PG";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The test database URL: `$RAPIDBYTE_TEST_PG` or [`DEFAULT_URL`].
pub fn test_url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Host and port of a PostgreSQL server.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Extracts host and port from `postgres[ql]://[user[:pw]@]host[:port][/db][?..]`.
/// A missing host means `localhost`, a missing port 5432; with several
/// hosts (`h1,h2`) the first one is used.
pub fn parse_endpoint(url: &str) -> Result<Endpoint> {
    let bad = |why: &str| format!("cannot use {URL_ENV}={url:?}: {why}");
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| bad("expected a postgres:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let first = hosts.split(',').next().unwrap_or_default();
    let (host, port) = split_host_port(first).ok_or_else(|| bad("unclosed '[' in host"))?;
    let port = match port {
        None | Some("") => 5432,
        Some(p) => p.parse().map_err(|_| bad(&format!("invalid port {p:?}")))?,
    };
    let host = if host.is_empty() { "localhost" } else { host };
    Ok(Endpoint {
        host: host.to_owned(),
        port,
    })
}

/// `host:port`, `host`, `[v6]:port` or `[v6]`.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        return Some((host, after.strip_prefix(':')));
    }
    Some(match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    })
}

/// What answers at an endpoint.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    Postgres,
    /// A TCP listener that does not speak the PostgreSQL protocol.
    NotPostgres,
    Down,
}

/// Connects and sends an `SSLRequest`; a PostgreSQL server answers with a
/// single `S` or `N` byte. (A bare TCP connect is not enough: proxies and
/// sandboxes may accept any connection.) Closing right after the answer
/// leaves no noise in the server log.
fn probe(endpoint: &Endpoint) -> Probe {
    let Ok(addrs) = (endpoint.host.as_str(), endpoint.port).to_socket_addrs() else {
        return Probe::Down;
    };
    let mut result = Probe::Down;
    for addr in addrs {
        let Ok(stream) = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) else {
            continue;
        };
        if answers_ssl_request(stream).unwrap_or(false) {
            return Probe::Postgres;
        }
        result = Probe::NotPostgres;
    }
    result
}

/// `SSLRequest`: length 8, code 80877103 (both big-endian i32).
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn answers_ssl_request(mut stream: TcpStream) -> std::io::Result<bool> {
    stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    stream.write_all(&SSL_REQUEST)?;
    let mut reply = [0u8; 1];
    stream.read_exact(&mut reply)?;
    Ok(matches!(reply[0], b'S' | b'N'))
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A line of `pg_lsclusters`.
#[derive(Debug, PartialEq, Eq)]
pub struct Cluster {
    pub version: String,
    pub name: String,
    pub port: Option<u16>,
    pub online: bool,
}

/// Parses `pg_lsclusters --no-header` (version cluster port status ...).
pub fn parse_clusters(text: &str) -> Vec<Cluster> {
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let [version, name, port, status, ..] = cols.as_slice() else {
                return None;
            };
            Some(Cluster {
                version: (*version).to_owned(),
                name: (*name).to_owned(),
                port: port.parse().ok(),
                online: status.starts_with("online"),
            })
        })
        .collect()
}

/// Checks that PostgreSQL answers; if not and `start` is set, starts the
/// local clusters that are down and waits for the port.
pub fn ensure(start: bool) -> Result<Endpoint> {
    let url = test_url();
    let endpoint = parse_endpoint(&url)?;
    match probe(&endpoint) {
        Probe::Postgres => {
            println!("PostgreSQL is up at {endpoint}");
            return Ok(endpoint);
        }
        Probe::NotPostgres => {
            return Err(format!(
                "something accepts connections at {endpoint} ({URL_ENV}={url}) but it does \
                 not answer like PostgreSQL. Point {URL_ENV} at a PostgreSQL server."
            ));
        }
        Probe::Down => {}
    }
    if !start {
        return Err(format!(
            "PostgreSQL is not answering at {endpoint} ({URL_ENV}={url}).\n\
             Run `cargo xtask pg --start` to start the local cluster, or {}",
            manual_hint(&endpoint, &[])
        ));
    }
    if !is_local(&endpoint.host) {
        return Err(format!(
            "PostgreSQL is not answering at {endpoint} ({URL_ENV}={url}); it is not a local \
             address, so xtask will not try to start it. Start that server, or point \
             {URL_ENV} at a reachable one."
        ));
    }
    println!("PostgreSQL is not answering at {endpoint}; trying to start the local clusters");
    let clusters = start_clusters();
    if wait_until_reachable(&endpoint) {
        println!("PostgreSQL is up at {endpoint}");
        return Ok(endpoint);
    }
    Err(format!(
        "PostgreSQL still does not answer at {endpoint} after {}s ({URL_ENV}={url}).\n{}",
        START_TIMEOUT.as_secs(),
        capitalize(&manual_hint(&endpoint, &clusters))
    ))
}

/// Starts every cluster that is down; returns all clusters found (for the
/// hint). Failures are reported but not fatal: the port check decides.
fn start_clusters() -> Vec<Cluster> {
    let mut list = Command::new("pg_lsclusters");
    list.arg("--no-header");
    let output = match list.output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            eprintln!(
                "warning: `pg_lsclusters` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return Vec::new();
        }
        Err(e) => {
            eprintln!(
                "warning: {} (is postgresql-common installed?)",
                cmd::spawn_error(&list, &e)
            );
            return Vec::new();
        }
    };
    let clusters = parse_clusters(&String::from_utf8_lossy(&output.stdout));
    if clusters.is_empty() {
        eprintln!("warning: `pg_lsclusters` lists no PostgreSQL clusters");
    }
    for cluster in clusters.iter().filter(|c| !c.online) {
        let mut start = Command::new("pg_ctlcluster");
        start.args([
            "--skip-systemctl-redirect",
            &cluster.version,
            &cluster.name,
            "start",
        ]);
        let what = format!("starting cluster {} {}", cluster.version, cluster.name);
        if let Err(e) = cmd::run_checked(&mut start, &what) {
            eprintln!("warning: {e}");
        }
    }
    clusters
}

fn wait_until_reachable(endpoint: &Endpoint) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if probe(endpoint) == Probe::Postgres {
            return true;
        }
        thread::sleep(Duration::from_millis(500));
    }
    false
}

/// How to start PostgreSQL by hand, naming a real cluster when one is known.
fn manual_hint(endpoint: &Endpoint, clusters: &[Cluster]) -> String {
    let cluster = clusters
        .iter()
        .find(|c| c.port == Some(endpoint.port))
        .or_else(|| clusters.first());
    let (version, name) = cluster.map_or(("<version>", "main"), |c| (&c.version, &c.name));
    format!(
        "start it by hand: `pg_ctlcluster --skip-systemctl-redirect {version} {name} start` \
         (`pg_lsclusters` lists the clusters; see the cluster's log if it fails), \
         or set {URL_ENV} to a reachable server."
    )
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_default_url() {
        assert_eq!(parse_endpoint(DEFAULT_URL), Ok(ep("127.0.0.1", 5432)));
    }

    #[test]
    fn parses_url_variants() {
        let cases = [
            (
                "postgresql://u:p@db.example:6543/x?sslmode=off",
                ep("db.example", 6543),
            ),
            ("postgres://u:p@ss@host/db", ep("host", 5432)),
            ("postgres://localhost", ep("localhost", 5432)),
            ("postgres:///test", ep("localhost", 5432)),
            ("postgres://u@[::1]:5433/test", ep("::1", 5433)),
            ("postgres://[::1]", ep("::1", 5432)),
            ("postgres://h1:5000,h2:5001/db", ep("h1", 5000)),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_endpoint(url), Ok(expected), "{url}");
        }
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(parse_endpoint("mysql://h/db").is_err());
        assert!(parse_endpoint("postgres://h:notaport/db").is_err());
        assert!(parse_endpoint("postgres://h:70000/db").is_err());
        assert!(parse_endpoint("postgres://[::1/db").is_err());
    }

    #[test]
    fn displays_endpoints() {
        assert_eq!(ep("127.0.0.1", 5432).to_string(), "127.0.0.1:5432");
        assert_eq!(ep("::1", 5432).to_string(), "[::1]:5432");
    }

    #[test]
    fn parses_clusters() {
        let text = "15  main 5432 down   postgres /var/lib/postgresql/15/main /var/log/x.log\n\
                    16  other 5433 online,recovery postgres /d /l\n\
                    \n";
        let clusters = parse_clusters(text);
        assert_eq!(
            clusters,
            vec![
                Cluster {
                    version: "15".into(),
                    name: "main".into(),
                    port: Some(5432),
                    online: false
                },
                Cluster {
                    version: "16".into(),
                    name: "other".into(),
                    port: Some(5433),
                    online: true
                },
            ]
        );
        let hint = manual_hint(&ep("127.0.0.1", 5433), &clusters);
        assert!(hint.contains("pg_ctlcluster --skip-systemctl-redirect 16 other start"));
    }

    /// A one-shot local server that reads the request and sends `reply`.
    fn fake_server(reply: &'static [u8]) -> Endpoint {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 8];
            let _ = conn.read_exact(&mut request);
            if request == SSL_REQUEST {
                let _ = conn.write_all(reply);
            }
        });
        ep("127.0.0.1", port)
    }

    #[test]
    fn probe_recognises_postgres() {
        assert_eq!(probe(&fake_server(b"N")), Probe::Postgres);
        assert_eq!(probe(&fake_server(b"S")), Probe::Postgres);
        assert_eq!(probe(&fake_server(b"")), Probe::NotPostgres);
        assert_eq!(probe(&fake_server(b"HTTP/1.1")), Probe::NotPostgres);
    }

    #[test]
    fn probe_reports_closed_port() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        assert_eq!(probe(&ep("127.0.0.1", port)), Probe::Down);
    }

    #[test]
    fn knows_local_hosts() {
        assert!(is_local("localhost"));
        assert!(is_local("127.0.0.1"));
        assert!(is_local("::1"));
        assert!(!is_local("db.example"));
    }
}
