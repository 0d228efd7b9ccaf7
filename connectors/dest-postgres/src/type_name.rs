//! PostgreSQL type names from the source's metadata, parsed with a strict
//! grammar and rendered by the destination itself (the source is not
//! trusted: its text never reaches DDL as it was sent).
//!
//! The grammar is what `format_type` and `PgType::sql_name` print:
//!
//! ```text
//! type     := base ("[]")*
//! base     := "double precision"
//!           | ("character varying" | "character" | "bit varying") mods?
//!           | ("time" | "timestamp") mods? (" with time zone" | " without time zone")?
//!           | "interval" (" " fields)? mods?
//!           | ident ("." ident)? mods?
//! mods     := "(" int ("," int)? ")"
//! ident    := [a-z_][a-z0-9_$]* | '"' ([^"] | '""')+ '"'      (at most 63 bytes)
//! ```

use std::fmt;

/// A parsed type name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    base: Base,
    modifiers: Vec<i32>,
    /// `time` / `timestamp`: `Some(true)` with time zone, `Some(false)` without.
    zone: Option<bool>,
    /// `interval`: the fields phrase, e.g. `day to second`.
    fields: Option<&'static str>,
    array_dims: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    /// A fixed keyword phrase (`double precision`, `time`, …).
    Keyword(&'static str),
    /// A possibly schema-qualified identifier.
    Named { schema: Option<Ident>, name: Ident },
}

/// One identifier: its text, and whether it was quoted (kept, so `"char"`
/// stays the one-byte type and never becomes `char`, which is `char(1)`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ident {
    text: String,
    quoted: bool,
}

impl Ident {
    fn render(&self) -> String {
        if self.quoted { rapidbyte_pgconnect::ident(&self.text) } else { self.text.clone() }
    }
}

const PHRASES: [&str; 7] = ["double precision", "character varying", "bit varying", "character", "timestamp", "time", "interval"];

const INTERVAL_FIELDS: [&str; 13] = [
    "year to month",
    "day to hour",
    "day to minute",
    "day to second",
    "hour to minute",
    "hour to second",
    "minute to second",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
];

/// Longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`).
const MAX_IDENT: usize = 63;

/// Why a type name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTypeName(pub String);

impl fmt::Display for BadTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, s: &str) -> bool {
        match self.rest.strip_prefix(s) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// A keyword phrase, which must end at a non-identifier character.
    fn eat_word(&mut self, w: &str) -> bool {
        let Some(r) = self.rest.strip_prefix(w) else { return false };
        if r.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            return false;
        }
        self.rest = r;
        true
    }

    fn ident(&mut self) -> Result<Ident, BadTypeName> {
        if let Some(r) = self.rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = r.char_indices();
            loop {
                match chars.next() {
                    None => return Err(BadTypeName("unterminated quoted identifier".into())),
                    Some((i, '"')) => {
                        if r[i + 1..].starts_with('"') {
                            out.push('"');
                            chars.next();
                        } else {
                            self.rest = &r[i + 1..];
                            break;
                        }
                    }
                    Some((_, c)) if c.is_control() => return Err(BadTypeName("control character in an identifier".into())),
                    Some((_, c)) => out.push(c),
                }
            }
            if out.is_empty() || out.len() > MAX_IDENT {
                return Err(BadTypeName("empty or over-long identifier".into()));
            }
            return Ok(Ident { text: out, quoted: true });
        }
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$'))
            .unwrap_or(self.rest.len());
        let word = &self.rest[..end];
        if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit() || c == '$') || word.len() > MAX_IDENT {
            return Err(BadTypeName(format!("expected a type name at `{}`", self.rest)));
        }
        self.rest = &self.rest[end..];
        Ok(Ident { text: word.to_string(), quoted: false })
    }

    fn modifiers(&mut self) -> Result<Vec<i32>, BadTypeName> {
        if !self.eat("(") {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        loop {
            let neg = self.eat("-");
            let end = self.rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(self.rest.len());
            let n: i32 = self.rest[..end].parse().map_err(|_| BadTypeName("expected a number in type modifiers".into()))?;
            self.rest = &self.rest[end..];
            out.push(if neg { -n } else { n });
            if self.eat(")") {
                break;
            }
            if !self.eat(",") || out.len() >= 2 {
                return Err(BadTypeName("type modifiers are one or two numbers".into()));
            }
        }
        Ok(out)
    }
}

impl TypeName {
    /// Parses `text`; anything outside the grammar is refused.
    pub fn parse(text: &str) -> Result<TypeName, BadTypeName> {
        let mut c = Cursor { rest: text };
        let mut t = TypeName { base: Base::Keyword(""), modifiers: Vec::new(), zone: None, fields: None, array_dims: 0 };
        match PHRASES.iter().find(|p| c.eat_word(p)) {
            Some(&phrase) => {
                t.base = Base::Keyword(phrase);
                if phrase == "interval" && c.eat(" ") {
                    t.fields = Some(
                        *INTERVAL_FIELDS
                            .iter()
                            .find(|f| c.eat_word(f))
                            .ok_or_else(|| BadTypeName(format!("unknown interval fields at `{}`", c.rest)))?,
                    );
                }
                if phrase != "double precision" {
                    t.modifiers = c.modifiers()?;
                }
                if matches!(phrase, "time" | "timestamp") {
                    if c.eat_word(" with time zone") {
                        t.zone = Some(true);
                    } else if c.eat_word(" without time zone") {
                        t.zone = Some(false);
                    }
                }
            }
            None => {
                let first = c.ident()?;
                let (schema, name) = if c.eat(".") { (Some(first), c.ident()?) } else { (None, first) };
                t.base = Base::Named { schema, name };
                t.modifiers = c.modifiers()?;
            }
        }
        while c.eat("[]") {
            t.array_dims += 1;
        }
        if !c.rest.is_empty() {
            return Err(BadTypeName(format!("unexpected `{}` after the type name", c.rest)));
        }
        Ok(t)
    }

    /// The schema of a qualified name, rendered as an identifier.
    pub fn schema(&self) -> Option<String> {
        match &self.base {
            Base::Named { schema: Some(s), .. } => Some(s.render()),
            _ => None,
        }
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.base {
            Base::Keyword(k) => f.write_str(k)?,
            Base::Named { schema, name } => {
                if let Some(s) = schema {
                    write!(f, "{}.", s.render())?;
                }
                f.write_str(&name.render())?;
            }
        }
        if let Some(fields) = self.fields {
            write!(f, " {fields}")?;
        }
        if !self.modifiers.is_empty() {
            let m: Vec<String> = self.modifiers.iter().map(i32::to_string).collect();
            write!(f, "({})", m.join(","))?;
        }
        match self.zone {
            Some(true) => f.write_str(" with time zone")?,
            Some(false) => f.write_str(" without time zone")?,
            None => {}
        }
        for _ in 0..self.array_dims {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_postgres_prints_parse_and_render_unchanged() {
        for t in [
            "integer",
            "double precision",
            "numeric(12,2)",
            "numeric(5,-2)",
            "character varying(20)",
            "varchar(20)",
            "character(3)",
            "bit varying(5)",
            "bit(8)",
            "time(2) with time zone",
            "timestamp(3) without time zone",
            "timestamp with time zone",
            "timestamptz(3)",
            "interval",
            "interval day to second(3)",
            "interval year to month",
            "interval(2)",
            "integer[]",
            "mood",
            "ev_src.mood",
            "\"Mood\"",
            "other.\"Mo\"\"od\"[]",
            "\"char\"",
            "public.citext",
            "int4range",
        ] {
            let parsed = TypeName::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(parsed.to_string(), t, "{t}");
        }
    }

    #[test]
    fn anything_but_a_type_name_is_refused() {
        for evil in [
            "text, canary_col int",
            "text, DROP COLUMN id CASCADE",
            "text) INHERITS (other_table",
            "text, SET UNLOGGED",
            "text DEFAULT (pg_read_file('/etc/passwd'))",
            "text CHECK (lo_export(1, '/tmp/x') > 0)",
            "text); DROP TABLE t; --",
            "text --",
            "",
            "Text",
            "numeric(1,2,3)",
            "numeric(a)",
            "\"unterminated",
            "timestamp with time zone with time zone",
            "interval fortnight",
            "a.b.c",
            "x[",
            "1abc",
        ] {
            assert!(TypeName::parse(evil).is_err(), "accepted {evil:?}");
        }
    }

    #[test]
    fn quoted_identifiers_render_safely() {
        let t = TypeName::parse("\"a\"\"b\".\"x y\"").unwrap();
        assert_eq!(t.to_string(), "\"a\"\"b\".\"x y\"");
        assert_eq!(t.schema().as_deref(), Some("\"a\"\"b\""));
        // Quoting is kept: "char" is not char.
        assert_eq!(TypeName::parse("\"char\"").unwrap().to_string(), "\"char\"");
    }
}
