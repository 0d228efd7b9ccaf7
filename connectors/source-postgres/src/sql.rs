//! SQL text the source sends. COPY takes no parameters, so literals are
//! quoted here; identifiers are always quoted.

use rapidbyte_pgconnect::{ident, literal, qualified};

/// Output names of the cursor text columns (distinct from any data column,
/// so `ORDER BY` stays unambiguous).
pub const CURSOR_ALIAS: &str = "__rapidbyte_cursor";
/// See [`CURSOR_ALIAS`].
pub const TIE_BREAKER_ALIAS: &str = "__rapidbyte_tie_breaker";

/// An incremental read position: the cursor column and its SQL type, the
/// optional tie-breaker, and the last committed values.
pub struct Incremental<'a> {
    pub cursor: (&'a str, &'a str),
    pub tie_breaker: Option<(&'a str, &'a str)>,
    pub last_cursor: Option<&'a str>,
    pub last_tie_breaker: Option<&'a str>,
}

/// `COPY (SELECT … FROM … [WHERE …] [ORDER BY …]) TO STDOUT (FORMAT binary)`.
/// In incremental mode the cursor (and tie-breaker) are appended as text
/// columns: PostgreSQL prints them exactly, so the next run compares in the
/// column's own type with no precision lost.
pub fn copy_query(schema: &str, table: &str, columns: &[String], inc: Option<&Incremental<'_>>) -> String {
    let mut select: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let mut tail = String::new();
    if let Some(inc) = inc {
        let (cur, cur_ty) = inc.cursor;
        select.push(format!("{}::text AS {}", ident(cur), ident(CURSOR_ALIAS)));
        let mut order = vec![ident(cur)];
        // Rows whose cursor is NULL can never be placed after a position.
        let mut conditions = vec![format!("{} IS NOT NULL", ident(cur))];
        if let Some((tb, _)) = inc.tie_breaker {
            select.push(format!("{}::text AS {}", ident(tb), ident(TIE_BREAKER_ALIAS)));
            order.push(ident(tb));
        }
        match (inc.last_cursor, inc.tie_breaker, inc.last_tie_breaker) {
            (Some(v), Some((tb, tb_ty)), Some(tv)) => conditions.push(format!(
                "({}, {}) > ({}::{cur_ty}, {}::{tb_ty})",
                ident(cur),
                ident(tb),
                literal(v),
                literal(tv)
            )),
            (Some(v), _, _) => conditions.push(format!("{} > {}::{cur_ty}", ident(cur), literal(v))),
            (None, _, _) => {}
        }
        tail = format!(" WHERE {} ORDER BY {}", conditions.join(" AND "), order.join(", "));
    }
    format!("COPY (SELECT {} FROM {}{tail}) TO STDOUT (FORMAT binary)", select.join(", "), qualified(schema, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_refresh_query() {
        let q = copy_query("public", "users", &["id".into(), "name".into()], None);
        assert_eq!(q, r#"COPY (SELECT "id", "name" FROM "public"."users") TO STDOUT (FORMAT binary)"#);
    }

    #[test]
    fn incremental_query_with_tie_breaker() {
        let inc = Incremental {
            cursor: ("updated_at", "timestamp with time zone"),
            tie_breaker: Some(("id", "bigint")),
            last_cursor: Some("2024-01-01 00:00:00.123456+00"),
            last_tie_breaker: Some("42"),
        };
        let q = copy_query("public", "t", &["id".into()], Some(&inc));
        assert!(
            q.contains(r#"SELECT "id", "updated_at"::text AS "__rapidbyte_cursor", "id"::text AS "__rapidbyte_tie_breaker" FROM"#),
            "{q}"
        );
        assert!(
            q.contains(r#"("updated_at", "id") > ('2024-01-01 00:00:00.123456+00'::timestamp with time zone, '42'::bigint)"#),
            "{q}"
        );
        assert!(q.contains(r#"ORDER BY "updated_at", "id""#), "{q}");
        let first = Incremental { last_cursor: None, last_tie_breaker: None, ..inc };
        let q = copy_query("public", "t", &["id".into()], Some(&first));
        assert!(q.contains(r#"WHERE "updated_at" IS NOT NULL ORDER BY"#), "{q}");
    }
}
