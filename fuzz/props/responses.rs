//! The `responses_stream` properties, shared by the fuzz target and the stable suite
//! (`tests/it/responses.rs` includes this file with `#[path]`).
//!
//! For any bytes and any split plan, through `ResponsesDecoder`: no panic; the same events and
//! the same result (response or error, with its partial) whatever the split (whole input, one
//! byte per feed, the plan); no event after the stream's end; every event's and every
//! response's `to_json` decodes and re-encodes to the same JSON.
//!
//! Input layout: the first byte `k` says that the next `k % 16` bytes are a split plan (each a
//! chunk size `1 + b % 64`, cycled); the rest is the event stream.

use std::ops::ControlFlow;

use chatstream::{Error, Response, ResponseEvent, ResponsesDecoder};
use serde_json::{Value, json};

/// What one decode gave: every event as JSON, and the outcome.
#[derive(Debug, PartialEq)]
struct Decoded {
    events: Vec<Value>,
    outcome: Value,
}

fn outcome(result: &Result<Response, Error>) -> Value {
    match result {
        Ok(response) => json!({"ok": checked(response)}),
        Err(e) => json!({
            "kind": format!("{:?}", e.kind()),
            "api": e.api().map(|a| (a.message.clone(), a.code.clone(), a.in_stream)),
            "raw": e.raw(),
            "partial": e.partial_response().map(checked),
        }),
    }
}

/// A response's JSON, checked to decode and re-encode to itself.
fn checked(response: &Response) -> Value {
    let json = response.to_json();
    let again = Response::from_json(json.clone()).expect("to_json output decodes");
    assert_eq!(again.to_json(), json, "a response does not normalise once");
    json
}

fn decode<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    let mut decoder = ResponsesDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        let was_done = decoder.is_done();
        let fed = decoder.feed(chunk, |event| {
            assert!(!was_done, "an event after the end: {event:?}");
            let json = event.to_json();
            let again = ResponseEvent::from_json(json.clone()).expect("to_json output decodes");
            assert_eq!(again.to_json(), json, "an event does not normalise once");
            events.push(json);
            ControlFlow::Continue(())
        });
        if let Err(e) = fed {
            assert!(decoder.is_done(), "a failed decoder is done");
            let finished = decoder.finish();
            let same = finished.as_ref().map_err(Error::kind).err() == Some(e.kind());
            assert!(
                same,
                "finish reports another error than feed: {e} / {finished:?}"
            );
            return Decoded {
                events,
                outcome: outcome(&Err(e)),
            };
        }
    }
    let snapshot = checked(&decoder.response());
    let finished = decoder.finish();
    if let Ok(response) = &finished {
        assert_eq!(
            checked(response),
            snapshot,
            "finish differs from the last snapshot"
        );
    }
    Decoded {
        events,
        outcome: outcome(&finished),
    }
}

/// Checks one fuzz input (see the module docs for its layout).
pub fn check_input(input: &[u8]) {
    let Some((&k, rest)) = input.split_first() else {
        return;
    };
    let (plan, stream) = rest.split_at(usize::from(k % 16).min(rest.len()));
    let whole = decode([stream]);
    let bytes = decode(stream.chunks(1));
    assert_eq!(
        whole, bytes,
        "one byte per feed differs from the whole input"
    );
    if !plan.is_empty() {
        let mut chunks = Vec::new();
        let mut tail = stream;
        for &size in plan.iter().cycle() {
            if tail.is_empty() {
                break;
            }
            let (chunk, next) = tail.split_at((1 + usize::from(size % 64)).min(tail.len()));
            chunks.push(chunk);
            tail = next;
        }
        assert_eq!(
            whole,
            decode(chunks),
            "the split plan differs from the whole input"
        );
    }
}
