//! A PostgreSQL cluster of a test's own, for server settings the shared
//! server does not have (password authentication here): `initdb` and
//! `pg_ctl` in a temporary directory, on a free port, as the `postgres`
//! user when the tests run as root. Stopped and removed on drop.

use std::path::PathBuf;
use std::process::Command;

/// A running private cluster.
pub struct Cluster {
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Cluster {
    /// Starts a cluster whose superuser `postgres` logs in with `password`
    /// over SCRAM-SHA-256 (no trust anywhere).
    pub fn with_password(name: &str, password: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rapidbyte-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let as_postgres = is_root();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, password).expect("password file");
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().expect("chown");
            assert!(status.success(), "chown the cluster dir to postgres");
        }
        let cluster = Self { dir, port: free_port(), as_postgres };
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=scram-sha-256", "--pwfile", pwfile.to_str().unwrap(), "-E", "UTF8"],
        );
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", cluster.port, cluster.dir.display());
        let log = cluster.dir.join("log");
        cluster.run("pg_ctl", &["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"]);
        cluster
    }

    fn run(&self, program: &str, args: &[&str]) {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        let out = cmd.args(args).output().unwrap_or_else(|e| panic!("{program}: {e} (is PostgreSQL's bin directory on PATH?)"));
        assert!(out.status.success(), "{program} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }

    /// A connector config for database `postgres` as user `postgres`.
    pub fn connector_config(&self, password: &str) -> serde_json::Value {
        serde_json::json!({"host": "127.0.0.1", "port": self.port, "user": "postgres", "password": password, "database": "postgres"})
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "pg_ctl"]);
            c
        } else {
            Command::new("pg_ctl")
        };
        let _ = cmd.args(["-D", data.to_str().unwrap_or_default(), "-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
