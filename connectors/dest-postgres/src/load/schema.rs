//! The target schema: created on demand (when `create_schema` allows), and
//! the privileges `validate` checks on it.

use rapidbyte_pgconnect::{chunk, classify, ident};
use rapidbyte_sdk::ConnectorError;
use tokio_postgres::Client;

use super::before_commit;

/// Creates `schema` (an identifier as SQL text, quoted where needed) when
/// it does not exist and `create` allows it; a `config` error naming the
/// schema otherwise. Safe against another stream creating it at the same
/// moment.
pub async fn ensure_schema(client: &Client, schema: &str, create: bool, stream: &str) -> Result<(), ConnectorError> {
    if schema_exists(client, schema, stream).await? {
        return Ok(());
    }
    if !create {
        return Err(before_commit(ConnectorError::config(
            "SCHEMA_NOT_FOUND",
            format!("stream `{stream}`: schema {schema} does not exist in the destination database; create it, or leave `create_schema` at its default (true)"),
        )));
    }
    match client.execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"), &[]).await {
        Ok(_) => Ok(()),
        // Another stream created it between our check and our CREATE.
        Err(_) if schema_exists(client, schema, stream).await? => Ok(()),
        Err(e) => Err(chunk::error(&e, stream)),
    }
}

async fn schema_exists(client: &Client, schema: &str, stream: &str) -> Result<bool, ConnectorError> {
    client
        .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&schema])
        .await
        .map(|r| r.get::<_, bool>(0))
        .map_err(|e| chunk::error(&e, stream))
}

/// `validate`: the user can reach the schema and create tables in it (or,
/// when it does not exist yet, create it in the database).
pub async fn check_privileges(client: &Client, schema: &str) -> Result<(), ConnectorError> {
    let exists: bool = client
        .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&ident(schema)])
        .await
        .map_err(|e| classify(&e, None))?
        .get(0);
    if !exists {
        let can: bool = client
            .query_one("SELECT has_database_privilege(current_database(), 'CREATE')", &[])
            .await
            .map_err(|e| classify(&e, None))?
            .get(0);
        return if can {
            Ok(())
        } else {
            Err(ConnectorError::permission(
                "DATABASE_PRIVILEGE",
                format!("schema {schema} does not exist and the user may not create it; create it, or GRANT CREATE ON DATABASE <db> TO <user>"),
            ))
        };
    }
    let row = client
        .query_one("SELECT has_schema_privilege($1, 'USAGE') AND has_schema_privilege($1, 'CREATE')", &[&schema])
        .await
        .map_err(|e| classify(&e, None))?;
    if !row.get::<_, bool>(0) {
        return Err(ConnectorError::permission(
            "SCHEMA_PRIVILEGE",
            format!("the user lacks USAGE or CREATE on schema {schema}; GRANT USAGE, CREATE ON SCHEMA {schema} TO <user>"),
        ));
    }
    Ok(())
}
