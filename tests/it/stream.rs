//! The chat streaming layer over real sockets: `Client::chat_stream`, `Client::chat_chunks` and
//! `Client::post_stream` against the loopback server of `tests/support/`.
//!
//! - Every recorded fixture (`fixtures/sse/recorded/*.sse`) in several HTTP chunkings gives the
//!   result in `fixtures/chat/NAME.completion.json` (format in `fixtures/README.md`, "Expected
//!   completions"); `UPDATE_FIXTURES=1 cargo test --test it stream::` rewrites those files from the
//!   whole-body run (review every change by hand: the files are the oracle).
//! - Bytes reach the caller as they arrive: the server sends the next event only after the test
//!   has seen the previous one, so a client that buffers fails on the support code's bounded
//!   wait, never on a measured time.
//! - Early stop, idle and total timeouts, `[DONE]` and end-of-stream rules, in-stream errors.
//!
//! No test sleeps to order events; the only time limits are the client timeouts under test.

use crate::support;

use crate::support::fixture;
use crate::support::outcome::error_json;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatstream::sse::{Parser, Status};
use chatstream::{ChatCompletion, ChatRequest, Client, ClientBuilder, Error, ErrorKind, Message};
use chatstream::{Timeout, sse};
use fixture::{Ending, Fixture};
use serde_json::{Value, json};
use support::{Responder, Signal, TestServer};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A client for `server` that never retries (each test counts its own requests).
fn builder(server: &TestServer) -> ClientBuilder {
    Client::builder().base_url(server.base_url()).max_retries(0)
}

fn client(server: &TestServer) -> Client {
    builder(server).build().expect("client builds")
}

fn request() -> ChatRequest {
    ChatRequest::new("test-model", vec![Message::user("hi")])
}

/// A chat chunk for choice `index` with a content piece and an optional finish reason.
fn chunk_at(index: u64, content: &str, finish: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1757000000,
        "model": "test-model",
        "choices": [{"index": index, "delta": {"content": content}, "finish_reason": finish}]
    })
    .to_string()
}

fn chunk(content: &str) -> String {
    chunk_at(0, content, None)
}

fn finish(reason: &str) -> String {
    chunk_at(0, "", Some(reason))
}

/// One SSE event `data: {data}\n\n`.
fn ev(data: &str) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

/// The concatenation of several events.
fn events(datas: &[&str]) -> Vec<u8> {
    datas.iter().flat_map(|d| ev(d)).collect()
}

/// Runs `chat_stream`, returning the result and the content pieces the callback saw, by choice.
fn stream_with_pieces(client: &Client) -> (Result<ChatCompletion, Error>, BTreeMap<u64, String>) {
    let mut pieces: BTreeMap<u64, String> = BTreeMap::new();
    let result = client.chat_stream(&request(), |chunk| {
        for choice in &chunk.choices {
            let text = choice.delta.content.as_deref().unwrap_or("");
            pieces.entry(choice.index).or_default().push_str(text);
        }
        ControlFlow::Continue(())
    });
    (result, pieces)
}

/// The error of `result`, with a short panic message when it is a success.
#[track_caller]
fn expect_err(result: Result<ChatCompletion, Error>) -> Error {
    match result {
        Ok(c) => {
            let content: String = c.content().chars().take(80).collect();
            panic!(
                "expected an error, got a completion (finish reason {:?}, content {content:?}…)",
                c.finish_reason()
            )
        }
        Err(e) => e,
    }
}

/// Checks an error's kind and the content of its partial completion.
#[track_caller]
fn check_error(err: &Error, kind: ErrorKind, partial_content: &str) {
    assert_eq!(err.kind(), kind, "wrong kind: {err:?}");
    let partial = err
        .partial()
        .unwrap_or_else(|| panic!("no partial completion in {err:?}"));
    assert_eq!(partial.content(), partial_content, "partial of {err:?}");
}

/// A server whose first request gets `first` and every later one a short complete stream.
fn server_then_ok(first: impl Fn(&mut Responder) + Send + Sync + 'static) -> TestServer {
    TestServer::start(move |req, r| {
        if req.index == 0 {
            first(r);
        } else {
            r.sse(&events(&[&chunk("again"), &finish("stop"), "[DONE]"]));
        }
    })
}

/// The next request on `client` works (the client survived what happened before).
#[track_caller]
fn check_next_request_works(client: &Client) {
    let completion = client.chat_stream(&request(), |_| ControlFlow::Continue(()));
    assert_eq!(
        completion.expect("the next request works").content(),
        "again"
    );
}

// ---------------------------------------------------------------------------------------------
// Recorded fixtures.

/// How a fixture's bytes are cut into HTTP chunks.
#[derive(Debug, Clone, Copy)]
enum Chunking {
    /// The whole body as one chunk, then the terminator.
    Whole,
    /// One byte per HTTP chunk.
    OneByte,
    /// Seven bytes per HTTP chunk (cuts through UTF-8 characters and line ends).
    SevenBytes,
    /// One chunk per SSE event (comments go with the event after them).
    OneEventPerChunk,
    /// The whole body, then the connection closes without the chunked terminator.
    WholeThenClose,
}

const CHUNKINGS: [Chunking; 5] = [
    Chunking::Whole,
    Chunking::OneByte,
    Chunking::SevenBytes,
    Chunking::OneEventPerChunk,
    Chunking::WholeThenClose,
];

/// Chunk sizes that end each chunk right after an event's blank line (found with the parser).
fn event_sizes(body: &[u8]) -> Vec<usize> {
    let mut parser = Parser::new();
    let (mut sizes, mut start, mut pos) = (Vec::new(), 0, 0);
    while pos < body.len() {
        let (status, n) = parser.feed(&body[pos..]).expect("fixture parses");
        pos += n;
        if status == Status::Event {
            sizes.push(pos - start);
            start = pos;
        }
    }
    sizes
}

fn serve(r: &mut Responder, body: &[u8], how: Chunking) {
    match how {
        Chunking::Whole => r.sse(body),
        Chunking::OneByte => r.sse_in_chunks(body, &vec![1; body.len()]),
        Chunking::SevenBytes => r.sse_in_chunks(body, &vec![7; body.len().div_ceil(7)]),
        Chunking::OneEventPerChunk => r.sse_in_chunks(body, &event_sizes(body)),
        Chunking::WholeThenClose => {
            r.start_sse();
            r.chunk(body);
            r.close();
        }
    }
}

/// The recorded fixtures, with their SSE transcripts.
fn recorded() -> Vec<Fixture> {
    let all = fixture::all().into_iter();
    let recorded: Vec<Fixture> = all.filter(|f| f.name.starts_with("recorded/")).collect();
    assert!(!recorded.is_empty(), "no recorded fixtures found");
    recorded
}

fn stem(f: &Fixture) -> &str {
    f.name.trim_start_matches("recorded/")
}

fn chat_dir() -> PathBuf {
    fixture::repo_path("fixtures/chat")
}

fn completion_path(f: &Fixture) -> PathBuf {
    chat_dir().join(format!("{}.completion.json", stem(f)))
}

/// A fixture is a chat completion stream when one of its events is a `chat.completion.chunk`.
fn is_chat_stream(f: &Fixture) -> bool {
    f.expected.events.iter().any(|e| {
        serde_json::from_str::<Value>(&e.data)
            .is_ok_and(|v| v.get("object").and_then(Value::as_str) == Some("chat.completion.chunk"))
    })
}

/// A stream's result in the completion-file shape (without `description`).
fn outcome(result: &Result<ChatCompletion, Error>) -> Value {
    match result {
        Ok(completion) => json!({"result": "ok", "completion": completion.to_json()}),
        Err(e) => {
            json!({
                "result": "error",
                "error": error_json(e),
                "partial": e.partial().map(ChatCompletion::to_json),
            })
        }
    }
}

/// Reads a completion file: its description and the expected outcome.
fn load_completion(path: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let object = value.as_object_mut().expect("completion file is an object");
    for key in object.keys() {
        let known = ["description", "result", "completion", "error", "partial"];
        assert!(
            known.contains(&key.as_str()),
            "{}: unknown key {key:?}",
            path.display()
        );
    }
    let Some(Value::String(description)) = object.remove("description") else {
        panic!("{}: a description is required", path.display())
    };
    (description, value)
}

/// Pretty JSON with two-space indents, arrays of scalars kept on one line (token bytes).
fn pretty(value: &Value, indent: usize) -> String {
    let pad = |n: usize| "  ".repeat(n);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}{}: {}", pad(indent + 1), json!(k), pretty(v, indent + 1)))
                .collect();
            format!("{{\n{}\n{}}}", items.join(",\n"), pad(indent))
        }
        Value::Array(items) if items.iter().any(|v| v.is_object() || v.is_array()) => {
            let items: Vec<String> = items
                .iter()
                .map(|v| format!("{}{}", pad(indent + 1), pretty(v, indent + 1)))
                .collect();
            format!("[\n{}\n{}]", items.join(",\n"), pad(indent))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(Value::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// Writes a completion file: description first, then the outcome.
fn write_completion(path: &Path, description: &str, outcome: &Value) {
    let mut text = format!("{{\n  \"description\": {}", json!(description));
    for key in ["result", "error", "completion", "partial"] {
        if let Some(v) = outcome.get(key) {
            text.push_str(&format!(",\n  \"{key}\": {}", pretty(v, 1)));
        }
    }
    text.push_str("\n}\n");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The content of each choice of a completion (or of an error's partial), by index.
fn contents(result: &Result<ChatCompletion, Error>) -> BTreeMap<u64, String> {
    let completion = match result {
        Ok(c) => Some(c),
        Err(e) => e.partial(),
    };
    let choices = completion.map(|c| c.choices.as_slice()).unwrap_or_default();
    choices
        .iter()
        .map(|c| (c.index, c.message.text().into_owned()))
        .filter(|(_, text)| !text.is_empty())
        .collect()
}

// Every recorded chat stream, cut into HTTP chunks five ways, accumulates to its completion file,
// and the pieces the callback saw concatenate to each choice's content.
#[test]
fn recorded_fixtures_accumulate_to_their_completion_files() {
    let update = fixture::update_mode();
    let fixtures = recorded();
    let mut failures = Vec::new();

    // A completion file must belong to a recorded stream.
    for path in fixture::files_under(&chat_dir()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem_name) = name.strip_suffix(".completion.json") else {
            failures.push(format!(
                "fixtures/chat/{name}: not a NAME.completion.json file"
            ));
            continue;
        };
        if !fixtures.iter().any(|f| stem(f) == stem_name) {
            failures.push(format!(
                "fixtures/chat/{name}: no fixtures/sse/recorded/{stem_name}.sse"
            ));
        }
    }

    let mut checked = 0;
    for f in &fixtures {
        let path = completion_path(f);
        let existing = path.exists().then(|| load_completion(&path));
        if existing.is_none() && !(update && is_chat_stream(f)) {
            if is_chat_stream(f) {
                failures.push(format!(
                    "{}: a chat completion stream without {} (write it with UPDATE_FIXTURES=1, \
                     then review it)",
                    f.name,
                    path.display()
                ));
            }
            continue;
        }
        let (description, mut expected) = match existing {
            Some((d, _)) if update => (d, None),
            Some((d, e)) => (d, Some(e)),
            None => (
                format!(
                    "Expected result of fixtures/sse/{}.sse; describe it.",
                    f.name
                ),
                None,
            ),
        };

        let body = Arc::new(f.bytes.clone());
        let served = body.clone();
        let server = TestServer::start(move |req, r| {
            serve(r, &served, CHUNKINGS[req.index % CHUNKINGS.len()]);
        });
        let client = client(&server);
        for how in CHUNKINGS {
            let (result, pieces) = stream_with_pieces(&client);
            let context = format!("{} ({how:?})", f.name);
            if pieces.iter().any(|(_, s)| !s.is_empty()) || !contents(&result).is_empty() {
                let seen: BTreeMap<u64, String> =
                    pieces.into_iter().filter(|(_, s)| !s.is_empty()).collect();
                if seen != contents(&result) {
                    failures.push(format!(
                        "{context}: the callback saw {seen:?}, the completion holds {:?}",
                        contents(&result)
                    ));
                }
            }
            let got = outcome(&result);
            match &expected {
                None => {
                    write_completion(&path, &description, &got);
                    expected = Some(got);
                }
                Some(want) if *want != got => failures.push(format!(
                    "{context}: expected\n{}\ngot\n{}",
                    serde_json::to_string_pretty(want).unwrap(),
                    serde_json::to_string_pretty(&got).unwrap()
                )),
                Some(_) => {}
            }
        }

        // The pull-style iterator gives the same result (served whole).
        let mut stream = client.chat_chunks(&request()).expect("stream starts");
        let mut error = None;
        for item in stream.by_ref() {
            if let Err(e) = item {
                error = Some(e);
            }
        }
        let result = error.map_or_else(|| Ok(stream.into_completion()), Err);
        if Some(&outcome(&result)) != expected.as_ref() {
            failures.push(format!("{} (chat_chunks): {}", f.name, outcome(&result)));
        }
        assert_eq!(server.request_count(), CHUNKINGS.len() + 1, "{}", f.name);
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        checked >= 13,
        "only {checked} recorded chat streams were checked"
    );
}

/// One choice as [`independent_choices`] accumulates it.
#[derive(Debug, Default, PartialEq)]
struct RawChoice {
    content: String,
    finish_reason: Option<String>,
    /// `(index, id, name, arguments)`, in the order each index first appeared.
    tool_calls: Vec<(u64, String, String, String)>,
}

/// A second, deliberately plain accumulation of a recorded stream, straight from the raw JSON
/// of its `data` payloads (no `chatstream` type involved): per choice index the concatenated
/// content, the last finish reason, and the tool calls merged by `index`. It covers the shapes
/// the recorded streams use (every tool-call fragment has an index), so that the completion
/// files are checked against something the code under test did not compute.
fn independent_choices(events: &[fixture::Dispatched]) -> BTreeMap<u64, RawChoice> {
    let mut choices: BTreeMap<u64, RawChoice> = BTreeMap::new();
    for event in events {
        if event.data == "[DONE]" {
            break;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        let listed = chunk["choices"].as_array().cloned().unwrap_or_default();
        for choice in listed {
            let index = choice["index"].as_u64().expect("a choice index");
            let state = choices.entry(index).or_default();
            let delta = &choice["delta"];
            state.content += delta["content"].as_str().unwrap_or("");
            if let Some(reason) = choice["finish_reason"].as_str() {
                state.finish_reason = Some(reason.to_owned());
            }
            for fragment in delta["tool_calls"].as_array().into_iter().flatten() {
                let at = fragment["index"]
                    .as_u64()
                    .expect("recorded fragments have an index");
                let position = match state.tool_calls.iter().position(|c| c.0 == at) {
                    Some(position) => position,
                    None => {
                        state
                            .tool_calls
                            .push((at, String::new(), String::new(), String::new()));
                        state.tool_calls.len() - 1
                    }
                };
                let call = &mut state.tool_calls[position];
                let id = fragment["id"].as_str().unwrap_or("");
                if call.1.is_empty() {
                    call.1 = id.to_owned();
                }
                let name = fragment["function"]["name"].as_str().unwrap_or("");
                if call.2.is_empty() {
                    call.2 = name.to_owned();
                }
                call.3 += fragment["function"]["arguments"].as_str().unwrap_or("");
            }
        }
        if chunk.get("error").is_some() {
            break; // an in-stream error ends the stream (after its own chunk, if it has choices)
        }
    }
    choices
}

/// The same summary read from a completion file's `completion` (or `partial`) JSON. The file
/// lists tool calls without their index, so the summary's is 0.
fn file_choices(completion: &Value) -> BTreeMap<u64, RawChoice> {
    let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
    let listed = completion["choices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    listed
        .iter()
        .map(|choice| {
            let message = &choice["message"];
            let calls = message["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let summary = RawChoice {
                content: text(&message["content"]),
                finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
                tool_calls: calls
                    .iter()
                    .map(|call| {
                        let function = &call["function"];
                        (
                            0,
                            text(&call["id"]),
                            text(&function["name"]),
                            text(&function["arguments"]),
                        )
                    })
                    .collect(),
            };
            (choice["index"].as_u64().expect("an index"), summary)
        })
        .collect()
}

// The completion files are not only what the code wrote: each one's content, finish reasons and
// tool calls (id, name, arguments, in order) equal an independent accumulation of the raw JSON.
#[test]
fn completion_files_agree_with_an_independent_accumulation() {
    let mut checked = 0;
    for f in recorded() {
        let path = completion_path(&f);
        if !path.exists() {
            continue;
        }
        let (_, file) = load_completion(&path);
        let completion = match file["result"].as_str() {
            Some("ok") => &file["completion"],
            _ => &file["partial"],
        };
        let mut want = independent_choices(&f.expected.events);
        // The file lists tool calls without their index: compare id, name and arguments only.
        for choice in want.values_mut() {
            for call in &mut choice.tool_calls {
                call.0 = 0;
            }
        }
        assert_eq!(file_choices(completion), want, "{}", path.display());
        checked += 1;
    }
    assert!(
        checked >= 14,
        "only {checked} completion files were checked"
    );
}

// Every recorded fixture through the raw escape hatch `post_stream` gives exactly the events of
// its SSE transcript, whole and one byte per HTTP chunk; a stream that ends inside an event is
// reported as truncated.
#[test]
fn recorded_fixtures_through_post_stream_give_their_transcripts() {
    for f in recorded() {
        let body = Arc::new(f.bytes.clone());
        let served = body.clone();
        let server = TestServer::start(move |req, r| {
            let how = [Chunking::Whole, Chunking::OneByte][req.index % 2];
            serve(r, &served, how);
        });
        let client = client(&server);
        for _ in 0..2 {
            let mut seen = Vec::new();
            let result = client.post_stream("chat/completions", &json!({"stream": true}), |e| {
                let id = e.last_event_id().to_string();
                seen.push((e.event_type().to_string(), e.data().to_string(), id));
                ControlFlow::Continue(())
            });
            let mut want: Vec<(String, String, String)> = f
                .expected
                .events
                .iter()
                .map(|e| (e.event.clone(), e.data.clone(), e.id.clone()))
                .collect();
            match &f.expected.ending {
                Ending::Clean => result.unwrap_or_else(|e| panic!("{}: {e:?}", f.name)),
                // `data: [DONE]` without its blank line ends the stream successfully, and the
                // caller is handed that last `[DONE]` event too.
                Ending::Discarded { event, data } if data == "[DONE]" => {
                    result.unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
                    let id = want.last().map(|w| w.2.clone()).unwrap_or_default();
                    want.push((event.clone(), data.clone(), id));
                }
                _ => {
                    let err = result.expect_err("a stream cut inside an event fails");
                    assert_eq!(err.kind(), ErrorKind::Truncated, "{}", f.name);
                }
            }
            assert_eq!(seen, want, "{}", f.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bytes reach the caller as they arrive.

/// A server that sends `events` one per chunk, each only after the test sent the signal.
fn paced_server(events: Vec<Vec<u8>>) -> (TestServer, Signal) {
    let next = Signal::new();
    let pacing = next.clone();
    let server = TestServer::start(move |_, r| {
        let refs: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
        r.sse_paced(&refs, &pacing);
    });
    (server, next)
}

fn paced_chat_events() -> Vec<Vec<u8>> {
    ["Once", " upon", " a time"]
        .iter()
        .map(|piece| ev(&chunk(piece)))
        .chain([ev(&finish("stop")), ev("[DONE]")])
        .collect()
}

// `chat_stream` hands each chunk to the callback before the server sends the next one.
#[test]
fn chat_stream_callback_sees_each_chunk_before_the_next_is_sent() {
    let (server, next) = paced_server(paced_chat_events());
    let mut seen = Vec::new();
    let completion = client(&server)
        .chat_stream(&request(), |chunk| {
            seen.push(chunk.content().to_string());
            next.send();
            ControlFlow::Continue(())
        })
        .expect("stream succeeds");
    assert_eq!(seen, ["Once", " upon", " a time", ""]);
    assert_eq!(completion.content(), "Once upon a time");
}

// The `chat_chunks` iterator yields each chunk before the server sends the next one.
#[test]
fn chat_chunks_iterator_yields_each_chunk_before_the_next_is_sent() {
    let (server, next) = paced_server(paced_chat_events());
    let mut stream = client(&server)
        .chat_chunks(&request())
        .expect("stream starts");
    let mut seen = Vec::new();
    for chunk in &mut stream {
        seen.push(chunk.expect("chunk").content().to_string());
        next.send();
    }
    assert_eq!(seen, ["Once", " upon", " a time", ""]);
    assert_eq!(stream.into_completion().content(), "Once upon a time");
}

// `post_stream` hands each raw event (type, data, id; `[DONE]` included) to the callback before
// the server sends the next one.
#[test]
fn post_stream_callback_sees_each_event_before_the_next_is_sent() {
    let raw = [
        "event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
        "event: response.output_text.delta\nid: 7\ndata: {\"delta\":\"Hi\"}\n\n",
        "data: [DONE]\n\n",
    ];
    let (server, next) = paced_server(raw.iter().map(|s| s.as_bytes().to_vec()).collect());
    let mut seen = Vec::new();
    client(&server)
        .post_stream("responses", &json!({"model": "m", "stream": true}), |e| {
            let fields = [e.event_type(), e.data(), e.last_event_id()];
            seen.push(fields.map(str::to_string));
            next.send();
            ControlFlow::Continue(())
        })
        .expect("stream succeeds");
    assert_eq!(
        seen,
        [
            ["response.created", "{\"type\":\"response.created\"}", ""],
            ["response.output_text.delta", "{\"delta\":\"Hi\"}", "7"],
            ["message", "[DONE]", "7"],
        ]
    );
    let req = server.single_request();
    assert_eq!(req.path, "/v1/responses");
    assert_eq!(
        req.json(),
        json!({"model": "m", "stream": true}),
        "body sent as given"
    );
}

// ---------------------------------------------------------------------------------------------
// Early stop.

/// First request: two chunks, then the server waits for the client to close the connection
/// (it never ends the body) and reports it on the returned signal.
fn two_chunks_then_wait_for_close() -> (TestServer, Signal) {
    let closed = Signal::new();
    let report = closed.clone();
    let server = server_then_ok(move |r| {
        r.start_sse();
        r.sse_data(&chunk("Hello"));
        r.sse_data(&chunk(" world"));
        r.wait_for_client_close();
        report.send();
    });
    (server, closed)
}

// `ControlFlow::Break` from the callback returns what arrived so far, closes the connection (the
// server sees the client go away) and leaves the client usable.
#[test]
fn early_stop_from_the_callback_closes_the_connection_and_returns_the_partial() {
    let (server, closed) = two_chunks_then_wait_for_close();
    let client = client(&server);
    let completion = client
        .chat_stream(&request(), |_| ControlFlow::Break(()))
        .expect("an early stop is a success");
    assert_eq!(completion.content(), "Hello");
    assert_eq!(completion.finish_reason(), None);
    closed.wait();
    check_next_request_works(&client);
    assert_eq!(
        server.connection_count(),
        2,
        "the stopped stream's connection is not reused"
    );
}

// Dropping a `chat_chunks` iterator halfway closes the connection.
#[test]
fn dropping_the_chunk_iterator_closes_the_connection() {
    let (server, closed) = two_chunks_then_wait_for_close();
    let client = client(&server);
    let mut stream = client.chat_chunks(&request()).expect("stream starts");
    let first = stream.next().expect("a chunk").expect("not an error");
    assert_eq!(first.content(), "Hello");
    assert_eq!(stream.completion().content(), "Hello");
    drop(stream);
    closed.wait();
    check_next_request_works(&client);
}

// ---------------------------------------------------------------------------------------------
// Idle and total timeouts.

/// One chunk, then the server stalls until the client closes the connection (reported on the
/// returned signal).
fn one_chunk_then_stall() -> (TestServer, Signal) {
    let gone = Signal::new();
    let report = gone.clone();
    let server = TestServer::start(move |_, r| {
        r.start_sse();
        r.sse_data(&chunk("Hel"));
        r.wait_for_client_close();
        report.send();
    });
    (server, gone)
}

#[track_caller]
fn check_timeout(result: Result<ChatCompletion, Error>, which: Timeout, partial: &str) {
    let err = expect_err(result);
    check_error(&err, ErrorKind::Timeout, partial);
    assert_eq!(err.timeout(), Some(which), "{err:?}");
}

// The idle timeout fires on a stalled stream, hands back what arrived, and closes the connection.
#[test]
fn idle_timeout_fires_on_a_stalled_stream() {
    let (server, gone) = one_chunk_then_stall();
    let client = builder(&server)
        .stream_idle_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let result = client.chat_stream(&request(), |_| ControlFlow::Continue(()));
    check_timeout(result, Timeout::StreamIdle, "Hel");
    gone.wait();
}

/// Sends `: ping` comments back to back until the client goes away (at most `bound`), then, if
/// the client is still there, finishes the stream. Counts the pings in `pings`.
fn ping_until_client_gone(r: &mut Responder, pings: &AtomicUsize, bound: Duration) {
    let start = Instant::now();
    while r.client_gone().is_none() && start.elapsed() < bound {
        r.chunk(b": ping\n\n");
        pings.fetch_add(1, Ordering::SeqCst);
    }
    if r.client_gone().is_none() {
        r.sse_data(&finish("stop"));
        r.sse_data("[DONE]");
        r.end_chunked();
    }
}

// SSE comment keep-alives arriving without pause do not postpone the idle timeout: a server
// that pings but never sends another event is still cut off with `StreamIdle`.
#[test]
fn keep_alive_comments_do_not_postpone_the_idle_timeout() {
    let pings = Arc::new(AtomicUsize::new(0));
    let counter = pings.clone();
    let server = TestServer::start(move |_, r| {
        r.start_sse();
        r.sse_data(&chunk("Hel"));
        ping_until_client_gone(r, &counter, Duration::from_secs(3));
    });
    let client = builder(&server)
        .stream_idle_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let result = client.chat_stream(&request(), |_| ControlFlow::Continue(()));
    check_timeout(result, Timeout::StreamIdle, "Hel");
    assert!(
        pings.load(Ordering::SeqCst) > 0,
        "the server sent keep-alives"
    );
}

// A healthy stream that lasts longer than the idle timeout, with short gaps between events
// (paced by the callback), is not cut.
#[test]
fn healthy_stream_longer_than_the_idle_timeout_succeeds() {
    let idle = Duration::from_millis(300);
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let next = Signal::new();
    let pacing = next.clone();
    let server = TestServer::start(move |_, r| {
        r.start_sse();
        let start = Instant::now();
        // Keep streaming until the stream has outlived the idle limit twice over.
        while start.elapsed() < idle * 2 + Duration::from_millis(100) {
            r.sse_data(&chunk("x"));
            counter.fetch_add(1, Ordering::SeqCst);
            if !r.wait(&pacing) {
                return;
            }
        }
        r.sse_data(&finish("stop"));
        r.sse_data("[DONE]");
        r.end_chunked();
    });
    let client = builder(&server).stream_idle_timeout(idle).build().unwrap();
    let completion = client
        .chat_stream(&request(), |_| {
            next.send();
            ControlFlow::Continue(())
        })
        .expect("a healthy stream is never cut");
    assert_eq!(
        completion.content(),
        "x".repeat(sent.load(Ordering::SeqCst))
    );
    assert_eq!(completion.finish_reason(), Some("stop"));
}

// The idle limit measures how long the client waits for the server, not the time its callback
// takes: a callback slower than the idle timeout does not trip it while the next event is
// already there. (The slow callback is what is tested; the sleep orders nothing.)
#[test]
fn slow_callback_does_not_trip_the_idle_timeout() {
    let idle = Duration::from_millis(100);
    let rest = events(&[&chunk(" reader"), &finish("stop"), "[DONE]"]);
    let (server, next) = paced_server(vec![ev(&chunk("slow")), rest]);
    let client = builder(&server).stream_idle_timeout(idle).build().unwrap();
    let completion = client
        .chat_stream(&request(), |chunk| {
            next.send();
            if chunk.content() == "slow" {
                std::thread::sleep(idle * 3);
            }
            ControlFlow::Continue(())
        })
        .expect("the server was never idle");
    assert_eq!(completion.content(), "slow reader");
}

// The stream total timeout fires on a stalled stream with `StreamTotal` (not the idle timeout).
#[test]
fn stream_total_timeout_fires_on_a_stalled_stream() {
    let (server, gone) = one_chunk_then_stall();
    let client = builder(&server)
        .stream_total_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let result = client.chat_stream(&request(), |_| ControlFlow::Continue(()));
    check_timeout(result, Timeout::StreamTotal, "Hel");
    gone.wait();
}

// The stream total timeout also cuts a stream whose events keep flowing without pause.
#[test]
fn stream_total_timeout_cuts_a_stream_that_keeps_flowing() {
    let server = TestServer::start(|_, r| {
        r.start_sse();
        let start = Instant::now();
        while r.client_gone().is_none() && start.elapsed() < Duration::from_secs(3) {
            r.sse_data(&chunk("x"));
        }
        if r.client_gone().is_none() {
            r.sse_data(&finish("stop"));
            r.sse_data("[DONE]");
            r.end_chunked();
        }
    });
    let client = builder(&server)
        .stream_idle_timeout(None)
        .stream_total_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = expect_err(client.chat_stream(&request(), |_| ControlFlow::Continue(())));
    assert_eq!(err.timeout(), Some(Timeout::StreamTotal), "{err:?}");
    let partial = err.partial().expect("partial").content().into_owned();
    assert!(
        !partial.is_empty() && partial.bytes().all(|b| b == b'x'),
        "{partial:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// `[DONE]` and the end of the stream.

// After a normal stream (`[DONE]`, then the chunked terminator) the connection goes back to the
// pool: two streams use one connection.
#[test]
fn connection_is_reused_after_a_complete_stream() {
    let body = events(&[&chunk("Hi"), &finish("stop"), "[DONE]"]);
    let server = TestServer::start(move |_, r| r.sse(&body));
    let client = client(&server);
    for _ in 0..2 {
        let (result, _) = stream_with_pieces(&client);
        assert_eq!(result.expect("stream succeeds").content(), "Hi");
    }
    let requests = server.requests();
    assert_eq!(requests[0].connection, requests[1].connection);
    assert_eq!(server.connection_count(), 1);
}

// A server that keeps the body open after `data: [DONE]` does not hold the call: the bounded
// drain gives up (1 s) and closes the connection, which the server sees; the client stays usable.
#[test]
fn done_then_an_open_body_does_not_hold_the_call() {
    let closed = Signal::new();
    let report = closed.clone();
    let server = server_then_ok(move |r| {
        r.start_sse();
        r.chunk(&events(&[&chunk("Hi"), &finish("stop"), "[DONE]"]));
        r.wait_for_client_close();
        report.send();
    });
    let client = client(&server);
    let (result, _) = stream_with_pieces(&client);
    assert_eq!(result.expect("stream succeeds").content(), "Hi");
    closed.wait();
    check_next_request_works(&client);
    assert_eq!(server.connection_count(), 2);
}

// Events after `data: [DONE]` are ignored, and the rest of the body is drained so the
// connection is reused.
#[test]
fn events_after_done_are_ignored_and_drained() {
    let body = events(&[&chunk("a"), "[DONE]", &chunk("b"), &finish("stop")]);
    let server = TestServer::start(move |_, r| r.sse(&body));
    let client = client(&server);
    for _ in 0..2 {
        let (result, pieces) = stream_with_pieces(&client);
        assert_eq!(result.expect("stream succeeds").content(), "a");
        assert_eq!(pieces[&0], "a");
    }
    assert_eq!(server.connection_count(), 1);
}

/// Streams "a", `[DONE]` and then `tail_writes` writes of about 15.6 KiB of comments, checks
/// that the next request works, and returns how many connections the two requests took.
fn connections_after_a_tail(tail_writes: usize) -> usize {
    let server = server_then_ok(move |r| {
        r.start_sse();
        r.chunk(&events(&[&chunk("a"), &finish("stop"), "[DONE]"]));
        let comment = [b": padding padding padding\n".as_slice(); 600].concat();
        for _ in 0..tail_writes {
            if r.client_gone().is_some() {
                return;
            }
            r.chunk(&comment);
        }
        r.end_chunked();
    });
    let client = client(&server);
    let (result, _) = stream_with_pieces(&client);
    assert_eq!(result.expect("stream succeeds").content(), "a");
    check_next_request_works(&client);
    server.connection_count()
}

// The drain after `[DONE]` is bounded in bytes too: more than 64 KiB after it are not read,
// the connection is closed instead (the next request needs a new one).
#[test]
fn drain_after_done_is_bounded_in_bytes() {
    assert_eq!(
        connections_after_a_tail(64),
        2,
        "a 1 MiB tail is not drained"
    );
}

// Under that bound the tail is drained, however many reads it takes: about 31 KiB after
// `[DONE]` (several 4 KiB reads) still leaves the connection reusable.
#[test]
fn drain_after_done_reads_a_tail_under_the_bound() {
    assert_eq!(connections_after_a_tail(2), 1, "a 31 KiB tail is drained");
}

// The pull iterator hands out the response's status and headers from the start, and its
// `Debug` says whether it has finished.
#[test]
fn chat_chunks_expose_the_response_and_their_state() {
    let body = events(&[&chunk("a"), &finish("stop"), "[DONE]"]);
    let server = sse_with_request_id(body, "req_chunks_1");
    let client = client(&server);
    let mut stream = client.chat_chunks(&request()).expect("the stream starts");
    assert_eq!(stream.response_info().status(), 200);
    assert_eq!(stream.response_info().request_id(), Some("req_chunks_1"));
    let debug = format!("{stream:?}");
    assert!(
        debug.contains("ChatStream {") && debug.contains("finished: false"),
        "{debug}"
    );
    for chunk in &mut stream {
        chunk.expect("no stream error");
    }
    assert!(
        format!("{stream:?}").contains("finished: true"),
        "{stream:?}"
    );
    assert_eq!(stream.response_info().request_id(), Some("req_chunks_1"));
}

/// How the server ends a stream after its bytes.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The chunked terminator (a clean end of the body).
    Terminator,
    /// FIN without the terminator.
    Close,
    /// RST, sent once the callback has seen every chunk (so no data is lost to the reset).
    Reset,
}

/// Serves `body` (events the callback sees `chunks` of) and ends it with `end`; returns the result
/// and the number of requests the server got.
fn stream_ending(body: Vec<u8>, chunks: usize, end: End) -> (Result<ChatCompletion, Error>, usize) {
    let seen_all = Signal::new();
    let waiting = seen_all.clone();
    let server = TestServer::start(move |_, r| {
        r.start_sse();
        r.chunk(&body);
        match end {
            End::Terminator => r.end_chunked(),
            End::Close => r.close(),
            End::Reset => {
                r.wait(&waiting);
                r.reset();
            }
        }
    });
    // Retries stay on: a started stream is never re-sent.
    let client = builder(&server)
        .max_retries(2)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build()
        .unwrap();
    let mut count = 0;
    let result = client.chat_stream(&request(), |_| {
        count += 1;
        if count == chunks {
            seen_all.send();
        }
        ControlFlow::Continue(())
    });
    (result, server.request_count())
}

/// Checks the result of `body` under every way of ending it.
#[track_caller]
fn check_end(body: &[u8], chunks: usize, expected: Result<&str, ErrorKind>, partial: &str) {
    for end in [End::Terminator, End::Close, End::Reset] {
        let (result, requests) = stream_ending(body.to_vec(), chunks, end);
        assert_eq!(requests, 1, "{end:?}: never re-sent");
        match expected {
            Ok(content) => {
                let completion = result.unwrap_or_else(|e| panic!("{end:?}: {e:?}"));
                assert_eq!(completion.content(), content, "{end:?}");
            }
            Err(kind) => check_error(&expect_err(result), kind, partial),
        }
    }
}

// `data: [DONE]` without its blank line, then the end of the body, is a success even though the
// choice never got a finish reason.
#[test]
fn done_line_without_blank_line_then_eof_is_success() {
    let mut body = ev(&chunk("Hel"));
    body.extend_from_slice(b"data: [DONE]\n");
    check_end(&body, 1, Ok("Hel"), "");
}

// The end of the body without `[DONE]` after every choice got a finish reason is a success.
#[test]
fn eof_after_every_choice_finished_is_success() {
    let body = events(&[
        &chunk_at(0, "a", None),
        &chunk_at(1, "b", None),
        &chunk_at(1, "", Some("length")),
        &chunk_at(0, "", Some("stop")),
    ]);
    check_end(&body, 4, Ok("a"), "");
}

// The end of the body before `[DONE]` while a choice is unfinished is `Truncated`, with the
// partial completion intact (and the request is not re-sent).
#[test]
fn eof_before_a_finish_reason_is_truncated() {
    let body = events(&[&chunk("Hel"), &chunk("lo")]);
    check_end(&body, 2, Err(ErrorKind::Truncated), "Hello");
}

// A stream that ends before any chunk is `Truncated` too, with an empty partial.
#[test]
fn empty_stream_is_truncated() {
    for end in [End::Terminator, End::Close] {
        let (result, _) = stream_ending(b": just a comment\n\n".to_vec(), 0, end);
        let err = expect_err(result);
        check_error(&err, ErrorKind::Truncated, "");
        assert!(err.partial().unwrap().choices.is_empty(), "{end:?}");
    }
}

// With n = 2, one finished choice is not enough: the stream is `Truncated`, and the partial keeps
// both choices.
#[test]
fn eof_with_one_of_two_choices_unfinished_is_truncated() {
    let body = events(&[&chunk_at(0, "a", Some("stop")), &chunk_at(1, "b", None)]);
    let (result, _) = stream_ending(body, 2, End::Terminator);
    let err = expect_err(result);
    check_error(&err, ErrorKind::Truncated, "a");
    let partial = err.partial().unwrap();
    assert_eq!(partial.choices[1].message.text(), "b");
    assert_eq!(partial.choices[1].finish_reason, None);
}

// ---------------------------------------------------------------------------------------------
// Errors inside the stream.

/// A server that answers every request with `body` whole, as an event stream with the
/// `x-request-id` `request_id`.
fn sse_with_request_id(body: Vec<u8>, request_id: &'static str) -> TestServer {
    TestServer::start(move |_, r| {
        r.start_chunked(
            200,
            &[
                ("Content-Type", "text/event-stream; charset=utf-8"),
                ("x-request-id", request_id),
            ],
        );
        r.chunk(&body);
        r.end_chunked();
    })
}

/// Serves `body` whole (with an `x-request-id`) and returns the error `chat_stream` ends with.
fn stream_error(body: Vec<u8>, max_event_size: Option<usize>) -> Error {
    let server = sse_with_request_id(body, "req_stream_1");
    let mut b = builder(&server);
    if let Some(n) = max_event_size {
        b = b.max_event_size(n);
    }
    let client = b.build().unwrap();
    expect_err(client.chat_stream(&request(), |_| ControlFlow::Continue(())))
}

/// Checks an in-stream API error: message, type, code, `in_stream`, request id and partial.
#[track_caller]
fn check_in_stream_api_error(err: &Error, message: &str, code: Option<&str>, partial: &str) {
    check_error(err, ErrorKind::Api, partial);
    let api = err.api().expect("api details");
    assert!(api.in_stream, "{err:?}");
    assert_eq!(api.status, 200);
    assert_eq!(api.message, message);
    assert_eq!(api.code.as_deref(), code);
    assert_eq!(api.request_id.as_deref(), Some("req_stream_1"));
    assert_eq!(err.request_id(), Some("req_stream_1"));
}

// `data: {"error": {...}}` mid-stream is an API error marked in-stream, with the raw payload and
// the partial completion.
#[test]
fn data_error_object_mid_stream_is_an_api_error() {
    let error = r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":"overloaded"}}"#;
    let err = stream_error(events(&[&chunk("The answer is"), error]), None);
    check_in_stream_api_error(
        &err,
        "The server had an error",
        Some("overloaded"),
        "The answer is",
    );
    let api = err.api().unwrap();
    assert_eq!(api.error_type.as_deref(), Some("server_error"));
    assert_eq!(api.body, error);
}

// An `event: error` is an API error, whatever its data looks like.
#[test]
fn event_error_is_an_api_error() {
    let mut body = ev(&chunk("Hal"));
    body.extend_from_slice(
        b"event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"An error occurred\",\"param\":null}\n\n",
    );
    let err = stream_error(body, None);
    check_in_stream_api_error(&err, "An error occurred", Some("server_error"), "Hal");
}

// OpenRouter's error inside an otherwise normal chunk is an API error, and that chunk's content
// (and usage) are in the partial completion.
#[test]
fn error_inside_a_normal_chunk_is_an_api_error_and_keeps_the_chunk() {
    let error_chunk = json!({
        "id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "error": {"code": 400, "message": "Token limit reached"},
        "choices": [{"index": 0, "delta": {"content": " tail"}, "finish_reason": "error"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    })
    .to_string();
    let err = stream_error(events(&[&chunk("Partial"), &error_chunk, "[DONE]"]), None);
    check_in_stream_api_error(&err, "Token limit reached", Some("400"), "Partial tail");
    let partial = err.partial().unwrap();
    assert_eq!(partial.finish_reason(), Some("error"));
    assert_eq!(partial.usage.as_ref().and_then(|u| u.total_tokens), Some(8));
}

// A stream event that is not valid JSON is a decode error carrying the raw text and the partial.
#[test]
fn invalid_json_in_a_stream_event_is_a_decode_error_with_the_raw_text() {
    let err = stream_error(events(&[&chunk("Hel"), "{\"choices\": [tru"]), None);
    check_error(&err, ErrorKind::Decode, "Hel");
    assert_eq!(err.raw(), Some("{\"choices\": [tru"));
}

// An event over `max_event_size` is `EventTooLarge`, with the partial completion.
#[test]
fn event_over_the_size_limit_is_event_too_large() {
    let big = chunk(&"x".repeat(1000));
    let err = stream_error(events(&[&chunk("hi"), &big]), Some(200));
    check_error(&err, ErrorKind::EventTooLarge, "hi");
}

// Errors are reported once; the iterator then ends (fused), and the partial is in the error.
#[test]
fn chunk_iterator_reports_one_error_then_ends() {
    let body = events(&[&chunk("Hel"), "not json"]);
    let server = TestServer::start(move |_, r| r.sse(&body));
    let mut stream = client(&server).chat_chunks(&request()).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().content(), "Hel");
    let err = stream
        .next()
        .unwrap()
        .expect_err("second item is the error");
    check_error(&err, ErrorKind::Decode, "Hel");
    assert!(stream.next().is_none());
    assert!(stream.next().is_none());
}

// The raw escape hatch stops when its callback breaks, and reports a cut stream as truncated.
#[test]
fn post_stream_early_stop_and_truncation() {
    let server = TestServer::start(|req, r| {
        if req.index == 0 {
            r.sse(&events(&["one", "two", "three"]));
        } else {
            r.start_sse();
            r.chunk(b"data: one\n\ndata: tw");
            r.close();
        }
    });
    let client = client(&server);
    let mut seen = Vec::new();
    let stop_at_two = |e: sse::Event<'_>| {
        seen.push(e.data().to_string());
        if e.data() == "two" {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    client
        .post_stream("completions", &json!({}), stop_at_two)
        .expect("an early stop is a success");
    assert_eq!(seen, ["one", "two"]);
    let mut seen = Vec::new();
    let result = client.post_stream("completions", &json!({}), |e| {
        seen.push(e.data().to_string());
        ControlFlow::Continue(())
    });
    let err = result.expect_err("a cut stream fails");
    assert_eq!(err.kind(), ErrorKind::Truncated, "{err:?}");
    assert_eq!(seen, ["one"]);
}
