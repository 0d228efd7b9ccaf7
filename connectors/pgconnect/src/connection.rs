//! One connector instance's way to the server. [`open`] parses the config
//! and makes the runtime (no I/O); the session is opened on first use and
//! kept until [`Connection::close`], so `validate`, `discover`, `committed`
//! and every stream of the instance share it (and a destination's run
//! lease lives exactly as long as it).

use std::collections::BTreeMap;
use std::time::Duration;

use rapidbyte_sdk::ConnectorError;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

use crate::{classify, connect_failed, ConnectionConfig};

/// A PostgreSQL connector's config: the connection fields, the connector's
/// own options beside them, and nothing else.
#[derive(Deserialize)]
struct Config<T> {
    #[serde(flatten)]
    connection: ConnectionConfig,
    #[serde(flatten)]
    options: T,
    // What neither recognised (`deny_unknown_fields` does not work across
    // flattened structs).
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

/// A connector's `open`: parses `json` into the connection and the
/// connector's own options `T` (a struct of named fields, or `()` for
/// none), refuses unknown keys and checks the connection fields, all as
/// `config` errors. Nothing is connected yet.
pub fn open<T: DeserializeOwned>(json: &str) -> Result<(T, Connection), ConnectorError> {
    let config: Config<T> = rapidbyte_sdk::config::parse(json)?;
    if !config.unknown.is_empty() {
        let keys: Vec<&str> = config.unknown.keys().map(String::as_str).collect();
        return Err(ConnectorError::config("INVALID_CONFIG", format!("unknown config key(s): {}", keys.join(", "))));
    }
    config.connection.check()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ConnectorError::internal("RUNTIME", e.to_string()))?;
    Ok((config.options, Connection { config: config.connection, rt, client: None }))
}

/// The connection settings, the current-thread runtime the connector's
/// calls block on, and the session once opened.
pub struct Connection {
    config: ConnectionConfig,
    rt: Runtime,
    client: Option<Client>,
}

impl Connection {
    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The runtime and the session, connecting on first use; later calls
    /// reuse the session.
    pub fn connected(&mut self) -> Result<(&Runtime, &Client), ConnectorError> {
        if self.client.is_none() {
            self.client = Some(self.rt.block_on(connect(&self.config))?);
        }
        Ok((&self.rt, self.client.as_ref().expect("connected")))
    }

    /// Ends the session (and the session-level locks it holds); the next
    /// [`Connection::connected`] opens a new one.
    pub fn close(&mut self) {
        self.client = None;
    }
}

/// Opens a session (inside the runtime). The connection task runs on the
/// same runtime; the session uses UTC and ISO dates so any text the
/// connector reads back (cursor values) is exact and stable.
async fn connect(c: &ConnectionConfig) -> Result<Client, ConnectorError> {
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
    // § Security, TLS: the host's relay speaks TLS to the server; it first
    // checks that this connection is the guest's, by the token it gave us.
    let mut stream = stream;
    if let Some(token) = &c.host_tls_relay {
        use tokio::io::AsyncWriteExt;
        stream.write_all(token.as_bytes()).await.map_err(|e| connect_failed(&e, &endpoint))?;
    }
    let mut pg = tokio_postgres::Config::new();
    pg.user(&c.user).dbname(&c.database).application_name(&c.application_name);
    if let Some(p) = &c.password {
        pg.password(p);
    }
    // § Errors: a server silent while it owes an answer is a lost connection.
    let limit = (c.io_timeout_seconds > 0).then(|| Duration::from_secs(c.io_timeout_seconds)).unwrap_or(Duration::from_secs(365 * 86_400));
    let stream = crate::silence::Watched::new(stream, limit);
    let (client, connection) = pg.connect_raw(stream, NoTls).await.map_err(|e| classify(&e, None))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
        // standard_conforming_strings: catalog SQL (a domain's CHECK and
        // DEFAULT) is printed by the source and replayed by the destination
        // under one rule for backslashes; extra_float_digits: any float
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Options {
        #[serde(default)]
        mode: String,
    }

    #[test]
    fn open_splits_connection_and_options_and_refuses_the_rest() {
        let (options, pg) = open::<Options>(r#"{"host": "db", "user": "u", "database": "d", "mode": "m"}"#).unwrap();
        assert_eq!((options.mode.as_str(), pg.config().port, pg.config().schema.as_str()), ("m", 5432, "public"));
        let e = open::<()>(r#"{"host": "db", "user": "u", "database": "d", "mode": "m", "zz": 1}"#).err().unwrap();
        assert_eq!(e.code, "INVALID_CONFIG");
        assert!(e.message.ends_with("unknown config key(s): mode, zz"), "{}", e.message);
        let e = open::<()>(r#"{"host": " ", "user": "u", "database": "d"}"#).err().unwrap();
        assert!(e.message.contains("must not be empty"), "{}", e.message);
    }
}
