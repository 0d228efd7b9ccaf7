//! Host-owned state (SPEC § State and checkpoints). This is the in-memory
//! store used by tests and single runs; durable backends implement the same
//! trait.

use std::collections::HashMap;
use std::sync::Mutex;

/// A key/value store with compare-and-set, keyed by a scope string
/// (`pipeline` or `pipeline/stream`) and a key.
pub trait StateStore: Send + Sync {
    /// Reads a value.
    fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StateError>;
    /// Writes a value.
    fn put(&self, scope: &str, key: &str, value: &str) -> Result<(), StateError>;
    /// Writes `value` if the current value is `expected`; returns whether it did.
    fn compare_and_set(&self, scope: &str, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StateError>;
}

/// A state backend failed.
#[derive(Debug, thiserror::Error)]
#[error("state store failed: {0}")]
pub struct StateError(pub String);

/// State kept in memory for the life of the process.
#[derive(Default)]
pub struct MemoryState {
    map: Mutex<HashMap<(String, String), String>>,
}

impl StateStore for MemoryState {
    fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StateError> {
        Ok(self.map.lock().expect("state lock").get(&(scope.to_string(), key.to_string())).cloned())
    }

    fn put(&self, scope: &str, key: &str, value: &str) -> Result<(), StateError> {
        self.map.lock().expect("state lock").insert((scope.to_string(), key.to_string()), value.to_string());
        Ok(())
    }

    fn compare_and_set(&self, scope: &str, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StateError> {
        let mut map = self.map.lock().expect("state lock");
        let k = (scope.to_string(), key.to_string());
        if map.get(&k).map(String::as_str) != expected {
            return Ok(false);
        }
        map.insert(k, value.to_string());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_set_only_writes_on_match() {
        let s = MemoryState::default();
        assert!(s.compare_and_set("p", "k", None, "1").unwrap());
        assert!(!s.compare_and_set("p", "k", None, "2").unwrap());
        assert!(s.compare_and_set("p", "k", Some("1"), "2").unwrap());
        assert_eq!(s.get("p", "k").unwrap().as_deref(), Some("2"));
        assert_eq!(s.get("p/other", "k").unwrap(), None);
    }
}
