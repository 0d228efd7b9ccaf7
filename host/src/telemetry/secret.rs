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

/// Every secret value this process has been given (pipeline and subject
/// configs, `${VAR}`s of secret-named variables, URL passwords), longest
/// first. [`scrub`] masks them in whatever leaves the process — the terminal,
/// logs, JSON, Prometheus text, run history — as a second line behind
/// structural masking: a connector echoing its password, a library quoting a
/// URL or a panic message cannot show one.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Values shorter than this are not scrubbed from text (a two-letter
/// password would mask every word containing it); they are still masked
/// structurally.
pub const MIN_SCRUBBED_LEN: usize = 4;

/// Adds `value` to the secrets [`scrub`] masks, with the forms it takes in
/// JSON text and in escaped guest text.
pub fn remember(value: &str) {
    if value.len() < MIN_SCRUBBED_LEN {
        return;
    }
    let json = serde_json::to_string(value).unwrap_or_default();
    let forms = [value.to_string(), json.trim_matches('"').to_string(), crate::sandbox::untrusted::escape_controls(value)];
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    for form in forms {
        if form.len() >= MIN_SCRUBBED_LEN && !known.contains(&form) {
            known.push(form);
        }
    }
    known.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// Remembers every secret in a config: string values under secret-named
/// keys (nested values too) and passwords in connection URLs anywhere.
pub fn remember_in(value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if is_secret_key(k) {
                    remember_all(v);
                } else {
                    remember_in(v);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(remember_in),
        Value::String(s) => url_passwords(s).iter().for_each(|p| remember(p)),
        _ => {}
    }
}

/// Every string and number under a secret key.
fn remember_all(value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => remember(s),
        Value::Number(n) => remember(&n.to_string()),
        Value::Array(items) => items.iter().for_each(remember_all),
        Value::Object(map) => map.values().for_each(remember_all),
        _ => {}
    }
}

/// The passwords a connection string carries: `scheme://user:pw@…` (as
/// written and percent-decoded), `?password=pw`, `password=pw`.
pub fn url_passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if let Some(at) = authority.rfind('@')
            && let Some((_, pw)) = authority[..at].split_once(':')
        {
            found.push(pw.to_string());
            found.push(percent_decode(pw));
        }
    }
    for kv in url.split(['?', '&', ' ']) {
        if let Some((k, v)) = kv.split_once('=')
            && k.eq_ignore_ascii_case("password")
        {
            found.push(v.to_string());
            found.push(percent_decode(v));
        }
    }
    found
}

/// `%XX` escapes decoded (a connection string's password or parameter).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every remembered secret replaced by `***`.
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
    let mut out = std::borrow::Cow::Borrowed(text);
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = std::borrow::Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    out
}

/// A writer that scrubs each write: tracing writes one event per call.
pub struct Scrubbing<W>(pub W);

impl<W: std::io::Write> std::io::Write for Scrubbing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A panic's message can quote a value (a URL, a config): panics are
/// printed scrubbed, in the standard hook's shape.
pub fn scrub_panics() {
    std::panic::set_hook(Box::new(|info| eprintln!("{}", panic_report(info))));
}

/// What [`scrub_panics`] prints for a panic.
pub fn panic_report(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".into());
    let thread = std::thread::current();
    let at = info.location().map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
    let name = thread.name().unwrap_or("<unnamed>");
    scrub(&format!("\nthread '{name}' panicked{at}:\n{message}\nthis is a bug in rapidbyte: please report it")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_secrets_are_scrubbed_in_every_form() {
        let c = serde_json::json!({"user": "rb", "db_password": "Pw-\"q\u{1b}-7Kx", "n": {"token": 918273645},
            "url": "postgres://rb:s%40Rt-9Vv@db/x", "short": {"secret": "ab"}});
        remember_in(&c);
        for shown in ["a Pw-\"q\u{1b}-7Kx b", r#"{"m":"Pw-\"q\u001b-7Kx"}"#, "esc Pw-\"q\\u{1b}-7Kx", "t=918273645", "s@Rt-9Vv and s%40Rt-9Vv"] {
            let s = scrub(shown);
            assert!(!s.contains("7Kx") && !s.contains("918273645") && !s.contains("Rt-9Vv"), "{shown} → {s}");
        }
        assert_eq!(scrub("rb about ab"), "rb about ab");
        let mut w = Scrubbing(Vec::new());
        std::io::Write::write_all(&mut w, b"log s@Rt-9Vv\n").unwrap();
        assert_eq!(w.0, b"log ***\n");
    }

    #[test]
    fn a_panic_never_shows_a_secret() {
        static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        remember("Hq2-panic-secret");
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| SEEN.lock().unwrap().push(panic_report(info))));
        let r = std::panic::catch_unwind(|| panic!("cannot connect to postgres://u:Hq2-panic-secret@db/x"));
        std::panic::set_hook(before);
        assert!(r.is_err());
        let seen = SEEN.lock().unwrap().iter().find(|s| s.contains("cannot connect")).cloned().expect("the hook ran");
        assert!(seen.contains("postgres://u:***@db/x") && seen.contains("secret.rs:"), "{seen}");
    }

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
