//! The conformance harness: certifies any connector component against the
//! contract (SPEC, every section). Cases are data — one folder per case under
//! `fixtures/conformance/` — and each runs against every component of its
//! role. `rapidbyte conformance <component.wasm> --config subject.yaml`
//! prints a pass/fail table (or `--json`) and exits non-zero on a failure.

mod cases;
mod checks;
mod delivery;
mod harness;
mod hostile;
mod mode;
pub mod proxy;
mod report;
mod subject;
mod verdict;
mod wire;

pub use cases::{load_cases, Case, Group};
pub use harness::Harness;
pub use report::{render_table, Outcome, Status};
pub use subject::Subject;

use std::time::Instant;

/// Runs every case of the component's role (and of `only`'s group or name
/// prefix, when given), in folder order.
pub async fn run(harness: &Harness, cases: &[Case], only: Option<&str>) -> Vec<Outcome> {
    let role = harness.component.manifest.role;
    let mut outcomes = Vec::new();
    for case in cases.iter().filter(|c| c.applies_to(role)) {
        if let Some(only) = only
            && case.group.as_str() != only
            && !case.name.starts_with(only)
        {
            continue;
        }
        let started = Instant::now();
        tracing::debug!(case = %case.name, "conformance case");
        let verdict = match case.check.as_str() {
            "crash_trap" => delivery::crash_trap(harness, case).await,
            "crash_kill" => delivery::crash_kill(harness, case).await,
            "commit_unknown" => delivery::commit_unknown(harness, case).await,
            "upstream_abort" => delivery::upstream_abort(harness, case).await,
            "cancel_sampled" => delivery::cancel_sampled(harness, case).await,
            "wire_destination" => wire::destination(harness, case).await,
            "wire_source" => wire::source(harness, case).await,
            "hostile_metadata" => hostile::metadata(harness, case).await,
            _ => checks::run(harness, case).await,
        };
        outcomes.push(Outcome::new(case, verdict, started.elapsed()));
    }
    harness.cleanup().await;
    outcomes
}
