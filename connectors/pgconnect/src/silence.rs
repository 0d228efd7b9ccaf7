//! A silent server becomes an error (SPEC § Errors): the connection's
//! socket fails with `TimedOut` when the server owes an answer — the client
//! wrote since it last read — and nothing has moved either way for the I/O
//! timeout, or when a write stays blocked that long (a partitioned peer
//! fills the send buffer). An idle session, one that owes nothing, waits
//! as long as it likes. tokio-postgres then reports the connection closed,
//! which the connectors classify as transient, and a COMMIT in flight as
//! `after-commit-unknown`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep_until, Instant, Sleep};

/// `inner` with the I/O timeout `limit`.
pub struct Watched<S> {
    inner: S,
    limit: Duration,
    /// The client wrote since it last read: the server owes an answer.
    owed: bool,
    /// Fires `limit` after the last progress.
    timer: Pin<Box<Sleep>>,
}

impl<S> Watched<S> {
    /// Watches `inner`.
    pub fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit, owed: false, timer: Box::pin(sleep_until(Instant::now() + limit)) }
    }

    fn progress(&mut self) {
        let at = Instant::now() + self.limit;
        self.timer.as_mut().reset(at);
    }

    /// `Pending`, or the timeout error once the timer fired.
    fn silent<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the server sent nothing for {} s while an answer was due (io_timeout_seconds)", self.limit.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.owed = false;
                    self.progress();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.owed => self.silent(cx),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.owed = true;
                    self.progress();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                // A write blocked after idling: the silence starts now.
                if !self.owed {
                    self.owed = true;
                    self.progress();
                }
                self.silent(cx)
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending if self.owed => self.silent(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn silence_is_an_error_only_when_an_answer_is_due() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut w = Watched::new(client, Duration::from_secs(5));
        // Idle: nothing owed, a read may wait past the limit.
        let mut byte = [0u8; 1];
        assert!(tokio::time::timeout(Duration::from_secs(30), w.read(&mut byte)).await.is_err(), "an idle read just waits");
        // A request written, the answer comes in time: fine.
        w.write_all(b"Q").await.unwrap();
        server.write_all(b"A").await.unwrap();
        w.read_exact(&mut byte).await.unwrap();
        // A request written and no answer: TimedOut after the limit.
        w.write_all(b"Q").await.unwrap();
        let e = w.read(&mut byte).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        drop(server);
    }
}
