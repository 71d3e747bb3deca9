//! The Responses API: `ResponsesDecoder` on every fixture of `fixtures/responses-api/` under
//! every split plan, and the `Client` calls over real sockets against the loopback server of
//! `tests/support/`.
//!
//! - Every `NAME.sse` gives the result in `NAME.response.json` (format in
//!   `fixtures/README.md`, "`responses-api/`"): through the decoder whole, one byte per feed,
//!   split in two at every position and in seeded random chunkings; and through
//!   `Client::response_stream` / `Client::response_events` in several HTTP chunkings.
//! - The accumulation rules are checked against the servers' own final responses: a stream
//!   stripped of its terminal and `*.done` events rebuilds the same text, arguments and
//!   summaries from the deltas alone.
//!
//! No test sleeps to order events; the only time limits are the client timeouts under test.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::responses_props;
use crate::support::fixture;
use crate::support::outcome::error_json;
use crate::support::rng::SplitMix64;
use crate::support::{self, Responder, Signal, TestServer};
use chatstream::responses::{InputItem, OutputItem, ResponseTool, ResponseToolChoice};
use chatstream::sse::{Parser, Status};
use chatstream::{
    Client, Error, ErrorKind, Response, ResponseEvent, ResponseRequest, ResponsesDecoder, Timeout,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Fixtures.

struct Case {
    name: String,
    bytes: Vec<u8>,
    /// The expected outcome, normalised (see `normalise`).
    expected: Value,
    /// The expected event types, in order.
    events: Vec<String>,
    /// The output text of the expected response (`None` for an error).
    text: Option<String>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("responses-api")
}

/// Every `NAME.sse` with its `NAME.response.json`, sorted; fails on a file without its pair
/// and on any other file (except the `NAME.plain.json` of a recorded request).
fn cases() -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("fixtures/responses-api exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut cases = Vec::new();
    for file in &names {
        if let Some(stem) = file.strip_suffix(".sse") {
            let expected = format!("{stem}.response.json");
            assert!(names.contains(&expected), "{file} has no {expected}");
            cases.push(load(stem));
        } else if let Some(stem) = file.strip_suffix(".response.json") {
            assert!(names.contains(&format!("{stem}.sse")), "{file} has no .sse");
        } else if let Some(stem) = file.strip_suffix(".plain.json") {
            assert!(
                names.contains(&format!("{stem}.sse")),
                "{file} belongs to no recorded stream"
            );
        } else {
            panic!("unexpected file in fixtures/responses-api: {file}");
        }
    }
    assert!(cases.len() >= 12, "only {} fixtures", cases.len());
    cases
}

fn load(stem: &str) -> Case {
    let path = dir().join(format!("{stem}.response.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let object = value.as_object_mut().expect("an object");
    for key in object.keys() {
        let known = [
            "description",
            "events",
            "result",
            "response",
            "error",
            "partial",
        ];
        assert!(known.contains(&key.as_str()), "{stem}: unknown key {key:?}");
    }
    assert!(
        object.remove("description").is_some_and(|d| d.is_string()),
        "{stem}: a description is required"
    );
    let events = object
        .remove("events")
        .and_then(|e| serde_json::from_value(e).ok())
        .unwrap_or_else(|| panic!("{stem}: `events` must be a list of strings"));
    let expected = normalise(value);
    let text = (expected["result"] == "ok").then(|| {
        let response = Response::from_json(expected["response"].clone()).unwrap();
        response.output_text().into_owned()
    });
    Case {
        name: stem.to_owned(),
        bytes: std::fs::read(dir().join(format!("{stem}.sse"))).unwrap(),
        expected,
        events,
        text,
    }
}

/// The outcome with its response objects decoded and re-encoded, so that key order, number
/// spelling and `null` in known fields do not matter.
fn normalise(mut outcome: Value) -> Value {
    for key in ["response", "partial"] {
        if let Some(value) = outcome.get_mut(key) {
            if !value.is_null() {
                *value = Response::from_json(value.take())
                    .expect("an expected response decodes")
                    .to_json();
            }
        }
    }
    outcome
}

fn outcome(result: &Result<Response, Error>) -> Value {
    match result {
        Ok(response) => json!({"result": "ok", "response": response.to_json()}),
        Err(e) => {
            json!({
                "result": "error",
                "error": error_json(e),
                "partial": e.partial_response().map(Response::to_json),
            })
        }
    }
}

/// What one decode saw: the event types, the text deltas joined, and the outcome.
struct Run {
    events: Vec<String>,
    text: String,
    outcome: Value,
}

fn decode(chunks: &[&[u8]]) -> Run {
    let mut decoder = ResponsesDecoder::new();
    let mut events = Vec::new();
    let mut text = String::new();
    for chunk in chunks {
        let fed = decoder.feed(chunk, |event| {
            events.push(event.event_type().to_owned());
            if let ResponseEvent::OutputTextDelta(d) = event {
                text.push_str(&d.delta);
            }
            ControlFlow::Continue(())
        });
        if let Err(e) = fed {
            // Once failed, every later call reports the same error.
            let again = decoder.feed(b"event: x\ndata: {}\n\n", |_| ControlFlow::Continue(()));
            assert_eq!(
                again.map_err(|a| outcome(&Err(a))).unwrap_err(),
                outcome(&Err(e))
            );
            let finished = decoder.finish();
            return Run {
                events,
                text,
                outcome: outcome(&finished),
            };
        }
    }
    Run {
        events,
        text,
        outcome: outcome(&decoder.finish()),
    }
}

#[track_caller]
fn check_run(case: &Case, how: &str, run: &Run) {
    assert_eq!(
        run.outcome,
        case.expected,
        "{} ({how}): expected\n{}\ngot\n{}",
        case.name,
        serde_json::to_string_pretty(&case.expected).unwrap(),
        serde_json::to_string_pretty(&run.outcome).unwrap()
    );
    assert_eq!(
        run.events, case.events,
        "{} ({how}): event types",
        case.name
    );
    if let Some(text) = &case.text {
        assert_eq!(
            &run.text, text,
            "{} ({how}): the text deltas are the output text",
            case.name
        );
    }
}

// Every fixture through the decoder under every split plan gives its expected result.
#[test]
fn fixtures_decode_to_their_responses_under_every_split() {
    let mut runs = 0;
    for case in cases() {
        for plan in fixture::plans(&case.bytes) {
            let run = decode(&plan.chunks(&case.bytes));
            check_run(&case, &plan.to_string(), &run);
            runs += 1;
        }
    }
    assert!(runs > 10_000, "only {runs} decodes");
}

// The event-level entry point, fed by another SSE parser, agrees with `feed`.
#[test]
fn fixtures_through_decode_event_agree() {
    for case in cases() {
        let mut decoder = ResponsesDecoder::new();
        let mut parser = Parser::new();
        let mut events = Vec::new();
        let mut rest = &case.bytes[..];
        let mut failed = None;
        while !rest.is_empty() && failed.is_none() {
            let (status, n) = parser.feed(rest).unwrap();
            rest = &rest[n..];
            if status == Status::Event {
                let event = parser.event();
                match decoder.decode_event(event.event_type(), event.data()) {
                    Ok(Some(event)) => events.push(event.event_type().to_owned()),
                    Ok(None) => {}
                    Err(e) => failed = Some(e),
                }
            }
        }
        let result = match failed {
            Some(e) => Err(e),
            None => decoder.finish(),
        };
        assert_eq!(outcome(&result), case.expected, "{}", case.name);
        assert_eq!(events, case.events, "{}", case.name);
    }
}

// The accumulation rules against the servers' own final responses: without the terminal event
// and every `*.done` event, the deltas alone rebuild the same text, arguments and summaries,
// and the stream is Truncated.
#[test]
fn deltas_alone_rebuild_what_the_final_response_holds() {
    let mut checked = 0;
    for case in cases().into_iter().filter(|c| c.expected["result"] == "ok") {
        let mut parser = Parser::new();
        let mut kept = Vec::new();
        let _ = parser
            .feed_all(&case.bytes, |event| {
                let drop = event.event_type().ends_with(".done")
                    || matches!(
                        event.event_type(),
                        "response.completed" | "response.incomplete"
                    );
                if !drop {
                    kept.extend_from_slice(
                        format!("event: {}\ndata: {}\n\n", event.event_type(), event.data())
                            .as_bytes(),
                    );
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        let mut decoder = ResponsesDecoder::new();
        let _ = decoder.feed(&kept, |_| ControlFlow::Continue(())).unwrap();
        let error = decoder.finish().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Truncated, "{}", case.name);
        let partial = error.partial_response().unwrap();
        let final_response = Response::from_json(case.expected["response"].clone()).unwrap();
        assert_eq!(partial.id, final_response.id, "{}", case.name);
        assert_eq!(
            partial.output_text(),
            final_response.output_text(),
            "{}",
            case.name
        );
        assert_eq!(partial.refusal(), final_response.refusal(), "{}", case.name);
        assert_eq!(
            partial.reasoning_summary(),
            final_response.reasoning_summary(),
            "{}",
            case.name
        );
        let calls = |r: &Response| -> Vec<(String, String, String)> {
            r.function_calls()
                .map(|c| (c.call_id.clone(), c.name.clone(), c.arguments.clone()))
                .collect()
        };
        assert_eq!(calls(partial), calls(&final_response), "{}", case.name);
        let ids =
            |r: &Response| -> Vec<String> { r.output.iter().map(|i| i.id().to_owned()).collect() };
        assert_eq!(ids(partial), ids(&final_response), "{}", case.name);
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} successful streams");
}

// The non-streamed bodies of the recorded requests decode, keep every field, and give the same
// text, calls and usage fields as the stream of the same request.
#[test]
fn recorded_plain_bodies_decode_and_match_their_streams() {
    let mut checked = 0;
    for case in cases().into_iter().filter(|c| c.name.starts_with("llama-")) {
        let text =
            std::fs::read_to_string(dir().join(format!("{}.plain.json", case.name))).unwrap();
        let plain = Response::from_json_str(&text).unwrap();
        let raw: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            plain.to_json(),
            raw,
            "{}: the plain body round-trips",
            case.name
        );
        assert_eq!(Response::from_json(plain.to_json()).unwrap(), plain);
        let streamed = Response::from_json(case.expected["response"].clone()).unwrap();
        // The requests use a fixed seed: the same text and the same calls either way.
        assert_eq!(plain.output_text(), streamed.output_text(), "{}", case.name);
        let names =
            |r: &Response| -> Vec<String> { r.function_calls().map(|c| c.name.clone()).collect() };
        assert_eq!(names(&plain), names(&streamed), "{}", case.name);
        assert_eq!(plain.status.as_deref(), Some("completed"));
        let usage = plain.usage.as_ref().expect("usage");
        assert_eq!(
            usage.output_tokens,
            streamed.usage.as_ref().and_then(|u| u.output_tokens),
            "{}",
            case.name
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

// ---------------------------------------------------------------------------------------------
// Over loopback.

fn builder(server: &TestServer) -> chatstream::ClientBuilder {
    Client::builder().base_url(server.base_url()).max_retries(0)
}

fn client(server: &TestServer) -> Client {
    builder(server).build().expect("client builds")
}

fn request() -> ResponseRequest {
    ResponseRequest::new("test-model", "hi")
}

/// Chunk sizes that end each chunk right after an event's blank line.
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

/// Serves `body` in the `how`-th HTTP chunking: whole, one byte per chunk, seven bytes per
/// chunk, one event per chunk, and whole then a close without the chunked terminator.
fn serve(r: &mut Responder, body: &[u8], how: usize) {
    match how % 5 {
        0 => r.sse(body),
        1 => r.sse_in_chunks(body, &vec![1; body.len()]),
        2 => r.sse_in_chunks(body, &vec![7; body.len().div_ceil(7)]),
        3 => r.sse_in_chunks(body, &event_sizes(body)),
        _ => {
            r.start_sse();
            r.chunk(body);
            r.close();
        }
    }
}

// Every fixture over loopback, in five HTTP chunkings through `response_stream` and once
// through `response_events`, gives its expected result; the requests are streamed POSTs to
// /responses.
#[test]
fn fixtures_over_loopback_give_their_responses() {
    for case in cases() {
        let body = Arc::new(case.bytes.clone());
        let served = body.clone();
        let server = TestServer::start(move |req, r| serve(r, &served, req.index));
        let client = client(&server);
        for how in 0..5 {
            let mut events = Vec::new();
            let mut text = String::new();
            let result = client.response_stream(&request(), |event| {
                events.push(event.event_type().to_owned());
                if let ResponseEvent::OutputTextDelta(d) = event {
                    text.push_str(&d.delta);
                }
                ControlFlow::Continue(())
            });
            if let Ok(response) = &result {
                assert_eq!(
                    response.info.as_ref().map(chatstream::ResponseInfo::status),
                    Some(200)
                );
            }
            check_run(
                &case,
                &format!("response_stream, chunking {how}"),
                &Run {
                    events,
                    text,
                    outcome: outcome(&result),
                },
            );
        }
        let mut stream = client.response_events(&request()).expect("stream starts");
        let mut events = Vec::new();
        let mut error = None;
        for item in stream.by_ref() {
            match item {
                Ok(event) => events.push(event.event_type().to_owned()),
                Err(e) => error = Some(e),
            }
        }
        let result = error.map_or_else(|| Ok(stream.into_response()), Err);
        assert_eq!(
            outcome(&result),
            case.expected,
            "{} (response_events)",
            case.name
        );
        assert_eq!(events, case.events, "{} (response_events)", case.name);

        let requests = server.requests();
        assert_eq!(requests.len(), 6, "{}", case.name);
        for req in requests {
            assert_eq!(
                (req.method.as_str(), req.path.as_str()),
                ("POST", "/v1/responses")
            );
            assert_eq!(req.json()["stream"], true);
            assert_eq!(req.json()["input"], "hi");
        }
    }
}

// The plain call posts the request without `stream` and decodes the body; retrieval is a GET
// of /responses/{id}; an id that is not a plain path segment is refused before sending.
#[test]
fn plain_call_and_retrieval() {
    let body = std::fs::read_to_string(dir().join("llama-function-call.plain.json")).unwrap();
    let served = body.clone();
    let server = TestServer::start(move |_, r| {
        r.json_with_headers(200, &[("x-request-id", "req_plain")], &served);
    });
    let client = client(&server);
    let request = request()
        .instructions("Be brief.")
        .tool(ResponseTool::function(
            "get_weather",
            "Weather",
            json!({"type": "object"}),
        ))
        .tool_choice(ResponseToolChoice::Required);
    let response = client.response(&request).unwrap();
    assert_eq!(response, {
        let mut expected = Response::from_json_str(&body).unwrap();
        expected.info.clone_from(&response.info);
        expected
    });
    assert_eq!(
        response.info.as_ref().and_then(|i| i.request_id()),
        Some("req_plain")
    );
    let call = response.function_calls().next().expect("a function call");
    assert_eq!(call.name, "get_weather");
    assert!(call.arguments_json().unwrap()["city"].is_string());

    let retrieved = client.retrieve_response(&response.id).unwrap();
    assert_eq!(retrieved.id, response.id);

    let refused = client.retrieve_response("../models").unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Config);
    assert_eq!(
        client.retrieve_response("").unwrap_err().kind(),
        ErrorKind::Config
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "nothing was sent for the refused ids");
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/v1/responses")
    );
    let sent = requests[0].json();
    assert!(sent.get("stream").is_none());
    assert_eq!(sent["instructions"], "Be brief.");
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.clone()),
        ("GET", format!("/v1/responses/{}", response.id))
    );
}

// An HTTP error before the stream is an Api error without a partial; the request id is kept.
#[test]
fn http_error_before_the_stream() {
    let server = TestServer::start(|_, r| {
        r.json_with_headers(
            401,
            &[("x-request-id", "req_401")],
            r#"{"error":{"message":"Invalid API Key","type":"authentication_error","code":401}}"#,
        );
    });
    let error = client(&server)
        .response_stream(&request(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Api);
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.request_id(), Some("req_401"));
    assert_eq!(error.api().unwrap().message, "Invalid API Key");
    assert!(error.partial_response().is_none());
}

// An error event inside the stream reports the stream's request id, and the partial carries
// the HTTP response it came from.
#[test]
fn stream_errors_carry_the_request_id_and_response_info() {
    let body = std::fs::read(dir().join("openai-failed.sse")).unwrap();
    let server = TestServer::start(move |_, r| {
        r.start_chunked(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("x-request-id", "req_f"),
            ],
        );
        r.chunk(&body);
        r.end_chunked();
    });
    let error = client(&server)
        .response_stream(&request(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Api);
    assert_eq!(error.request_id(), Some("req_f"));
    let partial = error.partial_response().unwrap();
    assert_eq!(partial.status.as_deref(), Some("failed"));
    assert_eq!(
        partial.info.as_ref().and_then(|i| i.request_id()),
        Some("req_f")
    );
}

// Break stops at once: the connection is closed and the response rebuilt so far is returned.
// The server sends the next event only after the test saw the previous one, so a client that
// buffered would fail on the support code's bounded wait.
#[test]
fn break_returns_what_arrived_and_events_arrive_one_by_one() {
    let body = std::fs::read(dir().join("openai-text.sse")).unwrap();
    let events: Vec<Vec<u8>> = {
        let sizes = event_sizes(&body);
        let mut at = 0;
        sizes
            .iter()
            .map(|n| {
                let e = body[at..at + n].to_vec();
                at += n;
                e
            })
            .collect()
    };
    let next = Arc::new(Signal::new());
    let signal = next.clone();
    let server = TestServer::start(move |_, r| {
        let slices: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
        r.sse_paced(&slices, &signal);
    });
    let mut seen = 0;
    let response = client(&server)
        .response_stream(&request(), |event| {
            seen += 1;
            if event.text_delta().is_some() {
                return ControlFlow::Break(());
            }
            next.send();
            ControlFlow::Continue(())
        })
        .unwrap();
    // created, in_progress, output_item.added, content_part.added, the first delta.
    assert_eq!(seen, 5);
    assert_eq!(response.output_text(), "Hallo 🌍");
    assert_eq!(response.status.as_deref(), Some("in_progress"));
}

// The stream idle limit applies to Responses streams as to chat streams.
#[test]
fn idle_timeout_keeps_the_partial() {
    let server = TestServer::start(|_, r| {
        r.start_sse();
        r.chunk(b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_t\",\"status\":\"in_progress\",\"output\":[]}}\n\n");
        r.hold();
    });
    let client = builder(&server)
        .stream_idle_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client
        .response_stream(&request(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert_eq!(error.timeout(), Some(Timeout::StreamIdle));
    assert_eq!(
        error.partial_response().map(|r| r.id.as_str()),
        Some("resp_t")
    );
}

// ---------------------------------------------------------------------------------------------
// Decoder rules not covered by a fixture.

fn feed_all(decoder: &mut ResponsesDecoder, bytes: &[u8]) -> Result<Vec<ResponseEvent>, Error> {
    let mut events = Vec::new();
    let _ = decoder.feed(bytes, |e| {
        events.push(e.clone());
        ControlFlow::Continue(())
    })?;
    Ok(events)
}

#[test]
fn terminal_event_without_its_blank_line_still_ends_the_stream() {
    let mut decoder = ResponsesDecoder::new();
    feed_all(
        &mut decoder,
        b"data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[]}}\n",
    )
    .unwrap();
    assert!(!decoder.is_done());
    assert_eq!(
        decoder.finish().unwrap().status.as_deref(),
        Some("completed")
    );

    // Not for an event that is not terminal, nor for an unterminated line.
    for cut in [
        &b"data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n"[..],
        b"data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\"}}",
    ] {
        let mut decoder = ResponsesDecoder::new();
        feed_all(&mut decoder, cut).unwrap();
        assert_eq!(decoder.finish().unwrap_err().kind(), ErrorKind::Truncated);
    }
}

// The same over loopback, through both blocking calls: the server closes right after the
// terminal event's line, and the call still returns the response and hands on that event.
#[test]
fn terminal_event_without_its_blank_line_ends_a_call() {
    let body: &[u8] = b"data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\",\"output_index\":0,\"content_index\":0}\n\n\
        data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[]}}\n";
    let server = TestServer::start(move |_, r| serve(r, body, 4));
    let client = client(&server);
    let mut seen = Vec::new();
    let response = client
        .response_stream(&request(), |event| {
            seen.push(event.event_type().to_owned());
            ControlFlow::Continue(())
        })
        .expect("a success");
    assert_eq!(response.status.as_deref(), Some("completed"));
    assert_eq!(seen, ["response.output_text.delta", "response.completed"]);
    let mut stream = client.response_events(&request()).expect("stream starts");
    let types: Vec<String> = stream
        .by_ref()
        .map(|event| event.expect("no error").event_type().to_owned())
        .collect();
    assert_eq!(types, ["response.output_text.delta", "response.completed"]);
    assert_eq!(stream.into_response().status.as_deref(), Some("completed"));
}

// After the terminal event the stream reads the rest of the body (here a comment sent after
// it), so the next call reuses the connection, whether the events were pulled or pushed.
#[test]
fn a_finished_stream_leaves_its_connection_for_the_next_call() {
    let server = TestServer::start(|_, r| {
        r.start_sse();
        r.chunk(b"data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[]}}\n\n");
        r.chunk(b": after the end\n\n");
        r.end_chunked();
    });
    let client = client(&server);
    let mut stream = client.response_events(&request()).expect("stream starts");
    assert_eq!(stream.by_ref().count(), 1);
    assert_eq!(stream.into_response().status.as_deref(), Some("completed"));
    client
        .response_stream(&request(), |_| ControlFlow::Continue(()))
        .expect("a success");
    client
        .response_stream(&request(), |_| ControlFlow::Continue(()))
        .expect("a success");
    assert_eq!(server.request_count(), 3);
    assert_eq!(server.connection_count(), 1);
}

#[test]
fn skipped_events_and_events_after_the_end() {
    let mut decoder = ResponsesDecoder::new();
    let events = feed_all(
        &mut decoder,
        b": comment\n\ndata:\n\ndata: [DONE]\n\n\
          data: {\"type\":\"response.incomplete\",\"response\":{\"id\":\"r\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n\
          data: {\"type\":\"response.output_text.delta\",\"delta\":\"late\"}\n\n",
    )
    .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(decoder.is_done());
    let response = decoder.finish().unwrap();
    assert_eq!(response.incomplete_reason(), Some("max_output_tokens"));
    assert_eq!(response.output_text(), "");
}

#[test]
fn decode_errors_and_error_events_that_are_not_json() {
    let mut decoder = ResponsesDecoder::new();
    let error = feed_all(
        &mut decoder,
        b"event: response.created\ndata: {not json\n\n",
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert_eq!(error.raw(), Some("{not json"));
    assert_eq!(decoder.finish().unwrap_err().kind(), ErrorKind::Decode);

    // A known event of the wrong shape.
    let mut decoder = ResponsesDecoder::new();
    let error = feed_all(
        &mut decoder,
        b"data: {\"type\":\"response.completed\",\"response\":[]}\n\n",
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);

    // `event: error` with plain text is still the server's error.
    let mut decoder = ResponsesDecoder::new();
    let error = feed_all(&mut decoder, b"event: error\ndata: upstream overloaded\n\n").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Api);
    assert_eq!(error.api().unwrap().message, "upstream overloaded");

    // The SSE name `error` decides, whatever type the JSON claims; the callback sees the event.
    let mut decoder = ResponsesDecoder::new();
    let mut seen = Vec::new();
    let error = decoder
        .feed(
            b"event: error\ndata: {\"type\":\"server_error\",\"message\":\"boom\"}\n\n",
            |e| {
                seen.push(e.event_type().to_owned());
                ControlFlow::Continue(())
            },
        )
        .unwrap_err();
    assert_eq!(seen, ["server_error"]);
    assert_eq!(error.api().unwrap().message, "boom");

    // Through the event-level entry point, a plain-text error event is an error at once.
    let mut decoder = ResponsesDecoder::new();
    let error = decoder.decode_event("error", "overloaded").unwrap_err();
    assert_eq!(error.api().unwrap().message, "overloaded");
    assert_eq!(decoder.finish().unwrap_err().kind(), ErrorKind::Api);

    // The nested error shape.
    let mut decoder = ResponsesDecoder::new();
    let error = feed_all(
        &mut decoder,
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"code\":\"bad\",\"message\":\"no\",\"param\":\"input\"}}\n\n",
    )
    .unwrap_err();
    let api = error.api().unwrap();
    assert_eq!(
        (
            api.message.as_str(),
            api.error_type.as_deref(),
            api.code.as_deref(),
            api.param.as_deref()
        ),
        (
            "no",
            Some("invalid_request_error"),
            Some("bad"),
            Some("input")
        )
    );
}

#[test]
fn event_size_limit() {
    let mut decoder = ResponsesDecoder::with_max_event_size(64);
    let error = feed_all(
        &mut decoder,
        format!(
            "data: {{\"type\":\"x\",\"pad\":\"{}\"}}\n\n",
            "a".repeat(100)
        )
        .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::EventTooLarge);
}

#[test]
fn unnamed_events_take_their_type_from_the_sse_name() {
    let mut decoder = ResponsesDecoder::new();
    let events = feed_all(
        &mut decoder,
        b"event: response.output_text.delta\ndata: {\"item_id\":\"m\",\"delta\":\"a\"}\n\n\
          event: vendor.ping\ndata: {\"n\":1}\n\n",
    )
    .unwrap();
    assert_eq!(events[0].text_delta(), Some("a"));
    let ResponseEvent::Other(other) = &events[1] else {
        panic!("{:?}", events[1])
    };
    assert_eq!(
        (other.name.as_str(), &other.data),
        ("vendor.ping", &json!({"type": "vendor.ping", "n": 1}))
    );
    assert_eq!(decoder.response().output_text(), "a");
}

// A function call result goes back as input items: the call, then its output.
#[test]
fn function_call_round_trip_as_input() {
    let text = std::fs::read_to_string(dir().join("llama-function-call.plain.json")).unwrap();
    let response = Response::from_json_str(&text).unwrap();
    let mut input = vec![InputItem::user("What is the weather in Paris?")];
    for item in &response.output {
        if let OutputItem::FunctionCall(call) = item {
            input.push(item.clone().into());
            input.push(InputItem::function_call_output(
                &call.call_id,
                r#"{"temp": 21}"#,
            ));
        }
    }
    let body = ResponseRequest::new("m", input).to_json();
    assert_eq!(body["input"][1]["type"], "function_call");
    assert_eq!(body["input"][1]["call_id"], body["input"][2]["call_id"]);
    assert_eq!(body["input"][2]["output"], r#"{"temp": 21}"#);
    assert!(matches!(response.output[0], OutputItem::FunctionCall(_)));
}

// ---------------------------------------------------------------------------------------------
// The types: nothing lost, and damaged input never panics.

/// The non-null leaves of a JSON value, by path (`null` in a known field is the same as an
/// absent field, so nulls are not compared).
fn leaves(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (key, v) in map {
                leaves(v, format!("{path}/{key}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{path}/{i}"), out);
            }
        }
        leaf => out.push((path, leaf.clone())),
    }
}

/// The data of every event of every fixture, as JSON.
fn fixture_events() -> Vec<(String, String, String)> {
    let mut all = Vec::new();
    for case in cases() {
        let _ = Parser::new().feed_all(&case.bytes, |event| {
            all.push((
                case.name.clone(),
                event.event_type().to_owned(),
                event.data().to_owned(),
            ));
            ControlFlow::Continue(())
        });
    }
    all
}

// Every event of every fixture decodes, and `to_json` writes back every non-null value it
// held, and decodes to the same event.
#[test]
fn fixture_events_round_trip_without_loss() {
    let mut checked = 0;
    for (name, _, data) in fixture_events() {
        let Ok(original) = serde_json::from_str::<Value>(&data) else {
            continue; // the cut line of openai-cut is never dispatched; nothing else is not JSON
        };
        let event = ResponseEvent::from_json(original.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}: {data}"));
        let json = event.to_json();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        leaves(&original, String::new(), &mut want);
        leaves(&json, String::new(), &mut got);
        // Everything is written back; what is added are the defaults of absent fields.
        let missing: Vec<_> = want.iter().filter(|leaf| !got.contains(leaf)).collect();
        assert!(missing.is_empty(), "{name}: lost {missing:?} of {data}");
        let added: Vec<_> = got.iter().filter(|leaf| !want.contains(leaf)).collect();
        assert!(
            added
                .iter()
                .all(|(_, v)| *v == json!("") || *v == json!([])),
            "{name}: added {added:?} to {data}"
        );
        assert_eq!(ResponseEvent::from_json(json).unwrap(), event, "{name}");
        checked += 1;
    }
    assert!(checked > 150, "only {checked} events");
}

/// Replaces one random node of `value` (or removes one key) with a value of another kind.
fn mutate(value: &mut Value, rng: &mut SplitMix64) {
    let root: *const Value = value;
    let replacements = [
        json!(null),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!("x"),
        json!(""),
        json!(true),
        json!([]),
        json!({}),
        json!([{}]),
        json!({"type": "message", "content": "text"}),
    ];
    let mut node = value;
    loop {
        let children = match node {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        // The root stays an object: a scalar event is a plain decode error, tested elsewhere.
        let at_root = std::ptr::eq(node, root);
        if children == 0 || (!at_root && rng.below(3) == 0) {
            break;
        }
        let i = rng.below(children);
        node = match node {
            Value::Object(map) => {
                if rng.below(4) == 0 {
                    let key = map.keys().nth(i).cloned().unwrap();
                    map.remove(&key);
                    return;
                }
                map.values_mut().nth(i).unwrap()
            }
            Value::Array(items) => &mut items[i],
            _ => unreachable!(),
        };
    }
    *node = replacements[rng.below(replacements.len())].clone();
}

// Damaged events (a node replaced by a value of another kind, a key removed) never panic the
// decoder, and whatever decodes normalises once: `to_json` output decodes and re-encodes
// identically, events and rebuilt responses alike.
#[test]
fn damaged_events_never_panic_and_normalise_once() {
    let events = fixture_events();
    let mut rng = SplitMix64::new(0x5EED);
    let mut decoded = 0;
    for round in 0..60 {
        let mut decoder = ResponsesDecoder::new();
        for (name, event_type, data) in &events {
            let Ok(mut value) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            for _ in 0..=rng.below(3) {
                mutate(&mut value, &mut rng);
            }
            if let Ok(event) = ResponseEvent::from_json(value.clone()) {
                let json = event.to_json();
                let again = ResponseEvent::from_json(json.clone())
                    .unwrap_or_else(|e| panic!("round {round}, {name}: {e}: {json}"));
                assert_eq!(again.to_json(), json, "round {round}, {name}");
                decoded += 1;
            }
            if decoder.is_done() {
                decoder = ResponsesDecoder::new();
            }
            let _ = decoder.decode_event(event_type, &value.to_string());
            let response = decoder.response().to_json();
            let again = Response::from_json(response.clone()).expect("a rebuilt response decodes");
            assert_eq!(again.to_json(), response, "round {round}, {name}");
        }
    }
    assert!(decoded > 8_000, "only {decoded} damaged events decoded");
}

// ---------------------------------------------------------------------------------------------
// The embedded replay stream and the `chat` example's `--api responses`.

// The Responses stream the example replays decodes whole, byte by byte and in the seeded random
// chunkings (it is not a fixture: the single splits of its 25 KB are left to the fixtures).
#[test]
fn example_replay_stream_decodes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/replay-responses.sse");
    let bytes = std::fs::read(path).unwrap();
    let mut expected = None;
    let plans = fixture::plans(&bytes).into_iter();
    for plan in plans.filter(|p| !matches!(p, fixture::Plan::SplitAt(_))) {
        let run = decode(&plan.chunks(&bytes));
        assert_eq!(run.outcome["result"], "ok", "{plan}: {}", run.outcome);
        let response = Response::from_json(run.outcome["response"].clone()).unwrap();
        assert_eq!(response.output_text(), run.text, "{plan}");
        assert!(run.text.contains("naïve café"), "{plan}");
        match &expected {
            None => expected = Some(run.outcome),
            Some(first) => assert_eq!(&run.outcome, first, "{plan}"),
        }
    }
}

/// Runs the example with `--api responses` against `server`; returns the exit code, stdout
/// and stderr.
fn run_example(server: &TestServer, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(support::example::build("chat"))
        .args(["--api", "responses"])
        .args(args)
        .arg("hello")
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_MODEL", "test-model")
        .output()
        .expect("run the chat example");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// `--api responses`: the same flags map to the Responses request; text to stdout, function
// calls and reasoning summaries to stderr; `--json` prints the response object; an error
// exits 1 after printing what arrived; `-n` is a usage error.
#[test]
fn chat_example_api_responses() {
    let fixture = |name: &str| std::fs::read(dir().join(name)).unwrap();
    let bodies = [
        fixture("openai-text.sse"),
        fixture("openai-text.sse"),
        fixture("llama-function-call.plain.json"),
        fixture("openai-reasoning.sse"),
        fixture("openai-event-error.sse"),
    ];
    let server = TestServer::start(move |req, r| {
        let body = &bodies[req.index];
        if req.index == 2 {
            r.json(200, std::str::from_utf8(body).unwrap());
        } else {
            r.sse(body);
        }
    });
    let text = "Hallo 🌍! 你好，世界。\n\nBye\u{2028}now.";

    let (code, out, err) = run_example(
        &server,
        &[
            "--system",
            "Be brief.",
            "--max-tokens",
            "20",
            "--temperature",
            "0.5",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{text}\n"));
    assert!(
        err.contains("[status: completed]")
            && err.contains("[usage: 19 input + 14 output = 33 tokens]"),
        "{err}"
    );

    let (code, out, err) = run_example(&server, &["--json"]);
    assert_eq!(code, Some(0), "{err}");
    let json: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(json["object"], "response");
    assert_eq!(Response::from_json(json).unwrap().output_text(), text);

    let (code, out, err) = run_example(&server, &["--no-stream"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("[function call call_") && err.contains(" get_weather({"),
        "{err}"
    );

    let (code, out, err) = run_example(&server, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "Because air scatters blue light more.\n");
    assert!(err.contains("The user asks why the sky is blue."), "{err}");
    assert!(
        err.contains("Rayleigh scattering: shorter wavelengths scatter more."),
        "{err}"
    );

    let (code, out, err) = run_example(&server, &["--json"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("An error occurred while processing your request"),
        "{err}"
    );
    let partial: Value = serde_json::from_str(&out).expect("the partial response");
    assert_eq!(
        Response::from_json(partial).unwrap().output_text(),
        "Once upon a time"
    );

    let (code, _, err) = run_example(&server, &["-n", "2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("-n"), "{err}");

    let requests = server.requests();
    assert_eq!(requests.len(), 5, "nothing is sent for a usage error");
    let first = requests[0].json();
    assert_eq!(
        (
            &first["model"],
            &first["instructions"],
            &first["max_output_tokens"],
            &first["temperature"]
        ),
        (
            &json!("test-model"),
            &json!("Be brief."),
            &json!(20),
            &json!(0.5)
        )
    );
    assert_eq!(first["input"], "hello");
    assert_eq!(first["stream"], true);
    assert!(requests[2].json().get("stream").is_none());
    assert!(requests.iter().all(|r| r.path == "/v1/responses"));
}

// The `responses_stream` fuzz target's properties on every fixture, the example's replay
// stream, their cut-off prefixes and the committed seeds, so that they run without a fuzzer.
#[test]
fn fuzz_properties_hold_on_the_fixtures_and_seeds() {
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    let mut streams: Vec<Vec<u8>> = cases().into_iter().map(|c| c.bytes).collect();
    let replay = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/replay-responses.sse");
    streams.push(std::fs::read(replay).unwrap());
    for stream in &streams {
        // Split plans of 1, 3 and 5 chunk sizes; the whole stream and two cut-off prefixes.
        for (plan, cut) in [
            (&[0u8][..], 1),
            (&[6, 63, 1][..], 2),
            (&[2, 8, 3, 64, 14][..], 3),
        ] {
            let mut input = vec![plan.len() as u8];
            input.extend_from_slice(plan);
            input.extend_from_slice(&stream[..stream.len() * cut / 3]);
            inputs.push(input);
        }
    }
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/responses_stream");
    if let Ok(entries) = std::fs::read_dir(seeds) {
        for entry in entries {
            inputs.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    for input in &inputs {
        responses_props::check_input(input);
    }
    assert!(inputs.len() >= 39, "only {} inputs", inputs.len());
}
