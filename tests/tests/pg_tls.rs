//! TLS to PostgreSQL (SPEC § Security, TLS) against a cluster of the test's
//! own with `ssl = on` and certificates the test makes: every `sslmode`,
//! certificate checks that refuse a wrong host or a wrong CA (an `auth`
//! error, never retried), client certificates whose key stays in the host,
//! for both connectors and the PostgreSQL state backend. The server's log
//! shows the connections really were TLS.

use std::path::PathBuf;
use std::sync::Arc;

use rapidbyte::engine::stream::{probe, ConnectorSpec};
use rapidbyte::sandbox::SandboxSpec;
use rapidbyte::state::PostgresState;
use rapidbyte_protocol::ErrorCategory;
use rapidbyte_tests::cluster::Cluster;
use rapidbyte_tests::{load, runtime, services};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

const PASSWORD: &str = "Tls-pw-9c1";

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate signed by `ca` for `names`, with common name `cn`: (cert, key) PEM.
fn leaf(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str], cn: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    (p.signed_by(&key, ca).unwrap().pem(), key.serialize_pem())
}

struct Setup {
    cluster: Cluster,
    dir: PathBuf,
}

impl Setup {
    /// A cluster whose certificate names `localhost` only (not 127.0.0.1).
    async fn start(name: &str) -> Self {
        let authority = ca("rapidbyte test CA");
        let (cert, key) = leaf(&authority, &["localhost"], "localhost");
        let cluster = Cluster::with_tls(name, PASSWORD, &cert, &key, &authority.pem());
        let dir = std::env::temp_dir().join(format!("rapidbyte-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), authority.pem()).unwrap();
        std::fs::write(dir.join("other-ca.pem"), ca("someone else").pem()).unwrap();
        let (client, client_key) = leaf(&authority, &[], "certuser");
        std::fs::write(dir.join("client.pem"), client).unwrap();
        std::fs::write(dir.join("client.key"), client_key).unwrap();
        let url = format!("host=127.0.0.1 port={} user=postgres password={PASSWORD} dbname=postgres", cluster.port);
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("admin connection");
        tokio::spawn(conn);
        c.batch_execute("CREATE ROLE certuser LOGIN; GRANT ALL ON SCHEMA public TO certuser").await.unwrap();
        Self { cluster, dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn config(&self, host: &str, tls: serde_json::Value) -> serde_json::Value {
        let mut c = self.cluster.connector_config(PASSWORD);
        c["host"] = host.into();
        for (k, v) in tls.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    fn half_opened(&self) -> usize {
        self.cluster.log().lines().filter(|l| l.contains("could not accept SSL connection")).count()
    }

    fn tls_connections(&self) -> usize {
        self.cluster.log().lines().filter(|l| l.contains("connection authorized") && l.contains("SSL enabled")).count()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spec(component: &Arc<rapidbyte::sandbox::runtime::LoadedComponent>, config: &serde_json::Value) -> ConnectorSpec {
    ConnectorSpec { component: Arc::clone(component), config_json: config.to_string(), sandbox: SandboxSpec::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_behaves_as_libpq_for_both_connectors() {
    let s = Setup::start("modes").await;
    let rt = runtime();
    let ca = s.path("ca.pem");
    let other = s.path("other-ca.pem");
    let cert_login = |mode: &str| {
        let mut c = s.config("localhost", serde_json::json!({"sslmode": mode, "sslrootcert": ca, "sslcert": s.path("client.pem"), "sslkey": s.path("client.key")}));
        c["user"] = "certuser".into();
        c.as_object_mut().unwrap().remove("password");
        c
    };
    let connects = [
        ("verify-full, the certificate's name", s.config("localhost", serde_json::json!({"sslmode": "verify-full", "sslrootcert": ca}))),
        ("verify-ca, another name", s.config("127.0.0.1", serde_json::json!({"sslmode": "verify-ca", "sslrootcert": ca}))),
        ("require, nothing checked", s.config("127.0.0.1", serde_json::json!({"sslmode": "require"}))),
        ("prefer (the default)", s.config("127.0.0.1", serde_json::json!({}))),
        ("a client certificate", cert_login("verify-full")),
    ];
    let refused = [
        ("verify-full, a host the certificate does not name", s.config("127.0.0.1", serde_json::json!({"sslmode": "verify-full", "sslrootcert": ca})), "TLS"),
        ("verify-ca, a CA that did not sign it", s.config("localhost", serde_json::json!({"sslmode": "verify-ca", "sslrootcert": other})), "TLS"),
        ("require with a root is verify-ca", s.config("localhost", serde_json::json!({"sslmode": "require", "sslrootcert": other})), "TLS"),
        ("certuser without its certificate", {
            let mut c = s.config("localhost", serde_json::json!({"sslmode": "require", "user": "certuser"}));
            c.as_object_mut().unwrap().remove("password");
            c
        }, "certificate"),
    ];
    for file in ["source_postgres.wasm", "dest_postgres.wasm"] {
        let component = load(&rt, file);
        for (what, config) in &connects {
            let before = s.tls_connections();
            let half_opened = s.half_opened();
            let p = probe(&rt, &spec(&component, config), "tls", services()).await.unwrap_or_else(|e| panic!("{file}, {what}: {e}"));
            assert!(p.validation.is_ok(), "{file}, {what}: {:?}", p.validation);
            assert!(s.tls_connections() > before, "{file}, {what}: the server saw a TLS connection\n{}", s.cluster.log());
            // `prefer` probes with SSLRequest, then hands that connection to the relay.
            assert_eq!(s.half_opened(), half_opened, "{file}, {what}: no connection left after SSLRequest\n{}", s.cluster.log());
        }
        for (what, config, says) in &refused {
            let p = probe(&rt, &spec(&component, config), "tls", services()).await.unwrap_or_else(|e| panic!("{file}, {what}: {e}"));
            let e = p.validation.expect_err(what);
            let ce = e.connector_error().unwrap_or_else(|| panic!("{file}, {what}: {e}"));
            assert_eq!(ce.category, ErrorCategory::Auth, "{file}, {what}: {ce}");
            assert!(!ce.retryable, "{file}, {what}: not retried");
            assert!(ce.message.contains(says), "{file}, {what}: says why: {ce}");
        }
        // disable: plaintext, which this cluster's `host` line still allows for postgres.
        let before = s.tls_connections();
        let plain = s.config("127.0.0.1", serde_json::json!({"sslmode": "disable"}));
        assert!(probe(&rt, &spec(&component, &plain), "tls", services()).await.unwrap().validation.is_ok(), "{file}: disable");
        assert_eq!(s.tls_connections(), before, "{file}: disable sends no SSLRequest");
    }
    // Settings are checked before anything runs.
    let component = load(&rt, "dest_postgres.wasm");
    for (config, field) in [
        (s.config("localhost", serde_json::json!({"sslmode": "verify_full"})), "/sslmode"),
        (s.config("localhost", serde_json::json!({"sslmode": "verify-full"})), "/sslrootcert"),
        (s.config("localhost", serde_json::json!({"sslmode": "verify-full", "sslrootcert": "/nonexistent/ca.pem"})), "/sslrootcert"),
        (s.config("localhost", serde_json::json!({"sslcert": s.path("client.pem")})), "/sslkey"),
    ] {
        let e = match probe(&rt, &spec(&component, &config), "tls", services()).await {
            Ok(p) => panic!("{config}: accepted: {:?}", p.validation),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(field), "{config}: names {field}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_state_backend_speaks_tls_and_refuses_a_wrong_host() {
    let s = Setup::start("state").await;
    let url = |host: &str, mode: &str| {
        format!("postgres://postgres:{PASSWORD}@{host}:{}/postgres?sslmode={mode}&sslrootcert={}", s.cluster.port, s.path("ca.pem"))
    };
    let before = s.tls_connections();
    let state = PostgresState::connect(&url("localhost", "verify-full"), "rb_tls").expect("verify-full with the right name connects");
    use rapidbyte::state::StateStore;
    state.put("p", "k", "v").unwrap();
    assert_eq!(state.get("p", "k").unwrap().as_deref(), Some("v"));
    assert!(s.tls_connections() > before, "the state backend used TLS");
    let e = match PostgresState::connect(&url("127.0.0.1", "verify-full"), "rb_tls") {
        Ok(_) => panic!("a certificate for another host was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("TLS") && !e.contains(PASSWORD), "{e}");
    let e = match PostgresState::connect(&url("localhost", "verify_full"), "rb_tls") {
        Ok(_) => panic!("a bad sslmode was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("sslmode"), "{e}");
}
