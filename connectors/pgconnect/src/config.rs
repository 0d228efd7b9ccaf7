//! The connection part of a PostgreSQL connector's config.

use std::time::Duration;

use rapidbyte_sdk::ConnectorError;
use serde::Deserialize;

/// Connection settings, flattened into each connector's config. The host
/// grants network access to exactly `host:port` (declared in the export
/// macro as an endpoint).
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionConfig {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    #[serde(default = "default_port", deserialize_with = "rapidbyte_sdk::config::lenient")]
    pub port: u16,
    /// Role to connect as.
    pub user: String,
    /// Password (omit for trust authentication). Use `${VAR}` in the pipeline file.
    #[serde(default)]
    pub password: Option<String>,
    /// Database name.
    pub database: String,
    /// Schema holding the tables (default `public`).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Seconds to wait for a connection.
    #[serde(default = "default_connect_timeout", deserialize_with = "rapidbyte_sdk::config::lenient")]
    pub connect_timeout_seconds: u64,
    /// Seconds the server may stay silent while it owes an answer before
    /// the connection is given up as lost (a transient error; 0: never).
    #[serde(default = "default_io_timeout", deserialize_with = "rapidbyte_sdk::config::lenient")]
    pub io_timeout_seconds: u64,
    /// `application_name` shown in pg_stat_activity.
    #[serde(default = "default_application_name")]
    pub application_name: String,
}

fn default_port() -> u16 {
    5432
}
fn default_schema() -> String {
    "public".into()
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_io_timeout() -> u64 {
    300
}
fn default_application_name() -> String {
    "rapidbyte".into()
}

impl ConnectionConfig {
    /// Checks the fields (no I/O).
    pub fn check(&self) -> Result<(), ConnectorError> {
        let c = self;
        if c.host.trim().is_empty() || c.user.trim().is_empty() || c.database.trim().is_empty() {
            return Err(ConnectorError::config("INVALID_CONFIG", "host, user and database must not be empty"));
        }
        if c.connect_timeout_seconds == 0 {
            return Err(ConnectorError::config("INVALID_CONFIG", "connect_timeout_seconds must be at least 1"));
        }
        Ok(())
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_seconds)
    }
}
