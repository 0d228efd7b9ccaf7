//! SQL text for PostgreSQL names and values, for the statements that cannot
//! take bind parameters (DDL, `COPY`, a batch of statements). The one place
//! the host and the PostgreSQL connectors quote: identifiers and literals
//! are escaped by `postgres_protocol::escape` (libpq's `PQescapeInternal`),
//! never by a local `replace`.
//!
//! ```
//! use rapidbyte_pgquote::{ident, literal, qualified, split_qualified};
//!
//! assert_eq!(ident(r#"we"ird"#), r#""we""ird""#);
//! assert_eq!(literal("it's"), "'it''s'");
//! assert_eq!(qualified("public", "users"), r#""public"."users""#);
//! assert_eq!(split_qualified("sales.orders", "public"), ("sales", "orders"));
//! assert_eq!(split_qualified("orders", "public"), ("public", "orders"));
//! ```

use postgres_protocol::escape::{escape_identifier, escape_literal};

/// `"name"`, embedded double quotes doubled.
pub fn ident(name: &str) -> String {
    escape_identifier(name)
}

/// `'value'`, embedded single quotes doubled. A value with a backslash
/// becomes ` E'…'` (leading space included) with the backslashes doubled,
/// which reads back the same whatever `standard_conforming_strings` is.
pub fn literal(value: &str) -> String {
    escape_literal(value)
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// The (schema, table) a name such as a stream name refers to: a
/// `schema.table` name wins over `default_schema`. Only the first dot
/// splits, so the table part may itself contain dots.
pub fn split_qualified<'a>(name: &'a str, default_schema: &'a str) -> (&'a str, &'a str) {
    name.split_once('.').unwrap_or((default_schema, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quotes() {
        assert_eq!(ident("t"), r#""t""#);
        assert_eq!(ident(r#"a""b"#), r#""a""""b""#);
        // Backslashes mean nothing inside an identifier.
        assert_eq!(ident(r"a\b"), r#""a\b""#);
        assert_eq!(qualified(r#"s"x"#, "t"), r#""s""x"."t""#);
    }

    #[test]
    fn literals_with_backslashes_use_the_escape_form() {
        assert_eq!(literal(""), "''");
        assert_eq!(literal("o'clock"), "'o''clock'");
        assert_eq!(literal(r"C:\dir"), r" E'C:\\dir'");
        assert_eq!(literal(r"\'"), r" E'\\'''");
    }

    #[test]
    fn qualified_names_split_at_the_first_dot() {
        assert_eq!(split_qualified("s.t", "public"), ("s", "t"));
        assert_eq!(split_qualified("s.t.u", "public"), ("s", "t.u"));
        assert_eq!(split_qualified("t", "public"), ("public", "t"));
    }
}
