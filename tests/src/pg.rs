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
        Self::create_with(test, "").await
    }

    /// Creates `rb_<test>_<pid>_<n>` with `CREATE DATABASE` options
    /// (e.g. `ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`).
    pub async fn create_with(test: &str, options: &str) -> Self {
        let admin_url = url();
        let admin = connect(&admin_url).await;
        let name = format!("rb_{test}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.expect("drop stale database");
        admin.batch_execute(&format!("CREATE DATABASE {name} {options}")).await.expect("create database");
        let db_url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("RAPIDBYTE_TEST_PG must end with /<database>"),
        };
        let client = connect(&db_url).await;
        Self { name, client, admin_url }
    }

    /// A second, independent session on `db` (for a test that needs two).
    pub async fn connect_to(db: &TestDb) -> Client {
        connect(&db.url()).await
    }

    /// A `postgres://` URL of this database.
    pub fn url(&self) -> String {
        match self.admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", self.name),
            None => unreachable!("checked in create"),
        }
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

/// A table `all_types` holding every type the PostgreSQL connectors support,
/// with NULLs and edge values (38+ digit numerics, NaN/Infinity, dates before
/// 1970 and after 2038, empty strings and arrays, non-ASCII text).
pub const TYPES_DDL: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE all_types (
  id int4 PRIMARY KEY,
  c_int2 int2, c_int4 int4, c_int8 int8, c_float4 float4, c_float8 float8,
  c_num_ps numeric(12,2), c_num numeric, c_num_big numeric(50,10),
  c_text text, c_varchar varchar(10), c_char char(5), c_bool bool, c_bytea bytea,
  c_date date, c_time time, c_ts timestamp, c_tstz timestamptz, c_interval interval,
  c_uuid uuid, c_json json, c_jsonb jsonb, c_inet inet, c_cidr cidr, c_enum mood,
  c_int_arr int4[], c_text_arr text[]
);
INSERT INTO all_types VALUES
 (1, 12, 123456, 1234567890123, 1.5, 2.25, 1234.56, 3.14159, 1.5,
  'hello', 'short', 'abc', true, '\x0102', '2024-02-29', '12:34:56.789', '2024-01-02 03:04:05.678901',
  '2024-01-02 03:04:05.678901+00', '1 mon 2 days 00:00:01.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"k": "v"}', '{"k": [1, 2]}', '10.1.2.3', '192.168.0.0/16', 'ok', '{1,2,3}', '{a,b}'),
 (2, -32768, 2147483647, -9223372036854775808, 'NaN', '-Infinity', -9999999999.99, 'NaN',
  1234567890123456789012345678901234567890.0123456789,
  '', 'ünïcødé✓', 'ab', false, '\x00ff', '1900-01-01', '23:59:59.999999', '1969-12-31 23:59:59.999999',
  '2100-06-15 12:00:00.123456+02', '-1 year 2 days -03:04:05.000006', '00000000-0000-0000-0000-000000000000',
  '{"a": [1, 2]}', '{"b": {"c": null}}', '2001:db8::1/64', '10.0.0.0/8', 'happy', '{}', '{x,NULL,"y z"}'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 32767, -2147483648, 9223372036854775807, 'Infinity', 1e308, 0.00, '0.000',
  -0.0000000001,
  'tab	and ''quote''', '', '     ', true, '\x', '2999-12-31', '00:00:00', '2038-01-19 03:14:08',
  '1901-12-13 20:45:52.000001+00', '0', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '[]', '[]', '192.168.1.5', '2001:db8::/32', 'sad', '{1,NULL,-3}', '{}'),
 (5, 0, 0, 0, -0.0, 5e-324, 0.01, '123456789012345678901234567890123456789.123456789', 0,
  'x', 'y', 'z', NULL, '\xdeadbeef', '1970-01-01', '00:00:00.000001', '1970-01-01 00:00:00',
  '1970-01-01 00:00:00+00', '1 day', '123e4567-e89b-12d3-a456-426614174000',
  'null', '"s"', '::1', '::/0', NULL, '{-2147483648,2147483647}', '{"",NULL}');
"#;
