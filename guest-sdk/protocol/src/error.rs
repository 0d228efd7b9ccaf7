//! The contract's error record (SPEC § Errors).

use std::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Who is at fault, and therefore what the host does (SPEC § Errors).
///
/// The set may grow in later contract versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum ErrorCategory {
    /// The configuration is wrong; never retried.
    Config,
    /// Credentials were rejected; never retried until the config changes.
    Auth,
    /// A privilege is missing; never retried.
    Permission,
    /// Slow down; retried after `retry_after_ms`, else with backoff.
    RateLimit,
    /// A passing network failure; retried with backoff and jitter.
    TransientNetwork,
    /// A passing database failure; retried with backoff and jitter.
    TransientDb,
    /// A bad record; the on-data-error policy decides.
    Data,
    /// A schema mismatch; the schema evolution policy decides.
    Schema,
    /// A connector bug; fail fast.
    Internal,
}

impl ErrorCategory {
    /// Every category, in contract order.
    pub const ALL: [ErrorCategory; 9] = [
        Self::Config,
        Self::Auth,
        Self::Permission,
        Self::RateLimit,
        Self::TransientNetwork,
        Self::TransientDb,
        Self::Data,
        Self::Schema,
        Self::Internal,
    ];

    /// The contract's kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Auth => "auth",
            Self::Permission => "permission",
            Self::RateLimit => "rate-limit",
            Self::TransientNetwork => "transient-network",
            Self::TransientDb => "transient-db",
            Self::Data => "data",
            Self::Schema => "schema",
            Self::Internal => "internal",
        }
    }

    /// Whether errors of this category are retryable unless the connector says otherwise.
    pub fn retryable_by_default(self) -> bool {
        matches!(self, Self::RateLimit | Self::TransientNetwork | Self::TransientDb)
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How quickly a retry may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum BackoffClass {
    /// Tens of milliseconds.
    Fast,
    /// The default.
    #[default]
    Normal,
    /// Seconds.
    Slow,
}

/// Where a destination's failure happened relative to its COMMIT (SPEC § Errors).
/// This set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "kebab-case"))]
pub enum CommitState {
    /// Nothing of the chunk is durable; safe to retry.
    BeforeCommit,
    /// COMMIT sent, no answer: it may or may not have happened.
    AfterCommitUnknown,
    /// The chunk is durable; do not redo it.
    AfterCommitConfirmed,
}

impl CommitState {
    /// Every commit state.
    pub const ALL: [CommitState; 3] =
        [Self::BeforeCommit, Self::AfterCommitUnknown, Self::AfterCommitConfirmed];

    /// The contract's kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeCommit => "before-commit",
            Self::AfterCommitUnknown => "after-commit-unknown",
            Self::AfterCommitConfirmed => "after-commit-confirmed",
        }
    }
}

impl fmt::Display for CommitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error every connector function returns on failure (SPEC § Errors).
///
/// Build one with a category constructor and refine it:
/// `ConnectorError::transient_db("COMMIT_FAILED", msg).with_commit_state(CommitState::AfterCommitUnknown)`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ConnectorError {
    /// Who is at fault.
    pub category: ErrorCategory,
    /// A stable UPPER_SNAKE code.
    pub code: String,
    /// A message a user can act on; never secrets or row data.
    pub message: String,
    /// Whether retrying may succeed.
    pub retryable: bool,
    /// For rate limits: how long to wait.
    pub retry_after_ms: Option<u64>,
    /// How quickly a retry may come.
    pub backoff_class: BackoffClass,
    /// Whether a retry cannot duplicate or lose data.
    pub safe_to_retry: bool,
    /// For destinations: where the failure happened relative to COMMIT.
    pub commit_state: Option<CommitState>,
    /// Extra context as a JSON document.
    pub details: Option<String>,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $fn:ident => $cat:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(code: impl Into<String>, message: impl Into<String>) -> Self {
                Self::new(ErrorCategory::$cat, code, message)
            }
        )*
    };
}

impl ConnectorError {
    /// An error of `category`, retryable (and safe to retry) when the category is.
    pub fn new(category: ErrorCategory, code: impl Into<String>, message: impl Into<String>) -> Self {
        let retryable = category.retryable_by_default();
        Self {
            category,
            code: code.into(),
            message: message.into(),
            retryable,
            retry_after_ms: None,
            backoff_class: BackoffClass::Normal,
            safe_to_retry: retryable,
            commit_state: None,
            details: None,
        }
    }

    constructors! {
        /// A configuration error (never retried).
        config => Config;
        /// A rejected credential (never retried).
        auth => Auth;
        /// A missing privilege (never retried).
        permission => Permission;
        /// A rate limit (retried after `retry_after_ms`).
        rate_limit => RateLimit;
        /// A passing network failure (retried).
        transient_network => TransientNetwork;
        /// A passing database failure (retried).
        transient_db => TransientDb;
        /// A bad record (the on-data-error policy decides).
        data => Data;
        /// A schema mismatch (the schema evolution policy decides).
        schema => Schema;
        /// A connector bug (fail fast).
        internal => Internal;
    }

    /// States where the failure happened relative to COMMIT. Anything but
    /// `BeforeCommit` makes the error unsafe to retry blindly (SPEC § Errors).
    pub fn with_commit_state(mut self, state: CommitState) -> Self {
        self.commit_state = Some(state);
        if state != CommitState::BeforeCommit {
            self.safe_to_retry = false;
        }
        self
    }

    /// Sets `retryable`.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Sets `safe_to_retry`.
    pub fn with_safe_to_retry(mut self, safe: bool) -> Self {
        self.safe_to_retry = safe;
        self
    }

    /// Sets how long to wait before a retry.
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    /// Sets the backoff class.
    pub fn with_backoff(mut self, class: BackoffClass) -> Self {
        self.backoff_class = class;
        self
    }

    /// Attaches a JSON document of details.
    pub fn with_details(mut self, json: impl Into<String>) -> Self {
        self.details = Some(json.into());
        self
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error {}: {}", self.category, self.code, self.message)?;
        if let Some(state) = self.commit_state {
            write!(f, " (commit state: {state})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectorError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_categories_default_to_retryable() {
        for cat in ErrorCategory::ALL {
            let e = ConnectorError::new(cat, "X", "m");
            assert_eq!(e.retryable, cat.retryable_by_default(), "{cat}");
            assert_eq!(e.safe_to_retry, e.retryable);
        }
        assert!(ConnectorError::transient_network("RESET", "m").retryable);
        assert!(!ConnectorError::config("BAD", "m").retryable);
    }

    #[test]
    fn commit_state_decides_safety() {
        let before = ConnectorError::transient_db("X", "m").with_commit_state(CommitState::BeforeCommit);
        assert!(before.safe_to_retry);
        for state in [CommitState::AfterCommitUnknown, CommitState::AfterCommitConfirmed] {
            let e = ConnectorError::transient_db("COMMIT_FAILED", "m").with_commit_state(state);
            assert!(!e.safe_to_retry, "{state}");
            assert!(e.to_string().contains(state.as_str()));
        }
    }
}
