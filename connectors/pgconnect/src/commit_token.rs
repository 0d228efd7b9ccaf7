//! The exactly-once commit-token protocol (SPEC § Delivery) of a
//! destination that loads each checkpoint chunk in one transaction:
//!
//! 1. [`TokenTable::create`] once, before the first chunk transaction (so
//!    an empty stream into a fresh destination still records its token);
//! 2. [`lock`] right after each chunk's `BEGIN`;
//! 3. [`TokenTable::write`] just before its `COMMIT`, so the token commits
//!    with the chunk's rows or not at all;
//! 4. [`TokenTable::committed`] when the host asks where to resume.
//!
//! The lock is a transaction advisory lock on (pipeline, stream): a resume
//! reading the token waits for a chunk whose COMMIT is still in flight on a
//! lost connection instead of reading the token from before it.

use rapidbyte_sdk::{Checkpoint, CommitState, CommitTokenBase, CommittedToken, ConnectorError};
use tokio_postgres::Client;

use crate::catalog::relation_exists;
use crate::{chunk, classify, create_shared_table, literal, qualified};

/// The token table of `dest-postgres`, in its target schema.
pub const TABLE: &str = "rapidbyte_commits";

fn lock_sql(base: &CommitTokenBase) -> String {
    format!(
        "SELECT pg_advisory_xact_lock(hashtextextended({} || '/' || {}, 0))",
        literal(&base.pipeline),
        literal(&base.stream_name)
    )
}

/// Takes the token lock of `base`'s (pipeline, stream) for the open chunk
/// transaction (it ends with the transaction).
pub async fn lock(client: &Client, base: &CommitTokenBase) -> Result<(), ConnectorError> {
    client.batch_execute(&lock_sql(base)).await.map_err(|e| chunk::error(&e, &base.stream_name))
}

/// Where a destination keeps its tokens: one row per (pipeline, stream).
pub struct TokenTable {
    /// `"schema"."name"`.
    qualified: String,
}

impl TokenTable {
    /// The token table `name` in `schema`.
    pub fn new(schema: &str, name: &str) -> Self {
        Self { qualified: qualified(schema, name) }
    }

    /// Creates the table when it does not exist (outside a transaction;
    /// safe against another stream creating it at the same moment).
    pub async fn create(&self, client: &Client, stream: &str) -> Result<(), ConnectorError> {
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (pipeline text NOT NULL, stream text NOT NULL, run_id text NOT NULL,
         sequence bigint NOT NULL, cursor jsonb, committed_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (pipeline, stream))",
            self.qualified
        );
        create_shared_table(client, &ddl, &self.qualified, false).await.map_err(|e| chunk::error(&e, stream))
    }

    /// Records `cp` as `base`'s token inside the open chunk transaction
    /// (under [`lock`]). One simple-protocol statement: no extra round trip
    /// to prepare it.
    pub async fn write(&self, client: &Client, base: &CommitTokenBase, cp: &Checkpoint) -> Result<(), ConnectorError> {
        let cursor = match &cp.cursor {
            Some(c) => serde_json::to_string(c).map_err(|e| {
                ConnectorError::internal("CURSOR_JSON", e.to_string()).with_commit_state(CommitState::BeforeCommit)
            })?,
            None => "null".into(),
        };
        let sql = format!(
            "INSERT INTO {} (pipeline, stream, run_id, sequence, cursor) VALUES ({}, {}, {}, {}, {}::jsonb)
                 ON CONFLICT (pipeline, stream) DO UPDATE SET run_id = EXCLUDED.run_id, sequence = EXCLUDED.sequence,
                 cursor = EXCLUDED.cursor, committed_at = now()",
            self.qualified,
            literal(&base.pipeline),
            literal(&base.stream_name),
            literal(&base.run_id),
            cp.sequence,
            literal(&cursor)
        );
        client.batch_execute(&sql).await.map_err(|e| chunk::error(&e, &base.stream_name))
    }

    /// § Delivery: the highest token committed for `base`'s pipeline and
    /// stream, or none. Waits, under the token lock, for any chunk
    /// transaction still finishing.
    pub async fn committed(&self, client: &Client, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
        let stream = base.stream_name.as_str();
        client.batch_execute("BEGIN").await.map_err(|e| classify(&e, Some(stream)))?;
        client.batch_execute(&lock_sql(base)).await.map_err(|e| classify(&e, Some(stream)))?;
        let result = self.read(client, base).await;
        let _ = client.batch_execute("COMMIT").await;
        result
    }

    async fn read(&self, client: &Client, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
        let stream = base.stream_name.as_str();
        if !relation_exists(client, &self.qualified).await.map_err(|e| classify(&e, Some(stream)))? {
            return Ok(None);
        }
        let row = client
            .query_opt(
                &format!("SELECT run_id, sequence, cursor::text FROM {} WHERE pipeline = $1 AND stream = $2", self.qualified),
                &[&base.pipeline, &base.stream_name],
            )
            .await
            .map_err(|e| classify(&e, Some(stream)))?;
        let Some(row) = row else { return Ok(None) };
        let cursor = match row.get::<_, Option<String>>(2).as_deref() {
            None | Some("null") => None,
            Some(json) => Some(
                serde_json::from_str(json)
                    .map_err(|e| ConnectorError::internal("CURSOR_JSON", format!("stored cursor is unreadable: {e}")))?,
            ),
        };
        Ok(Some(CommittedToken { run_id: row.get(0), sequence: row.get::<_, i64>(1) as u64, cursor }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_pipeline_slash_stream() {
        let base = CommitTokenBase { pipeline: "p'1".into(), stream_name: "s".into(), run_id: "r".into() };
        assert_eq!(lock_sql(&base), "SELECT pg_advisory_xact_lock(hashtextextended('p''1' || '/' || 's', 0))");
    }
}
