//! The fault matrix (issue 6, item 1): every way a network or a server can misbehave,
//! over real loopback sockets.
//!
//! Each test asserts the exact [`ErrorKind`] (and [`Timeout`]), that the partial
//! completion received so far comes back intact ([`Error::partial`]), that nothing
//! hangs (every wait is bounded: the client by small timeouts, the server by
//! `support::WAIT_TIMEOUT`), and that the same `Client` then serves a healthy request.
//!
//! The server answers every request whose user message is [`PROBE`] with a healthy
//! stream or completion (see [`serve`]), whatever fault the test injects for the others,
//! so "the client stays usable" is one call: [`assert_usable`].

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatstream::{
    ChatCompletion, ChatRequest, Client, ClientBuilder, Error, ErrorKind, Message, Timeout,
};
use serde_json::json;
use support::bodies::{completion_json, delta, event, finish, request, stream_body};
use support::{Request, Responder, Signal, TestServer, WAIT_TIMEOUT};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const KEY: &str = "sk-test-SECRET-1234567890";
/// The user message of the follow-up request every test makes to prove the client
/// still works; the server answers it with [`healthy`].
const PROBE: &str = "healthy-probe";
/// A small time limit for the limit under test (still roomy enough for the follow-up
/// request on the same client, which lives under the same limits, on a loaded machine).
const SHORT: Duration = Duration::from_millis(200);
/// Generous bound for "returned promptly" checks (upper bounds only, never lower).
const PROMPT: Duration = Duration::from_secs(5);

fn probe_request() -> ChatRequest {
    ChatRequest::new("test-model", vec![Message::user(PROBE)])
}

fn is_probe(req: &Request) -> bool {
    req.json()["messages"][0]["content"] == PROBE
}

const HEALTHY: &str = "healthy";

/// Answers a probe: a stream if one was asked for, else a plain completion.
fn healthy(req: &Request, r: &mut Responder) {
    if req.json()["stream"] == true {
        r.sse(&stream_body(&[HEALTHY]));
    } else {
        r.json(200, &completion_json(HEALTHY));
    }
}

/// A server that answers probes with [`healthy`] and everything else with `fault`.
fn serve(fault: impl Fn(&Request, &mut Responder) + Send + Sync + 'static) -> TestServer {
    TestServer::start(move |req, r| {
        if is_probe(req) {
            healthy(req, r);
        } else {
            fault(req, r);
        }
    })
}

/// Requests the fault handler saw (probes excluded).
fn attempts(server: &TestServer) -> usize {
    server.requests().iter().filter(|r| !is_probe(r)).count()
}

/// No retries, a fast backoff, and every limit small enough that no test can hang.
fn builder(base_url: &str) -> ClientBuilder {
    Client::builder()
        .base_url(base_url)
        .api_key(KEY)
        .max_retries(0)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .connect_timeout(PROMPT)
        .response_timeout(PROMPT)
        .request_timeout(Some(PROMPT))
        .stream_idle_timeout(PROMPT)
}

fn client(server: &TestServer) -> Client {
    builder(&server.base_url()).build().expect("client")
}

/// Streams `request()`, collecting the content of every chunk the callback saw.
fn stream(client: &Client) -> (Result<ChatCompletion, Error>, String) {
    let mut seen = String::new();
    let result = client.chat_stream(&request(), |chunk| {
        seen.push_str(chunk.content());
        ControlFlow::Continue(())
    });
    (result, seen)
}

/// The error of `result`, checked to be of `kind`.
#[track_caller]
fn expect_kind<T: std::fmt::Debug>(result: Result<T, Error>, kind: ErrorKind) -> Error {
    let err = result.expect_err("the call must fail");
    assert_eq!(err.kind(), kind, "wrong kind: {err} / {err:?}");
    // Every error is one readable line.
    assert!(!err.to_string().contains('\n'), "multi-line Display: {err}");
    err
}

/// The partial completion of `err` has exactly `content` (and is present).
#[track_caller]
fn assert_partial(err: &Error, content: &str) {
    let partial = err
        .partial()
        .unwrap_or_else(|| panic!("no partial completion in {err:?}"));
    assert_eq!(partial.content(), content, "partial content of {err:?}");
}

/// The same client serves a healthy streamed request and a healthy plain one.
#[track_caller]
fn assert_usable(client: &Client) {
    let streamed = client
        .chat_stream(&probe_request(), |_| ControlFlow::Continue(()))
        .unwrap_or_else(|e| panic!("follow-up stream failed: {e} / {e:?}"));
    assert_eq!(streamed.content(), HEALTHY);
    let plain = client
        .chat(&probe_request())
        .unwrap_or_else(|e| panic!("follow-up request failed: {e} / {e:?}"));
    assert_eq!(plain.content(), HEALTHY);
}

/// Runs `f` and checks it returned within [`PROMPT`].
#[track_caller]
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < PROMPT, "took {took:?}");
    (out, took)
}

// ---------------------------------------------------------------------------------------
// A raw listener for faults the TestServer cannot model (refused, full accept queue)
// ---------------------------------------------------------------------------------------

/// A loopback socket bound to a port that is not (yet) accepting connections.
fn bound_socket() -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .expect("bind");
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, addr)
}

/// Serves probes on `listener` until one has been answered; other connections (the
/// test's own fillers, closed) are skipped. Joined by the test after a successful probe.
fn serve_probes(listener: TcpListener) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        loop {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(WAIT_TIMEOUT)).unwrap();
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match conn.read(&mut tmp) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < head_end + length {
                let n = conn.read(&mut tmp).expect("read body");
                assert!(n > 0, "client closed mid-request");
                buf.extend_from_slice(&tmp[..n]);
            }
            let body = stream_body(&[HEALTHY]);
            let mut out = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\
                 content-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend(body);
            conn.write_all(&out).expect("write probe answer");
            return;
        }
    })
}

// ---------------------------------------------------------------------------------------
// Connecting and the response head
// ---------------------------------------------------------------------------------------

// Proves: refused connect: Connect (retried, no partial); the client works once the port listens.
#[test]
fn connection_refused() {
    let (socket, addr) = bound_socket(); // bound, not listening: connects are refused
    let client = builder(&format!("http://{addr}/v1"))
        .max_retries(2)
        .build()
        .unwrap();
    let ((result, _), _) = timed(|| stream(&client));
    let err = expect_kind(result, ErrorKind::Connect);
    assert!(err.partial().is_none());
    assert_eq!(
        expect_kind(client.chat(&request()), ErrorKind::Connect).timeout(),
        None
    );

    socket.listen(8).unwrap();
    let server = serve_probes(socket.into());
    let done = client
        .chat_stream(&probe_request(), |_| ControlFlow::Continue(()))
        .expect("the port listens now");
    assert_eq!(done.content(), HEALTHY);
    server.join().unwrap();
}

// Proves: a connect whose SYN is dropped (full accept queue) is Timeout::Connect, promptly.
#[test]
#[cfg(target_os = "linux")] // Linux drops a SYN when the accept queue is full
fn connect_timeout_on_a_full_accept_queue() {
    let (socket, addr) = bound_socket();
    socket.listen(0).unwrap();
    // Fill the accept queue: a connect that times out proves the next SYN is dropped.
    let mut fillers = Vec::new();
    let full = (0..16).any(|_| match TcpStream::connect_timeout(&addr, SHORT) {
        Ok(s) => {
            fillers.push(s);
            false
        }
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
            true
        }
    });
    assert!(
        full,
        "could not fill the accept queue of a backlog-0 listener"
    );

    let client = builder(&format!("http://{addr}/v1"))
        .connect_timeout(SHORT)
        .build()
        .unwrap();
    let (result, took) = timed(|| stream(&client).0);
    let err = expect_kind(result, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::Connect), "{err:?}");
    assert!(err.partial().is_none());
    assert!(
        took < Duration::from_secs(2),
        "connect timeout took {took:?}"
    );

    // Empty the queue here, so the probe's SYN is not dropped while the thread starts.
    let listener: TcpListener = socket.into();
    for _ in &fillers {
        drop(listener.accept().expect("accept a filler"));
    }
    drop(fillers);
    let server = serve_probes(listener);
    assert_eq!(
        client
            .chat_stream(&probe_request(), |_| ControlFlow::Continue(()))
            .expect("connects once the queue drains")
            .content(),
        HEALTHY
    );
    server.join().unwrap();
}

// Proves: accepted, never answered: Timeout::ResponseHeaders after response_timeout.
#[test]
fn accepted_but_never_answered_times_out_waiting_for_headers() {
    let server = serve(|_, r| r.hold());
    let client = builder(&server.base_url())
        .response_timeout(SHORT)
        .build()
        .unwrap();
    let (result, _) = timed(|| stream(&client).0);
    let err = expect_kind(result, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::ResponseHeaders), "{err:?}");
    assert!(err.partial().is_none());
    let (result, _) = timed(|| client.chat(&request()));
    let err = expect_kind(result, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::ResponseHeaders), "{err:?}");
    assert_eq!(attempts(&server), 2);
    assert_usable(&client);
}

// Proves: no response_timeout: header wait bounded by idle (stream) and request (plain) timeouts.
#[test]
fn never_answered_without_response_timeout_is_bounded_by_the_other_limits() {
    let server = serve(|_, r| r.hold());
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key(KEY)
        .max_retries(0)
        .stream_idle_timeout(SHORT)
        .request_timeout(Some(SHORT))
        .build()
        .unwrap();
    let (result, _) = timed(|| stream(&client).0);
    assert_eq!(
        expect_kind(result, ErrorKind::Timeout).timeout(),
        Some(Timeout::ResponseHeaders)
    );
    let (result, _) = timed(|| client.chat(&request()));
    assert_eq!(
        expect_kind(result, ErrorKind::Timeout).timeout(),
        Some(Timeout::Request)
    );
    assert_usable(&client);
}

// Proves: closed before the status line: Connect, retried (max_retries + 1 attempts counted).
#[test]
fn closed_before_the_status_line() {
    let server = serve(|_, r| r.close());
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Connect);
    assert!(err.partial().is_none());
    assert_eq!(attempts(&server), 1);

    let retrying = builder(&server.base_url()).max_retries(2).build().unwrap();
    let err = expect_kind(stream(&retrying).0, ErrorKind::Connect);
    assert!(err.partial().is_none());
    assert_eq!(attempts(&server), 1 + 3);
    expect_kind(retrying.chat(&request()), ErrorKind::Connect);
    assert_eq!(attempts(&server), 4 + 3);
    assert_usable(&client);
    assert_usable(&retrying);
}

// Proves: bytes that are not HTTP: Protocol, not retried.
#[test]
fn garbage_instead_of_http() {
    for garbage in [
        &b"\x00\xffnot http at all\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"<html>hello</html>\r\n\r\n",
    ] {
        let garbage = garbage.to_vec();
        let server = serve(move |_, r| r.raw(&garbage));
        let client = builder(&server.base_url()).max_retries(2).build().unwrap();
        let err = expect_kind(stream(&client).0, ErrorKind::Protocol);
        assert!(err.partial().is_none());
        expect_kind(client.chat(&request()), ErrorKind::Protocol);
        assert_eq!(attempts(&server), 2, "a protocol error is not retried");
        assert_usable(&client);
    }
}

// ---------------------------------------------------------------------------------------
// Stalls and slow servers
// ---------------------------------------------------------------------------------------

// Proves: headers, then silence: Timeout::StreamIdle with an empty partial.
#[test]
fn headers_then_stall() {
    let server = serve(|_, r| {
        r.start_sse();
        r.hold();
    });
    let client = builder(&server.base_url())
        .stream_idle_timeout(SHORT)
        .build()
        .unwrap();
    let ((result, seen), _) = timed(|| stream(&client));
    let err = expect_kind(result, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::StreamIdle));
    assert_partial(&err, "");
    assert!(err.partial().unwrap().choices.is_empty());
    assert_eq!(seen, "");
    assert_usable(&client);
}

// Proves: a stall after N events: Timeout::StreamIdle with the N events handed back.
#[test]
fn stall_after_some_events() {
    let server = serve(|_, r| {
        r.start_sse();
        for piece in ["one ", "two ", "three"] {
            r.chunk(&event(&delta(piece)));
        }
        r.hold();
    });
    let client = builder(&server.base_url())
        .stream_idle_timeout(SHORT)
        .build()
        .unwrap();
    let ((result, seen), _) = timed(|| stream(&client));
    let err = expect_kind(result, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::StreamIdle));
    assert_partial(&err, "one two three");
    assert_eq!(seen, "one two three");
    // The pull-style stream reports the same.
    let mut chunks = client.chat_chunks(&request()).unwrap();
    let got: Vec<_> = chunks.by_ref().collect();
    assert_eq!(got.len(), 4);
    let err = got.into_iter().last().unwrap().unwrap_err();
    assert_eq!(err.timeout(), Some(Timeout::StreamIdle));
    assert_partial(&err, "one two three");
    assert!(chunks.next().is_none(), "fused after the error");
    assert_usable(&client);
}

// Proves: `: ping` comments forever (bytes keep coming) still end in Timeout::StreamIdle.
#[test]
fn keep_alive_comments_forever() {
    let pings = Arc::new(AtomicUsize::new(0));
    let sent = pings.clone();
    let server = serve(move |_, r| {
        r.start_sse();
        r.chunk(&event(&delta("before the pings")));
        let until = Instant::now() + WAIT_TIMEOUT;
        while r.client_gone().is_none() && Instant::now() < until {
            r.chunk(b": ping\n\n");
            sent.fetch_add(1, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(5)); // pacing only, not ordering
        }
    });
    let client = builder(&server.base_url())
        .stream_idle_timeout(SHORT)
        .build()
        .unwrap();
    let ((result, _), _) = timed(|| stream(&client));
    let err = expect_kind(result, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::StreamIdle));
    assert_partial(&err, "before the pings");
    // More pings went out than fit in the idle limit: bytes kept coming.
    assert!(
        pings.load(Ordering::SeqCst) > 5,
        "server sent too few pings"
    );
    assert_usable(&client);
}

// Proves: a callback slower than the idle limit, server prompt, is not an idle timeout.
#[test]
fn slow_callback_is_not_an_idle_server() {
    let next = Signal::new();
    let n = next.clone();
    let server = serve(move |_, r| {
        let events: Vec<Vec<u8>> = ["a", "b", "c"].iter().map(|p| event(&delta(p))).collect();
        let mut refs: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
        let tail = [event(&finish(0)), event("[DONE]")].concat();
        refs.push(&tail);
        r.sse_paced(&refs, &n);
    });
    let client = builder(&server.base_url())
        .stream_idle_timeout(SHORT)
        .build()
        .unwrap();
    let done = client
        .chat_stream(&request(), |_| {
            next.send(); // the server sends the next event now ...
            thread::sleep(2 * SHORT); // ... while the caller is busy for 2 idle limits
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(done.content(), "abc");
    assert_usable(&client);
}

// Proves: an endless healthy stream is cut by Timeout::StreamTotal with everything so far.
#[test]
fn total_stream_timeout_cuts_an_endless_stream() {
    let server = serve(|_, r| {
        r.start_sse();
        let until = Instant::now() + WAIT_TIMEOUT;
        while r.client_gone().is_none() && Instant::now() < until {
            r.chunk(&event(&delta("x")));
            thread::sleep(Duration::from_millis(5)); // pacing only
        }
    });
    let client = builder(&server.base_url())
        .stream_total_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let ((result, seen), _) = timed(|| stream(&client));
    let err = expect_kind(result, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::StreamTotal));
    assert!(!seen.is_empty() && seen.chars().all(|c| c == 'x'));
    assert_partial(&err, &seen);
    assert_usable(&client);
}

// Proves: one byte per write (per HTTP chunk, or unframed) is delivered intact.
#[test]
fn trickle_of_one_byte_per_write() {
    let body = stream_body(&["tri", "ck", "le ✓"]);
    let chunked_body = body.clone();
    let chunked = serve(move |_, r| {
        r.start_sse();
        for b in &chunked_body {
            r.chunk(std::slice::from_ref(b));
        }
        r.end_chunked();
    });
    let unframed = serve(move |_, r| {
        r.start_unframed(200, &[("Content-Type", "text/event-stream")]);
        for b in &body {
            r.raw(std::slice::from_ref(b));
        }
    });
    for server in [&chunked, &unframed] {
        let client = builder(&server.base_url())
            .stream_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let (result, seen) = stream(&client);
        let done = result.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(done.content(), "trickle ✓");
        assert_eq!(seen, "trickle ✓");
        assert_eq!(done.finish_reason(), Some("stop"));
        assert_usable(&client);
    }
}

// ---------------------------------------------------------------------------------------
// Endings
// ---------------------------------------------------------------------------------------

/// Sends two deltas, then half an event, then closes (FIN) or resets (RST).
fn cut_mid_event(reset: bool) -> TestServer {
    serve(move |_, r| {
        r.start_sse();
        r.chunk(&event(&delta("first ")));
        r.chunk(&event(&delta("second")));
        r.chunk(br#"data: {"choices":[{"index":0,"delta":{"content":"never se"#);
        if reset {
            r.reset();
        } else {
            r.close();
        }
    })
}

/// A stream cut mid-event (`reset`: by RST, else by FIN) is Truncated with the earlier
/// events, is not sent again though retries are on, and leaves the client usable.
fn check_cut_mid_event(reset: bool) {
    let server = cut_mid_event(reset);
    let client = builder(&server.base_url()).max_retries(3).build().unwrap();
    let (result, seen) = stream(&client);
    let err = expect_kind(result, ErrorKind::Truncated);
    assert_partial(&err, "first second");
    assert_eq!(seen, "first second");
    assert_eq!(attempts(&server), 1, "a started stream must not be retried");
    assert_usable(&client);
}

// Proves: FIN mid-event: Truncated with the earlier events; a started stream is never re-sent.
#[test]
fn close_mid_event() {
    check_cut_mid_event(false);
}

// Proves: RST mid-event: Truncated with the earlier events; not retried.
#[test]
fn reset_mid_event() {
    check_cut_mid_event(true);
}

// Proves: EOF right after `data: [DONE]` without its blank line is a success (unframed, chunked).
#[test]
fn close_after_done_line_without_blank_line() {
    let mut body: Vec<u8> = event(&delta("all of it"));
    body.extend(b"data: [DONE]\n");
    let unframed_body = body.clone();
    let unframed = serve(move |_, r| {
        r.start_unframed(200, &[("Content-Type", "text/event-stream")]);
        r.raw(&unframed_body);
    });
    let chunked = serve(move |_, r| r.sse(&body));
    for server in [&unframed, &chunked] {
        let client = client(server);
        let (result, seen) = stream(&client);
        let done = result.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(done.content(), "all of it");
        assert_eq!(seen, "all of it");
        assert_usable(&client);
    }
}

// Proves: clean EOF before every choice finished (no [DONE]): Truncated with the content so far.
#[test]
fn eof_before_every_choice_finished_is_truncated() {
    let unfinished: Vec<u8> = [delta("half"), delta(" done")]
        .iter()
        .flat_map(|d| event(d))
        .collect();
    let mut one_of_two = event(&delta("zero"));
    one_of_two.extend(event(&finish(0)));
    one_of_two.extend(event(
        &json!({"choices": [{"index": 1, "delta": {"content": "one"}}]}).to_string(),
    ));
    for (body, content) in [(unfinished, "half done"), (one_of_two, "zero")] {
        let server = serve(move |_, r| r.sse(&body));
        let client = client(&server);
        let err = expect_kind(stream(&client).0, ErrorKind::Truncated);
        assert_partial(&err, content);
        assert_usable(&client);
    }
}

// Proves: clean EOF without [DONE] after every choice finished is a success.
#[test]
fn eof_after_every_choice_finished_is_success() {
    let mut body = event(&delta("zero"));
    body.extend(event(
        &json!({"choices": [{"index": 1, "delta": {"content": "one"}}]}).to_string(),
    ));
    body.extend(event(&finish(1)));
    body.extend(event(&finish(0)));
    let server = serve(move |_, r| r.sse(&body));
    let client = client(&server);
    let done = stream(&client).0.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(done.choices.len(), 2);
    assert_eq!(done.content(), "zero");
    assert_eq!(done.choices[1].message.text(), "one");
    assert!(done.choices.iter().all(|c| c.finish_reason.is_some()));
    assert_usable(&client);
}

// ---------------------------------------------------------------------------------------
// Broken HTTP framing and unexpected bodies
// ---------------------------------------------------------------------------------------

/// Bad chunked framing that follows two valid chunks.
const BAD_FRAMING: [&[u8]; 2] = [b"zz\r\nnot hex\r\n", b"5\r\nhelloXXXX\r\n"];

// Proves: broken chunked framing after two events were read: Protocol, with both in the partial.
#[test]
fn invalid_chunked_encoding() {
    for bad in BAD_FRAMING {
        let read = Signal::new();
        let r2 = read.clone();
        let server = serve(move |_, r| {
            r.start_sse();
            r.chunk(&event(&delta("framed ")));
            r.chunk(&event(&delta("fine")));
            if r.wait(&r2) {
                r.raw(bad);
            }
        });
        let client = client(&server);
        let mut seen = String::new();
        let result = client.chat_stream(&request(), |chunk| {
            seen.push_str(chunk.content());
            if chunk.content() == "fine" {
                read.send(); // both events are through: now break the framing
            }
            ControlFlow::Continue(())
        });
        let err = expect_kind(result, ErrorKind::Protocol);
        assert_partial(&err, "framed fine");
        assert_eq!(seen, "framed fine");
        assert_usable(&client);
    }
}

// Proves: broken framing in the same read as valid chunks is still a typed Protocol error and
// the client stays usable.
// FIXME: the valid chunks before the bad frame should reach the callback and the partial
// completion, but ureq-proto 0.7.1's dechunker drops every byte it decoded in a read that ends in
// a framing error, so nothing of that read arrives. This asserts today's (wrong) output; when a
// ureq-proto release fixes the dechunker, expect "framed fine" in `seen` and the partial.
#[test]
fn invalid_chunked_encoding_in_the_same_read_as_valid_chunks() {
    for bad in BAD_FRAMING {
        let server = serve(move |_, r| {
            r.start_chunked(200, &[("Content-Type", "text/event-stream")]);
            let mut all = Vec::new();
            for piece in ["framed ", "fine"] {
                let ev = event(&delta(piece));
                all.extend(format!("{:x}\r\n", ev.len()).as_bytes());
                all.extend(ev);
                all.extend(b"\r\n");
            }
            all.extend(bad);
            r.raw(&all);
        });
        let client = client(&server);
        let (result, seen) = stream(&client);
        let err = expect_kind(result, ErrorKind::Protocol);
        assert_eq!(
            seen, "",
            "ureq-proto now keeps the valid chunks: update this test"
        );
        assert_partial(&err, "");
        assert_usable(&client);
    }
}

// Proves: a chunk cut short by a close: Truncated with the partial.
#[test]
fn chunk_cut_short_by_close() {
    let server = serve(|_, r| {
        r.start_sse();
        r.chunk(&event(&delta("complete")));
        r.raw(b"100\r\ndata: {\"choi");
        r.close();
    });
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Truncated);
    assert_partial(&err, "complete");
    assert_usable(&client);
}

/// A stream response with an explicit (possibly wrong) Content-Length.
fn with_content_length(body: Vec<u8>, length: usize) -> TestServer {
    serve(move |_, r| {
        r.respond(
            200,
            &[
                ("Content-Type", "text/event-stream"),
                ("Content-Length", &length.to_string()),
            ],
            &body,
        );
    })
}

// Proves: Content-Length shorter than the stream: Truncated; leftover bytes do not poison the pool.
#[test]
fn content_length_shorter_than_the_body() {
    let body = stream_body(&["kept ", "lost"]);
    let first = event(&delta("kept ")).len();
    let server = with_content_length(body, first + 10);
    let client = client(&server);
    let (result, seen) = stream(&client);
    let err = expect_kind(result, ErrorKind::Truncated);
    assert_partial(&err, "kept ");
    assert_eq!(seen, "kept ");
    assert_usable(&client);
}

// Proves: Content-Length longer than the stream: Truncated, or success if [DONE] arrived.
#[test]
fn content_length_longer_than_the_body() {
    let cut = event(&delta("only this"));
    let cut_len = cut.len();
    let server = with_content_length(cut, cut_len + 100);
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Truncated);
    assert_partial(&err, "only this");
    assert_usable(&client);

    let whole = stream_body(&["every", "thing"]);
    let whole_len = whole.len();
    let server = with_content_length(whole, whole_len + 100);
    let client = self::client(&server);
    let done = stream(&client).0.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(done.content(), "everything");
    assert_usable(&client);
}

// Proves: plain call, wrong Content-Length: shorter is Decode (raw kept), longer is Truncated.
#[test]
fn content_length_wrong_on_a_plain_call() {
    let body = completion_json("plain");
    let short = body.clone();
    let server = serve(move |_, r| {
        let len = (short.len() - 5).to_string();
        r.respond(
            200,
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", &len),
            ],
            short.as_bytes(),
        );
    });
    let client = client(&server);
    let err = expect_kind(client.chat(&request()), ErrorKind::Decode);
    assert_eq!(err.raw(), Some(&body[..body.len() - 5]));
    assert_usable(&client);

    let server = serve(move |_, r| {
        let len = (body.len() + 5).to_string();
        r.respond(
            200,
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", &len),
            ],
            body.as_bytes(),
        );
    });
    let client = self::client(&server);
    let err = expect_kind(client.chat(&request()), ErrorKind::Truncated);
    assert!(err.partial().is_none());
    assert_usable(&client);
}

// Proves: an unasked-for Content-Encoding (gzip) is Protocol naming it, stream and plain.
#[test]
fn unexpected_content_encoding() {
    let server = serve(|req, r| {
        let media = if req.json()["stream"] == true {
            "text/event-stream"
        } else {
            "application/json"
        };
        r.respond(
            200,
            &[("Content-Type", media), ("Content-Encoding", "gzip")],
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
        );
    });
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Protocol);
    assert!(err.to_string().contains("gzip"), "{err}");
    assert!(err.partial().is_none());
    let err = expect_kind(client.chat(&request()), ErrorKind::Protocol);
    assert!(err.to_string().contains("gzip"), "{err}");
    assert_usable(&client);
}

// Proves: a 200 text/html page answering a stream request: Protocol with the page in `raw`.
#[test]
fn html_page_with_status_200_on_a_stream_request() {
    const PAGE: &str = "<!DOCTYPE html>\n<html><body><h1>Captive portal</h1></body></html>\n";
    let server = serve(|_, r| {
        r.respond(
            200,
            &[("Content-Type", "text/html; charset=utf-8")],
            PAGE.as_bytes(),
        );
    });
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Protocol);
    assert_eq!(err.raw(), Some(PAGE));
    assert!(err.to_string().contains("text/html"), "{err}");
    assert_usable(&client);
}

// Proves: a JSON body answering a stream: Api with an error object, else Protocol (raw kept).
#[test]
fn json_body_on_a_stream_request() {
    const ERROR: &str =
        r#"{"error":{"message":"model `m` not found","type":"invalid_request_error"}}"#;
    let server = serve(|_, r| r.json(200, ERROR));
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Api);
    let api = err.api().unwrap();
    assert_eq!(api.status, 200);
    assert_eq!(api.message, "model `m` not found");
    assert_eq!(api.error_type.as_deref(), Some("invalid_request_error"));
    assert_eq!(api.body, ERROR);
    assert!(!api.in_stream);
    assert_usable(&client);

    let plain = completion_json("not a stream");
    let body = plain.clone();
    let server = serve(move |_, r| r.json(200, &body));
    let client = self::client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Protocol);
    assert_eq!(err.raw(), Some(plain.as_str()));
    assert_usable(&client);
}

// ---------------------------------------------------------------------------------------
// Event sizes and contents
// ---------------------------------------------------------------------------------------

// Proves: an endless event: EventTooLarge with the partial, while the server still sends.
#[test]
fn event_over_the_size_limit() {
    const LIMIT: usize = 1024 * 1024;
    const CAP: usize = 256 * 1024 * 1024;
    let written = Arc::new(AtomicUsize::new(0));
    let finished = Signal::new();
    let (w, f) = (written.clone(), finished.clone());
    let server = serve(move |_, r| {
        r.start_sse();
        r.chunk(&event(&delta("small")));
        r.chunk(b"data: ");
        let block = vec![b'a'; 64 * 1024];
        while r.client_gone().is_none() && w.load(Ordering::SeqCst) < CAP {
            r.chunk(&block);
            w.fetch_add(block.len(), Ordering::SeqCst);
        }
        f.send();
    });
    let client = builder(&server.base_url())
        .max_event_size(LIMIT)
        .build()
        .unwrap();
    let ((result, seen), _) = timed(|| stream(&client));
    let err = expect_kind(result, ErrorKind::EventTooLarge);
    assert_partial(&err, "small");
    assert_eq!(seen, "small");
    finished.wait();
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 32 * 1024 * 1024,
        "the client read {sent} bytes of one event with a {LIMIT} byte limit"
    );
    assert_usable(&client);
}

// Proves: 100,000 tiny events all arrive, each counted once, in order.
#[test]
fn one_hundred_thousand_tiny_events() {
    const N: usize = 100_000;
    let mut body = Vec::with_capacity(N * 64);
    for i in 0..N {
        let c = char::from(b'a' + (i % 26) as u8);
        body.extend(
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{c}\"}}}}]}}\n\n"
            )
            .as_bytes(),
        );
    }
    body.extend(event(&finish(0)));
    body.extend(event("[DONE]"));
    let sizes = vec![64 * 1024; body.len() / (64 * 1024)];
    let server = serve(move |_, r| r.sse_in_chunks(&body, &sizes));
    let client = client(&server);
    let mut count = 0;
    let done = client
        .chat_stream(&request(), |chunk| {
            if !chunk.content().is_empty() {
                count += 1;
            }
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(count, N);
    let content = done.content();
    assert_eq!(content.len(), N);
    assert!(content.starts_with("abcdefghijklmnopqrstuvwxyza"));
    assert_usable(&client);
}

// Proves: one 50 MB event is delivered whole under a raised max_event_size.
#[test]
fn one_fifty_megabyte_event_under_a_raised_limit() {
    const SIZE: usize = 50 * 1024 * 1024;
    let mut body = Vec::with_capacity(SIZE + 1024);
    body.extend(br#"data: {"choices":[{"index":0,"delta":{"content":""#);
    body.resize(body.len() + SIZE, b'z');
    body.extend(b"\"}}]}\n\n");
    body.extend(event(&finish(0)));
    body.extend(event("[DONE]"));
    let sizes = vec![1024 * 1024; body.len() / (1024 * 1024)];
    let server = serve(move |_, r| r.sse_in_chunks(&body, &sizes));
    let client = builder(&server.base_url())
        .max_event_size(64 * 1024 * 1024)
        // One event is all of it: allow for a slow debug build on a loaded machine.
        .stream_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut sizes_seen = Vec::new();
    let done = client
        .chat_stream(&request(), |chunk| {
            sizes_seen.push(chunk.content().len());
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sizes_seen, [SIZE, 0]);
    let content = done.content();
    assert_eq!(content.len(), SIZE);
    assert!(content.bytes().all(|b| b == b'z'));
    assert_usable(&client);
}

// Proves: invalid UTF-8 in data is U+FFFD: valid JSON succeeds, broken JSON is Decode.
#[test]
fn invalid_utf8_in_data() {
    let mut body =
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\xffb\"}}]}\n\n".to_vec();
    body.extend(event(&finish(0)));
    body.extend(event("[DONE]"));
    let server = serve(move |_, r| r.sse(&body));
    let client = client(&server);
    let done = stream(&client).0.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(done.content(), "a\u{FFFD}b");
    assert_usable(&client);

    let mut body = event(&delta("ok "));
    body.extend(b"data: {\"choices\":\xff}\n\n");
    let server = serve(move |_, r| r.sse(&body));
    let client = self::client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Decode);
    assert_eq!(err.raw(), Some("{\"choices\":\u{FFFD}}"));
    assert_partial(&err, "ok ");
    assert_usable(&client);
}

// Proves: invalid JSON in data: Decode with the raw data and the partial.
#[test]
fn invalid_json_in_data() {
    let mut body = event(&delta("before "));
    body.extend(event(r#"{"choices":[{"index":0,"delta":{"content":"x"}]"#));
    body.extend(event(&delta("after")));
    let server = serve(move |_, r| r.sse(&body));
    let client = client(&server);
    let (result, seen) = stream(&client);
    let err = expect_kind(result, ErrorKind::Decode);
    assert_eq!(
        err.raw(),
        Some(r#"{"choices":[{"index":0,"delta":{"content":"x"}]"#)
    );
    assert_partial(&err, "before ");
    assert_eq!(seen, "before ");
    assert_usable(&client);
}

// Proves: `data: {"error": ..}` with or without `event: error`: in-stream Api, partial kept.
#[test]
fn error_object_in_the_stream() {
    const ERROR: &str =
        r#"{"error":{"message":"upstream overloaded","type":"server_error","code":"overloaded"}}"#;
    for framing in ["", "event: error\n"] {
        let mut body = event(&delta("so far"));
        body.extend(format!("{framing}data: {ERROR}\n\n").as_bytes());
        body.extend(event(&delta(" never")));
        let server = serve(move |_, r| r.sse(&body));
        let client = client(&server);
        let (result, seen) = stream(&client);
        let err = expect_kind(result, ErrorKind::Api);
        let api = err.api().unwrap();
        assert!(api.in_stream);
        assert_eq!(api.status, 200);
        assert_eq!(api.message, "upstream overloaded");
        assert_eq!(api.error_type.as_deref(), Some("server_error"));
        assert_eq!(api.code.as_deref(), Some("overloaded"));
        assert_eq!(api.body, ERROR);
        assert_partial(&err, "so far");
        assert_eq!(seen, "so far");
        assert_eq!(attempts(&server), 1, "an in-stream error is never retried");
        assert_usable(&client);
    }
}

// Proves: `event: error` with non-JSON data: Api with that text as the message.
#[test]
fn error_event_with_plain_text_data() {
    let mut body = event(&delta("so far"));
    body.extend(b"event: error\ndata: upstream went away\n\n");
    let server = serve(move |_, r| r.sse(&body));
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Api);
    assert_eq!(err.api().unwrap().message, "upstream went away");
    assert_partial(&err, "so far");
    assert_usable(&client);
}

// Proves: an `error` inside a normal chunk: Api, and that chunk's content is in the partial.
#[test]
fn error_inside_a_normal_chunk() {
    let chunk = json!({"id": "gen-1", "object": "chat.completion.chunk", "created": 1,
        "model": "m", "error": {"code": 400, "message": "Token limit reached"},
        "choices": [{"index": 0, "delta": {"content": " tail"}, "finish_reason": null}]})
    .to_string();
    let mut body = event(&delta("head"));
    body.extend(event(&chunk));
    let server = serve(move |_, r| r.sse(&body));
    let client = client(&server);
    let err = expect_kind(stream(&client).0, ErrorKind::Api);
    let api = err.api().unwrap();
    assert_eq!(api.message, "Token limit reached");
    assert_eq!(api.code.as_deref(), Some("400"));
    assert!(api.in_stream);
    assert_partial(&err, "head tail");
    assert_usable(&client);
}

// ---------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------

/// One canned error response.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, headers: &[(&'static str, &str)]) -> Reply {
    Reply {
        status,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: format!(r#"{{"error":{{"message":"status {status}","type":"test"}}}}"#),
    }
}

/// Answers attempt `i` with `replies[i]`, then healthily; records when each attempt came.
fn sequence(replies: Vec<Reply>) -> (TestServer, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let server = serve(move |req, r| {
        let mut seen = seen.lock().unwrap();
        seen.push(Instant::now());
        match replies.get(seen.len() - 1) {
            Some(rep) => {
                let headers: Vec<(&str, &str)> =
                    rep.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                r.json_with_headers(rep.status, &headers, &rep.body);
            }
            None => healthy(req, r),
        }
    });
    (server, arrivals)
}

fn retrying(server: &TestServer, retries: u32, backoff: Duration) -> Client {
    builder(&server.base_url())
        .max_retries(retries)
        .retry_backoff(backoff, backoff)
        .build()
        .unwrap()
}

/// Slow enough that a test finishing quickly proves the server's delay was used instead.
const SLOW_BACKOFF: Duration = Duration::from_secs(20);

/// The gaps between consecutive attempts, as the server saw them arrive.
///
/// A gap measured there is a lower bound the client cannot fake: the client waits only after the
/// answer to the previous attempt has arrived, which is after that attempt was recorded.
fn gaps(arrivals: &Mutex<Vec<Instant>>) -> Vec<Duration> {
    let arrivals = arrivals.lock().unwrap();
    arrivals.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// Every gap is at least `least` (`what` names the wait the client owes).
#[track_caller]
fn assert_waited(gaps: &[Duration], least: Duration, what: &str) {
    for (i, gap) in gaps.iter().enumerate() {
        assert!(
            *gap >= least,
            "gap {i} was {gap:?}: the client did not wait {what} ({least:?})"
        );
    }
}

// Proves: 429, 500, 503 with `retry-after-ms`: server delay used (each gap at least that delay,
// all well under the backoff), exactly 4 attempts, then success.
#[test]
fn retry_after_ms_sequence() {
    let (server, arrivals) = sequence(vec![
        reply(429, &[("retry-after-ms", "100")]),
        reply(500, &[("retry-after-ms", "100")]),
        reply(503, &[("retry-after-ms", "100.5")]),
    ]);
    let client = retrying(&server, 3, SLOW_BACKOFF);
    let (result, _) = timed(|| stream(&client).0);
    assert_eq!(result.unwrap().content(), HEALTHY);
    assert_eq!(attempts(&server), 4);
    let gaps = gaps(&arrivals);
    assert_eq!(gaps.len(), 3);
    assert_waited(&gaps, Duration::from_millis(100), "retry-after-ms");
}

// Proves: `Retry-After: 1` (seconds) is used instead of the 20 s backoff.
#[test]
fn retry_after_seconds() {
    let (server, arrivals) = sequence(vec![reply(503, &[("Retry-After", "1")])]);
    let client = retrying(&server, 2, SLOW_BACKOFF);
    let (result, _) = timed(|| client.chat(&request()));
    assert_eq!(result.unwrap().content(), HEALTHY);
    assert_eq!(attempts(&server), 2);
    let gaps = gaps(&arrivals);
    assert!(gaps[0] < Duration::from_secs(3), "{:?}", gaps[0]);
    assert_waited(&gaps, Duration::from_secs(1), "Retry-After");
}

/// `secs` (Unix time) as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// Proves: `Retry-After` as an HTTP date 2 s ahead is used instead of the 20 s backoff, and waited
// for (at least 1 s: the date has whole seconds, and the client's clock may have moved on).
#[test]
fn retry_after_http_date() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let date = http_date(now + 2);
    let (server, arrivals) = sequence(vec![reply(429, &[("Retry-After", &date)])]);
    let client = retrying(&server, 2, SLOW_BACKOFF);
    let (result, _) = timed(|| stream(&client).0);
    assert_eq!(result.unwrap().content(), HEALTHY);
    assert_eq!(attempts(&server), 2);
    assert_waited(
        &gaps(&arrivals),
        Duration::from_secs(1),
        "the Retry-After date",
    );
}

// Proves: server delays over 60 s (seconds, ms, date) are ignored in favour of the backoff.
#[test]
fn retry_after_over_a_minute_is_ignored() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let next_year = http_date(now + 365 * 86_400);
    let (server, arrivals) = sequence(vec![
        reply(429, &[("Retry-After", "3600")]),
        reply(503, &[("retry-after-ms", "120000")]),
        reply(500, &[("Retry-After", &next_year)]),
    ]);
    let backoff = Duration::from_millis(40);
    let client = retrying(&server, 3, backoff);
    let (result, _) = timed(|| stream(&client).0);
    assert_eq!(result.unwrap().content(), HEALTHY);
    assert_eq!(attempts(&server), 4);
    // Ignored, not treated as "no wait": the backoff (less at most 25 % jitter) still applies.
    assert_waited(&gaps(&arrivals), backoff.mul_f64(0.75), "the backoff");
}

// Proves: every attempt failing: max_retries + 1 attempts, the last error reported.
#[test]
fn retries_exhausted_reports_the_last_error() {
    let (server, _) = sequence((0..3).map(|_| reply(503, &[])).collect());
    let client = retrying(&server, 2, Duration::from_millis(1));
    let err = expect_kind(stream(&client).0, ErrorKind::Api);
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.api().unwrap().message, "status 503");
    assert!(err.partial().is_none());
    assert_eq!(attempts(&server), 3);
    assert_usable(&client);
}

// Proves: `x-should-retry: false` stops the retry a 500 would get: 1 attempt.
#[test]
fn x_should_retry_false_is_not_retried() {
    let (server, _) = sequence(vec![reply(500, &[("x-should-retry", "false")])]);
    let client = retrying(&server, 3, Duration::from_millis(1));
    let err = expect_kind(stream(&client).0, ErrorKind::Api);
    assert_eq!(err.status(), Some(500));
    assert_eq!(attempts(&server), 1);
    assert_usable(&client);
}

// Proves: `x-should-retry: true` retries a 400 (a plain 400 is not retried).
#[test]
fn x_should_retry_true_retries_a_400() {
    let (server, _) = sequence(vec![reply(400, &[("x-should-retry", "true")])]);
    let client = retrying(&server, 3, Duration::from_millis(1));
    assert_eq!(stream(&client).0.unwrap().content(), HEALTHY);
    assert_eq!(attempts(&server), 2);

    let (server, _) = sequence(vec![reply(400, &[])]);
    let client = retrying(&server, 3, Duration::from_millis(1));
    expect_kind(stream(&client).0, ErrorKind::Api);
    assert_eq!(attempts(&server), 1, "a plain 400 is not retried");
}

// Proves: a 429 `insufficient_quota` is not retried: 1 attempt.
#[test]
fn insufficient_quota_is_not_retried() {
    let (server, _) = sequence(vec![Reply {
        status: 429,
        headers: vec![("retry-after-ms", "1".to_string())],
        body: r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#.to_string(),
    }]);
    let client = retrying(&server, 3, Duration::from_millis(1));
    let err = expect_kind(client.chat(&request()), ErrorKind::Api);
    assert_eq!(err.status(), Some(429));
    assert_eq!(
        err.api().unwrap().code.as_deref(),
        Some("insufficient_quota")
    );
    assert_eq!(attempts(&server), 1);
    assert_usable(&client);
}

// Proves: without a server delay the client backs off: every gap is at least the initial backoff
// less the 25 % jitter, and the doubling shows (the third gap at least 4 × initial less jitter).
#[test]
fn backoff_is_waited_for() {
    const INITIAL: Duration = Duration::from_millis(60);
    let (server, arrivals) = sequence((0..3).map(|_| reply(503, &[])).collect());
    let client = builder(&server.base_url())
        .max_retries(3)
        .retry_backoff(INITIAL, Duration::from_secs(10))
        .build()
        .unwrap();
    let (result, _) = timed(|| client.chat(&request()));
    assert_eq!(result.unwrap().content(), HEALTHY);
    assert_eq!(attempts(&server), 4);
    let gaps = gaps(&arrivals);
    assert_waited(&gaps, INITIAL.mul_f64(0.75), "the initial backoff");
    assert!(
        gaps[2] >= (INITIAL * 4).mul_f64(0.75),
        "third gap {:?}: the backoff does not double",
        gaps[2]
    );
}

// Proves: server-measured gaps between attempts never exceed the backoff cap (+ slack), nor fall
// below it less the jitter (initial = cap).
#[test]
fn backoff_never_exceeds_the_cap() {
    const CAP: Duration = Duration::from_millis(100);
    const SLACK: Duration = Duration::from_millis(500);
    let (server, arrivals) = sequence((0..6).map(|_| reply(500, &[])).collect());
    let client = builder(&server.base_url())
        .max_retries(5)
        .retry_backoff(Duration::from_millis(100), CAP)
        .build()
        .unwrap();
    expect_kind(client.chat(&request()), ErrorKind::Api);
    assert_eq!(attempts(&server), 6);
    let gaps = gaps(&arrivals);
    for (i, gap) in gaps.iter().enumerate() {
        assert!(*gap <= CAP + SLACK, "gap {i} was {gap:?}, cap {CAP:?}");
    }
    assert_waited(&gaps, CAP.mul_f64(0.75), "the backoff");
}

// ---------------------------------------------------------------------------------------
// Pooled connections
// ---------------------------------------------------------------------------------------

// Proves: a pooled connection the server closed is not reused (plain and stream), retries off.
#[test]
fn pooled_connection_closed_by_the_server() {
    let closed = Signal::new();
    let c = closed.clone();
    let server = TestServer::start(move |req, r| {
        healthy(req, r);
        r.close(); // FIN right after a complete response: an expired keep-alive
        c.send();
    });
    let client = builder(&server.base_url()).max_retries(0).build().unwrap();
    for round in 0..2 {
        assert_eq!(client.chat(&probe_request()).unwrap().content(), HEALTHY);
        closed.wait(); // the FIN is out before the next request
        let streamed = client
            .chat_stream(&probe_request(), |_| ControlFlow::Continue(()))
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(streamed.content(), HEALTHY);
        closed.wait();
    }
    assert_eq!(server.request_count(), 4);
    assert_eq!(server.connection_count(), 4);
}

// Proves: `close_after_response` racing the next request: it still succeeds (re-sent).
#[test]
fn pooled_connection_closed_after_response_races_the_next_request() {
    let server = TestServer::start(|req, r| {
        r.close_after_response();
        healthy(req, r);
    });
    let client = builder(&server.base_url()).max_retries(2).build().unwrap();
    for _ in 0..5 {
        assert_eq!(client.chat(&probe_request()).unwrap().content(), HEALTHY);
        let streamed = client.chat_stream(&probe_request(), |_| ControlFlow::Continue(()));
        assert_eq!(streamed.unwrap().content(), HEALTHY);
    }
    assert_eq!(server.request_count(), 10);
}

// ---------------------------------------------------------------------------------------
// The caller stops, panics, or walks away
// ---------------------------------------------------------------------------------------

/// Sends two deltas, then waits for the client to close the connection and signals it.
fn two_events_then_wait_for_close(client_closed: &Signal) -> TestServer {
    let closed = client_closed.clone();
    serve(move |_, r| {
        r.start_sse();
        r.chunk(&event(&delta("one ")));
        r.chunk(&event(&delta("two")));
        r.wait_for_client_close();
        closed.send();
    })
}

// Proves: Break from the callback returns what arrived; the server sees the close; client usable.
#[test]
fn callback_stops_early() {
    let closed = Signal::new();
    let server = two_events_then_wait_for_close(&closed);
    let client = client(&server);
    let mut calls = 0;
    let done = client
        .chat_stream(&request(), |_| {
            calls += 1;
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(calls, 1);
    assert_eq!(done.content(), "one ");
    closed.wait();
    assert_usable(&client);
}

// Proves: a callback panic reaches the caller unchanged; the server sees the close; client usable.
#[test]
fn callback_panics() {
    let closed = Signal::new();
    let server = two_events_then_wait_for_close(&closed);
    let client = client(&server);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        client.chat_stream(&request(), |chunk| {
            if chunk.content() == "two" {
                panic!("callback exploded on purpose");
            }
            ControlFlow::Continue(())
        })
    }))
    .expect_err("the panic must reach the caller");
    assert_eq!(
        caught.downcast_ref::<&str>(),
        Some(&"callback exploded on purpose")
    );
    closed.wait();
    assert_usable(&client);
}

// Proves: dropping a ChatStream halfway closes the connection; the next request works.
#[test]
fn dropping_a_chat_stream_halfway() {
    let closed = Signal::new();
    let server = two_events_then_wait_for_close(&closed);
    let client = client(&server);
    let mut chunks = client.chat_chunks(&request()).unwrap();
    let first = chunks.next().unwrap().unwrap();
    assert_eq!(first.content(), "one ");
    assert_eq!(chunks.completion().content(), "one ");
    drop(chunks);
    closed.wait();
    assert_usable(&client);
}
