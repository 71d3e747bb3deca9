//! TLS over loopback (issue 6, item 2): the test server speaks TLS with the fixed test
//! certificates (`support::TestCert`, tests/support/certs/), and the client must verify them.
#![cfg(feature = "tls")]

use crate::support;

use std::ops::ControlFlow;
use std::time::Duration;

use chatstream::{ChatCompletion, Client, ClientBuilder, Error, ErrorKind};
use serde_json::json;
use support::bodies::{delta, event, request, stream_body};
use support::{Request, Responder, TestCert, TestServer};

const KEY: &str = "sk-test-SECRET-1234567890";

/// Streams "secure" (or a plain completion for non-stream requests).
fn answer(req: &Request, r: &mut Responder) {
    if req.json()["stream"] == true {
        r.sse(&stream_body(&["sec", "ure"]));
    } else {
        r.json(
            200,
            &json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "secure"}}]})
            .to_string(),
        );
    }
}

/// Retries on (a TLS failure must not be retried), small limits.
fn builder(server: &TestServer) -> ClientBuilder {
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    Client::builder()
        .base_url(server.base_url())
        .api_key(KEY)
        .max_retries(2)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .connect_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(5))
        .stream_idle_timeout(Duration::from_secs(5))
}

fn stream(client: &Client) -> Result<ChatCompletion, Error> {
    client.chat_stream(&request(), |_| ControlFlow::Continue(()))
}

/// Fails with ErrorKind::Tls, once (no retry), with a Display naming `reason`; returns it.
#[track_caller]
fn expect_tls_failure(cert: &TestCert, trust: Option<&str>, reason: &str) -> String {
    let server = TestServer::start_tls(cert, answer);
    let mut b = builder(&server);
    if let Some(root) = trust {
        b = b.root_certificates_pem(root);
    }
    let client = b.build().expect("client");
    let err = stream(&client).expect_err("the handshake must fail");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err} / {err:?}");
    assert!(err.partial().is_none());
    let shown = err.to_string();
    assert!(shown.starts_with("TLS error: "), "{shown}");
    assert!(
        shown.contains(reason),
        "Display should name {reason:?}: {shown}"
    );
    assert!(!shown.contains(KEY) && !format!("{err:?}").contains(KEY));
    let err = client
        .chat(&request())
        .expect_err("plain calls fail the same way");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert_eq!(
        server.request_count(),
        0,
        "no request may pass a failed handshake"
    );
    assert_eq!(server.connection_count(), 2, "a TLS failure is not retried");
    shown
}

// Proves: an untrusted certificate: Tls, Display names the unknown issuer; not retried.
#[test]
fn untrusted_certificate_fails() {
    let cert = TestCert::localhost();
    let shown = expect_tls_failure(&cert, None, "UnknownIssuer");
    assert!(shown.contains("certificate"), "{shown}");
}

// Proves: trusted via root_certificates_pem: streams and plain calls over one pooled connection.
#[test]
fn trusted_through_custom_root_streams() {
    let cert = TestCert::localhost();
    let server = TestServer::start_tls(&cert, answer);
    let client = builder(&server)
        .root_certificates_pem(cert.root_pem.as_str())
        .build()
        .unwrap();
    let mut seen = String::new();
    let done = client
        .chat_stream(&request(), |chunk| {
            seen.push_str(chunk.content());
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{e} / {e:?}"));
    assert_eq!(seen, "secure");
    assert_eq!(done.content(), "secure");
    assert_eq!(client.chat(&request()).unwrap().content(), "secure");
    let req = &server.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(server.request_count(), 2);
    assert_eq!(server.connection_count(), 1, "the TLS connection is pooled");
}

// Proves: a TLS 1.2-only server works too.
#[test]
fn tls12_only_server_streams() {
    let cert = TestCert::localhost();
    let server = TestServer::start_tls_versions(&cert, &[&rustls::version::TLS12], answer);
    let client = builder(&server)
        .root_certificates_pem(cert.root_pem.as_str())
        .build()
        .unwrap();
    assert_eq!(stream(&client).unwrap().content(), "secure");
}

// Proves: a trusted certificate for another host: Tls, Display names both names.
#[test]
fn wrong_host_fails() {
    let cert = TestCert::wrong_host();
    let shown = expect_tls_failure(
        &cert,
        Some(&cert.root_pem),
        "not valid for name \"127.0.0.1\"",
    );
    assert!(shown.contains("example.invalid"), "{shown}");
}

// Proves: a trusted but expired certificate: Tls, Display says it expired.
#[test]
fn expired_certificate_fails() {
    let cert = TestCert::expired();
    expect_tls_failure(&cert, Some(&cert.root_pem), "certificate expired");
}

// Proves: trusting some other root does not make the server's certificate trusted.
#[test]
fn certificate_from_another_root_fails() {
    let cert = TestCert::localhost();
    let other = TestCert::localhost_other_root();
    expect_tls_failure(&cert, Some(&other.root_pem), "UnknownIssuer");
}

// Proves: a root PEM without a certificate is Config at build, never a silent fallback.
#[test]
fn root_pem_without_certificate_is_a_config_error() {
    let cert = TestCert::localhost();
    for pem in ["", "not a pem at all", cert.key_pem.as_str()] {
        let err = Client::builder()
            .base_url("https://127.0.0.1:1/v1")
            .api_key(KEY)
            .root_certificates_pem(pem)
            .build()
            .expect_err("no certificate in the PEM");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");
    }
}

// Proves: a TLS stream reset mid-event is Truncated with the partial, not retried.
#[test]
fn tls_stream_reset_mid_event_is_truncated() {
    let cert = TestCert::localhost();
    let server = TestServer::start_tls(&cert, |_, r| {
        r.start_sse();
        r.chunk(&event(&delta("half ")));
        r.chunk(&event(&delta("way")));
        r.chunk(b"data: {\"choi");
        r.reset();
    });
    let client = builder(&server)
        .root_certificates_pem(cert.root_pem.as_str())
        .build()
        .unwrap();
    let err = stream(&client).expect_err("truncated");
    assert_eq!(err.kind(), ErrorKind::Truncated, "{err:?}");
    assert_eq!(err.partial().unwrap().content(), "half way");
    assert_eq!(server.request_count(), 1, "a started stream is not retried");
}

// Proves: add_root_certificates_pem adds (several calls add several roots); the bundled
// roots staying beside them is checked by the unit tests of src/http/tls.rs.
#[test]
fn added_roots_are_trusted() {
    let cert = TestCert::localhost();
    let other = TestCert::localhost_other_root();
    let servers = [
        TestServer::start_tls(&cert, answer),
        TestServer::start_tls(&other, answer),
    ];
    for server in &servers {
        let client = builder(server)
            .add_root_certificates_pem(cert.root_pem.as_str())
            .add_root_certificates_pem(other.root_pem.as_bytes())
            .build()
            .unwrap();
        assert_eq!(stream(&client).unwrap().content(), "secure");
        assert_eq!(client.chat(&request()).unwrap().content(), "secure");
    }
    // Added to exact roots, too.
    let client = builder(&servers[1])
        .root_certificates_pem(cert.root_pem.as_str())
        .add_root_certificates_pem(other.root_pem.as_str())
        .build()
        .unwrap();
    assert_eq!(stream(&client).unwrap().content(), "secure");
}

/// A server that requires a client certificate signed by `TestCert::client()`'s root.
fn mtls_server() -> (TestCert, TestServer) {
    let cert = TestCert::localhost();
    let server = TestServer::start_tls_requiring_client(&cert, &TestCert::client(), answer);
    (cert, server)
}

// Proves: with client_certificate_pem, a server requiring mutual TLS serves streams and
// plain calls; the server saw the request.
#[test]
fn client_certificate_passes_mutual_tls() {
    let (cert, server) = mtls_server();
    let id = TestCert::client();
    let client = builder(&server)
        .root_certificates_pem(cert.root_pem.as_str())
        .client_certificate_pem(id.cert_pem.as_str(), id.key_pem.as_str())
        .build()
        .unwrap();
    assert_eq!(stream(&client).unwrap().content(), "secure");
    assert_eq!(client.chat(&request()).unwrap().content(), "secure");
    assert_eq!(server.request_count(), 2);
    // Certificate and key in one PEM text.
    let both = format!("{}{}", id.cert_pem, id.key_pem);
    let client = builder(&server)
        .add_root_certificates_pem(cert.root_pem.as_str())
        .client_certificate_pem(both.as_str(), both.as_str())
        .build()
        .unwrap();
    assert_eq!(stream(&client).unwrap().content(), "secure");
}

// Proves: without a client certificate, or with one the server does not trust, no request
// passes a server requiring mutual TLS.
#[test]
fn missing_or_untrusted_client_certificate_is_refused() {
    let (cert, server) = mtls_server();
    let stranger = TestCert::localhost_other_root();
    let clients = [
        builder(&server).root_certificates_pem(cert.root_pem.as_str()),
        builder(&server)
            .root_certificates_pem(cert.root_pem.as_str())
            .client_certificate_pem(stranger.cert_pem.as_str(), stranger.key_pem.as_str()),
    ];
    for client in clients {
        let client = client.max_retries(0).build().unwrap();
        let err = stream(&client).expect_err("the server refuses the handshake");
        // In TLS 1.3 the server judges the client's certificate after the client has
        // finished its side of the handshake: the client sees the server's alert (Tls) or,
        // when its request is written after the server closed, a broken connection (Connect).
        assert!(
            matches!(err.kind(), ErrorKind::Tls | ErrorKind::Connect),
            "{err} / {err:?}"
        );
        assert!(
            err.partial().is_none_or(|p| p.choices.is_empty()),
            "{err:?}"
        );
    }
    assert_eq!(server.request_count(), 0, "no request passed the handshake");
}

// Proves: a client certificate whose key is not its own, or PEM without a certificate or a
// key, is a Config error at build, never a panic or a failure at the first request.
#[test]
fn unusable_client_certificate_is_a_config_error() {
    let id = TestCert::client();
    let other = TestCert::localhost();
    let cases = [
        (
            id.cert_pem.as_str(),
            other.key_pem.as_str(),
            "cannot be used with its key",
        ),
        (
            id.key_pem.as_str(),
            id.key_pem.as_str(),
            "holds no certificate",
        ),
        (id.cert_pem.as_str(), id.cert_pem.as_str(), "no private key"),
        ("", "", "holds no certificate"),
    ];
    for (chain, key, reason) in cases {
        let err = Client::builder()
            .base_url("https://127.0.0.1:1/v1")
            .client_certificate_pem(chain, key)
            .build()
            .expect_err("unusable client certificate");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains(reason), "{reason}: {err}");
        assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");
    }
}

/// Set in the child process [`ssl_cert_env_roots_are_trusted`] starts.
const SSL_ENV_CHILD: &str = "CHATSTREAM_TEST_SSL_ENV_CHILD";

// Proves: the roots of SSL_CERT_FILE, and of the files in SSL_CERT_DIR, are trusted (on top of
// the bundled ones), and root_certificates_pem ignores them. Environment variables are
// process-wide, so the checks run in a child process of this test binary (one per variable),
// never beside the other tests.
#[test]
fn ssl_cert_env_roots_are_trusted() {
    if std::env::var_os(SSL_ENV_CHILD).is_some() {
        return ssl_cert_env_child();
    }
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/certs");
    for (var, value) in [
        ("SSL_CERT_FILE", certs.join("localhost-root.pem")),
        ("SSL_CERT_DIR", certs.clone()),
    ] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tls::ssl_cert_env_roots_are_trusted",
                "--test-threads=1",
            ])
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env(var, &value)
            .env(SSL_ENV_CHILD, var)
            .output()
            .expect("run the child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{var}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("1 passed"), "{var}: {stdout}");
    }
}

/// The checks of [`ssl_cert_env_roots_are_trusted`], in a process whose SSL_CERT_FILE or
/// SSL_CERT_DIR names the localhost root.
fn ssl_cert_env_child() {
    let var = std::env::var(SSL_ENV_CHILD).unwrap();
    assert!(
        std::env::var_os(&var).is_some(),
        "{var} is set for the child"
    );
    let cert = TestCert::localhost();
    let server = TestServer::start_tls(&cert, answer);
    let client = builder(&server).build().unwrap();
    assert_eq!(stream(&client).unwrap().content(), "secure", "{var}");
    // Exactly the given roots: the environment's are not among them.
    let other = TestCert::localhost_other_root();
    let client = builder(&server)
        .root_certificates_pem(other.root_pem.as_str())
        .max_retries(0)
        .build()
        .unwrap();
    let err = stream(&client).expect_err("the environment's roots are ignored");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}
