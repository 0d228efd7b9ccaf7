//! Checkpoint coordination for one stream (SPEC § State and checkpoints):
//! the stream's cursor advances only when a source checkpoint and a
//! destination checkpoint of the same sequence are both in hand, so a crash
//! at any point replays and never skips.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rapidbyte_protocol::{Checkpoint, CursorInfo};

use crate::state::StateStore;

/// The state key holding a stream's committed cursor (JSON).
pub const CURSOR_KEY: &str = "cursor";

/// The state scope of `pipeline`'s `stream` (its cursor and marks).
pub fn stream_scope(pipeline: &str, stream: &str) -> String {
    format!("{pipeline}/{stream}")
}

/// Matches source and destination checkpoints of one stream run.
pub struct Coordinator {
    scope: String,
    state: Arc<dyn StateStore>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pending: BTreeMap<u64, Checkpoint>,
    last_source: u64,
    last_committed: u64,
}

/// Why a destination checkpoint was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationCheckpointError {
    /// It matches no source checkpoint: the connector broke the protocol.
    Unmatched(String),
    /// The host's state store could not record the cursor: not the
    /// connector's fault.
    State(String),
}

impl Coordinator {
    /// A coordinator writing the cursor under `scope` (`pipeline/stream`).
    pub fn new(scope: String, state: Arc<dyn StateStore>) -> Self {
        Self { scope, state, inner: Mutex::new(Inner::default()) }
    }

    /// The cursor committed by earlier runs, if any.
    pub fn committed_cursor(&self) -> Result<Option<CursorInfo>, String> {
        let Some(json) = self.state.get(&self.scope, CURSOR_KEY).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        serde_json::from_str(&json).map(Some).map_err(|e| format!("stored cursor is unreadable: {e}"))
    }

    /// Records a source checkpoint. Sequences must increase.
    pub fn source(&self, cp: Checkpoint) -> Result<(), String> {
        let mut inner = self.inner.lock().expect("coordinator lock");
        if cp.sequence <= inner.last_source {
            return Err(format!(
                "source checkpoint sequence {} does not follow {}",
                cp.sequence, inner.last_source
            ));
        }
        inner.last_source = cp.sequence;
        inner.pending.insert(cp.sequence, cp);
        Ok(())
    }

    /// Records a destination checkpoint; when it matches a source checkpoint
    /// the cursor advances to that checkpoint's cursor. Returns the cursor
    /// now committed.
    pub fn destination(&self, cp: &Checkpoint) -> Result<Option<CursorInfo>, DestinationCheckpointError> {
        let mut inner = self.inner.lock().expect("coordinator lock");
        let Some(source) = inner.pending.get(&cp.sequence).cloned() else {
            return Err(DestinationCheckpointError::Unmatched(format!(
                "destination checkpoint {} matches no source checkpoint (last committed {}, last stated by the source {})",
                cp.sequence, inner.last_committed, inner.last_source
            )));
        };
        // Everything up to this sequence is now durable on both sides.
        inner.pending = inner.pending.split_off(&(cp.sequence + 1));
        inner.last_committed = cp.sequence;
        if let Some(cursor) = &source.cursor {
            let json = serde_json::to_string(cursor).map_err(|e| DestinationCheckpointError::State(e.to_string()))?;
            self.state.put(&self.scope, CURSOR_KEY, &json).map_err(|e| DestinationCheckpointError::State(e.to_string()))?;
        }
        Ok(source.cursor)
    }

    /// The highest sequence committed on both sides in this run.
    pub fn last_committed(&self) -> u64 {
        self.inner.lock().expect("coordinator lock").last_committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryState;
    use rapidbyte_protocol::CheckpointKind;

    fn cp(kind: CheckpointKind, sequence: u64, value: &str) -> Checkpoint {
        Checkpoint {
            kind,
            sequence,
            cursor: Some(CursorInfo { field: "id".into(), last_value: Some(value.into()), ..Default::default() }),
            records: 10,
            bytes: 100,
        }
    }

    #[test]
    fn cursor_advances_only_on_matched_checkpoints() {
        let state = Arc::new(MemoryState::default());
        let c = Coordinator::new("p/s".into(), state.clone());
        c.source(cp(CheckpointKind::Source, 1, "9")).unwrap();
        c.source(cp(CheckpointKind::Source, 2, "19")).unwrap();
        assert_eq!(c.committed_cursor().unwrap(), None, "source checkpoints alone advance nothing");
        let committed = c.destination(&cp(CheckpointKind::Destination, 1, "ignored")).unwrap();
        assert_eq!(committed.unwrap().last_value.as_deref(), Some("9"), "the source's cursor is authoritative");
        assert_eq!(c.committed_cursor().unwrap().unwrap().last_value.as_deref(), Some("9"));
        assert!(c.destination(&cp(CheckpointKind::Destination, 5, "x")).is_err(), "unmatched sequence");
        assert!(c.destination(&cp(CheckpointKind::Destination, 1, "x")).is_err(), "already committed");
        c.destination(&cp(CheckpointKind::Destination, 2, "x")).unwrap();
        assert_eq!(c.committed_cursor().unwrap().unwrap().last_value.as_deref(), Some("19"));
        assert_eq!(c.last_committed(), 2);
        assert!(c.source(cp(CheckpointKind::Source, 2, "20")).is_err(), "sequences must increase");
    }

    /// A state store that is down.
    struct Down;

    impl crate::state::StateStore for Down {
        fn get(&self, _: &str, _: &str) -> Result<Option<String>, crate::state::StateError> {
            Err(crate::state::StateError("connection refused".into()))
        }
        fn put(&self, _: &str, _: &str, _: &str) -> Result<(), crate::state::StateError> {
            Err(crate::state::StateError("disk full".into()))
        }
        fn compare_and_set(&self, _: &str, _: &str, _: Option<&str>, _: &str) -> Result<bool, crate::state::StateError> {
            Err(crate::state::StateError("disk full".into()))
        }
        fn record_run(&self, _: &crate::state::RunRecord) -> Result<(), crate::state::StateError> {
            Ok(())
        }
        fn recent_runs(&self, _: &str, _: usize) -> Result<Vec<crate::state::RunRecord>, crate::state::StateError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_failing_state_store_is_an_error_of_its_own_never_a_fresh_start() {
        let c = Coordinator::new("p/s".into(), Arc::new(Down));
        assert!(c.committed_cursor().is_err(), "a failed read is not \"no cursor\"");
        c.source(cp(CheckpointKind::Source, 1, "9")).unwrap();
        assert!(
            matches!(c.destination(&cp(CheckpointKind::Destination, 1, "9")), Err(DestinationCheckpointError::State(m)) if m.contains("disk full")),
            "a failed write is the state store's failure, not the connector's"
        );
        assert!(matches!(c.destination(&cp(CheckpointKind::Destination, 7, "9")), Err(DestinationCheckpointError::Unmatched(_))));
    }
}
