//! The loopback relay that gives a guest TLS to PostgreSQL without crypto
//! in the sandbox (docs/design/tls-research.md § 2).
//!
//! The relay listens on `127.0.0.1:0`; the guest is granted only that
//! address. Each connection must first send the relay's random token (so no
//! other local process can ride on the relay's TLS session or client
//! certificate); the relay then connects to the server, sends SSLRequest,
//! completes the TLS handshake natively (or goes on in plaintext when
//! `prefer` meets a server without TLS) and copies bytes both ways. When it
//! cannot, it answers the guest's startup message with a PostgreSQL
//! ErrorResponse, so the connector reports the reason with a SQLSTATE
//! (`28000` for a refused certificate or a missing TLS: not retried;
//! `08001` for a server that cannot be reached: retried).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{SslMode, TlsSettings};

/// Bytes of the token a guest sends first (hex of 16 random bytes).
pub const TOKEN_LEN: usize = 32;

/// How long the relay waits for the token, and for the server.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Copy buffer per direction.
const COPY_BUFFER: usize = 256 * 1024;

/// A running relay; dropping it stops accepting (open connections finish).
pub struct Relay {
    /// Where the guest connects.
    pub addr: SocketAddr,
    /// What the guest sends first.
    pub token: String,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Where a relay leads: the server's addresses and the name its
/// certificate is checked against.
pub struct Upstream {
    /// The server's resolved addresses, tried in order.
    pub addrs: Vec<SocketAddr>,
    /// The host name as the user wrote it (`verify-full` checks it).
    pub host: String,
    /// The mode and client config.
    pub tls: TlsSettings,
    /// A probe's connection past SSLRequest, for the first connection.
    pub ready: std::sync::Mutex<Option<Ready>>,
}

/// Starts a relay to `upstream`.
pub async fn start(upstream: Upstream) -> std::io::Result<Relay> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let token = new_token()?;
    let upstream = Arc::new(upstream);
    let expected = token.clone();
    let accept = tokio::spawn(async move {
        while let Ok((guest, _)) = listener.accept().await {
            let upstream = Arc::clone(&upstream);
            let expected = expected.clone();
            tokio::spawn(async move { serve(guest, &upstream, expected.as_bytes()).await });
        }
    });
    Ok(Relay { addr, token, accept })
}

fn new_token() -> std::io::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; TOKEN_LEN / 2];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| std::io::Error::other("no system randomness for the relay token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

async fn serve(mut guest: TcpStream, upstream: &Upstream, token: &[u8]) {
    let _ = guest.set_nodelay(true);
    let mut got = [0u8; TOKEN_LEN];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, guest.read_exact(&mut got)).await {
        Ok(Ok(_)) if constant_time_eq(&got, token) => {}
        // Not the guest: say nothing.
        _ => return,
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect(upstream)).await.unwrap_or_else(|_| {
        Err(Refusal::unreachable(format!("no answer from {} within {} s", upstream.host, HANDSHAKE_TIMEOUT.as_secs())))
    }) {
        Ok(Server::Tls(mut tls)) => pipe(&mut guest, &mut *tls).await,
        Ok(Server::Plain(mut tcp)) => pipe(&mut guest, &mut tcp).await,
        Err(refusal) => {
            tracing::debug!(host = %upstream.host, "TLS relay refused: {}", refusal.message);
            refuse(&mut guest, &refusal).await;
        }
    }
}

async fn pipe<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(guest: &mut TcpStream, server: &mut S) {
    let _ = tokio::io::copy_bidirectional_with_sizes(guest, server, COPY_BUFFER, COPY_BUFFER).await;
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum Server {
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Plain(TcpStream),
}

/// Why the relay did not connect, as the guest will hear it.
struct Refusal {
    sqlstate: &'static str,
    message: String,
}

impl Refusal {
    fn unreachable(message: String) -> Self {
        Self { sqlstate: "08001", message }
    }
    fn tls(message: String) -> Self {
        Self { sqlstate: "28000", message }
    }
}

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

async fn connect(up: &Upstream) -> Result<Server, Refusal> {
    let ready = up.ready.lock().unwrap_or_else(|p| p.into_inner()).take().filter(|r| r.at.elapsed() < READY_FOR);
    if let Some(ready) = ready {
        return handshake(up, ready.tcp).await;
    }
    let mut last = None;
    let mut tcp = None;
    for addr in &up.addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(format!("cannot connect to PostgreSQL at {addr}: {e}")),
        }
    }
    let mut tcp = tcp.ok_or_else(|| Refusal::unreachable(last.unwrap_or_else(|| format!("`{}` resolved to no address", up.host))))?;
    let _ = tcp.set_nodelay(true);
    let mode = up.tls.mode;
    if mode == SslMode::Disable {
        return Ok(Server::Plain(tcp));
    }
    let lost = |e: std::io::Error| Refusal::unreachable(format!("the server at {} closed the connection during SSLRequest: {e}", up.host));
    tcp.write_all(&SSL_REQUEST).await.map_err(lost)?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.map_err(lost)?;
    match answer[0] {
        b'S' => {}
        b'N' if mode == SslMode::Prefer => return Ok(Server::Plain(tcp)),
        b'N' => {
            return Err(Refusal::tls(format!(
                "the server at {} does not offer TLS, and sslmode is `{}`; enable ssl on the server or set sslmode: prefer",
                up.host,
                mode.as_str()
            )))
        }
        other => return Err(Refusal::tls(format!("the server at {} answered SSLRequest with byte {other:#04x}, not S or N", up.host))),
    }
    handshake(up, tcp).await
}

/// TLS over a connection whose SSLRequest was accepted.
async fn handshake(up: &Upstream, tcp: TcpStream) -> Result<Server, Refusal> {
    let mode = up.tls.mode;
    let config = up.tls.client.clone().ok_or_else(|| Refusal::tls("no TLS client configuration".into()))?;
    let name = rustls::pki_types::ServerName::try_from(up.host.trim_start_matches('[').trim_end_matches(']').to_string())
        .map_err(|e| Refusal::tls(format!("`{}` is not a host name a certificate can name: {e}", up.host)))?;
    let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| {
        Refusal::tls(format!("TLS with {} failed (sslmode `{}`): {e}; check sslrootcert and that the certificate names the host", up.host, mode.as_str()))
    })?;
    Ok(Server::Tls(Box::new(tls)))
}

/// A connection whose SSLRequest the server accepted (`S`), waiting for the
/// TLS handshake: a `prefer` probe's, handed to the relay for its first
/// connection, so the probe leaves no half-opened session in the server's
/// log. Stale after [`READY_FOR`] (the server's authentication timeout
/// would close it).
pub struct Ready {
    tcp: TcpStream,
    at: std::time::Instant,
}

const READY_FOR: Duration = Duration::from_secs(10);

/// Whether the server at `endpoint` answers SSLRequest with `S` (a quick
/// probe for `prefer`: errors and silence count as no); when it does, the
/// connection, ready for the handshake.
pub async fn offers_tls(endpoint: &str) -> Option<Ready> {
    let probe = async {
        let addr = tokio::net::lookup_host(endpoint).await.ok()?.next()?;
        let mut tcp = TcpStream::connect(addr).await.ok()?;
        let _ = tcp.set_nodelay(true);
        tcp.write_all(&SSL_REQUEST).await.ok()?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await.ok()?;
        (answer[0] == b'S').then(|| Ready { tcp, at: std::time::Instant::now() })
    };
    tokio::time::timeout(Duration::from_secs(5), probe).await.ok().flatten()
}

/// Reads the guest's startup message, then answers it with a FATAL
/// ErrorResponse and closes.
async fn refuse(guest: &mut TcpStream, refusal: &Refusal) {
    let mut len = [0u8; 4];
    if guest.read_exact(&mut len).await.is_ok() {
        let n = (u32::from_be_bytes(len) as usize).saturating_sub(4).min(64 * 1024);
        let mut rest = vec![0u8; n];
        let _ = guest.read_exact(&mut rest).await;
    }
    let _ = guest.write_all(&error_response(refusal.sqlstate, &refusal.message)).await;
    let _ = guest.shutdown().await;
}

/// A PostgreSQL ErrorResponse message.
fn error_response(sqlstate: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', sqlstate), (b'M', message)] {
        body.push(field);
        body.extend(value.bytes().filter(|b| *b != 0));
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    out.extend(((body.len() + 4) as u32).to_be_bytes());
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_without_the_token_gets_nothing() {
        // A listener that records whether the relay ever reached it.
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = Upstream {
            addrs: vec![server.local_addr().unwrap()],
            host: "127.0.0.1".into(),
            tls: super::super::Given { sslmode: Some("disable".into()), ..Default::default() }.settle("/").unwrap(),
            ready: Default::default(),
        };
        let relay = start(up).await.unwrap();
        let mut other = TcpStream::connect(relay.addr).await.unwrap();
        other.write_all(&[b'x'; TOKEN_LEN]).await.unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(other.read(&mut buf).await.unwrap(), 0, "closed without a word");
        let reached = tokio::time::timeout(Duration::from_millis(200), server.accept()).await;
        assert!(reached.is_err(), "a wrong token never reaches the server");
        // The right token is relayed.
        let mut guest = TcpStream::connect(relay.addr).await.unwrap();
        guest.write_all(relay.token.as_bytes()).await.unwrap();
        guest.write_all(b"ping").await.unwrap();
        let (mut s, _) = tokio::time::timeout(Duration::from_secs(5), server.accept()).await.unwrap().unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
    }

    #[tokio::test]
    async fn require_against_a_server_without_tls_is_refused_in_the_protocol() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut req = [0u8; 8];
            s.read_exact(&mut req).await.unwrap();
            assert_eq!(req, SSL_REQUEST);
            s.write_all(b"N").await.unwrap();
            let _ = s.read(&mut [0u8; 64]).await;
        });
        let tls = super::super::Given { sslmode: Some("require".into()), ..Default::default() }.settle("/").unwrap();
        let relay = start(Upstream { addrs: vec![addr], host: "127.0.0.1".into(), tls, ready: Default::default() }).await.unwrap();
        let mut guest = TcpStream::connect(relay.addr).await.unwrap();
        guest.write_all(relay.token.as_bytes()).await.unwrap();
        guest.write_all(&[0, 0, 0, 8, 0, 3, 0, 0]).await.unwrap(); // a startup message
        let mut answer = Vec::new();
        guest.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer[0], b'E');
        let text = String::from_utf8_lossy(&answer);
        assert!(text.contains("28000") && text.contains("does not offer TLS"), "{text}");
    }
}
