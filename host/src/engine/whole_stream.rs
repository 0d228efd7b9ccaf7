//! § Delivery: a stream published whole commits once. When the run that
//! wrote it ends badly after that COMMIT (a trap or kill before the host
//! heard, or the COMMIT's answer lost), the destination holds the whole
//! stream and the host does not know. With exactly-once the destination's
//! token says so: the run names itself in state before the stream starts
//! and clears the mark when the stream ends well, so a later attempt or
//! run that finds the mark asks the destination whether that run's token
//! committed — and if it did, the stream is complete and is not written
//! again (a second appended copy, or a pointless reload).

use rapidbyte_protocol::StreamContext;

use crate::engine::stream::{committed_token, StreamJob};
use crate::sandbox::host_api::RunServices;
use crate::sandbox::runtime::Runtime;

/// The state key (stream scope) naming the run writing a whole stream.
pub const PENDING_RUN_KEY: &str = "whole.pending_run";

/// Whether `ctx` is a stream this module guards: published whole and exactly-once.
pub fn guarded(ctx: &StreamContext) -> bool {
    ctx.published_whole() && ctx.commit_token_base.is_some()
}

fn scope(ctx: &StreamContext) -> String {
    crate::engine::checkpoint::stream_scope(&ctx.pipeline, &ctx.stream_name)
}

/// The run whose mark an earlier run left (`None`: it ended well, or none ran).
pub fn pending_run(job: &StreamJob, services: &RunServices) -> Result<Option<String>, String> {
    let ctx = &job.context;
    let run = services.state.get(&scope(ctx), PENDING_RUN_KEY).map_err(|e| e.to_string())?;
    Ok(run.filter(|r| !r.is_empty()))
}

/// Marks the stream as being written by this run.
pub fn mark(job: &StreamJob, services: &RunServices) -> Result<(), String> {
    let ctx = &job.context;
    services.state.put(&scope(ctx), PENDING_RUN_KEY, &ctx.run_id).map_err(|e| e.to_string())
}

/// Clears the mark after the stream ended well.
pub fn clear(job: &StreamJob, services: &RunServices) -> Result<(), String> {
    services.state.put(&scope(&job.context), PENDING_RUN_KEY, "").map_err(|e| e.to_string())
}

/// Whether the destination's committed token is `run`'s (`false` when it
/// cannot say: the stream is then written again from the start).
pub async fn committed_by(runtime: &Runtime, job: &StreamJob, services: &RunServices, run: &str) -> bool {
    match committed_token(runtime, job, services.clone()).await {
        Ok(token) => token.is_some_and(|t| t.run_id == run),
        Err(e) => {
            tracing::warn!(stream = %job.context.stream_name, "cannot ask the destination what it committed: {e}");
            false
        }
    }
}
