//! `rapidbyte init`: a commented pipeline file from what a PostgreSQL source
//! says of its tables (its `discover`), with defaults `check` accepts:
//! incremental where a cursor column exists, upsert on the primary key,
//! full-refresh replace otherwise, and the password as `${VAR}`, never its
//! value.

use std::fmt::Write;

/// One side's connection, as written into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    pub schema: String,
    /// The environment variable the file reads the password from, if it needs one.
    pub password_var: Option<String>,
}

impl Endpoint {
    /// Reads `postgres://user[:password]@host[:port]/database`; the password,
    /// when given, is returned apart (for discovery only).
    pub fn from_url(url: &str, schema: &str, password_var: &str) -> Result<(Self, Option<String>), String> {
        use std::str::FromStr;
        let config = tokio_postgres::Config::from_str(url).map_err(|_| "not a PostgreSQL URL (postgres://user@host:5432/database)".to_string())?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => return Err("the URL names no TCP host".into()),
        };
        let password = config.get_password().map(|p| String::from_utf8_lossy(p).into_owned());
        let endpoint = Self {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config.get_user().ok_or("the URL names no user")?.to_string(),
            database: config.get_dbname().ok_or("the URL names no database")?.to_string(),
            schema: schema.to_string(),
            password_var: password.as_ref().map(|_| password_var.to_string()),
        };
        Ok((endpoint, password))
    }

    /// The connector config as JSON (with `password` when given), for discovery.
    pub fn config(&self, password: Option<&str>) -> serde_json::Value {
        let mut c = serde_json::json!({"host": self.host, "port": self.port, "user": self.user, "database": self.database, "schema": self.schema});
        if let Some(p) = password {
            c["password"] = p.into();
        }
        c
    }

    fn yaml(&self) -> String {
        let mut fields = vec![
            format!("host: {}", quoted(&self.host)),
            format!("port: {}", self.port),
            format!("user: {}", quoted(&self.user)),
            format!("database: {}", quoted(&self.database)),
            format!("schema: {}", quoted(&self.schema)),
        ];
        if let Some(var) = &self.password_var {
            fields.push(format!("password: \"${{{var}}}\""));
        }
        format!("{{{}}}", fields.join(", "))
    }
}

/// A table as the source described it.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub primary_key: Vec<String>,
    pub cursor_candidates: Vec<String>,
    /// Column names and their Arrow types, in order.
    pub columns: Vec<(String, arrow_schema::DataType)>,
}

/// How one stream is moved, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cursor: Option<String>,
    pub tie_breaker: Option<String>,
    pub upsert: bool,
    pub why: String,
}

/// Column names that say "changed at" (a cursor that also sees updates).
const UPDATED: [&str; 6] = ["updated_at", "modified_at", "last_modified", "updated", "modified", "changed_at"];

/// The defaults for a table: a change-time column as the cursor (updates
/// seen), else a single integer primary key (inserts only), else a full
/// refresh; upsert on the primary key when there is one.
pub fn plan(t: &Table) -> Plan {
    use arrow_schema::DataType as D;
    let kind = |name: &str| t.columns.iter().find(|(n, _)| n == name).map(|(_, ty)| ty.clone());
    let updated = UPDATED
        .iter()
        .find_map(|u| t.cursor_candidates.iter().find(|c| c.eq_ignore_ascii_case(u) && matches!(kind(c), Some(D::Timestamp(..) | D::Date32 | D::Date64))));
    let single_key = (t.primary_key.len() == 1).then(|| t.primary_key[0].clone());
    let integer_key = single_key
        .clone()
        .filter(|k| t.cursor_candidates.contains(k) && matches!(kind(k), Some(D::Int16 | D::Int32 | D::Int64)));
    let upsert = !t.primary_key.is_empty();
    match (updated, integer_key) {
        (Some(u), _) => Plan {
            cursor: Some(u.clone()),
            tie_breaker: single_key.filter(|k| k != u),
            upsert,
            why: format!("incremental on `{u}` (a change time: new and updated rows are read)"),
        },
        (None, Some(k)) => Plan {
            cursor: Some(k.clone()),
            tie_breaker: None,
            upsert,
            why: format!("incremental on the key `{k}`: new rows only; updates are not seen (use full-refresh, or a change-time cursor)"),
        },
        (None, None) => Plan { cursor: None, tie_breaker: None, upsert: false, why: "full refresh: no column tells new rows apart".into() },
    }
}

/// The pipeline file.
pub fn render(pipeline: &str, source: &Endpoint, destination: &Endpoint, tables: &[Table]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Written by `rapidbyte init`: review it, then `rapidbyte check` and `rapidbyte run` this file.");
    let _ = writeln!(out, "# Every key is in README.md (\"The pipeline file\"); `${{VAR}}` is read from the environment.");
    let _ = writeln!(out, "pipeline: {}", quoted(pipeline));
    let _ = writeln!(out, "source:\n  use: postgres\n  config: {}", source.yaml());
    let _ = writeln!(out, "destination:\n  use: postgres\n  config: {}", destination.yaml());
    let _ = writeln!(out, "streams:");
    if tables.is_empty() {
        let _ = writeln!(out, "  [] # the source schema `{}` holds no tables", source.schema.escape_debug());
    }
    for t in tables {
        let p = plan(t);
        let columns = if t.columns.len() == 1 { "1 column".to_string() } else { format!("{} columns", t.columns.len()) };
        let _ = writeln!(out, "  # {columns}; {}", p.why);
        let _ = writeln!(out, "  - name: {}", quoted(&t.name));
        match &p.cursor {
            Some(c) => {
                let _ = writeln!(out, "    sync_mode: incremental\n    cursor_field: {}", quoted(c));
                if let Some(tb) = &p.tie_breaker {
                    let _ = writeln!(out, "    tie_breaker: {}", quoted(tb));
                }
            }
            None => {
                let _ = writeln!(out, "    sync_mode: full-refresh");
            }
        }
        if p.upsert {
            let keys: Vec<String> = t.primary_key.iter().map(|k| quoted(k)).collect();
            let _ = writeln!(out, "    write_mode: upsert\n    primary_key: [{}]", keys.join(", "));
        } else if p.cursor.is_some() {
            let _ = writeln!(out, "    write_mode: append    # no primary key: a re-read row is appended again");
        } else {
            let _ = writeln!(out, "    write_mode: replace");
        }
    }
    let _ = writeln!(out, "# Delivery is `auto`: exactly-once where the destination allows it (PostgreSQL does).");
    out
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType as D, TimeUnit};

    fn table(name: &str, pk: &[&str], cols: &[(&str, D)]) -> Table {
        Table {
            name: name.into(),
            primary_key: pk.iter().map(|s| s.to_string()).collect(),
            cursor_candidates: cols.iter().map(|(n, _)| n.to_string()).collect(),
            columns: cols.iter().map(|(n, t)| (n.to_string(), t.clone())).collect(),
        }
    }

    #[test]
    fn the_cursor_is_a_change_time_else_an_integer_key_else_none() {
        let ts = D::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
        let orders = plan(&table("orders", &["id"], &[("id", D::Int64), ("updated_at", ts), ("note", D::Utf8)]));
        assert_eq!((orders.cursor.as_deref(), orders.tie_breaker.as_deref(), orders.upsert), (Some("updated_at"), Some("id"), true));
        let events = plan(&table("events", &["id"], &[("id", D::Int64), ("body", D::Utf8)]));
        assert_eq!((events.cursor.as_deref(), events.upsert), (Some("id"), true));
        let tags = plan(&table("tags", &[], &[("name", D::Utf8)]));
        assert_eq!((tags.cursor, tags.upsert), (None, false));
        let text_key = plan(&table("codes", &["code"], &[("code", D::Utf8)]));
        // A full refresh replaces the table, key or not.
        assert_eq!((text_key.cursor, text_key.upsert), (None, false));
    }

    #[test]
    fn the_file_quotes_names_and_never_holds_the_password() {
        let (src, password) = Endpoint::from_url("postgres://app:s3cr%23t@db.internal:6543/shop", "public", "PGPASSWORD").unwrap();
        assert_eq!((src.host.as_str(), src.port, password.as_deref()), ("db.internal", 6543, Some("s3cr#t")));
        let dst = Endpoint { schema: "copy".into(), password_var: None, ..src.clone() };
        let text = render("shop", &src, &dst, &[table("we\"ird: name", &[], &[("n", D::Utf8)])]);
        assert!(!text.contains("s3cr"), "{text}");
        assert!(text.contains(r#"password: "${PGPASSWORD}""#) && text.contains(r#"- name: "we\"ird: name""#), "{text}");
        assert!(Endpoint::from_url("not a url", "public", "X").is_err());
    }
}
