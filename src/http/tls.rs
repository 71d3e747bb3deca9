//! TLS through rustls with the trust the client is configured for: the bundled Mozilla roots
//! plus added ones and those of `SSL_CERT_FILE` / `SSL_CERT_DIR`, or exactly the roots the
//! caller gives; and a client certificate for mutual TLS.
//!
//! Why a connector of its own rather than ureq's: ureq's TLS configuration takes either the
//! bundled roots or a list of certificates, never both, and it checks a client certificate
//! against its key only when the first connection is made (and panics if they do not match).
//! Here the rustls configuration is built once, when the client is built, so every mistake
//! in it is a configuration error then, and the connection code only wraps sockets.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

use super::Settings;
use crate::error::Error;

/// The environment variables OpenSSL reads for its trust roots: a PEM file, and directories
/// of PEM files (separated like `PATH`).
const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// The rustls configuration for `settings`; every error is [`ErrorKind::Config`]
/// (crate::ErrorKind::Config).
pub(super) fn client_config(settings: &Settings) -> Result<Arc<ClientConfig>, Error> {
    let roots = trust_roots(settings, |name| std::env::var_os(name))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| Error::config("no TLS version available").with_source(e))?
        .with_root_certificates(roots);
    let config = match &settings.client_certificate_pem {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = certificates(chain, "the client certificate PEM")?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                Error::config("the client key PEM holds no private key").with_source(e)
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| client_certificate_error(&e))?
        }
    };
    Ok(Arc::new(config))
}

/// The roots `settings` trust, with the environment read through `var`: exactly the given
/// ones, or the bundled Mozilla roots plus `SSL_CERT_FILE` / `SSL_CERT_DIR`; then the added
/// ones.
fn trust_roots(
    settings: &Settings,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    match &settings.root_certificates_pem {
        Some(pem) => add_roots(&mut roots, pem, "the root certificate PEM")?,
        None => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            add_env_roots(&mut roots, var)?;
        }
    }
    for pem in &settings.added_root_certificates_pem {
        add_roots(&mut roots, pem, "an added root certificate PEM")?;
    }
    Ok(roots)
}

/// The certificates of `pem`; an error naming `what` when it holds none.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("{what} is not valid PEM")).with_source(e))?;
    if certs.is_empty() {
        return Err(Error::config(format!("{what} holds no certificate")));
    }
    Ok(certs)
}

/// Adds every certificate of `pem` as a trust root; each must be one.
fn add_roots(roots: &mut RootCertStore, pem: &[u8], what: &str) -> Result<(), Error> {
    for cert in certificates(pem, what)? {
        roots.add(cert).map_err(|e| {
            Error::config(format!("{what} holds a certificate that cannot be a root"))
                .with_source(e)
        })?;
    }
    Ok(())
}

/// Adds the roots of `SSL_CERT_FILE` and `SSL_CERT_DIR` (read through `var`). As in system
/// bundles, a certificate rustls cannot use as a root is skipped; a file or directory that
/// cannot be read is an error naming the variable, so a mistyped path is not silently
/// ignored.
fn add_env_roots(
    roots: &mut RootCertStore,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<(), Error> {
    if let Some(file) = var(SSL_CERT_FILE).filter(|v| !v.is_empty()) {
        add_env_file(roots, Path::new(&file), SSL_CERT_FILE)?;
    }
    if let Some(dirs) = var(SSL_CERT_DIR).filter(|v| !v.is_empty()) {
        for dir in std::env::split_paths(&dirs).filter(|d| !d.as_os_str().is_empty()) {
            let entries = std::fs::read_dir(&dir).map_err(|e| env_error(SSL_CERT_DIR, &dir, e))?;
            for entry in entries {
                let path = entry.map_err(|e| env_error(SSL_CERT_DIR, &dir, e))?.path();
                // Following links (the hashed names in /etc/ssl/certs are links); other
                // entries, such as subdirectories, are not certificates.
                if path.is_file() {
                    add_env_file(roots, &path, SSL_CERT_DIR)?;
                }
            }
        }
    }
    Ok(())
}

/// Adds the certificates of one PEM file named by the variable `var`; a file without any
/// (a README beside hashed links) adds nothing.
fn add_env_file(roots: &mut RootCertStore, path: &Path, var: &str) -> Result<(), Error> {
    let pem = std::fs::read(path).map_err(|e| env_error(var, path, e))?;
    let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
    roots.add_parsable_certificates(certs);
    Ok(())
}

fn env_error(var: &str, path: &Path, e: std::io::Error) -> Error {
    Error::config(format!(
        "{var} names `{}`, which cannot be read",
        path.display()
    ))
    .with_source(e)
}

fn client_certificate_error(e: &rustls::Error) -> Error {
    Error::config(format!(
        "the client certificate cannot be used with its key ({e}): is the key the \
         certificate's, and the certificate first in its PEM?"
    ))
}

/// Wraps `https://` connections in TLS with one rustls configuration; plain ones, and ones
/// already in TLS, pass through.
pub(super) struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    pub(super) fn new(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Box::new(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare)
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?
            .to_owned();
        let mut conn = ClientConnection::new(Arc::clone(&self.config), name)?;
        let inner: Box<dyn Transport> = Box::new(transport);
        let mut sock = TransportAdapter::new(inner, Arc::clone(&details.current_time));
        // The handshake is bounded by what is left of the connect timeout.
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Box::new(TlsTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// A connection in TLS.
pub(super) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("inner", &self.stream.sock.inner())
            .finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_certs(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/certs")
            .join(name)
    }

    fn settings() -> Settings {
        crate::Client::builder().settings_for_tests()
    }

    #[test]
    fn roots_are_added_to_the_bundled_ones_or_replace_them() {
        let bundled = webpki_roots::TLS_SERVER_ROOTS.len();
        let pem = |name: &str| std::fs::read(test_certs(name)).unwrap();
        let no_env = |_: &str| None;
        assert_eq!(trust_roots(&settings(), no_env).unwrap().len(), bundled);

        let mut added = settings();
        added.added_root_certificates_pem = vec![pem("localhost-root.pem"), pem("client-root.pem")];
        assert_eq!(trust_roots(&added, no_env).unwrap().len(), bundled + 2);

        // SSL_CERT_FILE and SSL_CERT_DIR add theirs; a directory's files without a
        // certificate (the README) add nothing.
        let file = test_certs("localhost-root.pem").into_os_string();
        let dir = test_certs("").into_os_string();
        let env = |name: &str| match name {
            SSL_CERT_FILE => Some(file.clone()),
            SSL_CERT_DIR => Some(dir.clone()),
            _ => None,
        };
        let certs_in_dir: usize = std::fs::read_dir(test_certs(""))
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .map(|text| text.matches("-----BEGIN CERTIFICATE-----").count())
            .sum();
        assert_eq!(certs_in_dir, 10, "five sets of root and leaf");
        assert_eq!(
            trust_roots(&added, env).unwrap().len(),
            bundled + 2 + 1 + certs_in_dir
        );

        // Exactly these roots: no bundled ones, no environment, but the added ones.
        let mut exact = added.clone();
        exact.root_certificates_pem = Some(pem("localhost-other-root.pem"));
        assert_eq!(trust_roots(&exact, env).unwrap().len(), 3);
    }

    #[test]
    fn env_roots_unreadable_paths_name_the_variable() {
        let mut roots = RootCertStore::empty();
        let missing = "/nonexistent/chatstream-test/roots.pem";
        for var in [SSL_CERT_FILE, SSL_CERT_DIR] {
            let err = add_env_roots(&mut roots, |name| {
                (name == var).then(|| std::ffi::OsString::from(missing))
            })
            .expect_err("a path that cannot be read");
            let shown = err.to_string();
            assert!(shown.contains(var) && shown.contains(missing), "{shown}");
        }
        // Unset or empty: nothing is read.
        add_env_roots(&mut roots, |_| None).unwrap();
        add_env_roots(&mut roots, |_| Some(std::ffi::OsString::new())).unwrap();
        assert!(roots.is_empty());
    }
}
