//! Load and memory, against the loopback test server (`tests/support`):
//!
//! - many concurrent streams from as many threads sharing one `Client`, every stream's chunks
//!   and accumulated completion checked exactly;
//! - one long stream (generated on the fly by the server, never held in one buffer) read with
//!   flat memory: the growth of the process's resident set stays under a fixed bound;
//! - no file descriptor leaks across many sequential requests of every kind (streams, plain
//!   calls, API errors, streams dropped halfway, truncated streams).
//!
//! The default run uses small numbers. The full sizes (200 streams × 1,000 events, 1 GiB,
//! 10,000 requests) are `#[ignore]`d; run them in release mode and read the figures they print:
//!
//! ```sh
//! cargo test --release --test load -- --ignored --nocapture --test-threads=1
//! ```
//!
//! `CHATSTREAM_LOAD_DIVISOR=N` divides those full sizes by `N` (events per stream, stream
//! bytes, requests; the 200 threads stay), so CI runs the ignored tests in release mode at a
//! tenth of their size; the figures quoted in the README come from the full run.
//!
//! Every test here measures the whole process (RSS, open descriptors), and the test server
//! runs in the same process, so the tests take a lock and run one at a time.

// The client is what these tests exercise; the core alone has its own tests.
#![cfg(feature = "client")]

mod support;

use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use chatstream::{ChatRequest, Client, ErrorKind, Message};
use support::{Request, Responder, Signal, TestServer};

/// The tests measure process-wide figures: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// Process figures from /proc
// ---------------------------------------------------------------------------------------

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

fn hwm_kib() -> u64 {
    status_kib("VmHWM")
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0); false where that is not allowed.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A full load size, divided by `CHATSTREAM_LOAD_DIVISOR` when that is set (a reduced run).
fn full_size(full: u64) -> u64 {
    let divisor = match std::env::var("CHATSTREAM_LOAD_DIVISOR") {
        Ok(text) => text
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                panic!("CHATSTREAM_LOAD_DIVISOR={text:?} is not a positive integer")
            }),
        Err(_) => 1,
    };
    full / divisor
}

// ---------------------------------------------------------------------------------------
// Streams the server writes
// ---------------------------------------------------------------------------------------

/// One SSE event carrying a content delta (`content` must need no JSON escaping).
fn content_event(id: &str, content: &str, padding: &str) -> String {
    format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1,\
         \"model\":\"load\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\
         \"finish_reason\":null}}],\"obfuscation\":\"{padding}\"}}\n\n"
    )
}

/// The last events of every stream: the finish reason, the usage, `[DONE]`.
fn closing_events(id: &str, completion_tokens: u64) -> String {
    format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1,\
         \"model\":\"load\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n\
         data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1,\
         \"model\":\"load\",\"choices\":[],\"usage\":{{\"prompt_tokens\":1,\
         \"completion_tokens\":{completion_tokens},\"total_tokens\":{}}}}}\n\n\
         data: [DONE]\n\n",
        completion_tokens + 1
    )
}

/// The content piece of event `event` of stream `stream`.
fn piece(stream: u64, event: u64) -> String {
    format!("{stream}.{event} ")
}

/// A request that tells the server which stream to send and how long it is.
fn load_request(stream: u64, events: u64) -> ChatRequest {
    ChatRequest::new("load", vec![Message::user("go")])
        .extra("load_stream", stream)
        .extra("load_events", events)
}

fn field(request: &Request, name: &str) -> u64 {
    request.json()[name]
        .as_u64()
        .unwrap_or_else(|| panic!("request without {name}"))
}

// ---------------------------------------------------------------------------------------
// Concurrent streams
// ---------------------------------------------------------------------------------------

/// `threads` threads share one client; each opens a stream of `events` events. The server
/// holds every stream after its headers until all `threads` requests have arrived, so all
/// streams are open at once; then each thread checks its chunks and completion exactly.
fn concurrent_streams(threads: u64, events: u64) {
    let _serial = serial();
    let fds_before = open_fds();
    reset_peak_rss();
    let rss_before = rss_kib();
    let go = Signal::new();
    let server_go = go.clone();
    let server = TestServer::start(move |request, r| {
        let stream = field(request, "load_stream");
        let events = field(request, "load_events");
        let id = format!("chatcmpl-load-{stream}");
        r.start_sse();
        if !r.wait(&server_go) {
            return;
        }
        r.chunk(
            format!("data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"load\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n")
                .as_bytes(),
        );
        for event in 0..events {
            r.chunk(content_event(&id, &piece(stream, event), "").as_bytes());
            if r.client_gone().is_some() {
                return;
            }
        }
        r.chunk(closing_events(&id, events).as_bytes());
        r.end_chunked();
    });
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();

    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|stream| {
            let client = client.clone();
            thread::Builder::new()
                .name(format!("load-{stream}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut stream_of_chunks = client
                        .chat_chunks(&load_request(stream, events))
                        .expect("the stream starts");
                    let mut expected = String::new();
                    let mut seen = 0;
                    for chunk in &mut stream_of_chunks {
                        let chunk = chunk.expect("no stream error");
                        if chunk.choices.is_empty() {
                            continue; // the usage chunk
                        }
                        let content = chunk.content();
                        if !content.is_empty() {
                            let want = piece(stream, seen);
                            assert_eq!(content, want, "stream {stream}, event {seen}");
                            expected.push_str(&want);
                            seen += 1;
                        }
                    }
                    assert_eq!(seen, events, "stream {stream}: events");
                    let completion = stream_of_chunks.into_completion();
                    assert_eq!(completion.id, format!("chatcmpl-load-{stream}"));
                    assert_eq!(completion.content(), expected, "stream {stream}: content");
                    assert_eq!(completion.finish_reason(), Some("stop"));
                    let usage = completion.usage.expect("usage");
                    assert_eq!(usage.completion_tokens, Some(events));
                    assert_eq!(usage.total_tokens, Some(events + 1));
                })
                .expect("spawn a load thread")
        })
        .collect();
    let all = usize::try_from(threads).unwrap();
    server.wait_for_requests(all);
    let fds_open = open_fds();
    for _ in 0..threads {
        go.send();
    }
    for handle in handles {
        handle.join().expect("a stream failed");
    }
    let elapsed = started.elapsed();
    let connections = server.connection_count();
    let hwm = hwm_kib();
    drop(client);
    drop(server);
    let fds_after = open_fds();
    let total = threads * events;
    println!(
        "concurrent: {threads} threads x {events} events = {total} events in {:.2} s \
         ({:.0} events/s); {connections} connections; fds {fds_before} before, {fds_open} \
         with every stream open, {fds_after} after; RSS {:.1} MiB before, peak {:.1} MiB",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        mib(rss_before),
        mib(hwm),
    );
    assert!(
        fds_open >= fds_before + all,
        "every stream had its own connection"
    );
    assert!(
        fds_after <= fds_before + 2,
        "descriptors leaked: {fds_before} before, {fds_after} after"
    );
}

#[test]
fn concurrent_streams_share_one_client() {
    concurrent_streams(16, 100);
}

#[test]
#[ignore = "load test: run with --ignored --release, see README"]
fn concurrent_streams_200_threads_1000_events() {
    concurrent_streams(200, full_size(1000));
}

// ---------------------------------------------------------------------------------------
// One long stream, flat memory
// ---------------------------------------------------------------------------------------

/// Size of every event of the long stream, framing included.
const EVENT_SIZE: usize = 1024;
/// Events per HTTP chunk the server writes.
const EVENTS_PER_WRITE: usize = 64;

/// The two-character content piece of event `n` of the long stream.
fn long_piece(n: u64) -> [u8; 2] {
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    [letters[(n % 26) as usize], letters[(n / 26 % 26) as usize]]
}

/// One stream of `total` bytes of 1 KiB events, generated on the fly; checks every chunk,
/// the completion, and that the resident set grew by less than `bound_mib`.
fn long_stream(total: u64, bound_mib: u64) {
    let _serial = serial();
    let events = total / EVENT_SIZE as u64;
    let server = TestServer::start(move |_request, r| {
        let id = "chatcmpl-long";
        // Pad every event to EVENT_SIZE bytes with OpenAI's `obfuscation` field.
        let bare = content_event(id, "xx", "").len();
        let padding = "p".repeat(EVENT_SIZE - bare);
        let mut batch = Vec::with_capacity(EVENT_SIZE * EVENTS_PER_WRITE);
        r.start_sse();
        let mut n = 0;
        while n < events {
            batch.clear();
            while n < events && batch.len() < EVENT_SIZE * EVENTS_PER_WRITE {
                let piece = long_piece(n);
                let event = content_event(id, std::str::from_utf8(&piece).unwrap(), &padding);
                debug_assert_eq!(event.len(), EVENT_SIZE);
                batch.extend_from_slice(event.as_bytes());
                n += 1;
            }
            r.chunk(&batch);
            if r.client_gone().is_some() {
                return;
            }
        }
        r.chunk(closing_events(id, events).as_bytes());
        r.end_chunked();
    });
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();

    let peak_reset = reset_peak_rss();
    let rss_before = rss_kib();
    let hwm_before = hwm_kib();
    let mut max_sampled = rss_before;
    let mut seen = 0u64;
    let started = Instant::now();
    let completion = client
        .chat_stream(&load_request(0, events), |chunk| {
            let content = chunk.content();
            if !content.is_empty() {
                assert_eq!(content.as_bytes(), long_piece(seen), "event {seen}");
                seen += 1;
                if seen % 8192 == 0 {
                    max_sampled = max_sampled.max(rss_kib());
                }
            }
            ControlFlow::Continue(())
        })
        .expect("the long stream succeeds");
    let elapsed = started.elapsed();
    let rss_after = rss_kib();
    let hwm_after = hwm_kib();
    max_sampled = max_sampled.max(rss_after);

    assert_eq!(seen, events);
    let content = completion.content();
    assert_eq!(content.len() as u64, 2 * events);
    assert!(
        content
            .as_bytes()
            .chunks(2)
            .enumerate()
            .all(|(n, pair)| pair == long_piece(n as u64)),
        "the accumulated content is exact"
    );
    assert_eq!(completion.finish_reason(), Some("stop"));
    assert_eq!(
        completion.usage.as_ref().and_then(|u| u.completion_tokens),
        Some(events)
    );
    drop(completion);

    let bytes = events * EVENT_SIZE as u64;
    println!(
        "long stream: {events} events, {:.1} MiB in {:.2} s ({:.0} events/s, {:.0} MiB/s); \
         VmRSS {:.1} MiB before, {:.1} MiB after, highest sampled {:.1} MiB; \
         VmHWM {:.1} MiB before, {:.1} MiB after (peak reset: {peak_reset}); \
         accumulated content {:.1} MiB",
        bytes as f64 / 1048576.0,
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        bytes as f64 / 1048576.0 / elapsed.as_secs_f64(),
        mib(rss_before),
        mib(rss_after),
        mib(max_sampled),
        mib(hwm_before),
        mib(hwm_after),
        (2 * events) as f64 / 1048576.0,
    );
    let bound = bound_mib * 1024;
    assert!(
        max_sampled - rss_before < bound,
        "RSS grew by {:.1} MiB reading the stream",
        mib(max_sampled - rss_before)
    );
    if peak_reset {
        assert!(
            hwm_after.saturating_sub(rss_before) < bound,
            "peak RSS grew by {:.1} MiB reading the stream",
            mib(hwm_after - rss_before)
        );
    }
}

#[test]
fn long_stream_memory_is_flat() {
    long_stream(8 << 20, 64);
}

/// Regression (fuzz find, `fixtures/sse/regressions/lossy-event-buffer-growth.sse`): after one
/// event with invalid UTF-8, the parser's two data buffers doubled their capacity every other
/// event, so a hostile server could abort the client with a few hundred bytes.
#[test]
fn invalid_utf8_then_small_events_memory_is_flat() {
    let _serial = serial();
    const EVENTS: usize = 2000;
    let server = TestServer::start(|_request, r| {
        let mut body = b"data: {\"o\":\"".to_vec();
        body.extend_from_slice(&[0xFF; 9]);
        body.extend_from_slice(b"\"}\n\n");
        body.extend_from_slice(&b"data: {\"choices\":[]}\n\n".repeat(EVENTS));
        body.extend_from_slice(closing_events("chatcmpl-lossy", 0).as_bytes());
        r.sse(&body);
    });
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    reset_peak_rss();
    let rss_before = rss_kib();
    let completion = client
        .chat_stream(&load_request(0, 0), |_| ControlFlow::Continue(()))
        .expect("the stream succeeds");
    assert_eq!(completion.finish_reason(), Some("stop"));
    let growth = hwm_kib().max(rss_kib()).saturating_sub(rss_before);
    assert!(growth < 64 * 1024, "RSS grew by {:.1} MiB", mib(growth));
}

#[test]
#[ignore = "load test: run with --ignored --release, see README"]
fn one_gib_stream_memory_is_flat() {
    long_stream(full_size(1 << 30), 64);
}

// ---------------------------------------------------------------------------------------
// Sequential requests, no descriptor leak
// ---------------------------------------------------------------------------------------

/// What request `n` of the sequence does (the server reads it from the request).
fn kind_of(n: u64) -> u64 {
    n % 20
}

fn sequential_handler(request: &Request, r: &mut Responder) {
    let n = field(request, "load_stream");
    let id = format!("chatcmpl-seq-{n}");
    let body = |content: &str| content_event(&id, content, "");
    match kind_of(n) {
        // Plain (non-streamed) call.
        16 => r.json(
            200,
            &format!(
                "{{\"id\":\"{id}\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"load\",\
                 \"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"plain {n}\"}},\
                 \"finish_reason\":\"stop\"}}]}}"
            ),
        ),
        // API error.
        17 => r.json(
            500,
            r#"{"error":{"message":"boom","type":"server_error","code":null}}"#,
        ),
        // Truncated: a chunk, then the body ends without a finish reason or `[DONE]`.
        18 => {
            r.start_sse();
            r.chunk(body("cut").as_bytes());
            r.end_chunked();
        }
        // Several events; request 19 of each 20 is dropped by the client after the first.
        _ => {
            r.start_sse();
            for event in 0..3 {
                r.chunk(body(&piece(n, event)).as_bytes());
            }
            r.chunk(closing_events(&id, 3).as_bytes());
            r.end_chunked();
        }
    }
}

/// Sends `requests` requests of every kind one after the other and checks that the number
/// of open descriptors stays bounded during the run and returns to where it was.
fn sequential_requests(requests: u64) {
    const SLACK: usize = 16;
    let _serial = serial();
    let fds_before = open_fds();
    let server = TestServer::start(sequential_handler);
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    let fds_start = open_fds();
    let mut fds_max = fds_start;
    let started = Instant::now();
    for n in 0..requests {
        let request = load_request(n, 3);
        match kind_of(n) {
            16 => {
                let completion = client.chat(&request).expect("plain call");
                assert_eq!(completion.content(), format!("plain {n}"));
            }
            17 => {
                let e = client.chat_stream(&request, |_| ControlFlow::Continue(()));
                assert_eq!(e.expect_err("API error").status(), Some(500));
            }
            18 => {
                let e = client
                    .chat_stream(&request, |_| ControlFlow::Continue(()))
                    .expect_err("truncated");
                assert_eq!(e.kind(), ErrorKind::Truncated);
                assert_eq!(
                    e.partial().map(|c| c.content().into_owned()).as_deref(),
                    Some("cut")
                );
            }
            19 => {
                let mut stream = client.chat_chunks(&request).expect("stream");
                let first = stream.next().expect("a chunk").expect("no error");
                assert_eq!(first.content(), piece(n, 0));
                drop(stream);
            }
            _ => {
                let completion = client
                    .chat_stream(&request, |_| ControlFlow::Continue(()))
                    .expect("stream");
                assert_eq!(
                    completion.content(),
                    format!("{}{}{}", piece(n, 0), piece(n, 1), piece(n, 2))
                );
            }
        }
        if n % 100 == 99 {
            let fds = open_fds();
            fds_max = fds_max.max(fds);
            assert!(
                fds <= fds_start + SLACK,
                "after {} requests {fds} descriptors are open ({fds_start} at the start)",
                n + 1
            );
        }
    }
    let elapsed = started.elapsed();
    let fds_end = open_fds();
    let connections = server.connection_count();
    drop(client);
    drop(server);
    // Dropping the server joined its connection threads: their sockets are closed.
    let fds_after = open_fds();
    println!(
        "sequential: {requests} requests in {:.2} s ({:.0} requests/s), {connections} \
         connections; fds {fds_before} before, {fds_start} with server and client, at most \
         {fds_max} during, {fds_end} at the end, {fds_after} after dropping both",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
    );
    assert!(
        fds_after <= fds_before + 2,
        "descriptors leaked: {fds_before} before, {fds_after} after"
    );
    // Dropped and truncated streams close their connection; the rest reuse pooled ones.
    assert!(
        connections as u64 <= requests / 10 + 4,
        "{connections} connections"
    );
}

#[test]
fn sequential_requests_leak_no_descriptors() {
    sequential_requests(400);
}

#[test]
#[ignore = "load test: run with --ignored --release, see README"]
fn sequential_10000_requests_leak_no_descriptors() {
    sequential_requests(full_size(10_000));
}
