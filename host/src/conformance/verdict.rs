//! What a check concludes, and the small judgements checks share.

use rapidbyte_protocol::{CommitState, ConnectorError};

use super::report::Status;

/// A check's status and the reason a connector author can act on.
pub(super) type Verdict = (Status, String);

pub(super) fn pass(why: impl Into<String>) -> Verdict {
    (Status::Pass, why.into())
}
pub(super) fn fail(why: impl Into<String>) -> Verdict {
    (Status::Fail, why.into())
}
pub(super) fn na(why: impl Into<String>) -> Verdict {
    (Status::NotApplicable, why.into())
}

/// The destination's error record, if it failed with one.
pub(super) fn destination_error(w: &super::harness::Write) -> Option<ConnectorError> {
    w.report.destination.error.as_ref().and_then(|e| e.connector_error()).cloned()
}

/// Whether `state` is the commit state a case expects.
pub(super) fn commit_state_is(e: &ConnectorError, state: CommitState) -> bool {
    e.commit_state == Some(state)
}
