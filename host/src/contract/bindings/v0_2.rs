//! `rapidbyte:connector@0.2.0`, the newest contract: the real host
//! implementation every older version's shim converts into.
#![allow(clippy::all)]

use crate::sandbox::host_api::{HostApi, HostState};

super::version_module!(
    "../wit/v0.2",
    "rapidbyte:connector/source@0.2.0",
    "rapidbyte:connector/destination@0.2.0",
    "rapidbyte:connector/transform@0.2.0"
);

impl wit_host::Host for HostState {
    super::shared_host_functions!();

    async fn next_batch(&mut self) -> wasmtime::Result<Result<wit::NextItem, wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::next_batch(self).await.map(Into::into).map_err(Into::into))
    }

    async fn send_dead_letter(&mut self, row: wit::DeadLetter) -> wasmtime::Result<Result<(), wit::ConnectorError>> {
        HostApi::enter(self)?;
        Ok(HostApi::dead_letter(self, row.into()).await.map_err(Into::into))
    }

    async fn report_estimate(&mut self, estimate: wit::StreamEstimate) -> wasmtime::Result<()> {
        HostApi::enter(self)?;
        HostApi::report_estimate(self, estimate.into());
        Ok(())
    }
}

rapidbyte_protocol::wit_conversions!(wit);
