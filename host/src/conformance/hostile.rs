//! A destination fed hostile type metadata (SPEC § Schema, § Security):
//! the generator puts SQL into a column's `rapidbyte.pg_type` — a second
//! column, `INHERITS`, `SET UNLOGGED`, a `DEFAULT` or `CHECK` that calls a
//! server function, a statement after a `;`. For each, the destination must
//! refuse the stream with an error of its own or create exactly the
//! declared columns, and nothing else may happen: the target is an ordinary
//! durable table with the generator's columns and no defaults, checks or
//! parents, and a canary table beside it is untouched.

use super::cases::Case;
use super::harness::Harness;
use super::mode::Mode;
use super::verdict::{fail, pass, Verdict};

const CANARY: &str = "conformance_canary";
/// The generator's columns (`rapidbyte-testdata`).
const COLUMNS: [&str; 7] = ["id", "qty", "price", "amount", "name", "created_at", "active"];

/// What the target looks like: its columns, persistence, parents, defaults and checks.
async fn inspect(h: &Harness) -> Result<Option<String>, String> {
    let pg = h.pg().ok_or("no `postgres:` in the subject file")?;
    let target = h.target();
    let exists: bool = pg.query_one("SELECT to_regclass($1) IS NOT NULL", &[&target]).await.map_err(|e| e.to_string())?.get(0);
    let mut wrong = Vec::new();
    if exists {
        let columns: Vec<String> = pg
            .query("SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", &[&target])
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if columns != COLUMNS {
            wrong.push(format!("the target's columns are {columns:?}"));
        }
        let row = pg
            .query_one(
                "SELECT c.relpersistence::text,
                        (SELECT count(*) FROM pg_inherits WHERE inhrelid = c.oid),
                        (SELECT count(*) FROM pg_attrdef WHERE adrelid = c.oid),
                        (SELECT count(*) FROM pg_constraint WHERE conrelid = c.oid AND contype NOT IN ('p', 'n'))
                 FROM pg_class c WHERE c.oid = $1::text::regclass",
                &[&target],
            )
            .await
            .map_err(|e| e.to_string())?;
        let (persistence, parents, defaults, checks): (String, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        if persistence != "p" {
            wrong.push(format!("the target is not durable (relpersistence {persistence})"));
        }
        if parents > 0 {
            wrong.push("the target inherits from another table".into());
        }
        if defaults > 0 || checks > 0 {
            wrong.push(format!("the target has {defaults} defaults and {checks} constraints the source wrote"));
        }
    }
    let canary = rapidbyte_pgquote::qualified(&h.subject.schema(), CANARY);
    let canary_ok: bool = pg
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL AND (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped) = 1",
            &[&canary],
        )
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    if !canary_ok {
        wrong.push(format!("the canary table {canary} was dropped or changed"));
    }
    Ok((!wrong.is_empty()).then(|| wrong.join("; ")))
}

/// Each of the case's `types`, as the `name` column's type metadata.
pub async fn metadata(h: &Harness, case: &Case) -> Verdict {
    let mode = match Mode::with_read_back(case, h) {
        Ok(m) => m,
        Err(v) => return v,
    };
    let types: Vec<String> = case.params.get("types").and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default();
    if types.is_empty() {
        return fail("the case names no `types`");
    }
    let canary = rapidbyte_pgquote::qualified(&h.subject.schema(), CANARY);
    if let Err(e) = h.sql(&format!("DROP TABLE IF EXISTS {canary}; CREATE TABLE {canary} (id int)")).await {
        return fail(e);
    }
    let (mut refused, mut created, mut failures) = (0, 0, Vec::new());
    for (i, ty) in types.iter().enumerate() {
        if let Err(e) = h.reset_target().await {
            return fail(e);
        }
        let mut plan = h.plan_in(&mode, &format!("conf-hostile-{i}"), 50, &case.name);
        plan.peer_config = serde_json::json!({"pg_types": {"name": ty}});
        let w = h.write(&plan).await;
        match w.report.error() {
            None => created += 1,
            Some(e) if e.connector_error().is_some() => refused += 1,
            Some(e) => failures.push(format!("`{ty}`: the stream failed without an error of the destination's: {e}")),
        }
        match inspect(h).await {
            Ok(None) => {}
            Ok(Some(wrong)) => failures.push(format!("`{ty}`: {wrong}")),
            Err(e) => return fail(e),
        }
    }
    let _ = h.sql(&format!("DROP TABLE IF EXISTS {canary}")).await;
    let _ = h.reset_target().await;
    if failures.is_empty() {
        pass(format!("{} hostile type names: {refused} refused, {created} created as declared; nothing else ran", types.len()))
    } else {
        fail(failures.join("; "))
    }
}
