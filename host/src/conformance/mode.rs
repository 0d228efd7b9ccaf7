//! The write mode, sync mode and delivery guarantee a delivery case runs
//! with (case params `write_mode`, `sync_mode`, `delivery`), and what the
//! destination must hold after a crash and after the resume (SPEC § Delivery).
//!
//! A stream published whole (replace, full-refresh append) starts from
//! "old" contents loaded by a clean run — rows numbered from [`OLD_FIRST_ID`]
//! — so a read-back tells old rows from new ones: after a crash the table is
//! old-complete or new-complete, never a mix.

use rapidbyte_protocol::{Feature, StreamContext, SyncMode, WriteMode};

use super::cases::Case;
use super::harness::Harness;
use super::verdict::{na, Verdict};

/// The first id of the old contents a whole stream replaces or appends to.
pub const OLD_FIRST_ID: u64 = 1_000_000_000;
/// Rows of the old contents.
pub const OLD_ROWS: u64 = 1_234;

/// How a case writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    /// The write mode (upsert keys on `id`).
    pub write: WriteMode,
    /// The sync mode.
    pub sync: SyncMode,
    /// Commit tokens are used.
    pub exactly_once: bool,
}

/// What a read-back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    /// Rows.
    pub rows: i64,
    /// Distinct ids.
    pub distinct: i64,
    /// Rows of the old contents (ids from [`OLD_FIRST_ID`]).
    pub old: i64,
}

impl Mode {
    /// The case's mode; n/a when the destination does not declare what it needs.
    pub fn of(case: &Case, h: &Harness) -> Result<Self, Verdict> {
        let text = |key: &str, default: &str| case.params.get(key).and_then(|v| v.as_str()).unwrap_or(default).to_string();
        let write = match text("write_mode", "append").as_str() {
            "append" => WriteMode::Append,
            "replace" => WriteMode::Replace,
            "upsert" => WriteMode::Upsert(vec!["id".into()]),
            other => return Err(super::verdict::fail(format!("case param write_mode `{other}` is not append, replace or upsert"))),
        };
        let sync = match text("sync_mode", if write == WriteMode::Replace { "full-refresh" } else { "incremental" }).as_str() {
            "incremental" => SyncMode::Incremental,
            "full-refresh" => SyncMode::FullRefresh,
            other => return Err(super::verdict::fail(format!("case param sync_mode `{other}` is not incremental or full-refresh"))),
        };
        let needs = match &write {
            WriteMode::Replace => Some(Feature::Replace),
            WriteMode::Upsert(_) => Some(Feature::Upsert),
            WriteMode::Append => None,
        };
        if let Some(f) = needs
            && !h.declares(f)
        {
            return Err(na(format!("the destination does not declare `{f}`")));
        }
        let exactly_once = match text("delivery", "auto").as_str() {
            "at-least-once" => false,
            _ => h.declares(Feature::ExactlyOnce),
        };
        Ok(Self { write, sync, exactly_once })
    }

    /// [`Mode::of`] for a case that reads the destination back (n/a without
    /// `postgres:` in the subject file).
    pub fn with_read_back(case: &Case, h: &Harness) -> Result<Self, Verdict> {
        if h.pg().is_none() {
            return Err(na("needs read-back: give `postgres:` in the subject file"));
        }
        Self::of(case, h)
    }

    /// § Delivery: the destination publishes the stream whole.
    pub fn whole(&self) -> bool {
        StreamContext { write_mode: self.write.clone(), sync_mode: self.sync, ..Default::default() }.published_whole()
    }

    /// Each row once after a resume: everything but an at-least-once
    /// append, which may repeat rows (an incremental chunk read again, or a
    /// whole copy appended again when the crash came after its COMMIT) and
    /// must lose none.
    pub fn exact(&self) -> bool {
        self.write != WriteMode::Append || self.exactly_once
    }

    /// The mode in words, for verdicts.
    pub fn describe(&self) -> String {
        let write = match &self.write {
            WriteMode::Append => "append",
            WriteMode::Replace => "replace",
            WriteMode::Upsert(_) => "upsert",
        };
        let sync = if self.sync == SyncMode::Incremental { "incremental" } else { "full refresh" };
        let delivery = if self.exactly_once { "exactly-once" } else { "at-least-once" };
        format!("{sync} {write}, {delivery}")
    }

    /// The stream entry of a pipeline file in this mode.
    pub fn stream_entry(&self, name: &str) -> serde_json::Value {
        let mut s = serde_json::json!({"name": name});
        match &self.write {
            WriteMode::Append => s["write_mode"] = "append".into(),
            WriteMode::Replace => s["write_mode"] = "replace".into(),
            WriteMode::Upsert(keys) => {
                s["write_mode"] = "upsert".into();
                s["primary_key"] = serde_json::json!(keys);
            }
        }
        if self.sync == SyncMode::Incremental {
            s["sync_mode"] = "incremental".into();
            s["cursor_field"] = "id".into();
        } else {
            s["sync_mode"] = "full-refresh".into();
        }
        s["delivery"] = if self.exactly_once { "exactly-once".into() } else { "at-least-once".into() };
        s
    }

    /// The old contents a whole stream starts from (none for the others).
    pub fn old_rows(&self) -> u64 {
        if self.whole() { OLD_ROWS } else { 0 }
    }

    /// After a crash or cancel: a whole stream shows the old contents, or
    /// (when the crash came after its one COMMIT) the complete new ones.
    pub fn after_crash(&self, c: Contents, rows: u64) -> Result<(), String> {
        if !self.whole() {
            // A prefix of the rows; never one twice when the guarantee is exact.
            return match self.exact() && c.rows != c.distinct {
                true => Err(format!("{}: {} rows but {} distinct ids after the crash", self.describe(), c.rows, c.distinct)),
                false => Ok(()),
            };
        }
        if c == self.old_complete() || c == self.new_complete(rows) {
            return Ok(());
        }
        Err(format!(
            "after the crash the table holds {} rows ({} distinct, {} old): neither the complete old contents ({} rows) nor the complete new ones",
            c.rows, c.distinct, c.old, OLD_ROWS
        ))
    }

    /// After the resume: what the guarantee asks.
    pub fn after_resume(&self, c: Contents, rows: u64) -> Result<(), String> {
        let want = self.new_complete(rows);
        let ok = if self.exact() { c == want } else { c.distinct == want.distinct && c.old == want.old };
        if ok {
            return Ok(());
        }
        let guarantee = if self.exact() { "each row once" } else { "no row lost" };
        Err(format!(
            "{}: {} rows, {} distinct ids ({} old) where {guarantee} means {} rows, {} distinct ({} old)",
            self.describe(),
            c.rows,
            c.distinct,
            c.old,
            want.rows,
            want.distinct,
            want.old
        ))
    }

    fn old_complete(&self) -> Contents {
        let old = self.old_rows() as i64;
        Contents { rows: old, distinct: old, old }
    }

    fn new_complete(&self, rows: u64) -> Contents {
        let rows = rows as i64;
        match self.write {
            // The old rows stay beside the new copy.
            WriteMode::Append if self.whole() => {
                let old = self.old_rows() as i64;
                Contents { rows: old + rows, distinct: old + rows, old }
            }
            _ => Contents { rows, distinct: rows, old: 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(write: WriteMode, sync: SyncMode, exactly_once: bool) -> Mode {
        Mode { write, sync, exactly_once }
    }

    #[test]
    fn whole_streams_accept_only_old_or_new_contents() {
        let replace = mode(WriteMode::Replace, SyncMode::FullRefresh, true);
        let old = Contents { rows: OLD_ROWS as i64, distinct: OLD_ROWS as i64, old: OLD_ROWS as i64 };
        assert!(replace.after_crash(old, 100).is_ok());
        assert!(replace.after_crash(Contents { rows: 100, distinct: 100, old: 0 }, 100).is_ok());
        // A half-loaded table, or old and new mixed, is refused.
        assert!(replace.after_crash(Contents { rows: 50, distinct: 50, old: 0 }, 100).is_err());
        assert!(replace.after_crash(Contents { rows: OLD_ROWS as i64 + 50, distinct: OLD_ROWS as i64 + 50, old: OLD_ROWS as i64 }, 100).is_err());
        let full_append = mode(WriteMode::Append, SyncMode::FullRefresh, false);
        assert!(!full_append.exact(), "at-least-once cannot tell whether a COMMIT before the crash landed");
        let eo = mode(WriteMode::Append, SyncMode::FullRefresh, true);
        assert!(eo.after_resume(Contents { rows: OLD_ROWS as i64 + 100, distinct: OLD_ROWS as i64 + 100, old: OLD_ROWS as i64 }, 100).is_ok());
        assert!(eo.after_resume(Contents { rows: OLD_ROWS as i64 + 150, distinct: OLD_ROWS as i64 + 100, old: OLD_ROWS as i64 }, 100).is_err());
    }

    #[test]
    fn at_least_once_incremental_append_may_repeat_but_not_lose() {
        let m = mode(WriteMode::Append, SyncMode::Incremental, false);
        assert!(m.after_resume(Contents { rows: 130, distinct: 100, old: 0 }, 100).is_ok());
        assert!(m.after_resume(Contents { rows: 130, distinct: 99, old: 0 }, 100).is_err());
        let eo = mode(WriteMode::Append, SyncMode::Incremental, true);
        assert!(eo.after_resume(Contents { rows: 130, distinct: 100, old: 0 }, 100).is_err());
    }
}
