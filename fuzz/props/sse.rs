//! The `sse_split` properties, shared by the fuzz target and the stable test suite
//! (`tests/it/main.rs` includes this file with `#[path]`; nothing here includes test code).
//!
//! For any bytes and any split plan: no panic, feeding never fails below the size limit,
//! the result is the same whatever the split (whole input, one byte per feed, the plan),
//! and it equals the naive oracle's (`naive_sse.rs`, beside this file).

use chatstream::sse::{Eof, Parser, Status};

#[path = "naive_sse.rs"]
pub mod naive_sse;

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

/// Checks `stream` split by `plan` (each plan byte is a chunk size `1 + b % 64`, cycled).
pub fn check_split(stream: &[u8], plan: &[u8]) {
    let whole = parse([stream]);
    let bytes = parse(stream.chunks(1));
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
            let (chunk, after) = tail.split_at((1 + usize::from(size % 64)).min(tail.len()));
            chunks.push(chunk);
            tail = after;
        }
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
}

/// One fuzz input: the first byte `k` says that the next `k % 16` bytes are the split plan;
/// the rest is the event stream.
pub fn check_input(input: &[u8]) {
    let Some((&k, rest)) = input.split_first() else {
        return;
    };
    let (plan, stream) = rest.split_at(usize::from(k % 16).min(rest.len()));
    check_split(stream, plan);
}
