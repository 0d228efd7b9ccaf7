//! A real PostgreSQL for tests: the server at `RAPIDBYTE_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/test`), one fresh database per test,
//! dropped when the test ends. Never a mock; if no server answers, the test
//! fails saying how to start one.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::{Client, NoTls};

/// The server URL tests use.
pub fn url() -> String {
    std::env::var("RAPIDBYTE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {url}: {e}. Start it with `cargo xtask pg --start`, or set RAPIDBYTE_TEST_PG")
    });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A database created for one test and dropped with it.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// A client connected to it.
    pub client: Client,
    admin_url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// Creates `rb_<test>_<pid>_<n>`.
    pub async fn create(test: &str) -> Self {
        let admin_url = url();
        let admin = connect(&admin_url).await;
        let name = format!("rb_{test}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.expect("drop stale database");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        let db_url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("RAPIDBYTE_TEST_PG must end with /<database>"),
        };
        let client = connect(&db_url).await;
        Self { name, client, admin_url }
    }

    /// The source/destination connector config for this database.
    pub fn connector_config(&self) -> serde_json::Value {
        let (host, port, user) = host_port_user(&self.admin_url);
        serde_json::json!({"host": host, "port": port, "user": user, "database": self.name})
    }
}

/// Host, port and user of a `postgres://user@host:port/db` URL.
pub fn host_port_user(url: &str) -> (String, u16, String) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (auth, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let user = auth.split(':').next().unwrap_or("postgres").to_string();
    let hostport = rest.split('/').next().unwrap_or("127.0.0.1:5432");
    let (host, port) = hostport.rsplit_once(':').map(|(h, p)| (h.to_string(), p.parse().unwrap_or(5432))).unwrap_or((hostport.to_string(), 5432));
    (host, port, user)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop from a thread of its own: Drop cannot await, and the test's
        // runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&url, NoTls).await {
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}
