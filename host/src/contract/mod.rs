//! The contract edge: what a component is (its manifest and exported
//! contract version, read before anything runs) and the generated bindings
//! of every contract version, the only code that names one (SPEC § Roles
//! and worlds).

pub(crate) mod bindings;
pub mod component;
pub mod config_schema;
pub mod embedded;

pub use bindings::{Contract, SUPPORTED_CONTRACTS};
