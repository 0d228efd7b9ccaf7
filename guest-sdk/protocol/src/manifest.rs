//! The manifest a component carries in a custom section, read by the host
//! before it instantiates anything (role, versions, features, and which
//! config fields name network endpoints — SPEC § Security).
//!
//! The format is plain `key=value` lines so that the SDK's export macros can
//! build it with `concat!` at compile time:
//!
//! ```text
//! rapidbyte-manifest=1
//! name=source-postgres
//! version=0.1.0
//! role=source
//! contract=0.1.0
//! feature=incremental
//! endpoint=/host,/port,5432
//! ```
//!
//! An `endpoint` line names a JSON pointer to a host field, a JSON pointer to
//! a port field (may be empty) and a default port (may be empty).

use std::fmt;
use std::str::FromStr;

use crate::Feature;

/// The custom section that holds the manifest.
pub const MANIFEST_SECTION: &str = "rapidbyte:manifest";

/// The custom section that holds the component's config schema (optional):
/// a JSON Schema of its config section, which the host checks at preflight
/// (SPEC § Roles and worlds, config schema).
pub const CONFIG_SCHEMA_SECTION: &str = "rapidbyte:config-schema";

/// The manifest format's version.
pub const MANIFEST_FORMAT: &str = "1";

/// Which world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// World `source`.
    Source,
    /// World `destination`.
    Destination,
    /// World `transform`.
    Transform,
}

impl Role {
    /// The world's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Destination => "destination",
            Self::Transform => "transform",
        }
    }

    /// The exported interface of this role's world.
    pub fn export_interface(self) -> &'static str {
        match self {
            Self::Source => "source-connector",
            Self::Destination => "destination-connector",
            Self::Transform => "transform-connector",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "source" => Ok(Self::Source),
            "destination" => Ok(Self::Destination),
            "transform" => Ok(Self::Transform),
            other => Err(format!("unknown role `{other}` (expected source, destination or transform)")),
        }
    }
}

/// A config field pair naming a network endpoint the connector needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointField {
    /// JSON pointer to the host (or `host:port`) string, e.g. `/host`.
    pub host_pointer: String,
    /// JSON pointer to the port, e.g. `/port`; `None` when the host field carries it.
    pub port_pointer: Option<String>,
    /// The port used when the config gives none.
    pub default_port: Option<u16>,
    /// How the host provides TLS on this endpoint (`endpoint-tls=<host-pointer>,postgres`):
    /// `Some("postgres")` — the host negotiates PostgreSQL's SSLRequest and TLS
    /// itself, per the `sslmode` settings beside the host field, and relays
    /// the plaintext to the guest (SPEC § Security, TLS).
    pub tls: Option<String>,
}

/// What a component declares about itself before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The connector's name.
    pub name: String,
    /// Its own version.
    pub version: String,
    /// The world it implements.
    pub role: Role,
    /// The contract version it was built against.
    pub contract: String,
    /// The features it declares.
    pub features: Vec<Feature>,
    /// The config fields that name endpoints it needs to reach.
    pub endpoints: Vec<EndpointField>,
}

/// A manifest that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid connector manifest: {}", self.0)
    }
}

impl std::error::Error for ManifestError {}

impl Manifest {
    /// Parses the manifest text.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let err = |m: String| ManifestError(m);
        let mut format = None;
        let (mut name, mut version, mut role, mut contract) = (None, None, None, None);
        let mut features = Vec::new();
        let mut endpoints = Vec::new();
        let mut tls = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| err(format!("line {}: expected key=value, found `{line}`", n + 1)))?;
            match key {
                "rapidbyte-manifest" => format = Some(value.to_string()),
                "name" => name = Some(value.to_string()),
                "version" => version = Some(value.to_string()),
                "role" => role = Some(value.parse::<Role>().map_err(err)?),
                "contract" => contract = Some(value.to_string()),
                "feature" => features.push(value.parse::<Feature>().map_err(err)?),
                "endpoint" => endpoints.push(parse_endpoint(value).map_err(err)?),
                "endpoint-tls" => tls.push(value.to_string()),
                // Unknown keys come from newer SDKs; they add, never change meaning.
                _ => {}
            }
        }
        match format.as_deref() {
            Some(MANIFEST_FORMAT) => {}
            Some(other) => return Err(err(format!("manifest format {other} is not supported (expected {MANIFEST_FORMAT})"))),
            None => return Err(err("missing `rapidbyte-manifest` line".into())),
        }
        for t in tls {
            let (host, protocol) = t.split_once(',').map(|(h, p)| (h.trim(), p.trim())).unwrap_or((t.as_str(), ""));
            if protocol != "postgres" {
                return Err(err(format!("endpoint-tls `{t}`: expected `<host-pointer>,postgres`")));
            }
            let ep = endpoints
                .iter_mut()
                .find(|e: &&mut EndpointField| e.host_pointer == host)
                .ok_or_else(|| err(format!("endpoint-tls `{t}`: no endpoint has host field `{host}`")))?;
            ep.tls = Some(protocol.to_string());
        }
        let missing = |k: &str| err(format!("missing `{k}`"));
        Ok(Self {
            name: name.ok_or_else(|| missing("name"))?,
            version: version.ok_or_else(|| missing("version"))?,
            role: role.ok_or_else(|| missing("role"))?,
            contract: contract.ok_or_else(|| missing("contract"))?,
            features,
            endpoints,
        })
    }

    /// Renders the manifest text (the inverse of [`Manifest::parse`]).
    pub fn render(&self) -> String {
        let mut out = format!(
            "rapidbyte-manifest={MANIFEST_FORMAT}\nname={}\nversion={}\nrole={}\ncontract={}\n",
            self.name, self.version, self.role, self.contract
        );
        for f in &self.features {
            out.push_str(&format!("feature={f}\n"));
        }
        for e in &self.endpoints {
            out.push_str(&format!(
                "endpoint={},{},{}\n",
                e.host_pointer,
                e.port_pointer.as_deref().unwrap_or(""),
                e.default_port.map(|p| p.to_string()).unwrap_or_default()
            ));
        }
        for e in self.endpoints.iter().filter(|e| e.tls.is_some()) {
            out.push_str(&format!("endpoint-tls={},{}\n", e.host_pointer, e.tls.as_deref().unwrap_or_default()));
        }
        out
    }
}

fn parse_endpoint(value: &str) -> Result<EndpointField, String> {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    let [host, port, default_port] = parts[..] else {
        return Err(format!("endpoint `{value}`: expected `host-pointer,port-pointer,default-port`"));
    };
    if !host.starts_with('/') {
        return Err(format!("endpoint `{value}`: the host field must be a JSON pointer such as `/host`"));
    }
    let default_port = match default_port {
        "" => None,
        p => Some(p.parse::<u16>().map_err(|_| format!("endpoint `{value}`: bad default port `{p}`"))?),
    };
    Ok(EndpointField {
        host_pointer: host.to_string(),
        port_pointer: (!port.is_empty()).then(|| port.to_string()),
        default_port,
        tls: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            name: "source-postgres".into(),
            version: "0.1.0".into(),
            role: Role::Source,
            contract: "0.1.0".into(),
            features: vec![Feature::Incremental, Feature::PartitionedRead],
            endpoints: vec![EndpointField {
                host_pointer: "/host".into(),
                port_pointer: Some("/port".into()),
                default_port: Some(5432),
                tls: Some("postgres".into()),
            }],
        }
    }

    #[test]
    fn render_and_parse_round_trip() {
        let m = sample();
        assert_eq!(Manifest::parse(&m.render()), Ok(m));
    }

    #[test]
    fn rejects_missing_fields_and_bad_values() {
        assert!(Manifest::parse("name=x").unwrap_err().0.contains("rapidbyte-manifest"));
        let no_role = "rapidbyte-manifest=1\nname=x\nversion=1\ncontract=0.1.0\n";
        assert!(Manifest::parse(no_role).unwrap_err().0.contains("role"));
        let bad_feature = format!("{}feature=teleport\n", sample().render());
        assert!(Manifest::parse(&bad_feature).unwrap_err().0.contains("teleport"));
        let bad_port = sample().render().replace("5432", "99999");
        assert!(Manifest::parse(&bad_port).is_err());
    }
}
