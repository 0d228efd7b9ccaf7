//! Generated bindings, one private module per contract version, with the
//! conversions into the plain domain types of `rapidbyte-protocol` beside
//! them. Generated types never leave this module (ARCHITECTURE.md).

pub(crate) mod v0_1;

/// The contract versions this host loads, newest first.
pub const SUPPORTED_CONTRACTS: &[&str] = &["0.1.0"];
