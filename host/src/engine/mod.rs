//! The engine: one pipeline run (`run`, after `preflight`), each stream's
//! source and destination tasks and the batch channel between them
//! (`stream`, `channel`), checkpoint coordination (`checkpoint`), retries
//! (`supervise` applying the pure `retry::decide`) and cancellation
//! (`cancel`).

pub mod cancel;
pub mod channel;
pub mod checkpoint;
pub mod preflight;
pub mod retry;
pub mod run;
pub mod stream;
pub mod supervise;
