//! Fixed test certificates (tests/support/certs/, each set under its own root CA; see the
//! README there) and the rustls server config.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test root CA plus a leaf certificate it signed, loaded from tests/support/certs/.
///
/// Give `root_pem` to the client as its only trusted root (ureq:
/// `RootCerts::Specific`); the server presents `cert_pem` (leaf signed by the root).
/// Every set has its own root (with its own name), so trusting one set's root and meeting
/// another set's leaf fails with UnknownIssuer.
pub struct TestCert {
    /// PEM of the self-signed root CA (what the client must trust).
    pub root_pem: String,
    /// PEM of the leaf certificate the server presents.
    pub cert_pem: String,
    /// PKCS#8 PEM of the leaf's private key.
    pub key_pem: String,
    root_der: CertificateDer<'static>,
    cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

/// Loads the set `NAME` (`NAME-root.pem`, `NAME.pem`, `NAME.key`) from tests/support/certs/.
macro_rules! load {
    ($name:literal) => {
        TestCert::load(
            include_str!(concat!("certs/", $name, "-root.pem")),
            include_str!(concat!("certs/", $name, ".pem")),
            include_str!(concat!("certs/", $name, ".key")),
        )
    };
}

impl TestCert {
    /// Valid for `localhost` and `127.0.0.1` (the name `TestServer::base_url` uses).
    pub fn localhost() -> TestCert {
        load!("localhost")
    }

    /// Also valid for `localhost` and `127.0.0.1`, but under a different root than
    /// [`TestCert::localhost`]: trusting one's root and meeting the other's leaf is
    /// UnknownIssuer.
    pub fn localhost_other_root() -> TestCert {
        load!("localhost-other")
    }

    /// Valid only for `example.invalid`: connecting to 127.0.0.1 must fail name checks.
    pub fn wrong_host() -> TestCert {
        load!("wrong-host")
    }

    /// Valid for `localhost` and `127.0.0.1` but expired (not_after 2000-01-01).
    pub fn expired() -> TestCert {
        load!("expired")
    }

    /// A client certificate (mutual TLS): `cert_pem` and `key_pem` are what the client
    /// presents, `root_pem` what a server requiring client certificates trusts.
    pub fn client() -> TestCert {
        load!("client")
    }

    fn load(root_pem: &str, cert_pem: &str, key_pem: &str) -> TestCert {
        TestCert {
            root_der: CertificateDer::from_pem_slice(root_pem.as_bytes()).expect("root PEM"),
            cert_der: CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("leaf PEM"),
            key_der: PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM"),
            root_pem: root_pem.to_owned(),
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        }
    }

    /// DER of the root CA (for rustls `RootCertStore` based clients).
    pub fn root_der(&self) -> CertificateDer<'static> {
        self.root_der.clone()
    }

    /// rustls server config (ring provider, every version) presenting this leaf and
    /// requiring a client certificate signed by `clients`' root.
    pub(crate) fn server_config_requiring_client(
        &self,
        clients: &TestCert,
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(clients.root_der()).expect("client root");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .expect("client verifier");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .expect("rustls protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.cert_der.clone(), self.root_der.clone()],
                self.key_der.clone_key(),
            )
            .expect("rustls server cert");
        Arc::new(config)
    }

    /// rustls server config (ring provider) presenting this leaf, for the given versions.
    pub(crate) fn server_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("rustls protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert_der.clone(), self.root_der.clone()],
                self.key_der.clone_key(),
            )
            .expect("rustls server cert");
        Arc::new(config)
    }
}
