//! State kept in memory for the life of the process (tests, probes).

use std::collections::HashMap;
use std::sync::Mutex;

use super::{RunRecord, StateError, StateStore};

/// State kept in memory for the life of the process.
#[derive(Default)]
pub struct MemoryState {
    map: Mutex<HashMap<(String, String), String>>,
    runs: Mutex<Vec<RunRecord>>,
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

    fn record_run(&self, run: &RunRecord) -> Result<(), StateError> {
        let mut runs = self.runs.lock().expect("state lock");
        runs.retain(|r| r.run_id != run.run_id);
        runs.push(run.clone());
        Ok(())
    }

    fn recent_runs(&self, pipeline: &str, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let runs = self.runs.lock().expect("state lock");
        let mut mine: Vec<RunRecord> = runs.iter().filter(|r| r.pipeline == pipeline).cloned().collect();
        mine.sort_by(|a, b| (b.started_at, &b.run_id).cmp(&(a.started_at, &a.run_id)));
        mine.truncate(limit);
        Ok(mine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_every_backend() {
        super::super::conformance::key_values(&MemoryState::default());
        super::super::conformance::run_history(&MemoryState::default());
    }
}
