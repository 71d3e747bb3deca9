//! Test certificates generated at test time (rcgen, ring) and the rustls server config.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A throwaway CA plus a leaf certificate for some host names / IP addresses.
///
/// Give `root_pem` to the client as its only trusted root (ureq:
/// `RootCerts::Specific`); the server presents `cert_pem` (leaf signed by the root).
/// Names that parse as IP addresses become IP SANs, everything else DNS SANs.
pub struct TestCert {
    /// PEM of the self-signed root CA (what the client must trust).
    pub root_pem: String,
    /// PEM of the leaf certificate the server presents.
    pub cert_pem: String,
    /// PKCS#8 PEM of the leaf's private key.
    pub key_pem: String,
    root_der: CertificateDer<'static>,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCert {
    /// Leaf valid for `hosts` (e.g. `&["localhost", "127.0.0.1"]`), signed by a fresh
    /// root; validity uses rcgen's defaults (1975..4096).
    pub fn for_hosts(hosts: &[&str]) -> TestCert {
        Self::build(hosts, false)
    }

    /// Valid for `localhost` and `127.0.0.1` (the name `TestServer::base_url` uses).
    pub fn localhost() -> TestCert {
        Self::for_hosts(&["localhost", "127.0.0.1"])
    }

    /// Valid only for `example.invalid`: connecting to 127.0.0.1 must fail name checks.
    pub fn wrong_host() -> TestCert {
        Self::for_hosts(&["example.invalid"])
    }

    /// Valid for `localhost` and `127.0.0.1` but expired (not_after in the year 2000).
    pub fn expired() -> TestCert {
        Self::build(&["localhost", "127.0.0.1"], true)
    }

    fn build(hosts: &[&str], expired: bool) -> TestCert {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("generate CA key");
        // A unique CA name per TestCert: with a shared name, a client trusting another
        // TestCert's root would report BadSignature instead of UnknownIssuer.
        let tag: String = ca_key.public_key_raw()[1..9]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("chatstream test root {tag}"));
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = hosts.iter().map(std::string::ToString::to_string).collect();
        let mut leaf_params = CertificateParams::new(names).expect("leaf params (bad host name?)");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, hosts.first().copied().unwrap_or("test"));
        if expired {
            leaf_params.not_before = rcgen::date_time_ymd(1999, 1, 1);
            leaf_params.not_after = rcgen::date_time_ymd(2000, 1, 1);
        }
        let leaf_key = KeyPair::generate().expect("generate leaf key");
        let leaf_cert = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("sign leaf");

        TestCert {
            root_pem: ca_cert.pem(),
            cert_pem: leaf_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
            root_der: ca_cert.der().clone(),
            cert_der: leaf_cert.der().clone(),
            key_der: leaf_key.serialize_der(),
        }
    }

    /// DER of the root CA (for rustls `RootCertStore` based clients).
    pub fn root_der(&self) -> CertificateDer<'static> {
        self.root_der.clone()
    }

    /// rustls server config (ring provider) presenting this leaf, for the given versions.
    pub(crate) fn server_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("rustls protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone(), self.root_der.clone()], key)
            .expect("rustls server cert");
        Arc::new(config)
    }
}
