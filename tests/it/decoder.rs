//! `ChatDecoder`, the sans-IO core, against the blocking client: a differential test between
//! the two drivers of the same stream rules.
//!
//! Every recorded stream (`fixtures/sse/recorded/*.sse`) is fed to the decoder whole, byte by
//! byte, split at every point (near every interesting byte for the larger ones) and in seeded
//! random pieces (the split plans of `tests/support/fixture.rs`); `examples/replay.sse` too,
//! but for the single split points.
//! Every plan must give the same outcome: the chunks handed to the callback, and the
//! completion or the error (kind, API details, raw text, partial completion). That outcome
//! must be the one the blocking client gives for the same bytes served over loopback
//! (`Client::chat_chunks` and `Client::chat_stream`), whose results `tests/stream.rs` checks
//! against the expected completions in `fixtures/chat/`.
//!
//! Without the `client` feature only the decoder half runs: every plan agrees with the whole
//! input.

use crate::support::fixture;

use std::ops::ControlFlow;
use std::path::Path;

use chatstream::{ApiError, ChatChunk, ChatCompletion, ChatDecoder, Decoded, Error, ErrorKind};

/// Everything a driver shows of one stream.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    /// The chunks handed on, in order.
    chunks: Vec<ChatChunk>,
    result: Result<ChatCompletion, Failure>,
}

/// What an error shows, minus the HTTP response, which only the client knows.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    kind: ErrorKind,
    api: Option<ApiError>,
    raw: Option<String>,
    partial: Option<ChatCompletion>,
}

impl Outcome {
    fn new(chunks: Vec<ChatChunk>, result: Result<ChatCompletion, Error>) -> Self {
        let result = result.map(without_response).map_err(|e| Failure {
            kind: e.kind(),
            api: e.api().cloned().map(|mut api| {
                api.request_id = None;
                api
            }),
            raw: e.raw().map(str::to_owned),
            partial: e.into_partial().map(without_response),
        });
        Self { chunks, result }
    }
}

fn without_response(mut completion: ChatCompletion) -> ChatCompletion {
    completion.response = None;
    completion
}

/// The decoder fed `pieces` through its callback API, then finished.
fn decode_with_feed(pieces: &[&[u8]]) -> Outcome {
    let mut decoder = ChatDecoder::new();
    let mut chunks = Vec::new();
    for piece in pieces {
        let fed = decoder.feed(piece, |chunk| {
            chunks.push(chunk.clone());
            ControlFlow::Continue(())
        });
        match fed {
            Ok(flow) => assert_eq!(flow, ControlFlow::Continue(())),
            Err(e) => return Outcome::new(chunks, Err(e)),
        }
    }
    Outcome::new(chunks, decoder.finish())
}

/// The decoder fed `pieces` through its pull API, one event per call.
fn decode_with_pull(pieces: &[&[u8]]) -> Outcome {
    let mut decoder = ChatDecoder::new();
    let mut chunks = Vec::new();
    for piece in pieces {
        let mut rest = *piece;
        while !rest.is_empty() {
            let (decoded, consumed) = match decoder.decode(rest) {
                Ok(step) => step,
                Err(e) => return Outcome::new(chunks, Err(e)),
            };
            assert!(consumed <= rest.len());
            rest = &rest[consumed..];
            if let Decoded::Chunk(chunk) = decoded {
                chunks.push(chunk);
            }
        }
    }
    Outcome::new(chunks, decoder.finish())
}

/// The decoder given events framed by a separate SSE parser, through `decode_event`; as its
/// docs say, an unterminated last event whose data is `[DONE]` is passed on too.
fn decode_with_events(bytes: &[u8]) -> Outcome {
    let mut decoder = ChatDecoder::new();
    let mut parser = chatstream::sse::Parser::new();
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (status, consumed) = parser.feed(rest).expect("the fixtures frame");
        rest = &rest[consumed..];
        if status == chatstream::sse::Status::Event {
            let event = parser.event();
            match decoder.decode_event(event.event_type(), event.data()) {
                Ok(Some(chunk)) => chunks.push(chunk),
                Ok(None) => {}
                Err(e) => return Outcome::new(chunks, Err(e)),
            }
        }
    }
    parser.finish();
    if let Some(done) = parser.discarded().filter(|event| event.data() == "[DONE]") {
        let last = decoder.decode_event(done.event_type(), done.data());
        assert!(matches!(last, Ok(None)), "[DONE] gives no chunk: {last:?}");
    }
    Outcome::new(chunks, decoder.finish())
}

/// The streams both drivers get: every recorded fixture and the chat example's replay.
fn streams() -> Vec<(String, Vec<u8>)> {
    let mut streams: Vec<(String, Vec<u8>)> = fixture::all()
        .into_iter()
        .filter(|f| f.name.starts_with("recorded/"))
        .map(|f| (f.name, f.bytes))
        .collect();
    let replay = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/replay.sse");
    let bytes = std::fs::read(&replay).expect("examples/replay.sse");
    streams.push(("examples/replay.sse".to_owned(), bytes));
    assert!(streams.len() > 20, "found only {} streams", streams.len());
    streams
}

/// The decoder gives one outcome under every split plan, through both of its APIs.
#[test]
fn every_split_of_every_recorded_stream_decodes_alike() {
    for (name, bytes) in streams() {
        // The replay is not a recording and is 30 KB: it is split in seeded random pieces
        // only, which keeps the suite's time in check.
        let every_split = name.starts_with("recorded/");
        let whole = decode_with_feed(&[&bytes]);
        assert_eq!(decode_with_pull(&[&bytes]), whole, "{name} (pull, whole)");
        for plan in fixture::plans(&bytes) {
            if !every_split && matches!(plan, fixture::Plan::SplitAt(_)) {
                continue;
            }
            let pieces = plan.chunks(&bytes);
            assert_eq!(decode_with_feed(&pieces), whole, "{name} ({plan})");
            if matches!(
                plan,
                fixture::Plan::ByteByByte | fixture::Plan::Random { .. }
            ) {
                assert_eq!(decode_with_pull(&pieces), whole, "{name} (pull, {plan})");
            }
        }
    }
}

/// Events framed by another parser and given to `decode_event` come out as the bytes given to
/// `feed` do.
#[test]
fn events_framed_elsewhere_decode_like_bytes() {
    for (name, bytes) in streams() {
        assert_eq!(
            decode_with_events(&bytes),
            decode_with_feed(&[&bytes]),
            "{name}"
        );
    }
}

/// The decoder's verdicts on the streams that end each way (the other test would pass if the
/// decoder failed everything alike).
#[test]
fn recorded_streams_end_as_recorded() {
    let outcome = |name: &str| {
        let bytes = streams()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no stream {name}"))
            .1;
        decode_with_feed(&[&bytes])
    };
    let content = outcome("recorded/openai-content");
    let completion = content.result.expect("a complete stream");
    let streamed: String = content.chunks.iter().map(ChatChunk::content).collect();
    assert_eq!(completion.content(), streamed);
    assert!(!streamed.is_empty());
    let done = outcome("recorded/llamacpp-done-without-blank-line");
    assert!(done.result.is_ok(), "{done:?}");
    for (name, kind) in [
        ("recorded/openai-cut-before-done", ErrorKind::Truncated),
        ("recorded/openai-error-midstream", ErrorKind::Api),
        ("recorded/openrouter-error-in-chunk", ErrorKind::Api),
    ] {
        let failure = outcome(name).result.expect_err(name);
        assert_eq!(failure.kind, kind, "{name}");
        let partial = failure
            .partial
            .expect("an error after the stream began has a partial");
        assert!(
            !partial.choices.is_empty() || !partial.id.is_empty(),
            "{name}"
        );
    }
}

/// The same bytes served over loopback to the blocking client give what the decoder gives.
#[cfg(feature = "client")]
#[test]
fn the_client_over_loopback_agrees_with_the_decoder() {
    use crate::support::TestServer;
    use chatstream::{ChatRequest, Client, Message};

    let (server, body) = TestServer::replaying();
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    let request = ChatRequest::new("m", vec![Message::user("hi")]);
    for (name, bytes) in streams() {
        body.lock().unwrap().clone_from(&bytes);
        let decoded = decode_with_feed(&bytes.chunks(7).collect::<Vec<_>>());

        // The iterator.
        let mut stream = client.chat_chunks(&request).expect("the stream starts");
        let mut chunks = Vec::new();
        let mut error = None;
        for item in stream.by_ref() {
            match item {
                Ok(chunk) => chunks.push(chunk),
                Err(e) => error = Some(e),
            }
        }
        let result = error.map_or_else(|| Ok(stream.into_completion()), Err);
        assert_eq!(
            result
                .as_ref()
                .ok()
                .and_then(|c| c.response.as_ref())
                .map(chatstream::ResponseInfo::status),
            result.is_ok().then_some(200),
            "{name}: the client's completion carries its response"
        );
        assert_eq!(
            Outcome::new(chunks, result),
            decoded,
            "{name} (chat_chunks)"
        );

        // The callback.
        let mut chunks = Vec::new();
        let result = client.chat_stream(&request, |chunk| {
            chunks.push(chunk.clone());
            ControlFlow::Continue(())
        });
        assert_eq!(
            Outcome::new(chunks, result),
            decoded,
            "{name} (chat_stream)"
        );
    }
}
