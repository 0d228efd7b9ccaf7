//! TLS to PostgreSQL, run natively by the host (SPEC § Security, TLS).
//!
//! AES-GCM decrypts at about 20 MB/s inside a wasm guest against GB/s
//! natively (docs/design/tls-research.md), and keys should not enter a
//! sandbox. So for an endpoint its manifest marks `endpoint-tls=…,postgres`
//! the host reads the libpq-style settings beside the host field (`sslmode`,
//! `sslrootcert`, `sslcert`, `sslkey`), opens a loopback [`relay`] that
//! speaks SSLRequest and TLS to the server, grants the guest only the relay,
//! and points the guest's `host`/`port` at it.

pub mod relay;

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What an instance may reach once TLS endpoints go through relays.
pub struct Prepared {
    /// The grants: direct endpoints' addresses plus each relay's.
    pub reach: super::Reach,
    /// The config the guest is given, when a relay changed it.
    pub guest_config: Option<serde_json::Value>,
    /// Relays to keep for the instance's life.
    pub relays: Vec<relay::Relay>,
}

/// Each manifest endpoint's TLS settings (`None`: the host provides no TLS
/// there), checked and files read, before anything starts.
pub fn settings(manifest: &rapidbyte_protocol::Manifest, config: &serde_json::Value) -> Result<Vec<Option<TlsSettings>>, super::SandboxError> {
    let bad = |e: BadSetting| super::SandboxError::BadTls { connector: manifest.name.clone(), field: e.field, problem: e.problem };
    manifest
        .endpoints
        .iter()
        .map(|ep| match ep.tls.as_deref() {
            Some("postgres") => {
                let (given, prefix) = Given::from_config(config, &ep.host_pointer).map_err(bad)?;
                given.settle(&prefix).map(Some).map_err(bad)
            }
            _ => Ok(None),
        })
        .collect()
}

/// Resolves `endpoints` (from [`super::endpoints`]: the manifest's first,
/// then grants) and starts a relay for each that takes TLS; the guest's
/// config then names the relays.
pub async fn prepare(manifest: &rapidbyte_protocol::Manifest, config: &serde_json::Value, endpoints: &[String]) -> Result<Prepared, super::SandboxError> {
    let tls = settings(manifest, config)?;
    let mut relay_at = Vec::new();
    let mut ready = Vec::new();
    for (i, t) in tls.iter().enumerate() {
        let (relay, probe) = match t {
            // `prefer` against a server without TLS (or one not answering:
            // the connector then reports that itself) goes direct, saving the hop.
            Some(t) if t.mode == SslMode::Prefer => {
                let probe = relay::offers_tls(&endpoints[i]).await;
                (probe.is_some(), probe)
            }
            Some(t) => (t.mode != SslMode::Disable, None),
            None => (false, None),
        };
        relay_at.push(relay);
        ready.push(probe);
    }
    let relayed = |i: usize| tls.get(i).and_then(|t| t.as_ref()).filter(|_| relay_at.get(i).copied().unwrap_or(false));
    let direct: Vec<String> = endpoints.iter().enumerate().filter(|(i, _)| relayed(*i).is_none()).map(|(_, e)| e.clone()).collect();
    let mut reach = super::resolve(&manifest.name, &direct).await?;
    let mut guest_config = None;
    let mut relays = Vec::new();
    for (i, ep) in manifest.endpoints.iter().enumerate() {
        let Some(settings) = relayed(i) else { continue };
        let endpoint = &endpoints[i];
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(endpoint.as_str())
            .await
            .map_err(|e| super::SandboxError::Unresolvable { connector: manifest.name.clone(), endpoint: endpoint.clone(), reason: e.to_string() })?
            .collect();
        let host = endpoint.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_default();
        let ready = std::sync::Mutex::new(ready.get_mut(i).and_then(Option::take));
        let relay = relay::start(relay::Upstream { addrs, host, tls: settings.clone(), ready })
            .await
            .map_err(|e| super::SandboxError::Relay { connector: manifest.name.clone(), reason: e.to_string() })?;
        reach.addrs.insert(relay.addr);
        let config = guest_config.get_or_insert_with(|| config.clone());
        let local = std::net::Ipv4Addr::LOCALHOST.to_string();
        match &ep.port_pointer {
            Some(port) => {
                set(config, &ep.host_pointer, local.into());
                set(config, port, relay.addr.port().into());
            }
            None => set(config, &ep.host_pointer, relay.addr.to_string().into()),
        }
        let parent = ep.host_pointer.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        set(config, &format!("{parent}/host_tls_relay"), relay.token.clone().into());
        relays.push(relay);
    }
    Ok(Prepared { reach, guest_config, relays })
}

/// Takes the TLS parameters out of a connection string (URL query or
/// `key=value` form), which tokio-postgres would refuse (it knows no
/// `verify-*` modes and no certificate files): the rest, and the settings.
pub fn split_connection_string(conn: &str) -> (String, Given) {
    let mut given = Given::default();
    let mut take = |k: &str, v: &str| -> bool {
        let slot = match k {
            "sslmode" => &mut given.sslmode,
            "sslrootcert" => &mut given.sslrootcert,
            "sslcert" => &mut given.sslcert,
            "sslkey" => &mut given.sslkey,
            _ => return false,
        };
        *slot = Some(crate::telemetry::secret::percent_decode(v));
        true
    };
    let rest = if conn.contains("://") {
        match conn.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query.split('&').filter(|kv| !kv.split_once('=').is_some_and(|(k, v)| take(k, v))).collect();
                if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) }
            }
            None => conn.to_string(),
        }
    } else {
        conn.split_whitespace().filter(|kv| !kv.split_once('=').is_some_and(|(k, v)| take(k, v))).collect::<Vec<_>>().join(" ")
    };
    (rest, given)
}

/// Sets the value at a JSON pointer whose parent object exists.
fn set(config: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(serde_json::Value::Object(map)) = config.pointer_mut(parent) {
        map.insert(key.replace("~1", "/").replace("~0", "~"), value);
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext; no SSLRequest.
    Disable,
    /// TLS when the server offers it, certificate unchecked; else plaintext.
    Prefer,
    /// TLS or nothing, certificate unchecked (checked as `verify-ca` when
    /// `sslrootcert` is given, as libpq does).
    Require,
    /// TLS with a certificate signed by `sslrootcert`, any host name.
    VerifyCa,
    /// TLS with a certificate signed by `sslrootcert` for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Parses a `sslmode` value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    /// Its name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// One endpoint's TLS settings, files read and checked.
#[derive(Clone)]
pub struct TlsSettings {
    /// The mode asked for (after libpq's `require` + root rule).
    pub mode: SslMode,
    /// The rustls client config, unless `disable`.
    pub client: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// A TLS setting that cannot be used: the key (a JSON pointer or URL
/// parameter) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSetting {
    /// Where: `/sslrootcert`, `sslmode`, …
    pub field: String,
    /// What is wrong, and the fix.
    pub problem: String,
}

/// The settings as given, before files are read.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// `sslmode`; `None` is `prefer`.
    pub sslmode: Option<String>,
    /// CA certificates (PEM file).
    pub sslrootcert: Option<String>,
    /// Client certificate chain (PEM file).
    pub sslcert: Option<String>,
    /// Client private key (PEM file).
    pub sslkey: Option<String>,
}

impl Given {
    /// The settings beside `host_pointer` in a connector config (`/host` →
    /// `/sslmode`, `/db/host` → `/db/sslmode`). A value that is not a string
    /// is an error.
    pub fn from_config(config: &serde_json::Value, host_pointer: &str) -> Result<(Self, String), BadSetting> {
        let parent = host_pointer.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let get = |key: &str| -> Result<Option<String>, BadSetting> {
            let pointer = format!("{parent}/{key}");
            match config.pointer(&pointer) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(BadSetting { field: pointer, problem: "must be a string".into() }),
            }
        };
        let given = Self { sslmode: get("sslmode")?, sslrootcert: get("sslrootcert")?, sslcert: get("sslcert")?, sslkey: get("sslkey")? };
        Ok((given, format!("{parent}/")))
    }

    /// Reads the files and builds the client config; `prefix` names the
    /// fields in errors (`/` for a connector config, `` for URL parameters).
    pub fn settle(&self, prefix: &str) -> Result<TlsSettings, BadSetting> {
        let bad = |key: &str, problem: String| BadSetting { field: format!("{prefix}{key}"), problem };
        let mode = match self.sslmode.as_deref() {
            None => SslMode::Prefer,
            Some(s) => SslMode::parse(s).ok_or_else(|| {
                bad("sslmode", format!("`{}` is not one of disable, prefer, require, verify-ca, verify-full", s.escape_debug()))
            })?,
        };
        // libpq: `require` with a root certificate verifies the chain.
        let mode = if mode == SslMode::Require && self.sslrootcert.is_some() { SslMode::VerifyCa } else { mode };
        if mode == SslMode::Disable {
            return Ok(TlsSettings { mode, client: None });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match &self.sslrootcert {
            Some(path) => Some(Arc::new(read_roots(Path::new(path)).map_err(|p| bad("sslrootcert", p))?)),
            None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(bad("sslrootcert", format!("sslmode `{}` needs the CA certificate file (PEM) that signs the server's", mode.as_str())));
            }
            None => None,
        };
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("sslmode", e.to_string()))?;
        let builder = match (mode, roots) {
            (SslMode::VerifyFull, Some(roots)) => builder.with_root_certificates(roots),
            (SslMode::VerifyCa, Some(roots)) => {
                let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .map_err(|e| bad("sslrootcert", e.to_string()))?;
                builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(chain)))
            }
            _ => builder.dangerous().with_custom_certificate_verifier(Arc::new(Unchecked(provider))),
        };
        let client = match (&self.sslcert, &self.sslkey) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(Path::new(cert)).map_err(|p| bad("sslcert", p))?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("sslkey", format!("cannot read a PEM private key from `{key}`: {e}")))?;
                builder.with_client_auth_cert(chain, key).map_err(|e| bad("sslkey", format!("does not match sslcert: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => return Err(bad("sslkey", "sslcert is given without its sslkey".into())),
            (None, Some(_)) => return Err(bad("sslcert", "sslkey is given without its sslcert".into())),
        };
        Ok(TlsSettings { mode, client: Some(Arc::new(client)) })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{shown}` is not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`{shown}` holds no PEM certificate"));
    }
    Ok(certs)
}

fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| format!("`{}`: a certificate is unusable as a root: {e}", path.display()))?;
    }
    Ok(roots)
}

/// `prefer` and `require`: encrypted, server unauthenticated (libpq's
/// meaning); the handshake's signatures are still checked.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a given root; the name may differ.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self.0.verify_server_cert(end, intermediates, name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_files_are_checked_before_anything_connects() {
        let config = serde_json::json!({"host": "db", "sslmode": "verify-full"});
        let (given, prefix) = Given::from_config(&config, "/host").unwrap();
        let e = given.settle(&prefix).unwrap_err();
        assert_eq!(e.field, "/sslrootcert", "{e:?}");
        let e = Given { sslmode: Some("verify_full".into()), ..Given::default() }.settle("/").unwrap_err();
        assert!(e.field == "/sslmode" && e.problem.contains("verify-full"), "{e:?}");
        let e = Given { sslmode: Some("require".into()), sslrootcert: Some("/nonexistent/ca.pem".into()), ..Given::default() }
            .settle("/")
            .unwrap_err();
        assert!(e.field == "/sslrootcert" && e.problem.contains("/nonexistent/ca.pem"), "{e:?}");
        let e = Given { sslcert: Some("c.pem".into()), ..Given::default() }.settle("/").unwrap_err();
        assert_eq!(e.field, "/sslkey");
        assert_eq!(Given::default().settle("/").unwrap().mode, SslMode::Prefer, "prefer by default");
        assert!(Given { sslmode: Some("disable".into()), ..Given::default() }.settle("/").unwrap().client.is_none());
        let (rest, g) = split_connection_string("postgres://u:p@db:5/x?sslmode=verify-full&application_name=a&sslrootcert=%2Ftmp%2Fca.pem");
        assert_eq!(rest, "postgres://u:p@db:5/x?application_name=a");
        assert_eq!((g.sslmode.as_deref(), g.sslrootcert.as_deref()), (Some("verify-full"), Some("/tmp/ca.pem")));
        let (rest, g) = split_connection_string("host=db sslmode=require user=u");
        assert_eq!((rest.as_str(), g.sslmode.as_deref()), ("host=db user=u", Some("require")));
        let bad = serde_json::json!({"host": "db", "sslmode": 1});
        assert_eq!(Given::from_config(&bad, "/host").unwrap_err().field, "/sslmode");
    }
}
