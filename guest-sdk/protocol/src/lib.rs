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

/// The newest contract version, the one this crate describes and the SDK
/// builds components for, as a literal (for `concat!`). It is the one place
/// the version is written: the SDK derives its WIT folder, its world names
/// and the manifest's `contract=` line from it.
#[macro_export]
macro_rules! contract_version {
    () => {
        "0.2.0"
    };
}

/// The newest contract version (`rapidbyte:connector@0.2.0`).
pub const CONTRACT_VERSION: &str = contract_version!();

/// The folder under `wit/` holding `version`'s WIT, e.g. `v0.2` for `0.2.0`.
pub fn wit_folder(version: &str) -> String {
    let mut parts = version.split('.');
    format!("v{}.{}", parts.next().unwrap_or("0"), parts.next().unwrap_or("0"))
}

/// Arrow metadata keys shared by connectors (SPEC § Schema).
pub mod schema_metadata {
    /// Schema-level: the stream's primary key columns, comma-separated, in key order.
    pub const PRIMARY_KEY: &str = "rapidbyte.primary_key";
}
