//! The batch channel between a stream's source and destination (SPEC
//! § Batches, § Performance): bounded in bytes and in batches, so memory
//! stays bounded by limits whatever the table size. A full channel makes the
//! source's `emit-batch` wait (backpressure).

use std::collections::VecDeque;
use std::sync::Arc;

use rapidbyte_protocol::{AbortReason, Checkpoint, DeadLetter};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::engine::cancel::CancelToken;

/// What travels downstream.
#[derive(Debug)]
pub enum Item {
    /// One validated IPC frame and its row count.
    Batch { frame: Vec<u8>, rows: u64 },
    /// A source checkpoint boundary, in order with the batches.
    Checkpoint(Checkpoint),
    /// A record the source could not read, for the dead-letter table; in
    /// order with the batches, so it commits with its chunk.
    DeadLetter(DeadLetter),
    /// The source finished successfully.
    End,
    /// The stream stopped before its end; nothing after the last checkpoint
    /// may be committed. The reason is the host's, never a connector's text.
    Abort(AbortReason),
}

struct Envelope {
    item: Item,
    _bytes: Option<OwnedSemaphorePermit>,
}

/// The sending half (held by the source instance).
pub struct BatchSender {
    tx: mpsc::Sender<Envelope>,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
}

/// The receiving half (held by the destination instance).
pub struct BatchReceiver {
    rx: mpsc::Receiver<Envelope>,
    finished: bool,
    cancel: CancelToken,
    /// After a cancel: what is left to hand out, ending at the last checkpoint.
    drained: Option<VecDeque<Item>>,
    /// A batch was handed out after the last checkpoint handed out.
    uncovered: bool,
    /// The stream is published whole (replace, full-refresh append; SPEC
    /// § Delivery): a cancel always ends it with `Abort`, so the destination
    /// keeps what it held before.
    whole_or_nothing: bool,
}

/// A channel holding at most `max_batches` items and `max_bytes` frame bytes.
/// A single frame larger than `max_bytes` (a lone big record, SPEC § Batches)
/// still passes, alone: it waits until the channel is empty, then takes all
/// of its byte budget, so nothing else enters until it is received. Memory
/// stays bounded: at most one such frame beyond `max_bytes` is in flight.
pub fn batch_channel(max_bytes: usize, max_batches: usize) -> (BatchSender, BatchReceiver) {
    let (tx, rx) = mpsc::channel(max_batches.max(1));
    // Permits are taken `u32` at a time: keep the whole budget takeable at once.
    let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    (
        BatchSender { tx, bytes: Arc::new(Semaphore::new(max_bytes)), max_bytes },
        BatchReceiver { rx, finished: false, cancel: CancelToken::default(), drained: None, uncovered: false, whole_or_nothing: false },
    )
}

/// The receiver is gone.
#[derive(Debug)]
pub struct Closed;

impl BatchSender {
    /// Sends a frame, waiting while the channel is full (a frame larger than
    /// the channel waits until it is empty).
    pub async fn send_batch(&self, frame: Vec<u8>, rows: u64) -> Result<(), Closed> {
        let bytes = frame.len();
        self.send_sized(Item::Batch { frame, rows }, bytes).await
    }

    /// Sends an item holding `bytes` of data (a batch, a dead letter),
    /// counted against the channel's byte budget like a batch.
    pub async fn send_sized(&self, item: Item, bytes: usize) -> Result<(), Closed> {
        let want = bytes.clamp(1, self.max_bytes) as u32;
        let permit = Arc::clone(&self.bytes).acquire_many_owned(want).await.map_err(|_| Closed)?;
        self.tx.send(Envelope { item, _bytes: Some(permit) }).await.map_err(|_| Closed)
    }

    /// Sends a checkpoint boundary, end or abort marker.
    pub async fn send(&self, item: Item) -> Result<(), Closed> {
        self.tx.send(Envelope { item, _bytes: None }).await.map_err(|_| Closed)
    }
}

impl BatchReceiver {
    /// Makes the receiver honour `cancel` (see [`crate::engine::cancel`]).
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Marks a stream published whole (replace, full-refresh append): after
    /// a cancel it ends with `Abort`, never with an `End` that would swap a
    /// partial table in or append part of a copy.
    pub fn whole_or_nothing(mut self, yes: bool) -> Self {
        self.whole_or_nothing = yes;
        self
    }

    /// The next item. A sender dropped without `End` reads as `Abort`, so a
    /// crashed source never looks like a finished one. Once the run is
    /// cancelled: the items up to the last checkpoint, then `End` — or
    /// `Abort` when a batch already handed out is not covered by a
    /// checkpoint, so the destination rolls it back instead of committing
    /// rows the cursor does not cover.
    pub async fn recv(&mut self) -> Item {
        if self.cancel.is_cancelled() && self.drained.is_none() && !self.finished {
            let drained = self.drain_to_last_checkpoint().await;
            self.drained = Some(drained);
        }
        let item = match &mut self.drained {
            Some(rest) => rest.pop_front().unwrap_or(Item::End),
            None => self.recv_raw().await,
        };
        match &item {
            Item::Batch { .. } | Item::DeadLetter(_) => self.uncovered = true,
            Item::Checkpoint(_) => self.uncovered = false,
            _ => {}
        }
        item
    }

    /// Takes everything the source still sends (it stops at its next emit
    /// once cancelled) and keeps what ends at the last checkpoint.
    async fn drain_to_last_checkpoint(&mut self) -> VecDeque<Item> {
        let mut items = VecDeque::new();
        loop {
            match self.recv_raw().await {
                Item::End | Item::Abort(_) => break,
                item => items.push_back(item),
            }
        }
        let last_checkpoint = items.iter().rposition(|i| matches!(i, Item::Checkpoint(_)));
        let covered = (last_checkpoint.is_some() || !self.uncovered) && !self.whole_or_nothing;
        items.truncate(last_checkpoint.map_or(0, |at| at + 1));
        items.push_back(if covered {
            Item::End
        } else {
            Item::Abort(AbortReason::Cancelled)
        });
        items
    }

    async fn recv_raw(&mut self) -> Item {
        if self.finished {
            return Item::End;
        }
        match self.rx.recv().await {
            // The byte permit is released here, when the item leaves the channel.
            Some(Envelope { item, .. }) => {
                if matches!(item, Item::End | Item::Abort(_)) {
                    self.finished = true;
                }
                item
            }
            None => {
                self.finished = true;
                Item::Abort(AbortReason::SourceFailed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn bytes_bound_blocks_the_sender_until_the_receiver_takes() {
        let (tx, mut rx) = batch_channel(100, 16);
        tx.send_batch(vec![0; 60], 1).await.unwrap();
        // 60 + 60 > 100: the second send must wait.
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send_batch(vec![0; 60], 1)).await;
        assert!(blocked.is_err(), "second frame should wait for space");
        assert!(matches!(rx.recv().await, Item::Batch { rows: 1, .. }));
        tokio::time::timeout(Duration::from_millis(500), tx.send_batch(vec![0; 60], 1)).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn oversized_frame_passes_alone() {
        let (tx, mut rx) = batch_channel(10, 4);
        tx.send_batch(vec![0; 1000], 3).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Batch { rows: 3, .. }));
    }

    #[tokio::test]
    async fn an_oversized_frame_waits_for_an_empty_channel_then_travels_alone() {
        let (tx, mut rx) = batch_channel(100, 16);
        let tx = Arc::new(tx);
        tx.send_batch(vec![0; 60], 1).await.unwrap();
        // Larger than the whole channel: it waits for the channel to empty (not forever).
        let big = tokio::spawn({
            let tx = Arc::clone(&tx);
            async move { tx.send_batch(vec![0; 1000], 1).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!big.is_finished(), "the big frame must wait while the channel holds another");
        assert!(matches!(rx.recv().await, Item::Batch { frame, .. } if frame.len() == 60));
        tokio::time::timeout(Duration::from_millis(500), big).await.expect("it enters the empty channel").unwrap().unwrap();
        // While it is in flight nothing else enters: one oversized item at most beyond the limit.
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send_batch(vec![0; 1], 1)).await;
        assert!(blocked.is_err(), "a small frame must wait behind the big one");
        // Markers carry no bytes and still flow (a checkpoint after the big row).
        tx.send(checkpoint(1)).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Batch { frame, .. } if frame.len() == 1000));
        assert!(matches!(rx.recv().await, Item::Checkpoint(_)));
        tokio::time::timeout(Duration::from_millis(500), tx.send_batch(vec![0; 1], 1)).await.unwrap().unwrap();
        assert!(matches!(rx.recv().await, Item::Batch { rows: 1, .. }));
    }

    #[tokio::test]
    async fn a_budget_above_u32_still_bounds_and_passes_frames() {
        let (tx, mut rx) = batch_channel(usize::MAX, 4);
        tx.send_batch(vec![0; 10], 1).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Batch { rows: 1, .. }));
    }

    #[tokio::test]
    async fn dropped_sender_without_end_is_an_abort() {
        let (tx, mut rx) = batch_channel(10, 4);
        tx.send(Item::Checkpoint(rapidbyte_protocol::Checkpoint {
            kind: rapidbyte_protocol::CheckpointKind::Source,
            sequence: 1,
            cursor: None,
            records: 0,
            bytes: 0,
        }))
        .await
        .unwrap();
        drop(tx);
        assert!(matches!(rx.recv().await, Item::Checkpoint(_)));
        assert!(matches!(rx.recv().await, Item::Abort(_)));
        assert!(matches!(rx.recv().await, Item::End), "after the abort the stream is over");
    }

    fn checkpoint(sequence: u64) -> Item {
        Item::Checkpoint(rapidbyte_protocol::Checkpoint {
            kind: rapidbyte_protocol::CheckpointKind::Source,
            sequence,
            cursor: None,
            records: 0,
            bytes: 0,
        })
    }

    #[tokio::test]
    async fn a_cancelled_stream_ends_at_its_last_checkpoint() {
        let cancel = CancelToken::default();
        let (tx, rx) = batch_channel(1000, 16);
        let mut rx = rx.with_cancel(cancel.clone());
        tx.send_batch(vec![0; 10], 1).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Batch { .. }), "before the cancel, items flow");
        tx.send(checkpoint(1)).await.unwrap();
        tx.send_batch(vec![0; 10], 2).await.unwrap();
        tx.send(checkpoint(2)).await.unwrap();
        tx.send_batch(vec![0; 10], 3).await.unwrap();
        cancel.cancel();
        // The source fails at its next emit; the host ends it with Abort.
        tx.send(Item::Abort(AbortReason::Cancelled)).await.unwrap();
        let mut got = Vec::new();
        loop {
            match rx.recv().await {
                Item::End => break,
                Item::Batch { rows, .. } => got.push(format!("b{rows}")),
                Item::Checkpoint(cp) => got.push(format!("c{}", cp.sequence)),
                Item::Abort(r) => panic!("a cancelled stream ends cleanly, got abort {r:?}"),
                Item::DeadLetter(_) => unreachable!("none was sent"),
            }
        }
        assert_eq!(got, ["c1", "b2", "c2"], "the batch after the last checkpoint is dropped");
    }

    #[tokio::test]
    async fn a_cancelled_replace_stream_always_aborts() {
        let cancel = CancelToken::default();
        let (tx, rx) = batch_channel(1 << 20, 8);
        let mut rx = rx.with_cancel(cancel.clone()).whole_or_nothing(true);
        tx.send_batch(vec![1; 10], 1).await.unwrap();
        tx.send(Item::Checkpoint(rapidbyte_protocol::Checkpoint {
            kind: rapidbyte_protocol::CheckpointKind::Source,
            sequence: 1,
            cursor: None,
            records: 1,
            bytes: 10,
        }))
        .await
        .unwrap();
        assert!(matches!(rx.recv().await, Item::Batch { .. }));
        assert!(matches!(rx.recv().await, Item::Checkpoint(_)));
        // Everything handed out is covered by a checkpoint, yet a partial
        // replace must never be swapped in: the stream ends with Abort.
        cancel.cancel();
        tx.send(Item::Abort(AbortReason::Cancelled)).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Abort(_)), "a cancelled replace is rolled back, never finished");
    }

    #[tokio::test]
    async fn a_cancel_after_an_uncovered_batch_was_handed_out_aborts() {
        let cancel = CancelToken::default();
        let (tx, rx) = batch_channel(1000, 16);
        let mut rx = rx.with_cancel(cancel.clone());
        tx.send(checkpoint(1)).await.unwrap();
        tx.send_batch(vec![0; 10], 1).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Checkpoint(_)));
        assert!(matches!(rx.recv().await, Item::Batch { .. }), "handed out, not covered by a checkpoint");
        cancel.cancel();
        tx.send(Item::Abort(AbortReason::Cancelled)).await.unwrap();
        assert!(matches!(rx.recv().await, Item::Abort(_)), "the destination must roll the batch back, not commit it");
    }
}
