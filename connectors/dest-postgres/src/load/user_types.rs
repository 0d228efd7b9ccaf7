//! The user types a stream needs (enums, domains, composites), created
//! from the source's definitions when missing; source SQL runs only when it
//! calls nothing volatile.

use rapidbyte_pgconnect::chunk;
use rapidbyte_sdk::ConnectorError;
use tokio_postgres::Client;

use super::before_commit;
use crate::ddl;

async fn type_missing(client: &Client, name: &str, stream: &str) -> Result<bool, ConnectorError> {
    client
        .query_one("SELECT to_regtype($1) IS NULL", &[&name])
        .await
        .map(|r| r.get::<_, bool>(0))
        .map_err(|e| chunk::error(&e, stream))
}

/// Makes sure a user type the stream needs exists: created from the
/// source's definition when missing, or a `schema` error naming what is
/// missing (an extension type).
pub(super) async fn create_type(client: &Client, t: &ddl::TypeDdl, stream: &str) -> Result<(), ConnectorError> {
    if !type_missing(client, &t.name, stream).await? {
        return Ok(());
    }
    let schema_error = |code: &str, msg: String| before_commit(ConnectorError::schema(code, format!("stream `{stream}`: {msg}")));
    match &t.action {
        ddl::TypeAction::Missing { extension } => Err(schema_error(
            "TYPE_NOT_FOUND",
            match extension {
                Some(ext) => format!(
                    "type {} does not exist in the destination database; it comes from extension `{ext}`: run CREATE EXTENSION {ext} there (the source has it)",
                    t.name
                ),
                None => format!("type {} does not exist in the destination database; create it there", t.name),
            },
        )),
        // One statement through the extended protocol: metadata cannot
        // smuggle a second one in.
        ddl::TypeAction::Create(sql) => match client.execute(sql.as_str(), &[]).await {
            Ok(_) => Ok(()),
            Err(_) if !type_missing(client, &t.name, stream).await? => Ok(()),
            Err(e) => Err(chunk::error(&e, stream)),
        },
        ddl::TypeAction::CreateDomain { sql, calls } => {
            // Built-in functions leave no trace in pg_depend: refuse by name any
            // call that is volatile (in any overload) or unknown.
            let refused: Vec<String> = client
                .query(
                    "SELECT n FROM unnest($1::text[]) n
                     WHERE NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = n)
                        OR EXISTS (SELECT 1 FROM pg_proc WHERE proname = n AND provolatile = 'v')",
                    &[calls],
                )
                .await
                .map_err(|e| chunk::error(&e, stream))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if !refused.is_empty() {
                return Err(schema_error(
                    "UNSAFE_DOMAIN_CHECK",
                    format!(
                        "the source's definition of domain {} calls {}, which may have side effects or is unknown here; refusing to create it (create the domain in the destination yourself)",
                        t.name,
                        refused.join(", ")
                    ),
                ));
            }
            // Then the catalog, for user-defined functions and operators (which
            // do leave dependencies): create the domain in a transaction and keep
            // it only if none could have side effects.
            client.batch_execute("BEGIN").await.map_err(|e| chunk::error(&e, stream))?;
            let result = async {
                client.execute(sql.as_str(), &[]).await.map_err(|e| chunk::error(&e, stream))?;
                let unsafe_calls = client
                    .query(DOMAIN_CALLS_NOT_IMMUTABLE, &[&t.name])
                    .await
                    .map_err(|e| chunk::error(&e, stream))?;
                if let Some(r) = unsafe_calls.first() {
                    return Err(schema_error(
                        "UNSAFE_DOMAIN_CHECK",
                        format!(
                            "the source's definition of domain {} calls {}, which is not immutable; refusing to create it (create the domain in the destination yourself)",
                            t.name,
                            r.get::<_, String>(0)
                        ),
                    ));
                }
                Ok(())
            }
            .await;
            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
            let ended = client.batch_execute(end).await.map_err(|e| chunk::error(&e, stream));
            result.and(ended)
        }
    }
}

/// The functions a domain's CHECK constraints depend on that are not
/// immutable, and those its DEFAULT depends on that are volatile (a default
/// such as `now()` is stable and common; one that reads files is volatile).
const DOMAIN_CALLS_NOT_IMMUTABLE: &str = "
SELECT p.oid::regprocedure::text FROM pg_depend d
  JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
 WHERE d.classid = 'pg_type'::regclass AND d.objid = to_regtype($1) AND p.provolatile = 'v'
UNION ALL
SELECT p.oid::regprocedure::text FROM pg_constraint c
  JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
  JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
 WHERE c.contypid = to_regtype($1) AND p.provolatile <> 'i'
UNION ALL
SELECT p.oid::regprocedure::text FROM pg_constraint c
  JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
  JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
  JOIN pg_proc p ON p.oid = o.oprcode
 WHERE c.contypid = to_regtype($1) AND p.provolatile <> 'i'";
