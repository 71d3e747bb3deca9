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
