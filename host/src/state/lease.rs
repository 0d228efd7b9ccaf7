//! The run lease in the state backend (SPEC § Delivery): one run of a
//! pipeline at a time, whatever its destination can do. Taken with
//! compare-and-set before anything is read or written, renewed while the
//! run lives, released when it ends. A holder that stopped renewing (a
//! crash, a kill) loses it after [`TTL`]; one on this machine whose
//! process is gone loses it at once. Two live holders are impossible: every
//! take-over and renewal is a compare-and-set on the value last seen.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{now_epoch, StateError, StateStore};

/// The host-only state key of a pipeline's lease (connectors write in
/// their own namespace, so they cannot reach it).
pub const LEASE_KEY: &str = "run.lease";
/// A lease not renewed for this long belongs to nobody.
pub const TTL: Duration = Duration::from_secs(30);
/// How often a holder renews.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The run.
    pub run_id: String,
    /// The machine.
    pub host: String,
    /// The process on it.
    pub pid: u32,
    /// When the run took it (epoch seconds).
    pub since: i64,
    /// When it last renewed it (epoch seconds).
    pub renewed: i64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} (host {}, pid {}, started {}s ago)", self.run_id, self.host, self.pid, (now_epoch() - self.since).max(0))
    }
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

impl Holder {
    /// Whether it still holds: renewed within the TTL, and, on this
    /// machine, its process alive.
    fn alive(&self, now: i64) -> bool {
        if now - self.renewed > TTL.as_secs() as i64 {
            return false;
        }
        let proc = std::path::Path::new("/proc");
        if self.host == this_host() && proc.is_dir() {
            return proc.join(self.pid.to_string()).exists();
        }
        true
    }
}

/// A held lease; dropping it releases it.
pub struct RunLease {
    state: Arc<dyn StateStore>,
    scope: String,
    mine: Arc<Mutex<String>>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for RunLease {
    fn drop(&mut self) {
        self.renewer.abort();
        let mine = self.mine.lock().expect("lease lock").clone();
        if let Err(e) = self.state.compare_and_set(&self.scope, LEASE_KEY, Some(&mine), "") {
            tracing::warn!("cannot release the run lease ({e}); the next run takes it over in {}s", TTL.as_secs());
        }
    }
}

/// Takes `pipeline`'s lease for `run_id`, or says who holds it.
pub fn try_acquire(state: &Arc<dyn StateStore>, pipeline: &str, run_id: &str) -> Result<Result<RunLease, Holder>, StateError> {
    let scope = pipeline.to_string();
    // The raw value is what the compare-and-set expects ("" once released).
    let current = state.get(&scope, LEASE_KEY)?;
    let now = now_epoch();
    if let Some(held) = current.as_deref().and_then(|v| serde_json::from_str::<Holder>(v).ok())
        && held.alive(now)
    {
        return Ok(Err(held));
    }
    let me = Holder { run_id: run_id.into(), host: this_host(), pid: std::process::id(), since: now, renewed: now };
    let value = serde_json::to_string(&me).expect("holder serialises");
    if !state.compare_and_set(&scope, LEASE_KEY, current.as_deref(), &value)? {
        // Another run took it between the read and the write.
        let held = state.get(&scope, LEASE_KEY)?.and_then(|v| serde_json::from_str::<Holder>(&v).ok());
        return Ok(Err(held.unwrap_or(me)));
    }
    let mine = Arc::new(Mutex::new(value));
    let renewer = tokio::spawn(renew(Arc::clone(state), scope.clone(), Arc::clone(&mine), me));
    Ok(Ok(RunLease { state: Arc::clone(state), scope, mine, renewer }))
}

async fn renew(state: Arc<dyn StateStore>, scope: String, mine: Arc<Mutex<String>>, mut me: Holder) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        me.renewed = now_epoch();
        let next = serde_json::to_string(&me).expect("holder serialises");
        let last = mine.lock().expect("lease lock").clone();
        match state.compare_and_set(&scope, LEASE_KEY, Some(&last), &next) {
            Ok(true) => *mine.lock().expect("lease lock") = next,
            Ok(false) => {
                tracing::error!("the run lease of `{scope}` was taken over: another run now writes this pipeline");
                return;
            }
            Err(e) => tracing::warn!("cannot renew the run lease ({e}); retrying"),
        }
    }
}

/// Takes the lease, waiting for the holder to finish when `wait` (checking
/// every second), else returning the holder at once.
pub async fn acquire(state: &Arc<dyn StateStore>, pipeline: &str, run_id: &str, wait: bool) -> Result<Result<RunLease, Holder>, StateError> {
    let mut announced = false;
    loop {
        match try_acquire(state, pipeline, run_id)? {
            Ok(lease) => return Ok(Ok(lease)),
            Err(holder) if wait => {
                if !announced {
                    tracing::info!("waiting for {holder} to finish pipeline `{pipeline}`");
                    announced = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(holder) => return Ok(Err(holder)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryState;

    fn state() -> Arc<dyn StateStore> {
        Arc::new(MemoryState::default())
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_released_on_drop() {
        let s = state();
        let first = try_acquire(&s, "p", "run-1").unwrap().expect("free");
        let busy = try_acquire(&s, "p", "run-2").unwrap().err().expect("held");
        assert_eq!(busy.run_id, "run-1");
        // Another pipeline is not affected.
        assert!(try_acquire(&s, "q", "run-3").unwrap().is_ok());
        drop(first);
        assert!(try_acquire(&s, "p", "run-2").unwrap().is_ok(), "released on drop");
    }

    #[tokio::test]
    async fn a_dead_holders_lease_is_taken_over() {
        let s = state();
        // Stale: not renewed within the TTL.
        let stale = Holder { run_id: "old".into(), host: "elsewhere".into(), pid: 1, since: 0, renewed: now_epoch() - 31 };
        s.put("p", LEASE_KEY, &serde_json::to_string(&stale).unwrap()).unwrap();
        assert!(try_acquire(&s, "p", "new").unwrap().is_ok());
        // Fresh, but its process on this machine is gone.
        let s = state();
        let gone = Holder { run_id: "old".into(), host: this_host(), pid: u32::MAX - 1, since: 0, renewed: now_epoch() };
        s.put("p", LEASE_KEY, &serde_json::to_string(&gone).unwrap()).unwrap();
        assert!(try_acquire(&s, "p", "new").unwrap().is_ok());
        // Fresh on another machine: still held.
        let s = state();
        let live = Holder { run_id: "old".into(), host: "elsewhere".into(), pid: 1, since: 0, renewed: now_epoch() };
        s.put("p", LEASE_KEY, &serde_json::to_string(&live).unwrap()).unwrap();
        assert_eq!(try_acquire(&s, "p", "new").unwrap().err().map(|h| h.run_id), Some("old".into()));
    }
}
