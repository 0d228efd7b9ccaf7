//! Password authentication against a cluster of the test's own (the shared
//! server trusts everyone): SCRAM-SHA-256 works from inside the sandbox for
//! both PostgreSQL connectors, a wrong password is an `auth` error — never
//! retried — and the PostgreSQL state backend refuses it without showing
//! the password.

use std::sync::Arc;

use rapidbyte::engine::stream::{probe, ConnectorSpec};
use rapidbyte::sandbox::SandboxSpec;
use rapidbyte::state::PostgresState;
use rapidbyte_protocol::ErrorCategory;
use rapidbyte_tests::cluster::Cluster;
use rapidbyte_tests::{load, runtime, services};

const PASSWORD: &str = "Pw-7f3e!scram";

fn spec(component: &Arc<rapidbyte::sandbox::runtime::LoadedComponent>, config: serde_json::Value) -> ConnectorSpec {
    ConnectorSpec { component: Arc::clone(component), config_json: config.to_string(), sandbox: SandboxSpec::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_auth_error_and_the_right_one_connects() {
    let cluster = Cluster::with_password("auth", PASSWORD);
    let rt = runtime();
    for file in ["source_postgres.wasm", "dest_postgres.wasm"] {
        let component = load(&rt, file);
        let good = probe(&rt, &spec(&component, cluster.connector_config(PASSWORD)), "auth", services()).await.expect("opens");
        assert!(good.validation.is_ok(), "{file}: the right password connects over SCRAM: {:?}", good.validation);
        let bad = probe(&rt, &spec(&component, cluster.connector_config("not-the-password")), "auth", services()).await.expect("opens");
        let e = bad.validation.expect_err("a wrong password is refused");
        let ce = e.connector_error().unwrap_or_else(|| panic!("{file}: {e}"));
        assert_eq!(ce.category, ErrorCategory::Auth, "{file}: {ce}");
        assert!(!ce.retryable, "{file}: never retried until the config changes");
        assert!(!e.to_string().contains("not-the-password"), "{file}: the password is not shown: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_state_backend_refuses_a_wrong_password_without_showing_it() {
    let cluster = Cluster::with_password("state-auth", PASSWORD);
    let url = |pw: &str| format!("postgres://postgres:{pw}@127.0.0.1:{}/postgres", cluster.port);
    PostgresState::connect(&url(PASSWORD), "rapidbyte").expect("the right password connects");
    let e = match PostgresState::connect(&url("Wr0ng-pass"), "rapidbyte") {
        Ok(_) => panic!("a wrong password was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(!e.contains("Wr0ng-pass"), "the password is not shown: {e}");
    assert!(e.contains("password") || e.contains("authentication"), "says why: {e}");
}
