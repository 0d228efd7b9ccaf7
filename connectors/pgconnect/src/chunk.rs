//! A destination's checkpoint chunk is one transaction; every failure says
//! where it happened relative to its COMMIT (SPEC § Errors), and only a
//! COMMIT that returned makes the chunk durable.

use std::time::Instant;

use rapidbyte_sdk::{host, metric_names as m, CommitState, ConnectorError};
use tokio_postgres::Client;

use crate::classify;

/// A database error inside the open chunk: nothing of it is durable
/// (`before-commit`).
pub fn error(e: &tokio_postgres::Error, stream: &str) -> ConnectorError {
    classify(e, Some(stream)).with_commit_state(CommitState::BeforeCommit)
}

/// COMMITs the open chunk and reports its time (`commit_ms`). An error the
/// server answered with means it rolled the chunk back (`before-commit`);
/// no answer means it may or may not be durable (`after-commit-unknown`).
pub async fn commit(client: &Client, stream: &str) -> Result<(), ConnectorError> {
    let started = Instant::now();
    let result = client.batch_execute("COMMIT").await;
    host::timing_ms(m::COMMIT_MS, started.elapsed().as_secs_f64() * 1e3);
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.as_db_error().is_some() => Err(error(&e, stream)),
        Err(e) => Err(ConnectorError::transient_db(
            "COMMIT_FAILED",
            format!("stream `{stream}`: no answer to COMMIT ({e}); the chunk may or may not be durable"),
        )
        .with_commit_state(CommitState::AfterCommitUnknown)),
    }
}
