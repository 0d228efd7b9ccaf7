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
}

impl CancelToken {
    /// Asks the run to stop at the next checkpoint boundary.
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
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

/// The error code a source sees from `emit-batch` once the run is cancelled.
pub const CANCELLED: &str = "CANCELLED";
