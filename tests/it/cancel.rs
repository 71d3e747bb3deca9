//! Cancellation, first-event limits and the retry rules that keep a generation from running
//! twice, over real sockets against the loopback server of `tests/support/`.
//!
//! Every phase of a call is cancelled from another thread once the server (or the caller's
//! callback) reports that the call reached it; the server then reports the client closing the
//! connection. Latency is asserted only against a generous bound, so a loaded machine cannot
//! fail these tests; the figures themselves come from the ignored `cancel_latency_figures`:
//!
//! ```sh
//! cargo test --release --test it -- --ignored --nocapture cancel_latency_figures
//! ```

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::bodies::{completion_json, delta, event, request, stream_body};
use crate::support::{Request, Responder, Script, Signal, TestServer, WAIT_TIMEOUT};
use chatstream::{
    CancellationToken, ChatCompletion, ChatRequest, Client, ClientBuilder, Error, ErrorKind,
    Message, Timeout,
};
use serde_json::json;

/// What "at once" means in an assertion: far above the measured figures (see the module
/// docs), so that only a call that waited for something else (a byte, a timeout) fails.
const PROMPT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn builder(server: &TestServer) -> ClientBuilder {
    Client::builder()
        .base_url(server.base_url())
        .api_key("sk-test")
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(1))
}

fn is_stream(req: &Request) -> bool {
    req.json()["stream"] == json!(true)
}

/// Three content events, then nothing until the client closes the connection, which is
/// reported on `gone`; plain requests get a completion.
fn three_then_silence(gone: &Signal) -> TestServer {
    let gone = gone.clone();
    TestServer::start(move |req, r| {
        if !is_stream(req) {
            return r.json(200, &completion_json("fine"));
        }
        r.start_sse();
        for piece in ["one ", "two ", "three"] {
            r.chunk(&event(&delta(piece)));
        }
        r.wait_for_client_close();
        gone.send();
    })
}

/// Runs `call` on its own thread with a client watching a new token, cancels the token once
/// `reached` returns, and gives back the call's error and the time from `cancel()` to the
/// call's return.
fn cancel_when<T: Send + 'static>(
    client: &Client,
    reached: impl FnOnce(),
    call: impl FnOnce(&Client) -> Result<T, Error> + Send + 'static,
) -> (Error, Duration) {
    let token = CancellationToken::new();
    let watched = client.with_cancellation(&token);
    let worker = thread::spawn(move || {
        let result = call(&watched);
        (result.err(), Instant::now())
    });
    reached();
    let cancelled_at = Instant::now();
    token.cancel();
    let (err, returned_at) = worker.join().expect("the call does not panic");
    let err = err.expect("a cancelled call fails");
    (err, returned_at.saturating_duration_since(cancelled_at))
}

#[track_caller]
fn assert_cancelled(err: &Error, latency: Duration) {
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
    assert_eq!(err.to_string(), "cancelled");
    assert!(latency < PROMPT, "returned {latency:?} after cancel()");
}

fn stream_all(client: &Client) -> Result<ChatCompletion, Error> {
    stream_all_of(client, &request())
}

fn stream_all_of(client: &Client, request: &ChatRequest) -> Result<ChatCompletion, Error> {
    client.chat_stream(request, |_| ControlFlow::Continue(()))
}

/// The next call on `client` works, on a new connection (the cancelled one was not pooled).
#[track_caller]
fn assert_usable_on_a_new_connection(client: &Client, server: &TestServer) {
    let before = server.requests();
    let completion = client.chat(&request()).expect("the client is still usable");
    assert_eq!(completion.content(), "fine");
    let after = server.requests();
    let last = after.last().expect("the call was sent");
    assert!(
        before.iter().all(|r| r.connection != last.connection),
        "a cancelled connection went back to the pool"
    );
}

// ---------------------------------------------------------------------------------------
// The acceptance program
// ---------------------------------------------------------------------------------------

// The program that defines the feature, as written: Stop pressed 300 ms into a stream whose
// server went silent after three events. The server sends those three at once, so they have
// arrived long before the stopper fires.
#[test]
fn acceptance_program() -> Result<(), Box<dyn std::error::Error>> {
    let gone = Signal::new();
    let server = three_then_silence(&gone);
    let url = server.base_url();

    use chatstream::{CancellationToken, ChatRequest, Client, ErrorKind, Message};
    use std::{
        ops::ControlFlow,
        thread,
        time::{Duration, Instant},
    };

    let client = Client::builder().base_url(url).api_key("sk-test").build()?;
    let token = CancellationToken::new();
    let stopper = {
        let t = token.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            t.cancel();
            Instant::now()
        })
    };
    let request = ChatRequest::new("m", vec![Message::user("hi")]);
    let err = client
        .with_cancellation(&token)
        .chat_stream(&request, |_| ControlFlow::Continue(()))
        .unwrap_err(); // the server went silent after 3 events
    let cancelled_at = stopper.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_millis(300));
    assert!(!err.partial().unwrap().content().is_empty()); // the 3 events' content is kept
    assert!(client.chat(&request).is_ok()); // same client, next call fine

    assert_eq!(err.partial().unwrap().content(), "one two three");
    gone.wait();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Every phase
// ---------------------------------------------------------------------------------------

// Proves: a token cancelled before the call sends nothing: no connection, no request, for
// every kind of call.
#[test]
fn a_cancelled_token_sends_nothing() {
    let server = TestServer::start(|_, r| r.json(200, "{}"));
    let token = CancellationToken::new();
    token.cancel();
    let client = builder(&server).build().unwrap();
    let watched = client.with_cancellation(&token);
    let body = json!({"model": "m", "stream": true});
    let errors = [
        watched.chat(&request()).err(),
        stream_all(&watched).err(),
        watched.chat_chunks(&request()).err(),
        watched.models().err(),
        watched.post_json("embeddings", &body).err(),
        watched
            .post_stream("responses", &body, |_| ControlFlow::Continue(()))
            .err(),
    ];
    for err in errors {
        let err = err.expect("a cancelled call fails");
        assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
        assert!(err.partial().is_none());
    }
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.request_count(), 0);
}

// Proves: waiting for the response headers (of a stream and of a plain call) is cut short,
// and the server sees the connection close.
#[test]
fn cancel_while_waiting_for_headers() {
    let arrived = Signal::new();
    let gone = Signal::new();
    let server = {
        let (arrived, gone) = (arrived.clone(), gone.clone());
        TestServer::start(move |req, r| {
            if req.json()["messages"][0]["content"] == "probe" {
                return r.json(200, &completion_json("fine"));
            }
            arrived.send();
            r.wait_for_client_close();
            r.close();
            gone.send();
        })
    };
    let client = builder(&server).build().unwrap();
    let (err, latency) = cancel_when(&client, || arrived.wait(), stream_all);
    assert_cancelled(&err, latency);
    assert!(err.partial().is_none(), "nothing had arrived");
    gone.wait();
    let (err, latency) = cancel_when(&client, || arrived.wait(), |c| c.chat(&request()));
    assert_cancelled(&err, latency);
    gone.wait();
    assert_eq!(server.request_count(), 2, "a cancelled call is not retried");
    let probe = ChatRequest::new("m", vec![Message::user("probe")]);
    assert_eq!(client.chat(&probe).unwrap().content(), "fine");
}

// Proves: a stream that went silent after three events is cut short; the error carries
// the three events, the server sees the client leave, the client stays usable on a new
// connection.
#[test]
fn cancel_a_silent_stream() {
    let gone = Signal::new();
    let server = three_then_silence(&gone);
    let client = builder(&server).build().unwrap();
    let (seen_tx, seen) = mpsc::channel();
    let (err, latency) = cancel_when(
        &client,
        || {
            for _ in 0..3 {
                seen.recv_timeout(WAIT_TIMEOUT).expect("three chunks");
            }
        },
        move |c| {
            c.chat_stream(&request(), |chunk| {
                let _ = seen_tx.send(chunk.content().to_string());
                ControlFlow::Continue(())
            })
        },
    );
    assert_cancelled(&err, latency);
    assert_eq!(err.partial().unwrap().content(), "one two three");
    gone.wait();
    assert_usable_on_a_new_connection(&client, &server);
}

// Proves: the raw event loop of `post_stream` is cut short the same way.
#[test]
fn cancel_a_silent_raw_stream() {
    let gone = Signal::new();
    let server = three_then_silence(&gone);
    let client = builder(&server).build().unwrap();
    let (seen_tx, seen) = mpsc::channel();
    let (err, latency) = cancel_when(
        &client,
        || {
            for _ in 0..3 {
                seen.recv_timeout(WAIT_TIMEOUT).expect("three events");
            }
        },
        move |c| {
            let body = json!({"model": "m", "stream": true, "messages": []});
            c.post_stream("chat/completions", &body, |event| {
                let _ = seen_tx.send(event.data().to_string());
                ControlFlow::Continue(())
            })
        },
    );
    assert_cancelled(&err, latency);
    gone.wait();
    assert_usable_on_a_new_connection(&client, &server);
}

// Proves: a stream that never stops sending is cut short too, and the server's writes fail.
#[test]
fn cancel_a_busy_stream() {
    let gone = Signal::new();
    let server = {
        let gone = gone.clone();
        TestServer::start(move |req, r| {
            if !is_stream(req) {
                return r.json(200, &completion_json("fine"));
            }
            r.start_sse();
            // Bounded, so a client that never cancels fails the test instead of hanging it.
            for _ in 0..5_000_000 {
                r.chunk(&event(&delta("x")));
                if r.client_gone().is_some() {
                    gone.send();
                    return;
                }
            }
            r.end_chunked();
        })
    };
    let client = builder(&server).build().unwrap();
    let (seen_tx, seen) = mpsc::channel();
    let (err, latency) = cancel_when(
        &client,
        || seen.recv_timeout(WAIT_TIMEOUT).expect("a first chunk"),
        move |c| {
            let mut first = Some(seen_tx);
            c.chat_stream(&request(), move |_| {
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
                ControlFlow::Continue(())
            })
        },
    );
    assert_cancelled(&err, latency);
    let partial = err.partial().unwrap().content();
    assert!(!partial.is_empty() && partial.bytes().all(|b| b == b'x'));
    gone.wait();
    assert_usable_on_a_new_connection(&client, &server);
}

// Proves: the callback's own thread may cancel: the stream stops before the next chunk is
// handed out, and the error carries exactly what the callback saw.
#[test]
fn cancel_from_inside_the_callback() {
    let gone = Signal::new();
    let server = {
        let gone = gone.clone();
        TestServer::start(move |_, r| {
            r.start_sse();
            for piece in ["a", "b", "c", "d"] {
                r.chunk(&event(&delta(piece)));
            }
            r.wait_for_client_close();
            gone.send();
        })
    };
    let client = builder(&server).build().unwrap();
    let token = CancellationToken::new();
    let mut seen = String::new();
    let result = client
        .with_cancellation(&token)
        .chat_stream(&request(), |chunk| {
            seen.push_str(chunk.content());
            if seen.len() == 2 {
                token.cancel();
            }
            ControlFlow::Continue(())
        });
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
    assert_eq!(seen, "ab");
    assert_eq!(err.partial().unwrap().content(), "ab");
    gone.wait();
}

// Proves: a `ChatStream` iterator blocked in `next()` is woken by a cancel from another
// thread, yields the error once (with the partial completion), then ends.
#[test]
fn cancel_while_the_iterator_is_blocked() {
    let gone = Signal::new();
    let server = three_then_silence(&gone);
    let client = builder(&server).build().unwrap();
    let token = CancellationToken::new();
    let mut stream = client
        .with_cancellation(&token)
        .chat_chunks(&request())
        .unwrap();
    for _ in 0..3 {
        stream.next().expect("a chunk").expect("a good chunk");
    }
    let stopper = {
        let token = token.clone();
        thread::spawn(move || {
            let at = Instant::now();
            token.cancel();
            at
        })
    };
    // Blocks until the cancel (the server sends nothing more).
    let err = stream.next().expect("an item").expect_err("cancelled");
    let latency = stopper.join().unwrap().elapsed();
    assert_cancelled(&err, latency);
    assert_eq!(err.partial().unwrap().content(), "one two three");
    assert!(stream.next().is_none(), "the iterator ends after its error");
    assert_eq!(stream.completion().content(), "one two three");
    gone.wait();
}

// Proves: a plain body that stalls halfway is cut short; a body without a length, whose end
// a shut-down socket would fake, is reported as cancelled, not as a short document.
#[test]
fn cancel_while_reading_a_plain_body() {
    for framing in ["Content-Length: 500", "Connection: close"] {
        let sent = Signal::new();
        let gone = Signal::new();
        let server = {
            let (sent, gone) = (sent.clone(), gone.clone());
            TestServer::start(move |_, r| {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
                );
                r.raw(head.as_bytes());
                r.raw(b"{\"id\": \"c1\", \"choices\": [");
                sent.send();
                r.wait_for_client_close();
                gone.send();
            })
        };
        let client = builder(&server).build().unwrap();
        let (err, latency) = cancel_when(&client, || sent.wait(), |c| c.chat(&request()));
        assert_cancelled(&err, latency);
        gone.wait();
    }
}

// Proves: the sleep before a retry wakes on cancel (the server asked for 50 s), and no
// retry is sent.
#[test]
fn cancel_during_the_backoff_sleep() {
    let server = TestServer::start(|_, r| {
        r.json_with_headers(
            429,
            &[("Retry-After", "50")],
            r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
    });
    let waiting = Signal::new();
    let client = {
        let waiting = waiting.clone();
        builder(&server)
            .on_retry(move |_, delay, _| {
                assert_eq!(delay, Duration::from_secs(50));
                waiting.send();
            })
            .build()
            .unwrap()
    };
    let (err, latency) = cancel_when(&client, || waiting.wait(), stream_all);
    assert_cancelled(&err, latency);
    assert_eq!(server.request_count(), 1);
}

// Proves: the first chunk, which `chat_chunks` reads before it returns (to retry a failed
// first event), is not handed out once the token is cancelled, and the connection closes.
#[test]
fn a_chunk_read_ahead_is_not_handed_out_after_cancel() {
    let gone = Signal::new();
    let server = {
        let gone = gone.clone();
        TestServer::start(move |_, r| {
            r.start_sse();
            r.chunk(&event(&delta("first")));
            r.wait_for_client_close();
            gone.send();
        })
    };
    let token = CancellationToken::new();
    let client = builder(&server).build().unwrap();
    let watched = client.with_cancellation(&token);
    let mut stream = watched.chat_chunks(&request()).expect("the stream starts");
    token.cancel();
    let err = stream.next().expect("an item").expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(stream.next().is_none());
    gone.wait();
}

// Proves: a client watching a token that is never cancelled still waits out the backoff and
// retries, for a failed attempt and for a failed first event, and returns the second answer.
#[test]
fn an_uncancelled_token_lets_retries_through() {
    let server = TestServer::scripted(
        Script::new()
            .json(503, r#"{"error":{"message":"busy","type":"server_error"}}"#)
            .json(200, &completion_json("after the 503"))
            .sse(&event(RATE_LIMITED))
            .sse(&stream_body(&["after ", "the event"])),
    );
    let token = CancellationToken::new();
    let client = builder(&server).build().unwrap();
    let watched = client.with_cancellation(&token);
    let plain = watched.chat(&request()).expect("the retry succeeds");
    assert_eq!(plain.content(), "after the 503");
    let streamed = watched
        .chat_stream(&request(), |_| ControlFlow::Continue(()))
        .expect("the retry succeeds");
    assert_eq!(streamed.content(), "after the event");
    assert_eq!(server.request_count(), 4);
    assert!(!token.is_cancelled());
}

// Proves: a TLS handshake that never completes is cut short (the server accepted the TCP
// connection and says nothing), and the server sees the socket close.
#[cfg(feature = "tls")]
#[test]
fn cancel_during_the_tls_handshake() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted_tx, accepted) = mpsc::channel();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(WAIT_TIMEOUT)).unwrap();
        accepted_tx.send(()).unwrap();
        // Read the ClientHello and whatever follows, until the client closes.
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut socket, &mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock,
            }
        }
    });
    let client = Client::builder()
        .base_url(format!("https://127.0.0.1:{port}/v1"))
        .api_key("sk-test")
        .build()
        .unwrap();
    let (err, latency) = cancel_when(
        &client,
        || accepted.recv_timeout(WAIT_TIMEOUT).unwrap(),
        |c| c.chat(&request()),
    );
    assert_cancelled(&err, latency);
    assert!(server.join().unwrap(), "the client closed the connection");
}

/// A loopback listener whose accept queue is full, so a connect to it hangs (Linux drops
/// the SYN), and the fillers that fill it; the connections wait as long as both live.
#[cfg(target_os = "linux")]
fn unanswered_connects() -> (socket2::Socket, u16, Vec<std::net::TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    // A connect that times out proves the next SYN is dropped.
    let full = (0..16).any(|_| {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => {
                fillers.push(s);
                false
            }
            Err(_) => true,
        }
    });
    assert!(
        full,
        "could not fill the accept queue of a backlog-0 listener"
    );
    (socket, addr.port(), fillers)
}

/// The local ports of this machine's IPv4 sockets in SYN_SENT towards `port`, from
/// /proc/net/tcp: a connect in progress.
#[cfg(target_os = "linux")]
fn connecting_to(port: u16) -> Vec<u16> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let hex_port = |address: &str| {
        let (_, p) = address.split_once(':')?;
        u16::from_str_radix(p, 16).ok()
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            (*state == "02" && hex_port(remote) == Some(port)).then(|| hex_port(local))?
        })
        .collect()
}

/// Waits (bounded) until a new connect towards `port` is in progress: one whose local
/// port is not in `before`.
#[cfg(target_os = "linux")]
fn wait_for_a_new_connect(port: u16, before: &[u16]) {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    while connecting_to(port).iter().all(|p| before.contains(p)) {
        assert!(
            Instant::now() < deadline,
            "the client never started connecting"
        );
        // Polling a kernel table, which offers nothing to wait on; the pause only keeps
        // the poll from taking the CPU the client needs.
        thread::sleep(Duration::from_millis(1));
    }
}

// Proves: a TCP connect that gets no answer (its SYN is dropped) is cut short too, though
// the connect timeout is long; no request is ever sent.
#[cfg(target_os = "linux")]
#[test]
fn cancel_during_the_tcp_connect() {
    let (_listener, port, _fillers) = unanswered_connects();
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let before = connecting_to(port);
    let (err, latency) = cancel_when(
        &client,
        || wait_for_a_new_connect(port, &before),
        |c| c.chat(&request()),
    );
    assert_cancelled(&err, latency);
}

// ---------------------------------------------------------------------------------------
// Timeouts for slow first tokens, and no re-sent generations
// ---------------------------------------------------------------------------------------

// Proves: the first-event limit fires for a stream whose headers came but no event, though
// the idle limit is long; and the idle limit still applies after the first event.
#[test]
fn first_event_and_idle_limits_are_separate() {
    let server = TestServer::start(|req, r| {
        r.start_sse();
        if req.index == 1 {
            r.chunk(&event(&delta("early")));
        }
        r.wait_for_client_close();
    });
    let short = Duration::from_millis(150);
    let client = builder(&server)
        .max_retries(0)
        .stream_first_event_timeout(short)
        .stream_idle_timeout(WAIT_TIMEOUT * 3)
        .build()
        .unwrap();
    let err = stream_all(&client).unwrap_err();
    assert_eq!(err.timeout(), Some(Timeout::StreamFirstEvent), "{err:?}");
    assert_eq!(err.partial().unwrap().content(), "");
    let client = builder(&server)
        .max_retries(0)
        .stream_first_event_timeout(WAIT_TIMEOUT * 3)
        .stream_idle_timeout(short)
        .build()
        .unwrap();
    let err = stream_all(&client).unwrap_err();
    assert_eq!(err.timeout(), Some(Timeout::StreamIdle), "{err:?}");
    assert_eq!(err.partial().unwrap().content(), "early");
}

/// A server that never answers (until the client leaves), and the number of copies of the
/// request it received after one call with `configure`'s client.
fn copies_of_an_unanswered_request(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    call: impl FnOnce(&Client) -> Option<Error>,
) -> (usize, Error) {
    let server = TestServer::start(|_, r| {
        r.wait_for_client_close();
        r.close();
    });
    let client = configure(builder(&server).max_retries(2)).build().unwrap();
    let err = call(&client).expect("the call times out");
    (server.request_count(), err)
}

// Proves: a request sent whole whose response headers did not come in time is not sent
// again by default (plain, or a stream bounded by its first-event limit); the opt-in
// restores the retries.
#[test]
fn a_response_timeout_is_not_retried_unless_asked() {
    let short = Duration::from_millis(100);
    let plain = |c: &Client| c.chat(&request()).err();
    let streamed = |c: &Client| stream_all(c).err();
    for (retry, copies) in [(false, 1), (true, 3)] {
        let (sent, err) = copies_of_an_unanswered_request(
            |b| b.response_timeout(short).retry_response_timeout(retry),
            plain,
        );
        assert_eq!(err.timeout(), Some(Timeout::ResponseHeaders), "{err:?}");
        assert_eq!(sent, copies, "plain call, retry_response_timeout({retry})");
        let (sent, err) = copies_of_an_unanswered_request(
            |b| {
                b.stream_first_event_timeout(short)
                    .retry_response_timeout(retry)
            },
            streamed,
        );
        assert_eq!(err.timeout(), Some(Timeout::ResponseHeaders), "{err:?}");
        assert_eq!(sent, copies, "stream, retry_response_timeout({retry})");
    }
}

// ---------------------------------------------------------------------------------------
// Streams whose first event is an error
// ---------------------------------------------------------------------------------------

const RATE_LIMITED: &str =
    r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
const NO_QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;

/// Hook calls as (retry number, delay, HTTP status, error arrived in a stream).
type Calls = Arc<Mutex<Vec<(u32, Duration, u16, bool)>>>;

fn recording(b: ClientBuilder) -> (ClientBuilder, Calls) {
    let calls = Calls::default();
    let record = calls.clone();
    let b = b.on_retry(move |attempt, delay, err| {
        let api = err.api().expect("an API error");
        record
            .lock()
            .unwrap()
            .push((attempt, delay, api.status, api.in_stream));
    });
    (b, calls)
}

// Proves: a stream whose first event is a retryable error (rate limit, overload in an
// `event: error`, server error, an HTTP-like numeric code) is sent again, the callback sees
// only the successful attempt, and the hook is called once.
#[test]
fn a_stream_failing_at_its_first_event_is_retried() {
    let first_events = [
        event(RATE_LIMITED),
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".to_vec(),
        event(r#"{"error":{"message":"The server had an error","type":"server_error"}}"#),
        event(r#"{"error":{"code":503,"message":"Loading model"}}"#),
    ];
    for first in first_events {
        let server = TestServer::scripted(
            Script::new()
                .sse(&first)
                .sse(&stream_body(&["Hello", " world"])),
        );
        let (b, calls) = recording(builder(&server));
        let client = b.build().unwrap();
        let mut seen = String::new();
        let completion = client
            .chat_stream(&request(), |chunk| {
                seen.push_str(chunk.content());
                ControlFlow::Continue(())
            })
            .unwrap_or_else(|e| panic!("{e:?} after {}", String::from_utf8_lossy(&first)));
        assert_eq!(seen, "Hello world");
        assert_eq!(completion.content(), "Hello world");
        assert_eq!(server.request_count(), 2);
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].0, calls[0].2, calls[0].3), (1, 200, true));
    }
}

// Proves: the iterator, too, yields only the successful attempt's chunks.
#[test]
fn chat_chunks_retries_a_failed_first_event() {
    let server = TestServer::scripted(
        Script::new()
            .sse(&event(RATE_LIMITED))
            .sse(&stream_body(&["fine"])),
    );
    let client = builder(&server).build().unwrap();
    let chunks: Vec<String> = client
        .chat_chunks(&request())
        .unwrap()
        .map(|c| c.unwrap().content().to_string())
        .collect();
    assert_eq!(chunks.concat(), "fine");
    assert_eq!(server.request_count(), 2);
}

// Proves: not retried: `insufficient_quota`, an error after a chunk reached the caller, an
// error that is not about load, and a rate limit once the retries are spent (the last
// error is returned as it came, in-stream).
#[test]
fn first_event_errors_that_are_not_retried() {
    let after_a_chunk = [event(&delta("partial")), event(RATE_LIMITED)].concat();
    let invalid = event(r#"{"error":{"message":"bad","type":"invalid_request_error"}}"#);
    for (body, partial) in [
        (event(NO_QUOTA), ""),
        (after_a_chunk, "partial"),
        (invalid, ""),
    ] {
        let server = TestServer::scripted(Script::new().sse(&body));
        let (b, calls) = recording(builder(&server));
        let err = stream_all(&b.build().unwrap()).unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{err:?}"));
        assert!(api.in_stream);
        assert_eq!(err.partial().unwrap().content(), partial);
        assert_eq!(server.request_count(), 1);
        assert!(calls.lock().unwrap().is_empty());
    }
    let server = TestServer::scripted(Script::new().sse(&event(RATE_LIMITED)).repeat_last());
    let (b, calls) = recording(builder(&server).max_retries(1));
    let err = stream_all(&b.build().unwrap()).unwrap_err();
    assert_eq!(
        err.api().unwrap().code.as_deref(),
        Some("rate_limit_exceeded")
    );
    assert_eq!(server.request_count(), 2);
    assert_eq!(calls.lock().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------
// The retry hook
// ---------------------------------------------------------------------------------------

// Proves: the hook sees each retry before its wait: its number, the delay (the server's,
// else the backoff) and the error.
#[test]
fn on_retry_sees_every_retry() {
    let server = TestServer::scripted(
        Script::new()
            .json_with_headers(429, &[("retry-after-ms", "7")], RATE_LIMITED)
            .json(503, r#"{"error":{"message":"busy"}}"#)
            .json(200, &completion_json("done")),
    );
    let (b, calls) = recording(builder(&server));
    let completion = b.build().unwrap().chat(&request()).unwrap();
    assert_eq!(completion.content(), "done");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], (1, Duration::from_millis(7), 429, false));
    assert_eq!((calls[1].0, calls[1].2), (2, 503));
    assert!(
        calls[1].1 <= Duration::from_millis(1),
        "the backoff: {calls:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------

/// Cancels `runs` calls in one phase and prints the latency from `cancel()` to the call's
/// return: minimum, median, maximum.
fn measure(phase: &str, runs: usize, mut one: impl FnMut() -> (Error, Duration)) -> Vec<Duration> {
    let mut figures: Vec<Duration> = (0..runs)
        .map(|_| {
            let (err, latency) = one();
            assert_cancelled(&err, latency);
            latency
        })
        .collect();
    figures.sort();
    println!(
        "{phase:<28} min {:>9.3?}  median {:>9.3?}  max {:>9.3?}  ({runs} runs)",
        figures[0],
        figures[runs / 2],
        figures[runs - 1]
    );
    figures
}

// The measured latency from `cancel()` to the call's return, per phase (ignored: read the
// figures it prints; see the module docs).
#[test]
#[ignore]
fn cancel_latency_figures() {
    const RUNS: usize = 50;
    let arrived = Signal::new();
    let server = {
        let arrived = arrived.clone();
        TestServer::start(move |req, r: &mut Responder| {
            match req.json()["messages"][0]["content"].as_str() {
                Some("headers") => {
                    arrived.send();
                    r.wait_for_client_close();
                    return r.close();
                }
                Some("silent") => {
                    r.start_sse();
                    r.chunk(&event(&delta("x")));
                    arrived.send();
                }
                Some("busy") => {
                    r.start_sse();
                    for _ in 0..5_000_000 {
                        r.chunk(&event(&delta("x")));
                        if r.client_gone().is_some() {
                            return;
                        }
                    }
                    return r.end_chunked();
                }
                Some("body") => {
                    r.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"id\":");
                    arrived.send();
                }
                _ => {
                    r.json_with_headers(429, &[("Retry-After", "50")], RATE_LIMITED);
                    return;
                }
            }
            r.wait_for_client_close();
        })
    };
    let asking = |what: &'static str| ChatRequest::new("m", vec![Message::user(what)]);
    let backoff = Signal::new();
    let client = {
        let backoff = backoff.clone();
        builder(&server)
            .on_retry(move |_, _, _| backoff.send())
            .build()
            .unwrap()
    };
    let mut all = Vec::new();
    all.extend(measure("waiting for headers", RUNS, || {
        cancel_when(
            &client,
            || arrived.wait(),
            move |c| stream_all_of(c, &asking("headers")),
        )
    }));
    all.extend(measure("silent stream", RUNS, || {
        cancel_when(
            &client,
            || arrived.wait(),
            move |c| stream_all_of(c, &asking("silent")),
        )
    }));
    all.extend(measure("busy stream", RUNS, || {
        let (tx, rx) = mpsc::channel();
        cancel_when(
            &client,
            move || rx.recv_timeout(WAIT_TIMEOUT).unwrap(),
            move |c| {
                c.chat_stream(&asking("busy"), |_| {
                    let _ = tx.send(());
                    ControlFlow::Continue(())
                })
            },
        )
    }));
    all.extend(measure("plain body", RUNS, || {
        cancel_when(&client, || arrived.wait(), move |c| c.chat(&asking("body")))
    }));
    all.extend(measure("backoff sleep", RUNS, || {
        cancel_when(
            &client,
            || backoff.wait(),
            move |c| stream_all_of(c, &asking("rate limited")),
        )
    }));
    #[cfg(feature = "tls")]
    all.extend(measure("TLS handshake", RUNS, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = Client::builder()
            .base_url(format!("https://127.0.0.1:{port}/v1"))
            .api_key("sk-test")
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let holder = thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            socket.set_read_timeout(Some(WAIT_TIMEOUT)).unwrap();
            tx.send(()).unwrap();
            let _ = std::io::copy(&mut socket, &mut std::io::sink());
        });
        let measured = cancel_when(
            &tls,
            move || rx.recv_timeout(WAIT_TIMEOUT).unwrap(),
            |c| c.chat(&request()),
        );
        holder.join().unwrap();
        measured
    }));
    #[cfg(target_os = "linux")]
    {
        let (_listener, port, _fillers) = unanswered_connects();
        let connecting = Client::builder()
            .base_url(format!("http://127.0.0.1:{port}/v1"))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        all.extend(measure("TCP connect", RUNS, || {
            let before = connecting_to(port);
            cancel_when(
                &connecting,
                move || wait_for_a_new_connect(port, &before),
                |c| c.chat(&request()),
            )
        }));
    }
    all.sort();
    println!("all phases: max {:?}", all[all.len() - 1]);
    assert!(all[all.len() - 1] < Duration::from_millis(300));
}

// ---------------------------------------------------------------------------------------
// Errors carry the response
// ---------------------------------------------------------------------------------------

// Proves: an API error exposes its response's status and headers (rate limits, request id,
// retry-after), whether it came as an HTTP status or inside a stream; other errors have none.
#[test]
fn api_errors_carry_their_response() {
    let server = TestServer::start(|req, r| {
        let headers = [
            ("x-request-id", "req_42"),
            ("x-ratelimit-remaining-requests", "0"),
            ("retry-after", "20"),
        ];
        if is_stream(req) {
            r.start_chunked(
                200,
                &[&[("Content-Type", "text/event-stream")], &headers[..]].concat(),
            );
            r.chunk(&event(NO_QUOTA));
            r.end_chunked();
        } else {
            r.json_with_headers(429, &headers, NO_QUOTA);
        }
    });
    let client = builder(&server).build().unwrap();
    for (err, status) in [
        (client.chat(&request()).unwrap_err(), 429),
        (stream_all(&client).unwrap_err(), 200),
    ] {
        let info = err.response_info().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(info.status(), status);
        assert_eq!(info.request_id(), Some("req_42"));
        assert_eq!(info.header("Retry-After"), Some("20"));
        let limits: Vec<_> = info.rate_limits().collect();
        assert_eq!(limits, [("x-ratelimit-remaining-requests", "0")]);
    }
    let token = CancellationToken::new();
    token.cancel();
    let err = client
        .with_cancellation(&token)
        .chat(&request())
        .unwrap_err();
    assert!(err.response_info().is_none());
}
