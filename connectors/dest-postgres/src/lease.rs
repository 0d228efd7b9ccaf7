//! The run lease: one run at a time writes a pipeline's stream (issue 13,
//! overlapping runs). A session-level advisory lock keyed by pipeline and
//! stream is taken before the destination answers what it committed or
//! writes anything, and held until the instance closes its connection, so
//! a crashed holder's lease ends with its session; a row in
//! `rapidbyte_leases` names the holder for the run that is refused.

use rapidbyte_pgconnect::{classify, ident};
use rapidbyte_sdk::ConnectorError;
use tokio_postgres::Client;

/// How long a run waits for the lease before it is refused.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The lease table's name, in the destination's schema.
pub const TABLE: &str = "rapidbyte_leases";

/// Takes the lease of `pipeline`'s `stream` for `run_id` on this session,
/// or fails naming the run that holds it.
pub async fn acquire(client: &Client, schema: &str, pipeline: &str, stream: &str, run_id: &str) -> Result<(), ConnectorError> {
    let db = |e: tokio_postgres::Error| classify(&e, Some(stream));
    let key = format!("rapidbyte-run:{pipeline}/{stream}");
    // A holder that just died (a trap, a kill, a cut connection) releases
    // the lock when the server notices its session is gone: give it a
    // moment rather than refusing the run that resumes after it.
    let deadline = std::time::Instant::now() + LEASE_WAIT;
    let got = loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", &[&key])
            .await
            .map_err(db)?
            .get(0);
        if got || std::time::Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let table = format!("{}.{}", ident(schema), ident(TABLE));
    if !got {
        let holder = client
            .query_opt(
                &format!("SELECT run_id, started_at::text, backend_pid FROM {table} WHERE pipeline = $1 AND stream = $2"),
                &[&pipeline, &stream],
            )
            .await
            .ok()
            .flatten();
        let who = match holder {
            Some(r) => format!(
                "run {} (started {}, PostgreSQL backend {})",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, i32>(2)
            ),
            None => "another run".to_string(),
        };
        return Err(ConnectorError::config(
            "RUN_IN_PROGRESS",
            format!(
                "stream `{stream}` of pipeline `{pipeline}` is being written by {who}; two runs at once would both write the same rows: wait for it to finish (or stop it), then run again"
            ),
        ));
    }
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {table} (pipeline text NOT NULL, stream text NOT NULL, run_id text NOT NULL,
         started_at timestamptz NOT NULL DEFAULT now(), backend_pid int NOT NULL, PRIMARY KEY (pipeline, stream))"
    );
    rapidbyte_pgconnect::create_shared_table(client, &ddl, &table, false).await.map_err(db)?;
    client
        .execute(
            &format!(
                "INSERT INTO {table} (pipeline, stream, run_id, backend_pid) VALUES ($1, $2, $3, pg_backend_pid())
                 ON CONFLICT (pipeline, stream) DO UPDATE SET run_id = EXCLUDED.run_id, started_at = now(), backend_pid = EXCLUDED.backend_pid"
            ),
            &[&pipeline, &stream, &run_id],
        )
        .await
        .map_err(db)?;
    Ok(())
}
