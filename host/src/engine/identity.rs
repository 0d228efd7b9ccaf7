//! § Delivery: the name a pipeline's commit tokens and destination lease go
//! by. The `pipeline:` string alone would let two pipeline files that share
//! a name but read different sources share tokens — one resuming after the
//! other's position and skipping rows. So the name carries a fingerprint of
//! where the source reads from: the connector, its endpoints as the user
//! configured them, and its database, schema, path or URL (credentials
//! masked). The same pipeline run from two machines keeps one identity (and
//! one destination lease); tuning options and passwords do not change it.

use sha2::{Digest, Sha256};

use rapidbyte_protocol::Manifest;

/// Config keys that say which data a source reads, beside its endpoints.
const LOCATION_KEYS: [&str; 6] = ["database", "dbname", "schema", "path", "url", "namespace"];

/// `<name>@<fingerprint>`: the pipeline as tokens and leases know it.
pub fn token_pipeline(name: &str, source: &Manifest, config: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    let mut part = |label: &str, value: &str| {
        h.update(label.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        h.update([0]);
    };
    part("connector", &source.name);
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for ep in &source.endpoints {
        let host = config.pointer(&ep.host_pointer).map(text).unwrap_or_default();
        let port = ep
            .port_pointer
            .as_deref()
            .and_then(|p| config.pointer(p))
            .map(text)
            .or_else(|| ep.default_port.map(|p| p.to_string()))
            .unwrap_or_default();
        part("endpoint", &format!("{host}:{port}"));
    }
    for key in LOCATION_KEYS {
        if let Some(v) = config.get(key) {
            part(key, &crate::telemetry::secret::redact_url(&text(v)));
        }
    }
    let digest = h.finalize();
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}@{short}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapidbyte_protocol::EndpointField;
    use serde_json::json;

    fn postgres_source() -> Manifest {
        Manifest {
            name: "source-postgres".into(),
            endpoints: vec![EndpointField { host_pointer: "/host".into(), port_pointer: Some("/port".into()), default_port: Some(5432), tls: None }],
            version: "1".into(),
            role: rapidbyte_protocol::Role::Source,
            contract: "0.2.0".into(),
            features: Vec::new(),
        }
    }

    #[test]
    fn the_source_location_is_the_identity_and_nothing_else() {
        let m = postgres_source();
        let base = json!({"host": "db1", "port": 5432, "database": "shop", "schema": "public", "user": "u", "password": "p1", "batch_rows": 10});
        let id = token_pipeline("orders", &m, &base);
        assert!(id.starts_with("orders@"), "{id}");
        // Credentials and tuning leave it alone; an omitted port is the default.
        let same = json!({"host": "db1", "database": "shop", "schema": "public", "user": "v", "password": "p2", "batch_rows": 99});
        assert_eq!(token_pipeline("orders", &m, &same), id);
        // Another server, database or schema is another pipeline, even under one name.
        for other in [
            json!({"host": "db2", "port": 5432, "database": "shop", "schema": "public"}),
            json!({"host": "db1", "port": 5433, "database": "shop", "schema": "public"}),
            json!({"host": "db1", "port": 5432, "database": "crm", "schema": "public"}),
            json!({"host": "db1", "port": 5432, "database": "shop", "schema": "staging"}),
        ] {
            assert_ne!(token_pipeline("orders", &m, &other), id, "{other}");
        }
        let url = |pw: &str| json!({"url": format!("postgres://u:{pw}@db1/shop")});
        assert_eq!(token_pipeline("o", &m, &url("a")), token_pipeline("o", &m, &url("b")), "a password in a URL is not identity");
    }
}
