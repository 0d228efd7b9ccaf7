//! A TCP proxy in front of PostgreSQL that breaks the wire: it reads the
//! frontend protocol, and at the chosen COMMIT either drops the connection
//! before forwarding it (the commit never happens) or forwards it and drops
//! the connection before the answer comes back (the commit happens, the
//! client never hears); or it cuts one connection mid-message after a
//! number of bytes in one direction (a destination's COPY data going in,
//! a source's coming out). Loopback only; it stops when dropped. Used by the
//! conformance harness's commit-state case and by the destination tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// How the chosen COMMIT is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFault {
    /// Close before the server sees the COMMIT.
    DropBeforeForward,
    /// Forward the COMMIT, then close before its answer returns.
    DropAfterForward,
    /// Forward the COMMIT and hold its answer back, the connection left
    /// open and silent (a partition, or a stuck middlebox).
    HoldAnswer,
}

/// Which way a cut counts bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server (a destination's COPY data).
    ToServer,
    /// Server to client (a source's COPY data).
    ToClient,
}

/// What the proxy breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Lose the nth COMMIT (1-based, over all connections).
    Commit(usize, CommitFault),
    /// Cut the first connection that carries more than `bytes` in
    /// `direction` (once: later connections pass untouched), mid-message.
    CutAfter(Direction, u64),
}

/// A running proxy.
pub struct Proxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// COMMITs seen so far, over all connections.
    pub commits: Arc<AtomicUsize>,
    /// A cut happened.
    pub cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy to `upstream` that loses the `nth` COMMIT (1-based) as `fault`.
pub async fn start(upstream: SocketAddr, fault: Option<(usize, CommitFault)>) -> std::io::Result<Proxy> {
    start_with(upstream, fault.map(|(n, f)| Fault::Commit(n, f))).await
}

/// Starts a proxy to `upstream` that breaks what `fault` says.
pub async fn start_with(upstream: SocketAddr, fault: Option<Fault>) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let commits = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    let shared = Shared { commits: Arc::clone(&commits), cut: Arc::clone(&cut), fault };
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(upstream).await {
                    let _ = relay(client, server, shared).await;
                }
            });
        }
    });
    Ok(Proxy { port, commits, cut, task })
}

#[derive(Clone)]
struct Shared {
    commits: Arc<AtomicUsize>,
    cut: Arc<AtomicBool>,
    fault: Option<Fault>,
}

impl Shared {
    /// The byte budget of this connection in `direction`, if it is to be cut.
    fn cut_after(&self, direction: Direction) -> Option<u64> {
        match self.fault {
            Some(Fault::CutAfter(d, bytes)) if d == direction => Some(bytes),
            _ => None,
        }
    }

    /// Claims the one cut (false: another connection already had it).
    fn claim_cut(&self) -> bool {
        !self.cut.swap(true, Ordering::SeqCst)
    }
}

/// Server to client: copied, or cut once past the budget.
async fn relay_back(mut server_rx: OwnedReadHalf, mut client_tx: OwnedWriteHalf, shared: Shared) {
    let Some(budget) = shared.cut_after(Direction::ToClient) else {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
        return;
    };
    let mut buf = vec![0u8; 16 << 10];
    let mut sent = 0u64;
    loop {
        let n = match server_rx.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if sent + n as u64 > budget && shared.claim_cut() {
            // Half a message, then nothing: the client sees the connection die mid-COPY.
            let keep = (budget - sent.min(budget)) as usize;
            let _ = client_tx.write_all(&buf[..keep.min(n)]).await;
            let _ = client_tx.shutdown().await;
            return;
        }
        sent += n as u64;
        if client_tx.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn relay(mut client: TcpStream, server: TcpStream, shared: Shared) -> std::io::Result<()> {
    // Untyped start-up messages. The proxy reads the protocol, so it stands
    // for a server without TLS: an SSL or GSS request is answered `N` here
    // (a `prefer` client goes on in plaintext), then the startup packet is
    // forwarded.
    let startup = loop {
        let len = client.read_i32().await? as usize;
        if !(8..=10_000).contains(&len) {
            return Ok(());
        }
        let mut body = vec![0u8; len - 4];
        client.read_exact(&mut body).await?;
        let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if code == 80877103 || code == 80877104 {
            client.write_all(b"N").await?;
            continue;
        }
        break (len, body);
    };
    let (mut client_rx, client_tx) = client.into_split();
    let (server_rx, mut server_tx) = server.into_split();
    let mut back = tokio::spawn(relay_back(server_rx, client_tx, shared.clone()));
    let to_server = shared.cut_after(Direction::ToServer);
    server_tx.write_i32(startup.0 as i32).await?;
    server_tx.write_all(&startup.1).await?;
    let mut forwarded = startup.0 as u64;
    // Typed messages: type byte, length, body.
    loop {
        let kind = tokio::select! {
            k = client_rx.read_u8() => k?,
            // The answers were cut: so is this connection.
            _ = &mut back => return Ok(()),
        };
        let len = client_rx.read_i32().await? as usize;
        let mut body = vec![0u8; len - 4];
        client_rx.read_exact(&mut body).await?;
        if let Some(budget) = to_server
            && forwarded + 1 + len as u64 > budget
            && shared.claim_cut()
        {
            // Part of the message reaches the server, then the connection dies.
            let keep = (budget.saturating_sub(forwarded + 5) as usize).min(body.len());
            server_tx.write_u8(kind).await?;
            server_tx.write_i32(len as i32).await?;
            server_tx.write_all(&body[..keep]).await?;
            back.abort();
            return Ok(());
        }
        forwarded += 1 + len as u64;
        let is_commit = kind == b'Q' && String::from_utf8_lossy(&body).trim_start().to_ascii_uppercase().starts_with("COMMIT");
        let mut lose = None;
        if is_commit {
            let n = shared.commits.fetch_add(1, Ordering::SeqCst) + 1;
            lose = match shared.fault {
                Some(Fault::Commit(nth, f)) if nth == n => Some(f),
                _ => None,
            };
        }
        if lose == Some(CommitFault::DropBeforeForward) {
            back.abort();
            return Ok(());
        }
        server_tx.write_u8(kind).await?;
        server_tx.write_i32(len as i32).await?;
        server_tx.write_all(&body).await?;
        if lose == Some(CommitFault::HoldAnswer) {
            back.abort();
            // Keep both sockets open and say nothing until the proxy stops.
            std::future::pending::<()>().await;
        }
        if lose == Some(CommitFault::DropAfterForward) {
            // Stop relaying answers first, give the server time to commit, then cut.
            back.abort();
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Ok(());
        }
    }
}
