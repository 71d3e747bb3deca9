//! Arbitrary bytes + an arbitrary split plan through `chatstream::sse::Parser`:
//! no panic, the same result however the input is split, and the same result as the naive oracle.
//!
//! Input layout: the first byte `k` says how many of the next bytes (`k % 16`) are the split plan;
//! each plan byte is a chunk size (`1 + b % 64`), cycled until the stream is used up.
//! The rest is the event stream.
#![no_main]

use chatstream::sse::{Eof, Parser, Status};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/naive_sse.rs"]
mod naive_sse;

use naive_sse::{NaiveEvent, NaiveOutcome};

/// Feeds `chunks` in order and describes the result in the oracle's shape.
fn parse<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> NaiveOutcome {
    let mut parser = Parser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        let mut rest = chunk;
        while !rest.is_empty() {
            // The default limit (16 MiB) is far above any fuzz input: feeding never fails.
            let (status, consumed) = parser.feed(rest).expect("no error below the limit");
            match status {
                Status::Event => {
                    assert!((1..=rest.len()).contains(&consumed));
                    let event = parser.event();
                    events.push(NaiveEvent {
                        event: event.event_type().to_string(),
                        data: event.data().to_string(),
                        id: event.last_event_id().to_string(),
                        retry: parser.reconnection_time(),
                    });
                }
                Status::NeedMoreInput => assert_eq!(consumed, rest.len()),
            }
            rest = &rest[consumed..];
        }
    }
    let eof = parser.finish();
    let discarded = parser
        .discarded()
        .map(|e| (e.event_type().to_string(), e.data().to_string()));
    assert_eq!(eof == Eof::Clean, discarded.is_none());
    NaiveOutcome { events, discarded }
}

fuzz_target!(|input: &[u8]| {
    let Some((&k, rest)) = input.split_first() else {
        return;
    };
    let (plan, stream) = rest.split_at(usize::from(k % 16).min(rest.len()));

    let whole = parse([stream]);
    let bytes = parse(stream.chunks(1));
    assert_eq!(
        whole, bytes,
        "one byte per feed differs from the whole input"
    );

    let mut chunks = Vec::new();
    let mut tail = stream;
    for &size in plan.iter().cycle() {
        if tail.is_empty() {
            break;
        }
        let (chunk, after) = tail.split_at((1 + usize::from(size % 64)).min(tail.len()));
        chunks.push(chunk);
        tail = after;
    }
    if !plan.is_empty() {
        assert_eq!(
            whole,
            parse(chunks),
            "split plan {plan:?} differs from the whole input"
        );
    }

    assert_eq!(
        whole,
        naive_sse::interpret(stream),
        "the parser disagrees with the naive oracle"
    );
});
