//! A PostgreSQL cluster with `ssl = on` for `cargo xtask bench --tls`: a CA
//! and a server certificate for `localhost` made with the openssl CLI,
//! `initdb` (trust auth) and `pg_ctl` in a directory under target/, on a
//! free port, as the `postgres` user when run as root. Stopped and removed
//! on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::Result;

pub struct TlsCluster {
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn run(program: &str, args: &[&str], as_postgres: bool, cwd: &Path) -> Result<()> {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).current_dir(cwd).output().map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{program} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

impl TlsCluster {
    pub fn start(dir: &Path) -> Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let openssl = |args: &[&str]| run("openssl", args, false, dir);
        openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rapidbyte bench CA", "-keyout", "ca.key", "-out", "ca.crt"])?;
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"])?;
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").map_err(|e| e.to_string())?;
        openssl(&[
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out",
            "server.crt",
        ])?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        if as_postgres {
            run("chown", &["-R", "postgres:postgres", &dir.display().to_string()], false, dir)?;
        }
        let cluster = Self { dir: dir.to_path_buf(), port: free_port()?, as_postgres };
        let data = dir.join("data").display().to_string();
        run("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8"], as_postgres, dir)?;
        let d = dir.display();
        let options = format!(
            "-p {} -k {d} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key",
            cluster.port
        );
        run("pg_ctl", &["-D", &data, "-o", &options, "-l", &format!("{d}/log"), "-w", "start"], as_postgres, dir)?;
        Ok(cluster)
    }

    /// The CA certificate that signs the server's.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let _ = run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"], self.as_postgres, &self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
