//! The traits connector authors implement (SPEC § Lifecycle).
//!
//! The host calls `open` once, then the optional `discover` / `validate`,
//! then one `read` / `write` / `transform` per stream run, then `close`
//! (always, even after a failure). Optional abilities have default methods.

use rapidbyte_protocol::{
    CommitTokenBase, CommittedToken, ConnectorError, Limits, ReadSummary, StreamContext, StreamSchema,
    TransformSummary, WriteSummary,
};

use crate::{Emitter, Input};

/// A connector that reads streams from an external system (world `source`).
pub trait Source: Sized + 'static {
    /// Called once, first, with the connector's config as JSON. Structural
    /// validation only (parse with [`crate::config::parse`]); no I/O.
    fn open(config: &str) -> Result<Self, ConnectorError>;

    /// The limits this connector works best with; the pipeline may override them.
    fn default_limits(&self) -> Limits {
        Limits::default()
    }

    /// Lists the streams this source can read. Default: not supported.
    fn discover(&mut self) -> Result<Vec<StreamSchema>, ConnectorError> {
        Err(ConnectorError::config("DISCOVER_UNSUPPORTED", "this source does not support discover"))
    }

    /// Checks connectivity and permissions for real. Default: nothing to check.
    fn validate(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Reads one stream: emit batches and checkpoints through `out`, then
    /// return the summary (usually `out.summary()` plus your own phases).
    fn read(&mut self, ctx: &StreamContext, out: &mut Emitter) -> Result<ReadSummary, ConnectorError>;

    /// Called last, always, even after a failure. Must be idempotent.
    fn close(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A connector that writes streams into an external system (world `destination`).
pub trait Destination: Sized + 'static {
    /// Called once, first, with the connector's config as JSON. Structural
    /// validation only; no I/O.
    fn open(config: &str) -> Result<Self, ConnectorError>;

    /// The limits this connector works best with.
    fn default_limits(&self) -> Limits {
        Limits::default()
    }

    /// Checks connectivity and permissions for real. Default: nothing to check.
    fn validate(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Writes one stream: pull from `input` until [`crate::Incoming::End`];
    /// at each [`crate::Incoming::Checkpoint`] make the data durable, then
    /// call [`Input::commit_checkpoint`]. Report failures with their
    /// commit state (SPEC § Errors).
    fn write(&mut self, ctx: &StreamContext, input: &mut Input) -> Result<WriteSummary, ConnectorError>;

    /// Exactly-once: the highest token committed for `base`'s pipeline and
    /// stream, read from the destination itself. Default: none (connectors
    /// without the `exactly-once` feature).
    fn committed(&mut self, base: &CommitTokenBase) -> Result<Option<CommittedToken>, ConnectorError> {
        let _ = base;
        Ok(None)
    }

    /// Called last, always, even after a failure. Must be idempotent.
    fn close(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A connector that reshapes batches between stages (world `transform`).
pub trait Transform: Sized + 'static {
    /// Called once, first, with the config as JSON. No I/O.
    fn open(config: &str) -> Result<Self, ConnectorError>;

    /// The limits this connector works best with.
    fn default_limits(&self) -> Limits {
        Limits::default()
    }

    /// Checks whatever the transform depends on. Default: nothing.
    fn validate(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Pulls from `input`, emits through `out`, and forwards checkpoints.
    fn transform(
        &mut self,
        ctx: &StreamContext,
        input: &mut Input,
        out: &mut Emitter,
    ) -> Result<TransformSummary, ConnectorError>;

    /// Called last, always, even after a failure. Must be idempotent.
    fn close(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}
