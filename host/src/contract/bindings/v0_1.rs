//! `rapidbyte:connector@0.1.0`: a shim over the 0.2 implementation. What
//! 0.1 cannot say is answered in its own vocabulary: an abort reaches a
//! destination as the `UPSTREAM_FAILED` error, `max-record-bytes` is not
//! told, and a 0.1 source has no `dead-letter` or `report-estimate` to call.
#![allow(clippy::all)]

use rapidbyte_protocol as p;

use crate::sandbox::host_api::{HostApi, HostState};

super::version_module!(
    "../wit/v0.1",
    "rapidbyte:connector/source@0.1.0",
    "rapidbyte:connector/destination@0.1.0",
    "rapidbyte:connector/transform@0.1.0"
);

impl wit_host::Host for HostState {
    super::shared_host_functions!();

    async fn next_batch(&mut self) -> wasmtime::Result<Result<wit::NextItem, wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::next_batch(self).await.and_then(next_item).map_err(Into::into))
    }
}

/// A 0.2 item in 0.1 terms. The host never hands a 0.1 destination a dead
/// letter (`Contract::receives_dead_letters`); should one get here, it is an
/// error, never a silently dropped row.
fn next_item(item: p::NextItem) -> Result<wit::NextItem, p::ConnectorError> {
    Ok(match item {
        p::NextItem::Batch(frame) => wit::NextItem::Batch(frame),
        p::NextItem::Checkpoint(cp) => wit::NextItem::Checkpoint(cp.into()),
        p::NextItem::EndOfStream => wit::NextItem::EndOfStream,
        p::NextItem::Aborted(reason) => return Err(reason.as_error()),
        p::NextItem::DeadLetter(_) => {
            return Err(p::ConnectorError::internal("DEAD_LETTER_UNDELIVERABLE", "a dead letter cannot be handed to a contract-0.1 destination"))
        }
    })
}

rapidbyte_protocol::wit_conversions!(wit, v0_1);
