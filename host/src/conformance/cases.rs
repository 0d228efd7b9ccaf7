//! Cases as data: `fixtures/conformance/<name>/case.yaml` says what to
//! check, for which role, with which parameters; an optional
//! `seed.postgres.sql` (with `{schema}` for the subject's schema) prepares a
//! source table.

use std::path::{Path, PathBuf};

use rapidbyte_protocol::Role;
use serde::Deserialize;

/// Case groups (SPEC sections they cover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// § Lifecycle, § Batches, § Errors: the calls and frames themselves.
    Protocol,
    /// Values, NULLs, empty and huge inputs, incremental continuation.
    Data,
    /// § Metrics and logs.
    Telemetry,
    /// § Delivery: crash safety and commit states.
    Delivery,
    /// § Security: what a component does with hostile input.
    Security,
}

impl Group {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Protocol => "protocol",
            Self::Data => "data",
            Self::Telemetry => "telemetry",
            Self::Delivery => "delivery",
            Self::Security => "security",
        }
    }
}

/// Which components a case applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseRole {
    /// Sources only.
    Source,
    /// Destinations only.
    Destination,
    /// Both.
    Any,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The folder's name (filled in on load).
    #[serde(skip)]
    pub name: String,
    /// The folder (for seeds).
    #[serde(skip)]
    pub dir: PathBuf,
    /// Its group.
    pub group: Group,
    /// Which components it applies to.
    pub role: CaseRole,
    /// One line on what it checks.
    pub about: String,
    /// The check that runs it (see `checks.rs`).
    pub check: String,
    /// The check's parameters.
    #[serde(default)]
    pub params: serde_json::Value,
    /// The source table the seed creates (source data cases).
    #[serde(default)]
    pub table: Option<String>,
}

impl Case {
    /// Whether the case runs for a component of `role`.
    pub fn applies_to(&self, role: Role) -> bool {
        match self.role {
            CaseRole::Any => true,
            CaseRole::Source => role == Role::Source,
            CaseRole::Destination => role == Role::Destination,
        }
    }

    /// A numeric parameter, or `default`.
    pub fn param(&self, key: &str, default: u64) -> u64 {
        self.params.get(key).and_then(|v| v.as_u64()).unwrap_or(default)
    }

    /// The case's PostgreSQL seed, with `{schema}` replaced.
    pub fn postgres_seed(&self, schema: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("seed.postgres.sql")).ok()?;
        Some(text.replace("{schema}", &rapidbyte_pgquote::ident(schema)))
    }
}

/// Loads every `<dir>/*/case.yaml`, sorted by folder name.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list conformance cases in {}: {e}", dir.display()))?;
    let mut cases = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path().join("case.yaml");
        if !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let tree = crate::pipeline::read_yaml(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut case: Case = serde_json::from_value(tree).map_err(|e| format!("{}: {e}", file.display()))?;
        case.name = entry.file_name().to_string_lossy().into_owned();
        case.dir = entry.path();
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(format!("no cases (*/case.yaml) in {}", dir.display()));
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}
