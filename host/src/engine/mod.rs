//! The engine: one pipeline run (`run`, after `preflight`), each stream's
//! source and destination tasks and the batch channel between them
//! (`stream`, `channel`), checkpoint coordination (`checkpoint`), the
//! identity tokens and leases go by (`identity`), retries
//! (`supervise` applying the pure `retry::decide`), what a whole stream's
//! earlier run committed (`whole_stream`) and cancellation (`cancel`).

pub mod cancel;
pub mod channel;
pub mod checkpoint;
pub mod identity;
pub mod preflight;
pub mod retry;
pub mod run;
pub mod stream;
pub mod supervise;
pub mod whole_stream;
