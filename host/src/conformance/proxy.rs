//! A TCP proxy in front of PostgreSQL that can lose a COMMIT: it reads the
//! frontend protocol, and at the chosen COMMIT either drops the connection
//! before forwarding it (the commit never happens) or forwards it and drops
//! the connection before the answer comes back (the commit happens, the
//! client never hears). Loopback only; it stops when dropped. Used by the
//! conformance harness's commit-state case and by the destination tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the chosen COMMIT is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFault {
    /// Close before the server sees the COMMIT.
    DropBeforeForward,
    /// Forward the COMMIT, then close before its answer returns.
    DropAfterForward,
}

/// A running proxy.
pub struct Proxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// COMMITs seen so far, over all connections.
    pub commits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy to `upstream` that loses the `nth` COMMIT (1-based) as `fault`.
pub async fn start(upstream: SocketAddr, fault: Option<(usize, CommitFault)>) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let commits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&commits);
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(upstream).await {
                    let _ = relay(client, server, seen, fault).await;
                }
            });
        }
    });
    Ok(Proxy { port, commits, task })
}

async fn relay(client: TcpStream, server: TcpStream, seen: Arc<AtomicUsize>, fault: Option<(usize, CommitFault)>) -> std::io::Result<()> {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
    });
    // Untyped start-up messages (SSL/GSS requests, then the startup packet).
    loop {
        let len = client_rx.read_i32().await? as usize;
        let mut body = vec![0u8; len - 4];
        client_rx.read_exact(&mut body).await?;
        server_tx.write_i32(len as i32).await?;
        server_tx.write_all(&body).await?;
        let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if code != 80877103 && code != 80877104 {
            break;
        }
    }
    // Typed messages: type byte, length, body.
    loop {
        let kind = client_rx.read_u8().await?;
        let len = client_rx.read_i32().await? as usize;
        let mut body = vec![0u8; len - 4];
        client_rx.read_exact(&mut body).await?;
        let is_commit = kind == b'Q' && String::from_utf8_lossy(&body).trim_start().to_ascii_uppercase().starts_with("COMMIT");
        let mut lose = None;
        if is_commit {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            lose = fault.filter(|(nth, _)| *nth == n).map(|(_, f)| f);
        }
        if lose == Some(CommitFault::DropBeforeForward) {
            back.abort();
            return Ok(());
        }
        server_tx.write_u8(kind).await?;
        server_tx.write_i32(len as i32).await?;
        server_tx.write_all(&body).await?;
        if lose == Some(CommitFault::DropAfterForward) {
            // Stop relaying answers first, give the server time to commit, then cut.
            back.abort();
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Ok(());
        }
    }
}
