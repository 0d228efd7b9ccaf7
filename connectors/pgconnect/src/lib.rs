//! What both PostgreSQL connectors need to reach the server: the connection
//! part of their config, a connect that runs inside the wasm sandbox
//! (tokio on wasm32-wasip2, `connect_raw` over a socket we open), and error
//! classification by SQLSTATE (SPEC § Errors).

pub mod catalog;
mod config;
mod errors;

pub use config::ConnectionConfig;
pub use errors::{classify, connect_failed};

use rapidbyte_sdk::ConnectorError;
use tokio_postgres::{Client, NoTls};

/// Fails with a `config` error naming the keys serde did not recognise
/// (collect them with a trailing `#[serde(flatten)] BTreeMap<String, IgnoredAny>`;
/// `deny_unknown_fields` does not work across flattened structs).
pub fn reject_unknown(unknown: &std::collections::BTreeMap<String, serde::de::IgnoredAny>) -> Result<(), ConnectorError> {
    if unknown.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = unknown.keys().map(String::as_str).collect();
    Err(ConnectorError::config("INVALID_CONFIG", format!("unknown config key(s): {}", keys.join(", "))))
}

/// A current-thread runtime for the connector's blocking calls.
pub fn runtime() -> Result<tokio::runtime::Runtime, ConnectorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ConnectorError::internal("RUNTIME", e.to_string()))
}

/// Opens a session (call inside the runtime). The connection task runs on
/// the same runtime; the session uses UTC and ISO dates so any text the
/// connector reads back (cursor values) is exact and stable.
pub async fn connect(c: &ConnectionConfig) -> Result<Client, ConnectorError> {
    let endpoint = format!("{}:{}", c.host, c.port);
    let stream = tokio::time::timeout(c.connect_timeout(), tokio::net::TcpStream::connect((c.host.as_str(), c.port)))
        .await
        .map_err(|_| {
            ConnectorError::transient_network(
                "CONNECT_TIMEOUT",
                format!("no answer from {endpoint} within {} s", c.connect_timeout_seconds),
            )
        })?
        .map_err(|e| connect_failed(&e, &endpoint))?;
    let _ = stream.set_nodelay(true);
    let mut pg = tokio_postgres::Config::new();
    pg.user(&c.user).dbname(&c.database).application_name(&c.application_name);
    if let Some(p) = &c.password {
        pg.password(p);
    }
    let (client, connection) = pg.connect_raw(stream, NoTls).await.map_err(|e| classify(&e, None))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
        // standard_conforming_strings: `literal` doubles quotes only, which is
        // exact only with backslashes literal; extra_float_digits: any float
        // printed as text round-trips.
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
             SET standard_conforming_strings = on; SET extra_float_digits = 3",
        )
        .await
        .map_err(|e| classify(&e, None))?;
    // tokio-postgres asks for UTF8; a SQL_ASCII database then refuses to send
    // a row whose bytes are not UTF-8, aborting the whole COPY. Take its bytes
    // as stored instead, so the decoder sees the row and the on-data-error
    // policy decides (SPEC § Errors).
    let encoding: String = client.query_one("SHOW server_encoding", &[]).await.map_err(|e| classify(&e, None))?.get(0);
    if encoding.eq_ignore_ascii_case("SQL_ASCII") {
        client.batch_execute("SET client_encoding = 'SQL_ASCII'").await.map_err(|e| classify(&e, None))?;
    }
    Ok(client)
}

/// `"name"` with embedded quotes doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'value'` with embedded quotes doubled (standard_conforming_strings is on
/// since PostgreSQL 9.1; backslashes are literal).
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
