//! Self-tests of tests/support with plain std TcpStream clients (and rustls/ureq for TLS).

use crate::support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use support::{Script, Signal, TestCert, TestServer, WAIT_TIMEOUT, serve_sse_in_chunks};

// ---- tiny raw HTTP/1.1 client ---------------------------------------------------------

fn connect(server: &TestServer) -> BufReader<TcpStream> {
    let s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(WAIT_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(WAIT_TIMEOUT)).unwrap();
    BufReader::new(s)
}

fn send(c: &mut BufReader<TcpStream>, bytes: &[u8]) {
    c.get_mut().write_all(bytes).expect("write request");
}

fn post_json(c: &mut BufReader<TcpStream>, path: &str, body: &str) {
    send(
        c,
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

fn get(c: &mut BufReader<TcpStream>, path: &str) {
    send(
        c,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Sizes of the HTTP chunks as received (chunked responses only).
    chunks: Vec<usize>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

fn line(c: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    c.read_line(&mut l).expect("read line");
    assert!(l.ends_with("\r\n"), "unterminated line {l:?}");
    l.truncate(l.len() - 2);
    l
}

fn read_head(c: &mut BufReader<TcpStream>) -> Resp {
    let status_line = line(c);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let l = line(c);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Resp {
        status,
        headers,
        body: Vec::new(),
        chunks: Vec::new(),
    }
}

fn read_chunk(c: &mut BufReader<TcpStream>) -> Vec<u8> {
    let size = usize::from_str_radix(&line(c), 16).unwrap();
    let mut data = vec![0; size + 2];
    c.read_exact(&mut data).unwrap();
    assert_eq!(&data[size..], b"\r\n");
    data.truncate(size);
    data
}

fn read_response(c: &mut BufReader<TcpStream>) -> Resp {
    let mut r = read_head(c);
    if r.header("transfer-encoding") == Some("chunked") {
        loop {
            let chunk = read_chunk(c);
            if chunk.is_empty() {
                break; // read_chunk consumed the final CRLF (no trailers sent)
            }
            r.chunks.push(chunk.len());
            r.body.extend(chunk);
        }
    } else if let Some(n) = r.header("content-length") {
        let mut body = vec![0; n.parse().unwrap()];
        c.read_exact(&mut body).unwrap();
        r.body = body;
    } else {
        c.read_to_end(&mut r.body).unwrap();
    }
    r
}

fn assert_eof(c: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("expected a clean EOF");
    assert!(
        rest.is_empty(),
        "expected EOF, got {:?}",
        String::from_utf8_lossy(&rest)
    );
}

// ---- plain HTTP -------------------------------------------------------------------------

#[test]
fn json_response_and_request_recording() {
    let server = TestServer::start(|req, r| {
        assert_eq!(req.json()["model"], "m");
        r.json_with_headers(201, &[("X-Request-Id", "abc")], r#"{"ok":true}"#);
    });
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(server.base_url().ends_with("/v1"));
    let mut c = connect(&server);
    send(
        &mut c,
        b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\
          content-length: 13\r\n\r\n{\"model\":\"m\"}",
    );
    let resp = read_response(&mut c);
    assert_eq!(resp.status, 201);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.header("x-request-id"), Some("abc"));
    assert_eq!(resp.text(), r#"{"ok":true}"#);

    let req = server.single_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions?x=1");
    assert_eq!(req.header("AUTHORIZATION"), Some("Bearer k"));
    assert_eq!(req.json()["model"], "m");
    assert_eq!((req.index, req.connection), (0, 0));
    assert_eq!(server.request_count(), 1);
    assert_eq!(server.connection_count(), 1);
}

#[test]
fn keep_alive_and_pipelining_on_one_connection() {
    let server = TestServer::start(|req, r| r.json(200, &format!("\"{}\"", req.path)));
    let mut c = connect(&server);
    get(&mut c, "/a");
    assert_eq!(read_response(&mut c).text(), "\"/a\"");
    // Two pipelined requests in one write, the second with a chunked body.
    send(
        &mut c,
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
    );
    assert_eq!(read_response(&mut c).text(), "\"/b\"");
    assert_eq!(read_response(&mut c).text(), "\"/c\"");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].body, b"abcde");
    assert!(reqs.iter().all(|r| r.connection == 0));
    assert_eq!(reqs.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(server.connection_count(), 1);

    // A second connection gets a new id.
    let mut c2 = connect(&server);
    get(&mut c2, "/d");
    read_response(&mut c2);
    assert_eq!(server.requests()[3].connection, 1);
    assert_eq!(server.connection_count(), 2);
}

#[test]
fn expect_100_continue() {
    let server = TestServer::start(|req, r| r.json(200, req.body_str()));
    let mut c = connect(&server);
    send(
        &mut c,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(read_head(&mut c).status, 100);
    send(&mut c, b"{}");
    assert_eq!(read_response(&mut c).text(), "{}");
}

#[test]
fn sse_in_chunks_follows_the_plan() {
    let body = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
    let server = TestServer::start(move |_, r| serve_sse_in_chunks(r, body, &[1, 0, 5, 10]));
    let mut c = connect(&server);
    post_json(&mut c, "/v1/chat/completions", "{}");
    let resp = read_response(&mut c);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(resp.body, body);
    assert_eq!(resp.chunks, [1, 5, 10, body.len() - 16]);
    // Complete chunked response: the connection stays usable.
    post_json(&mut c, "/v1/chat/completions", "{}");
    assert_eq!(read_response(&mut c).body, body);
    assert_eq!(server.connection_count(), 1);
}

#[test]
fn paced_sse_waits_for_the_test() {
    let next = Signal::new();
    let n = next.clone();
    let server = TestServer::start(move |_, r| r.sse_paced(&[b"data: 1\n\n", b"data: 2\n\n"], &n));
    let mut c = connect(&server);
    post_json(&mut c, "/", "{}");
    assert_eq!(read_head(&mut c).status, 200);
    assert_eq!(read_chunk(&mut c), b"data: 1\n\n");
    // The server cannot have sent more: it is blocked on `next`.
    c.get_ref().set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).unwrap_err().kind(), ErrorKind::WouldBlock);
    c.get_ref().set_nonblocking(false).unwrap();
    next.send();
    assert_eq!(read_chunk(&mut c), b"data: 2\n\n");
    assert_eq!(read_chunk(&mut c), b"");
}

#[test]
fn close_before_status_line_gives_eof() {
    let server = TestServer::scripted(Script::new().close());
    let mut c = connect(&server);
    get(&mut c, "/");
    assert_eof(&mut c);
}

#[test]
fn reset_gives_connection_reset() {
    let server = TestServer::start(|_, r| r.reset());
    let mut c = connect(&server);
    get(&mut c, "/");
    let mut buf = Vec::new();
    let err = c.read_to_end(&mut buf).expect_err("expected RST");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn reset_mid_stream() {
    let server = TestServer::start(|_, r| {
        r.start_sse();
        r.sse_data("{}");
        r.reset();
    });
    let mut c = connect(&server);
    get(&mut c, "/");
    read_head(&mut c);
    assert_eq!(read_chunk(&mut c), b"data: {}\n\n");
    let mut buf = Vec::new();
    let err = c.read_to_end(&mut buf).expect_err("expected RST");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn garbage_then_close() {
    let server = TestServer::scripted(Script::new().raw(b"\x00\xffnot http\r\n"));
    let mut c = connect(&server);
    get(&mut c, "/");
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    assert_eq!(buf, b"\x00\xffnot http\r\n");
}

#[test]
fn wrong_content_length_closes_after_handler() {
    let server = TestServer::start(|_, r| {
        r.json_with_headers(200, &[("Content-Length", "100")], "{}");
    });
    let mut c = connect(&server);
    get(&mut c, "/");
    let head = read_head(&mut c);
    assert_eq!(head.header("content-length"), Some("100"));
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    assert_eq!(buf, b"{}");
}

#[test]
fn unframed_body_ends_with_close() {
    let server = TestServer::start(|_, r| {
        r.start_unframed(200, &[("Content-Type", "text/event-stream")]);
        r.raw(b"data: x\n\n");
    });
    let mut c = connect(&server);
    get(&mut c, "/");
    let resp = read_response(&mut c);
    assert_eq!(resp.header("content-length"), None);
    assert_eq!(resp.text(), "data: x\n\n");
}

#[test]
fn truncated_chunked_stream_closes() {
    let server = TestServer::start(|_, r| {
        r.start_sse();
        r.sse_data("1");
        // Handler returns without end_chunked: the server closes the connection.
    });
    let mut c = connect(&server);
    get(&mut c, "/");
    read_head(&mut c);
    assert_eq!(read_chunk(&mut c), b"data: 1\n\n");
    assert_eof(&mut c);
}

#[test]
fn close_after_response_models_idle_timeout() {
    let server = TestServer::start(|req, r| {
        if req.index == 0 {
            r.close_after_response();
        }
        r.json(200, "{}");
    });
    let mut c = connect(&server);
    get(&mut c, "/");
    let resp = read_response(&mut c);
    assert_eq!(resp.header("connection"), None);
    assert_eof(&mut c);
}

#[test]
fn connection_close_is_honoured_both_ways() {
    let server = TestServer::start(|req, r| {
        if req.path == "/server" {
            r.json_with_headers(200, &[("Connection", "close")], "{}");
        } else {
            r.json(200, "{}");
        }
    });
    let mut c = connect(&server);
    get(&mut c, "/server");
    read_response(&mut c);
    assert_eof(&mut c);

    let mut c = connect(&server);
    send(
        &mut c,
        b"GET /client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    read_response(&mut c);
    assert_eof(&mut c);
}

#[test]
fn script_sequence_by_request_index() {
    let server = TestServer::scripted(
        Script::new()
            .json_with_headers(429, &[("Retry-After", "0")], r#"{"error":"slow"}"#)
            .json(500, "{}")
            .json(200, "[]")
            .repeat_last(),
    );
    let mut c = connect(&server);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        get(&mut c, "/");
        let resp = read_response(&mut c);
        if resp.status == 429 {
            assert_eq!(resp.header("retry-after"), Some("0"));
        }
        statuses.push(resp.status);
    }
    assert_eq!(statuses, [429, 500, 200, 200]);
    assert_eq!(server.request_count(), 4);
}

#[test]
fn hold_is_released_by_drop() {
    let server = TestServer::scripted(Script::new().hold());
    let mut c = connect(&server);
    get(&mut c, "/");
    server.wait_for_requests(1);
    drop(server);
    assert_eof(&mut c);
}

#[test]
fn wait_is_released_by_drop() {
    let never = Signal::new();
    let server = TestServer::start(move |_, r| {
        r.start_sse();
        assert!(!r.wait(&never), "woken by drop, not by a signal");
        r.sse_data("after drop: ignored");
    });
    let mut c = connect(&server);
    get(&mut c, "/");
    read_head(&mut c);
    drop(server);
    assert_eof(&mut c);
}

#[test]
fn drop_with_idle_keep_alive_connection() {
    let server = TestServer::start(|_, r| r.json(200, "{}"));
    let mut c = connect(&server);
    get(&mut c, "/");
    read_response(&mut c);
    drop(server); // must not wait for the client to close
    assert_eof(&mut c);
}

#[test]
fn drop_with_partial_request_and_unused_connection() {
    let server = TestServer::start(|_, r| r.json(200, "{}"));
    let _unused = connect(&server);
    let mut c = connect(&server);
    send(&mut c, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{");
    server.wait_for_connections(2);
    drop(server);
    assert_eof(&mut c);
}

#[test]
fn handler_panic_closes_connection_and_resurfaces_on_drop() {
    let server = TestServer::start(|_, _| panic!("boom in handler"));
    let mut c = connect(&server);
    get(&mut c, "/");
    assert_eof(&mut c);
    let err = catch_unwind(AssertUnwindSafe(|| drop(server))).expect_err("drop must panic");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("boom in handler"), "{msg}");
}

#[test]
fn extra_request_beyond_script_panics_on_drop() {
    let server = TestServer::scripted(Script::new().json(200, "{}"));
    let mut c = connect(&server);
    get(&mut c, "/");
    read_response(&mut c);
    get(&mut c, "/again");
    assert_eof(&mut c);
    let err = catch_unwind(AssertUnwindSafe(|| drop(server))).expect_err("drop must panic");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("Script has 1 step(s) but got request #2"),
        "{msg}"
    );
}

#[test]
fn handler_sees_client_close() {
    let done = Signal::new();
    let d = done.clone();
    let server = TestServer::start(move |_, r| {
        r.start_sse();
        r.sse_data("1");
        r.wait_for_client_close();
        // Writing to a closed peer is recorded, not a panic. The first write may still
        // succeed (the peer answers it with RST), so write until the error shows up.
        for _ in 0..100 {
            if r.client_gone().is_some() {
                break;
            }
            r.sse_data("more");
        }
        assert!(r.client_gone().is_some());
        d.send();
    });
    let mut c = connect(&server);
    get(&mut c, "/");
    read_head(&mut c);
    assert_eq!(read_chunk(&mut c), b"data: 1\n\n");
    drop(c);
    done.wait();
}

#[test]
fn signal_counts_permits() {
    let s = Signal::new();
    assert!(!s.try_take());
    s.send();
    s.send();
    s.wait();
    assert!(s.try_take());
    assert!(!s.try_take());
}

// ---- TLS ----------------------------------------------------------------------------------

fn rustls_client(
    cert: &TestCert,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.root_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls_roundtrip(version: &'static rustls::SupportedProtocolVersion) {
    let cert = TestCert::localhost();
    let server = TestServer::start_tls_versions(&cert, &[version], |_, r| {
        r.sse(b"data: hi\n\n");
    });
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    for host in ["localhost", "127.0.0.1"] {
        let name = rustls::pki_types::ServerName::try_from(host)
            .unwrap()
            .to_owned();
        let conn = rustls::ClientConnection::new(rustls_client(&cert, &[version]), name).unwrap();
        let tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(WAIT_TIMEOUT)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"GET /v1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        tls.read_to_end(&mut out)
            .expect("clean TLS close (close_notify)");
        assert_eq!(tls.conn.protocol_version(), Some(version.version));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("a\r\ndata: hi\n\n\r\n0\r\n\r\n"), "{text}");
    }
    assert_eq!(server.request_count(), 2);
}

#[test]
fn tls13_with_rustls_client() {
    tls_roundtrip(&rustls::version::TLS13);
}

#[test]
fn tls12_with_rustls_client() {
    tls_roundtrip(&rustls::version::TLS12);
}

#[cfg(feature = "tls")]
fn ureq_agent(root_pem: &str) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let root = Certificate::from_pem(root_pem.as_bytes()).unwrap();
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(Arc::new(vec![root])))
                .build(),
        )
        .http_status_as_error(false)
        .timeout_global(Some(WAIT_TIMEOUT))
        .build()
        .into()
}

#[cfg(feature = "tls")]
#[test]
fn ureq_over_tls_with_the_test_root_and_pool_reuse() {
    let cert = TestCert::localhost();
    let server = TestServer::start_tls(&cert, |req, r| {
        r.json(200, &format!(r#"{{"n":{}}}"#, req.index));
    });
    let agent = ureq_agent(&cert.root_pem);
    for i in 0..2 {
        let mut resp = agent
            .post(format!("{}/chat/completions", server.base_url()))
            .header("Authorization", "Bearer k")
            .send("{\"model\":\"m\"}")
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.body_mut().read_to_string().unwrap(),
            format!(r#"{{"n":{i}}}"#)
        );
    }
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[1].header("authorization"), Some("Bearer k"));
    assert_eq!(reqs[1].json()["model"], "m");
    assert_eq!(
        reqs[1].connection, reqs[0].connection,
        "pooled TLS connection reused"
    );
    assert_eq!(server.connection_count(), 1);
}

#[cfg(feature = "tls")]
#[test]
fn ureq_rejects_wrong_host_expired_and_untrusted_certs() {
    // ureq 3.5 reports these as Error::Io(InvalidData) wrapping the rustls error.
    for (server_cert, trusted_root, expected) in [
        (TestCert::wrong_host(), None, "NotValidForName"),
        (TestCert::expired(), None, "Expired"),
        (
            TestCert::localhost(),
            Some(TestCert::localhost_other_root().root_pem),
            "UnknownIssuer",
        ),
    ] {
        let server = TestServer::start_tls(&server_cert, |_, r| r.json(200, "{}"));
        let root = trusted_root.unwrap_or_else(|| server_cert.root_pem.clone());
        let err = ureq_agent(&root)
            .get(server.url("/v1/models"))
            .call()
            .expect_err("TLS verification must fail");
        assert!(
            matches!(err, ureq::Error::Rustls(_) | ureq::Error::Io(_)),
            "{err:?}"
        );
        assert!(format!("{err:?}").contains(expected), "{expected}: {err:?}");
        assert_eq!(server.request_count(), 0);
        assert_eq!(server.connection_count(), 1);
    }
}
