//! TLS through rustls with the trust the client is configured for: the bundled Mozilla roots
//! plus added ones and those of `SSL_CERT_FILE` / `SSL_CERT_DIR`, or exactly the roots the
//! caller gives; and a client certificate for mutual TLS.
//!
//! Why a connector of its own rather than ureq's: ureq's TLS configuration takes either the
//! bundled roots or a list of certificates, never both, and it checks a client certificate
//! against its key only when the first connection is made (and panics if they do not match).
//! Here the rustls configuration is built once, when the client is built, so every mistake
//! in it is a configuration error then, and the connection code only wraps sockets.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, TrustAnchor};
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

/// The roots of `SSL_CERT_FILE` / `SSL_CERT_DIR`, read by the first client built in the
/// process. A system's bundle is hundreds of certificates, most of them found twice more
/// under the hashed link names of its directory; reading and parsing them costs far more
/// than the rest of a client's build, and a program that builds several clients pays it once.
static ENV_ROOTS: EnvRoots = EnvRoots::new();

/// The rustls configuration for `settings`; every error is [`ErrorKind::Config`]
/// (crate::ErrorKind::Config).
pub(super) fn client_config(settings: &Settings) -> Result<Arc<ClientConfig>, Error> {
    let roots = trust_roots(settings, &ENV_ROOTS, |name| std::env::var_os(name))?;
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

/// The roots `settings` trust, with the environment read through `var` (and its roots kept
/// in `env`): exactly the given ones, or the bundled Mozilla roots plus `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`; then the added ones.
fn trust_roots(
    settings: &Settings,
    env: &EnvRoots,
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    match &settings.root_certificates_pem {
        Some(pem) => add_roots(&mut roots, pem, "the root certificate PEM")?,
        None => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            roots.extend(env.get(var)?.iter().cloned());
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

/// The roots of `SSL_CERT_FILE` / `SSL_CERT_DIR` last read, with the two values they were
/// read for: a client built after either variable changed reads them afresh, but one built
/// after only the files behind them changed gets the roots read before (as a program that
/// caches an OpenSSL context would). An error is not kept, so it is reported on every build.
struct EnvRoots(Mutex<Option<(EnvValues, Arc<[TrustAnchor<'static>]>)>>);

/// The values of `SSL_CERT_FILE` and `SSL_CERT_DIR`, in that order.
type EnvValues = [Option<OsString>; 2];

impl EnvRoots {
    const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// The roots of the variables as `var` reads them now, read from their files unless
    /// they were read for the same values before. The lock is held while reading, so
    /// clients built at once on several threads read the files once.
    fn get(
        &self,
        var: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Arc<[TrustAnchor<'static>]>, Error> {
        let values = [var(SSL_CERT_FILE), var(SSL_CERT_DIR)];
        // A poisoned lock means a panic elsewhere while it was held; the value inside is
        // either a complete entry or none, both safe to use.
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((read_for, roots)) = &*kept {
            if *read_for == values {
                return Ok(Arc::clone(roots));
            }
        }
        let mut store = RootCertStore::empty();
        add_env_roots(&mut store, &values)?;
        let roots: Arc<[TrustAnchor<'static>]> = store.roots.into();
        *kept = Some((values, Arc::clone(&roots)));
        Ok(roots)
    }
}

/// Adds the roots of `SSL_CERT_FILE` and `SSL_CERT_DIR` (their `values`), each distinct
/// certificate once. As in system bundles, a certificate rustls cannot use as a root is
/// skipped; a file or directory that cannot be read is an error naming the variable, so a
/// mistyped path is not silently ignored.
fn add_env_roots(roots: &mut RootCertStore, values: &EnvValues) -> Result<(), Error> {
    let [file, dirs] = values;
    let mut seen = HashSet::new();
    if let Some(file) = file.as_ref().filter(|v| !v.is_empty()) {
        add_env_file(roots, &mut seen, Path::new(file), SSL_CERT_FILE)?;
    }
    if let Some(dirs) = dirs.as_ref().filter(|v| !v.is_empty()) {
        for dir in std::env::split_paths(dirs).filter(|d| !d.as_os_str().is_empty()) {
            let entries = std::fs::read_dir(&dir).map_err(|e| env_error(SSL_CERT_DIR, &dir, e))?;
            for entry in entries {
                let path = entry.map_err(|e| env_error(SSL_CERT_DIR, &dir, e))?.path();
                // Following links (the hashed names in /etc/ssl/certs are links); other
                // entries, such as subdirectories, are not certificates.
                if path.is_file() {
                    add_env_file(roots, &mut seen, &path, SSL_CERT_DIR)?;
                }
            }
        }
    }
    Ok(())
}

/// Adds the certificates of one PEM file named by the variable `var` that are not in
/// `seen`; a file without any (a README beside hashed links) adds nothing.
fn add_env_file(
    roots: &mut RootCertStore,
    seen: &mut HashSet<CertificateDer<'static>>,
    path: &Path,
    var: &str,
) -> Result<(), Error> {
    let pem = std::fs::read(path).map_err(|e| env_error(var, path, e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .filter(|cert| seen.insert(cert.clone()));
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

    /// The distinct certificates of the PEM files in `dir`.
    fn distinct_certificates(dir: &Path) -> HashSet<CertificateDer<'static>> {
        std::fs::read_dir(dir)
            .unwrap()
            .flat_map(|entry| {
                let pem = std::fs::read(entry.unwrap().path()).unwrap();
                CertificateDer::pem_slice_iter(&pem)
                    .map(Result::unwrap)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn roots_are_added_to_the_bundled_ones_or_replace_them() {
        let bundled = webpki_roots::TLS_SERVER_ROOTS.len();
        let pem = |name: &str| std::fs::read(test_certs(name)).unwrap();
        let no_env = |_: &str| None;
        let env_roots = EnvRoots::new();
        let roots = |settings: &Settings, var: &dyn Fn(&str) -> Option<OsString>| {
            trust_roots(settings, &env_roots, var).unwrap().len()
        };
        assert_eq!(roots(&settings(), &no_env), bundled);

        let mut added = settings();
        added.added_root_certificates_pem = vec![pem("localhost-root.pem"), pem("client-root.pem")];
        assert_eq!(roots(&added, &no_env), bundled + 2);

        // SSL_CERT_FILE and SSL_CERT_DIR add theirs, each distinct certificate once (the
        // file's root is in the directory too); a directory's files without a certificate
        // (the README) add nothing.
        let file = test_certs("localhost-root.pem").into_os_string();
        let dir = test_certs("").into_os_string();
        let env = |name: &str| match name {
            SSL_CERT_FILE => Some(file.clone()),
            SSL_CERT_DIR => Some(dir.clone()),
            _ => None,
        };
        let in_dir = distinct_certificates(&test_certs(""));
        assert_eq!(in_dir.len(), 10, "five sets of root and leaf");
        assert_eq!(roots(&added, &env), bundled + 2 + in_dir.len());

        // Exactly these roots: no bundled ones, no environment, but the added ones.
        let mut exact = added.clone();
        exact.root_certificates_pem = Some(pem("localhost-other-root.pem"));
        assert_eq!(roots(&exact, &env), 3);
    }

    #[test]
    fn env_roots_are_read_once_for_the_same_values() {
        let dir = std::env::temp_dir().join(format!("chatstream-env-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("roots.pem");
        std::fs::copy(test_certs("localhost-root.pem"), &file).unwrap();
        let env_roots = EnvRoots::new();
        let file_only = |name: &str| (name == SSL_CERT_FILE).then(|| file.clone().into_os_string());
        let first = env_roots.get(file_only).unwrap();
        assert_eq!(first.len(), 1);

        // The same values: the roots read before, even though the file behind them is gone.
        std::fs::remove_file(&file).unwrap();
        let again = env_roots.get(file_only).unwrap();
        assert!(Arc::ptr_eq(&first, &again));

        // Other values are read afresh; a failed read reports its error and keeps nothing,
        // so the roots read before stay.
        let err =
            env_roots.get(|name| (name == SSL_CERT_DIR).then(|| file.clone().into_os_string()));
        assert!(err.unwrap_err().to_string().contains(SSL_CERT_DIR));
        let dir_too = |name: &str| match name {
            SSL_CERT_DIR => Some(test_certs("").into_os_string()),
            _ => None,
        };
        assert_eq!(env_roots.get(dir_too).unwrap().len(), 10);
        assert!(!Arc::ptr_eq(&first, &env_roots.get(dir_too).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn env_roots_unreadable_paths_name_the_variable() {
        let mut roots = RootCertStore::empty();
        let missing = OsString::from("/nonexistent/chatstream-test/roots.pem");
        for (values, var) in [
            ([Some(missing.clone()), None], SSL_CERT_FILE),
            ([None, Some(missing.clone())], SSL_CERT_DIR),
        ] {
            let err = add_env_roots(&mut roots, &values).expect_err("a path that cannot be read");
            let shown = err.to_string();
            assert!(
                shown.contains(var) && shown.contains(missing.to_str().unwrap()),
                "{shown}"
            );
        }
        // Unset or empty: nothing is read.
        add_env_roots(&mut roots, &[None, None]).unwrap();
        add_env_roots(&mut roots, &[Some(OsString::new()), Some(OsString::new())]).unwrap();
        assert!(roots.is_empty());
    }
}
