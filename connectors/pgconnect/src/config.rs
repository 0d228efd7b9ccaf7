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
    /// TLS: `disable`, `prefer` (default), `require`, `verify-ca` or
    /// `verify-full`, as libpq. The host runs TLS natively (the manifest's
    /// `endpoint-tls`) and relays plaintext to this connector, so these four
    /// settings are read by the host, not here.
    #[serde(default)]
    pub sslmode: Option<String>,
    /// PEM file of the CA certificates that sign the server's (host path).
    #[serde(default)]
    pub sslrootcert: Option<String>,
    /// PEM client certificate (host path), with `sslkey`.
    #[serde(default)]
    pub sslcert: Option<String>,
    /// PEM private key of `sslcert` (host path); it never enters the sandbox.
    #[serde(default)]
    pub sslkey: Option<String>,
    /// Set by the host when it relays this endpoint's TLS: `host:port` then
    /// point at the relay, which expects this token as the first bytes.
    #[serde(default)]
    pub host_tls_relay: Option<String>,
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
        // Without the host's relay (a host that does not provide TLS), a
        // mode that demands TLS must not quietly fall back to plaintext.
        match (c.sslmode.as_deref().unwrap_or("prefer"), &c.host_tls_relay) {
            ("disable" | "prefer", _) | (_, Some(_)) => {}
            (mode @ ("require" | "verify-ca" | "verify-full"), None) => {
                return Err(ConnectorError::config(
                    "TLS_UNAVAILABLE",
                    format!("sslmode `{mode}` needs TLS, which this host did not provide for `host`; use a rapidbyte host with TLS support"),
                ));
            }
            (other, None) => {
                return Err(ConnectorError::config(
                    "INVALID_CONFIG",
                    format!("sslmode must be disable, prefer, require, verify-ca or verify-full, not `{}`", other.escape_debug()),
                ));
            }
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
