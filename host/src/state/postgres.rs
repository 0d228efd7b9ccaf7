//! State in PostgreSQL tables, for deployments where several hosts share
//! one pipeline's state. The trait is synchronous (state calls are rare:
//! once per checkpoint), so the client lives on its own thread with its own
//! small runtime and callers wait for its answer.

use std::sync::mpsc;
use std::sync::Mutex;

use tokio_postgres::{Client, NoTls};

use super::{RunRecord, StateError, StateStore};

type Job = Box<dyn FnOnce(&Client, &tokio::runtime::Runtime) + Send>;

/// State in a PostgreSQL schema (`rapidbyte` by default).
pub struct PostgresState {
    jobs: Mutex<mpsc::Sender<Job>>,
    schema: String,
}

fn err(e: impl std::fmt::Display) -> StateError {
    StateError(format!("postgres state: {e}"))
}

/// A client error with the server's own words (tokio-postgres shows a
/// server error only as "db error").
fn db_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

enum Refused {
    Db(tokio_postgres::Error),
    Setting(String),
}

/// The connection's task, whichever stream it runs on.
type Driver = Box<dyn std::future::Future<Output = ()> + Send + Unpin>;
type RelayedConnection = tokio_postgres::Connection<tokio::net::TcpStream, tokio_postgres::tls::NoTlsStream>;

use crate::sandbox::tls::relay::{self, Relay};

/// Connects as `url` says, TLS included (SPEC § Security, TLS): `sslmode`
/// and the certificate files are the host's TLS, through a relay of its
/// own like the connectors'.
async fn connect_with_tls(url: &str) -> Result<(Client, Driver, Option<Relay>), Refused> {
    use crate::sandbox::tls::{split_connection_string, SslMode};
    let (rest, given) = split_connection_string(url);
    let tls = given.settle("state.url ").map_err(|e| Refused::Setting(format!("TLS setting `{}` {}", e.field, e.problem)))?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(Refused::Db)?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => Some(h.clone()),
        _ => None,
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    // As for connectors: `prefer` against a server without TLS (or over a
    // Unix socket) goes direct.
    let mut ready = None;
    let direct = match (&host, tls.mode) {
        (_, SslMode::Disable) | (None, SslMode::Prefer) => true,
        (None, mode) => return Err(Refused::Setting(format!("sslmode `{}` needs a TCP host in the URL", mode.as_str()))),
        (Some(h), SslMode::Prefer) => {
            ready = relay::offers_tls(&format!("{h}:{port}")).await;
            ready.is_none()
        }
        _ => false,
    };
    let Some(host) = host.filter(|_| !direct) else {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let (client, connection) = config.connect(NoTls).await.map_err(Refused::Db)?;
        return Ok((client, Box::new(Box::pin(async move { let _ = connection.await; })), None));
    };
    let addrs: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| Refused::Setting(format!("cannot resolve `{host}`: {e}")))?.collect();
    let relay = relay::start(relay::Upstream { addrs, host, tls, ready: std::sync::Mutex::new(ready) }).await.map_err(|e| Refused::Setting(e.to_string()))?;
    let mut stream = tokio::net::TcpStream::connect(relay.addr).await.map_err(|e| Refused::Setting(e.to_string()))?;
    tokio::io::AsyncWriteExt::write_all(&mut stream, relay.token.as_bytes()).await.map_err(|e| Refused::Setting(e.to_string()))?;
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let (client, connection): (Client, RelayedConnection) = config.connect_raw(stream, NoTls).await.map_err(Refused::Db)?;
    Ok((client, Box::new(Box::pin(async move { let _ = connection.await; })), Some(relay)))
}

impl PostgresState {
    /// Connects and creates the state tables if needed.
    pub fn connect(url: &str, schema: &str) -> Result<Self, StateError> {
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), StateError>>();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("rapidbyte-pg-state".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return drop(ready_tx.send(Err(err(e)))),
                };
                let shown = crate::telemetry::secret::redact_url(&url);
                let (client, _relay) = match rt.block_on(connect_with_tls(&url)) {
                    Ok((client, connection, relay)) => {
                        rt.spawn(connection);
                        (client, relay)
                    }
                    Err(Refused::Db(e)) => return drop(ready_tx.send(Err(err(format!("cannot connect to {shown}: {}", db_text(&e)))))),
                    Err(Refused::Setting(e)) => return drop(ready_tx.send(Err(err(format!("cannot connect to {shown}: {e}"))))),
                };
                let _ = ready_tx.send(Ok(()));
                while let Ok(job) = jobs_rx.recv() {
                    job(&client, &rt);
                }
            })
            .map_err(err)?;
        ready_rx.recv().map_err(err)??;
        let state = Self { jobs: Mutex::new(jobs_tx), schema: schema.to_string() };
        let s = state.ident();
        state.call(move |c| {
            Box::pin(async move {
                c.batch_execute(&format!(
                    // The IF NOT EXISTS notices of every later run are not news.
                    "SET client_min_messages TO warning;
                     CREATE SCHEMA IF NOT EXISTS {s};
                     CREATE TABLE IF NOT EXISTS {s}.state (scope text NOT NULL, key text NOT NULL, value text NOT NULL,
                        updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key));
                     CREATE TABLE IF NOT EXISTS {s}.runs (run_id text PRIMARY KEY, pipeline text NOT NULL,
                        started_at bigint NOT NULL, finished_at bigint, outcome text NOT NULL,
                        records_read bigint NOT NULL, records_written bigint NOT NULL, bytes_written bigint NOT NULL,
                        retries bigint NOT NULL, error text);
                     ALTER TABLE {s}.runs ADD COLUMN IF NOT EXISTS records_skipped bigint NOT NULL DEFAULT 0;
                     ALTER TABLE {s}.runs ADD COLUMN IF NOT EXISTS records_dead_lettered bigint NOT NULL DEFAULT 0;"
                ))
                .await
            })
        })?;
        Ok(state)
    }

    fn ident(&self) -> String {
        rapidbyte_pgquote::ident(&self.schema)
    }

    /// Runs `f` with the client on the state thread and waits for its result.
    fn call<T: Send + 'static>(
        &self,
        f: impl for<'c> FnOnce(&'c Client) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + 'c>>
            + Send
            + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |client, rt| {
            let _ = tx.send(rt.block_on(f(client)));
        });
        self.jobs.lock().expect("state lock").send(job).map_err(|_| err("the state connection thread stopped"))?;
        rx.recv().map_err(|_| err("the state connection thread stopped"))?.map_err(err)
    }
}

impl StateStore for PostgresState {
    fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StateError> {
        let sql = format!("SELECT value FROM {}.state WHERE scope = $1 AND key = $2", self.ident());
        let (scope, key) = (scope.to_string(), key.to_string());
        self.call(move |c| Box::pin(async move { Ok(c.query_opt(&sql, &[&scope, &key]).await?.map(|r| r.get(0))) }))
    }

    fn put(&self, scope: &str, key: &str, value: &str) -> Result<(), StateError> {
        let sql = format!(
            "INSERT INTO {}.state (scope, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, updated_at = now()",
            self.ident()
        );
        let (scope, key, value) = (scope.to_string(), key.to_string(), value.to_string());
        self.call(move |c| Box::pin(async move { c.execute(&sql, &[&scope, &key, &value]).await.map(drop) }))
    }

    fn compare_and_set(&self, scope: &str, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StateError> {
        let s = self.ident();
        let (scope, key, value, expected) = (scope.to_string(), key.to_string(), value.to_string(), expected.map(str::to_string));
        self.call(move |c| {
            Box::pin(async move {
                let n = match &expected {
                    None => {
                        let sql = format!("INSERT INTO {s}.state (scope, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING");
                        c.execute(&sql, &[&scope, &key, &value]).await?
                    }
                    Some(old) => {
                        let sql = format!("UPDATE {s}.state SET value = $3, updated_at = now() WHERE scope = $1 AND key = $2 AND value = $4");
                        c.execute(&sql, &[&scope, &key, &value, old]).await?
                    }
                };
                Ok(n == 1)
            })
        })
    }

    fn record_run(&self, run: &RunRecord) -> Result<(), StateError> {
        let sql = format!(
            "INSERT INTO {}.runs (run_id, pipeline, started_at, finished_at, outcome, records_read, records_written,
               bytes_written, retries, error, records_skipped, records_dead_lettered)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (run_id) DO UPDATE SET pipeline = excluded.pipeline, started_at = excluded.started_at,
               finished_at = excluded.finished_at, outcome = excluded.outcome, records_read = excluded.records_read,
               records_written = excluded.records_written, bytes_written = excluded.bytes_written,
               retries = excluded.retries, error = excluded.error, records_skipped = excluded.records_skipped,
               records_dead_lettered = excluded.records_dead_lettered",
            self.ident()
        );
        let r = run.clone();
        self.call(move |c| {
            Box::pin(async move {
                c.execute(
                    &sql,
                    &[
                        &r.run_id,
                        &r.pipeline,
                        &r.started_at,
                        &r.finished_at,
                        &r.outcome,
                        &(r.records_read as i64),
                        &(r.records_written as i64),
                        &(r.bytes_written as i64),
                        &(r.retries as i64),
                        &r.error,
                        &(r.records_skipped as i64),
                        &(r.records_dead_lettered as i64),
                    ],
                )
                .await
                .map(drop)
            })
        })
    }

    fn recent_runs(&self, pipeline: &str, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let sql = format!(
            "SELECT run_id, pipeline, started_at, finished_at, outcome, records_read, records_written, bytes_written, retries, error,
                    records_skipped, records_dead_lettered
             FROM {}.runs WHERE pipeline = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2",
            self.ident()
        );
        let (pipeline, limit) = (pipeline.to_string(), limit as i64);
        self.call(move |c| {
            Box::pin(async move {
                let rows = c.query(&sql, &[&pipeline, &limit]).await?;
                Ok(rows
                    .iter()
                    .map(|r| RunRecord {
                        run_id: r.get(0),
                        pipeline: r.get(1),
                        started_at: r.get(2),
                        finished_at: r.get(3),
                        outcome: r.get(4),
                        records_read: r.get::<_, i64>(5) as u64,
                        records_written: r.get::<_, i64>(6) as u64,
                        bytes_written: r.get::<_, i64>(7) as u64,
                        retries: r.get::<_, i64>(8) as u64,
                        error: r.get(9),
                        records_skipped: r.get::<_, i64>(10) as u64,
                        records_dead_lettered: r.get::<_, i64>(11) as u64,
                    })
                    .collect())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_connect_never_shows_the_password() {
        // Port 1: nothing listens, so the connect fails at once.
        let e = PostgresState::connect("postgres://rb:hunter2-distinctive@127.0.0.1:1/ops", "rapidbyte")
            .err()
            .expect("nothing listens on port 1");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("hunter2-distinctive"), "{text}");
        assert!(text.contains("rb:***@127.0.0.1:1"), "{text}");
    }
}
