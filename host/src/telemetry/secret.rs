//! Keeping secrets out of what rapidbyte prints (SPEC § Security).

/// A connection URL or key/value connection string with its password
/// replaced by `***`: `postgres://rb:pw@db/x` → `postgres://rb:***@db/x`,
/// `host=db password=pw` → `host=db password=***`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // The userinfo ends at the last '@' before the path.
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_string() };
            let mut out = format!("{scheme}://{masked}{}", &rest[at..]);
            out = redact_query(&out);
            return out;
        }
        return redact_query(url);
    }
    // key=value form.
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `?password=…` in a URL's query.
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_string() };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

/// Whether a config key holds a secret by its name (`password`,
/// `db_password`, `api_key`, `token`, `secret`, `private_key`…).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "passphrase", "credential"].iter().any(|s| k.contains(s))
}

/// A connector config with every secret masked: values under secret keys
/// become `***`, connection URLs lose their password. For `Debug` and
/// diagnostics; the connector still gets the real config.
pub fn mask_config(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let masked = match v {
                        _ if is_secret_key(k) => Value::String("***".into()),
                        Value::String(s) => Value::String(redact_url(s)),
                        other => mask_config(other),
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_config).collect()),
        Value::String(s) => Value::String(redact_url(s)),
        other => other.clone(),
    }
}

/// [`mask_config`] of a config given as JSON text (unparsable text is not shown).
pub fn mask_config_json(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json).map(|v| mask_config(&v).to_string()).unwrap_or_else(|_| "<config>".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_masked_by_key_and_by_url() {
        let c = serde_json::json!({"host": "db", "password": "hunter2", "nested": {"api_key": "k-hunter2"}, "url": "postgres://u:hunter2@db/x", "list": [{"token": "t"}]});
        let shown = mask_config(&c).to_string();
        assert!(!shown.contains("hunter2") && !shown.contains("\"t\""), "{shown}");
        assert!(shown.contains("\"host\":\"db\"") && shown.contains("postgres://u:***@db/x"), "{shown}");
        assert!(!mask_config_json(&c.to_string()).contains("hunter2"));
    }

    #[test]
    fn passwords_are_masked_in_every_form() {
        assert_eq!(redact_url("postgres://rb:s3cr@t!@db:5432/ops"), "postgres://rb:***@db:5432/ops");
        assert_eq!(redact_url("postgres://rb@db/ops"), "postgres://rb@db/ops");
        assert_eq!(redact_url("postgresql://db/ops?user=rb&password=pw1"), "postgresql://db/ops?user=rb&password=***");
        assert_eq!(redact_url("host=db user=rb password=pw2 dbname=x"), "host=db user=rb password=*** dbname=x");
        for s in [redact_url("postgres://u:hunter2@h/d"), redact_url("password=hunter2")] {
            assert!(!s.contains("hunter2"), "{s}");
        }
    }
}
