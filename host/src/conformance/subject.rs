//! The subject file: how to run the component under test.
//!
//! ```yaml
//! component: dest_postgres.wasm        # for `cargo xtask conformance`
//! config: {host: 127.0.0.1, port: 5432, user: postgres, database: test, schema: conformance_dst}
//! stream: items                        # the stream read or written
//! postgres: postgres://postgres@127.0.0.1:5432/test   # seeds source tables, reads destination tables back
//! schema: conformance_dst              # where; default: config.schema, else public
//! case_config:                         # per-case config patches and expectations
//!   validate-unreachable: {config: {port: 1}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// A per-case override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseConfig {
    /// Merged over `config` for this case.
    #[serde(default)]
    pub config: serde_json::Value,
    /// Rows the case should see (sources without a seedable system).
    #[serde(default)]
    pub expect_rows: Option<u64>,
    /// A second config (incremental continuation without a seedable system).
    #[serde(default)]
    pub then_config: Option<serde_json::Value>,
    /// New rows the second read should see.
    #[serde(default)]
    pub then_expect_rows: Option<u64>,
}

/// How to run one component under test.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The component's file name (used by `cargo xtask conformance`).
    #[serde(default)]
    pub component: Option<String>,
    /// The connector's config.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// The stream to read or write.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// A PostgreSQL URL for seeding and read-back.
    #[serde(default)]
    pub postgres: Option<String>,
    /// The schema seeded and read back.
    #[serde(default)]
    pub schema: Option<String>,
    /// Per-case overrides.
    #[serde(default)]
    pub case_config: BTreeMap<String, CaseConfig>,
    /// At most this many trap points in the crash case (default 400).
    #[serde(default)]
    pub crash_points: Option<u64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn default_stream() -> String {
    "conformance".into()
}

impl Subject {
    /// Reads a subject file; `postgres` defaults to `RAPIDBYTE_TEST_PG` when the file says `postgres: env`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let tree = crate::pipeline::read_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        // § Security: its secrets are masked in everything printed from here on.
        crate::telemetry::secret::remember_in(&tree);
        let shown = |e: serde_json::Error| format!("{}: {}", path.display(), crate::telemetry::secret::scrub(&e.to_string()));
        let mut subject: Subject = serde_json::from_value(tree).map_err(shown)?;
        if subject.postgres.as_deref() == Some("env") {
            subject.postgres =
                Some(std::env::var("RAPIDBYTE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()));
        }
        if let Some(url) = &subject.postgres {
            crate::telemetry::secret::url_passwords(url).iter().for_each(|p| crate::telemetry::secret::remember(p));
        }
        Ok(subject)
    }

    /// The schema seeded and read back.
    pub fn schema(&self) -> String {
        self.schema
            .clone()
            .or_else(|| self.config.get("schema").and_then(|v| v.as_str()).map(str::to_string))
            .unwrap_or_else(|| "public".into())
    }

    /// The config for `case`: `config` with the case's patch merged over it.
    pub fn config_for(&self, case: &str) -> serde_json::Value {
        let mut config = self.config.clone();
        if let Some(patch) = self.case_config.get(case).map(|c| &c.config) {
            merge(&mut config, patch);
        }
        config
    }
}

/// Merges `patch` over `base` (objects key by key; anything else replaces).
pub fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) if !p.is_null() => *b = p.clone(),
        _ => {}
    }
}
