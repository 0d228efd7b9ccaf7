//! Cooperative cancellation of a run (Ctrl-C, SIGTERM). Cancelling stops
//! the sources at their next `emit-batch`; each destination receives what
//! the channel holds up to the last source checkpoint, then end-of-stream,
//! so it commits that and the cursor advances to it (SPEC § State and
//! checkpoints). Rows after the last checkpoint are read again next run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Shared by every instance of a run; cheap to clone.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<(AtomicBool, Notify)>,
    at: Arc<std::sync::OnceLock<std::time::Instant>>,
}

impl CancelToken {
    /// Asks the run to stop at the next checkpoint boundary.
    pub fn cancel(&self) {
        let _ = self.at.set(std::time::Instant::now());
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Whether the run was cancelled more than `grace` ago: a source still
    /// running then is stopped (SPEC § Security), since one that never
    /// calls the host would otherwise never hear of the cancel.
    pub fn cancelled_for(&self, grace: std::time::Duration) -> bool {
        self.at.get().is_some_and(|at| at.elapsed() >= grace)
    }

    /// Resolves once the run is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// How long a connector may keep running after a cancel before the host
/// stops its instance.
pub const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The error code a source sees from `emit-batch` once the run is cancelled.
pub const CANCELLED: &str = "CANCELLED";
