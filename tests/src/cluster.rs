//! A PostgreSQL cluster of a test's own, for server settings the shared
//! server does not have (password authentication, TLS): `initdb` and
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
        Self::start(name, password, None)
    }

    /// As [`Self::with_password`], with `ssl = on` and the given server
    /// certificate and key (PEM). Role `certuser` logs in over TLS by a
    /// client certificate signed by `ca` (PEM) and nothing else.
    pub fn with_tls(name: &str, password: &str, cert: &str, key: &str, ca: &str) -> Self {
        Self::start(name, password, Some((cert, key, ca)))
    }

    fn start(name: &str, password: &str, tls: Option<(&str, &str, &str)>) -> Self {
        let dir = std::env::temp_dir().join(format!("rapidbyte-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let as_postgres = is_root();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, password).expect("password file");
        if let Some((cert, key, ca)) = tls {
            std::fs::write(dir.join("server.crt"), cert).expect("server.crt");
            std::fs::write(dir.join("server.key"), key).expect("server.key");
            std::fs::write(dir.join("ca.crt"), ca).expect("ca.crt");
            // PostgreSQL refuses a key others may read.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod server.key");
        }
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
        let mut options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c log_connections=on", cluster.port, cluster.dir.display());
        if tls.is_some() {
            let d = cluster.dir.display();
            options.push_str(&format!(" -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key -c ssl_ca_file={d}/ca.crt"));
            // Before initdb's own lines, which would match first.
            let hba = data.join("pg_hba.conf");
            let rest = std::fs::read_to_string(&hba).expect("pg_hba.conf");
            std::fs::write(&hba, format!("hostssl all certuser 127.0.0.1/32 cert\nhost all certuser 0.0.0.0/0 reject\n{rest}")).expect("pg_hba.conf");
        }
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

    /// The server's log (`log_connections` is on: each line says whether TLS was used).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
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
