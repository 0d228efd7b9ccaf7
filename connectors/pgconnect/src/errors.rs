//! PostgreSQL failures as contract errors, classified by SQLSTATE and I/O
//! error kind, never by message text (SPEC § Errors).

use std::io;

use rapidbyte_sdk::ConnectorError;
use tokio_postgres::error::SqlState;

/// Classifies a tokio-postgres error; `stream` names the stream in messages.
pub fn classify(e: &tokio_postgres::Error, stream: Option<&str>) -> ConnectorError {
    let on = stream.map(|s| format!(" (stream `{s}`)")).unwrap_or_default();
    if let Some(db) = e.as_db_error() {
        let mut msg = format!("{}{on}: {}", db.code().code(), db.message());
        // For COPY this names the row: "COPY t, line 42".
        if let Some(place) = db.where_() {
            msg.push_str(&format!(" ({place})"));
        }
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            ConnectorError::auth("AUTH_FAILED", format!("{msg}; check user and password"))
        } else if *code == SqlState::UNDEFINED_TABLE {
            ConnectorError::config("NOT_FOUND", format!("{msg}; check the stream's table name"))
        } else if *code == SqlState::UNDEFINED_COLUMN {
            ConnectorError::config("NOT_FOUND", format!("{msg}; check the stream's columns"))
        } else if *code == SqlState::INVALID_SCHEMA_NAME {
            ConnectorError::config("NOT_FOUND", format!("{msg}; check the schema name"))
        } else if *code == SqlState::UNDEFINED_OBJECT {
            ConnectorError::schema("NOT_FOUND", msg)
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            ConnectorError::config("DATABASE_NOT_FOUND", format!("{msg}; check `database`"))
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            ConnectorError::permission(
                "PERMISSION_DENIED",
                format!("{msg}; grant the user the privilege this statement needs (SELECT to read a table; INSERT, or CREATE on the schema, to write one)"),
            )
        } else if code.code().starts_with("08") {
            // Connection exceptions, the host's TLS relay's `08001`
            // (server unreachable) included: the network, so retried.
            ConnectorError::transient_network("UNREACHABLE", msg)
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::QUERY_CANCELED
        {
            ConnectorError::transient_db("DB_TRANSIENT", msg)
        } else if *code == SqlState::DISK_FULL || *code == SqlState::OUT_OF_MEMORY || *code == SqlState::LOCK_NOT_AVAILABLE {
            ConnectorError::transient_db("DB_TRANSIENT", msg)
        } else if *code == SqlState::UNIQUE_VIOLATION {
            // A way forward for a replay into a keyed table (an earlier run's
            // rows, or a chunk whose COMMIT answer was lost).
            ConnectorError::data(
                "BAD_VALUE",
                format!(
                    "{msg}; if the target already holds these rows (a rerun, or a replay after a lost COMMIT answer), \
                     use `delivery: exactly-once`, `write_mode: upsert` with `primary_key`, or `on_data_error: skip` to go on"
                ),
            )
        } else if code.code().starts_with("22") || code.code().starts_with("23") {
            ConnectorError::data("BAD_VALUE", msg)
        } else {
            ConnectorError::internal("DB_ERROR", msg)
        };
    }
    if e.is_closed() {
        return ConnectorError::transient_network("CONNECTION_CLOSED", format!("the server closed the connection{on}"));
    }
    // No SQLSTATE: an I/O or protocol failure on the wire.
    ConnectorError::transient_network("CONNECTION_FAILED", format!("connection to the server failed{on}: {e}"))
}

/// Classifies a failure to open the TCP connection.
pub fn connect_failed(e: &io::Error, endpoint: &str) -> ConnectorError {
    match e.kind() {
        io::ErrorKind::PermissionDenied => ConnectorError::permission(
            "ENDPOINT_NOT_GRANTED",
            format!("the sandbox refused the connection to {endpoint}; the host grants only the host:port in this connector's config and its `sandbox.grants`"),
        ),
        _ => ConnectorError::transient_network(
            "UNREACHABLE",
            format!("cannot connect to PostgreSQL at {endpoint}: {e}; check host and port, and that the server is running"),
        ),
    }
}
