//! The report: one line per case with its verdict and reason.

use std::time::Duration;

use super::cases::Case;

/// A case's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The component did what the contract asks.
    Pass,
    /// It did not; the reason says how.
    Fail,
    /// The case cannot run for this component (the reason says what it needs).
    NotApplicable,
}

/// One case's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The case folder's name.
    pub case: String,
    /// protocol, data, telemetry or delivery.
    pub group: String,
    /// What the case checks.
    pub about: String,
    /// The verdict.
    pub status: Status,
    /// Why (for a pass: what was seen).
    pub reason: String,
    /// How long it took.
    pub seconds: f64,
}

impl Outcome {
    pub(crate) fn new(case: &Case, verdict: (Status, String), took: Duration) -> Self {
        Self {
            case: case.name.clone(),
            group: case.group.as_str().to_string(),
            about: case.about.clone(),
            status: verdict.0,
            reason: verdict.1,
            seconds: took.as_secs_f64(),
        }
    }
}

/// A readable table of outcomes, with a totals line.
pub fn render_table(component: &str, outcomes: &[Outcome]) -> String {
    use std::fmt::Write;
    let mut out = format!("conformance of {component}\n\n{:<28} {:<10} {:<6} {:>7}  reason\n", "case", "group", "result", "secs");
    for o in outcomes {
        let result = match o.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::NotApplicable => "n/a",
        };
        let _ = writeln!(out, "{:<28} {:<10} {:<6} {:>7.2}  {}", o.case, o.group, result, o.seconds, o.reason);
    }
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    let _ = writeln!(
        out,
        "\n{} passed, {} failed, {} not applicable",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::NotApplicable)
    );
    out
}
