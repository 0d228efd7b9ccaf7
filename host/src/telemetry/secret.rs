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

#[cfg(test)]
mod tests {
    use super::*;

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
