//! The default backend: one SQLite file (WAL, synchronous=FULL, so a
//! committed cursor survives a crash of the process or the machine).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::{RunRecord, StateError, StateStore};

/// State in a SQLite file.
pub struct SqliteState {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StateError + '_ {
    move |e| StateError(format!("{}: {e}", path.display()))
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS state (
        scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
        PRIMARY KEY (scope, key));
    CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL,
        started_at INTEGER NOT NULL, finished_at INTEGER, outcome TEXT NOT NULL,
        records_read INTEGER NOT NULL, records_written INTEGER NOT NULL,
        bytes_written INTEGER NOT NULL, retries INTEGER NOT NULL, error TEXT);
    CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, started_at);
";

/// How long a run waits for another holding the state file.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `f` again while SQLite answers busy or locked, up to [`BUSY_WAIT`]
/// (decided on the error code, never its text).
fn while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_WAIT;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

fn column_present(conn: &Connection, column: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) > 0 FROM pragma_table_info('runs') WHERE name = ?1", params![column], |r| r.get(0))
}

impl SqliteState {
    /// Opens (creating if needed) the state file.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let e = err(path);
        let conn = Connection::open(path).map_err(&e)?;
        conn.busy_timeout(BUSY_WAIT).map_err(&e)?;
        // Two runs opening a fresh file together contend for the switch to
        // WAL and the schema, where SQLite answers "busy" without calling
        // the busy handler: wait for the other as the busy timeout would.
        while_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(&e)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(&e)?;
        while_busy(|| conn.execute_batch(SCHEMA)).map_err(&e)?;
        // Files written before the on-data-error counts existed gain them.
        for column in ["records_skipped", "records_dead_lettered"] {
            if !column_present(&conn, column).map_err(&e)? {
                let alter = format!("ALTER TABLE runs ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0");
                match while_busy(|| conn.execute_batch(&alter)) {
                    // A run that opened the file at the same time added it first.
                    Err(_) if column_present(&conn, column).unwrap_or(false) => {}
                    r => r.map_err(&e)?,
                }
            }
        }
        Ok(Self { conn: Mutex::new(conn), path: path.to_path_buf() })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl StateStore for SqliteState {
    fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StateError> {
        let conn = self.conn.lock().expect("state lock");
        conn.query_row("SELECT value FROM state WHERE scope = ?1 AND key = ?2", params![scope, key], |r| r.get(0))
            .optional()
            .map_err(err(&self.path))
    }

    fn put(&self, scope: &str, key: &str, value: &str) -> Result<(), StateError> {
        let conn = self.conn.lock().expect("state lock");
        conn.execute(
            "INSERT INTO state (scope, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, updated_at = unixepoch()",
            params![scope, key, value],
        )
        .map(drop)
        .map_err(err(&self.path))
    }

    fn compare_and_set(&self, scope: &str, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StateError> {
        let conn = self.conn.lock().expect("state lock");
        let changed = match expected {
            None => conn.execute(
                "INSERT INTO state (scope, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (scope, key) DO NOTHING",
                params![scope, key, value],
            ),
            Some(old) => conn.execute(
                "UPDATE state SET value = ?3, updated_at = unixepoch() WHERE scope = ?1 AND key = ?2 AND value = ?4",
                params![scope, key, value, old],
            ),
        }
        .map_err(err(&self.path))?;
        Ok(changed == 1)
    }

    fn record_run(&self, run: &RunRecord) -> Result<(), StateError> {
        let conn = self.conn.lock().expect("state lock");
        conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, pipeline, started_at, finished_at, outcome, records_read, records_written,
               bytes_written, retries, error, records_skipped, records_dead_lettered)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                run.run_id,
                run.pipeline,
                run.started_at,
                run.finished_at,
                run.outcome,
                run.records_read as i64,
                run.records_written as i64,
                run.bytes_written as i64,
                run.retries as i64,
                run.error,
                run.records_skipped as i64,
                run.records_dead_lettered as i64
            ],
        )
        .map(drop)
        .map_err(err(&self.path))
    }

    fn recent_runs(&self, pipeline: &str, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let conn = self.conn.lock().expect("state lock");
        let mut stmt = conn
            .prepare(
                "SELECT run_id, pipeline, started_at, finished_at, outcome, records_read, records_written, bytes_written,
                        retries, error, records_skipped, records_dead_lettered
                 FROM runs WHERE pipeline = ?1 ORDER BY started_at DESC, run_id DESC LIMIT ?2",
            )
            .map_err(err(&self.path))?;
        let rows = stmt
            .query_map(params![pipeline, limit as i64], |r| {
                Ok(RunRecord {
                    run_id: r.get(0)?,
                    pipeline: r.get(1)?,
                    started_at: r.get(2)?,
                    finished_at: r.get(3)?,
                    outcome: r.get(4)?,
                    records_read: r.get::<_, i64>(5)? as u64,
                    records_written: r.get::<_, i64>(6)? as u64,
                    bytes_written: r.get::<_, i64>(7)? as u64,
                    retries: r.get::<_, i64>(8)? as u64,
                    error: r.get(9)?,
                    records_skipped: r.get::<_, i64>(10)? as u64,
                    records_dead_lettered: r.get::<_, i64>(11)? as u64,
                })
            })
            .map_err(err(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rapidbyte-sqlite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("state.db")
    }

    #[test]
    fn behaves_like_every_backend() {
        super::super::conformance::key_values(&SqliteState::open(&temp("kv")).unwrap());
        super::super::conformance::run_history(&SqliteState::open(&temp("runs")).unwrap());
    }

    #[test]
    fn values_survive_reopening() {
        let path = temp("reopen");
        SqliteState::open(&path).unwrap().put("p/s", "cursor", "{\"v\":1}").unwrap();
        assert_eq!(SqliteState::open(&path).unwrap().get("p/s", "cursor").unwrap().as_deref(), Some("{\"v\":1}"));
    }
}
