//! Plain Rust types of the Rapidbyte connector contract.
//!
//! The WIT files under `wit/` are the contract at run time; this crate is its
//! one copy at compile time. The host converts wasmtime's generated bindings
//! into these types at its edge, and the guest SDK converts wit-bindgen's, so
//! neither side grows a second copy that could drift. No wasm or wasmtime
//! dependency lives here.
//!
//! ```
//! use rapidbyte_protocol::{CommitState, ConnectorError, ErrorCategory};
//!
//! let err = ConnectorError::transient_db("COMMIT_FAILED", "connection lost during COMMIT")
//!     .with_commit_state(CommitState::AfterCommitUnknown);
//! assert_eq!(err.category, ErrorCategory::TransientDb);
//! assert!(err.retryable);
//! assert!(!err.safe_to_retry, "an unknown commit is never safe to retry blindly");
//! ```

#![deny(missing_docs)]

mod context;
mod error;
mod manifest;
mod telemetry;
mod wit_conversions;

pub use context::*;
pub use error::*;
pub use manifest::*;
pub use telemetry::*;

/// The contract version this crate describes (`rapidbyte:connector@0.1.0`).
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Arrow metadata keys shared by connectors (SPEC § Schema).
pub mod schema_metadata {
    /// Schema-level: the stream's primary key columns, comma-separated, in key order.
    pub const PRIMARY_KEY: &str = "rapidbyte.primary_key";
}
