//! What the PostgreSQL connectors share to reach the server and keep their
//! books there: the connection part of their config and a connect that runs
//! inside the wasm sandbox (tokio on wasm32-wasip2, `connect_raw` over a
//! socket we open), error classification by SQLSTATE (SPEC § Errors), the
//! catalog, a destination's chunk transaction and its exactly-once
//! commit-token protocol, and SQL quoting (re-exported from
//! `rapidbyte-pgquote`, which the host uses too).
//!
//! ```no_run
//! # fn main() -> Result<(), rapidbyte_sdk::ConnectorError> {
//! // A connector with no options of its own; `validate` then connects.
//! let ((), mut pg) = rapidbyte_pgconnect::open::<()>(r#"{"host": "db", "user": "u", "database": "d"}"#)?;
//! let (rt, client) = pg.connected()?;
//! rt.block_on(rapidbyte_pgconnect::catalog::tables(client, "public"))?;
//! # Ok(()) }
//! ```

pub mod catalog;
pub mod chunk;
pub mod commit_token;
mod config;
mod connection;
mod errors;
mod shared_table;
mod silence;

pub use config::ConnectionConfig;
pub use connection::{open, Connection};
pub use errors::{classify, connect_failed};
pub use rapidbyte_pgquote::{ident, literal, qualified, split_qualified};
pub use shared_table::create_shared_table;
