//! Zero allocations in steady state: after one warm-up pass, parsing a stream again allocates
//! nothing, whether fed directly, with invalid UTF-8 (the lossy path), or through `EventReader`.
//!
//! This is its own test binary because it installs a counting `#[global_allocator]`
//! (`counting_allocator.rs`, shared with `bench/compare`).
//! Only allocations made by the current thread while counting is switched on are counted, so the
//! test harness's other threads cannot disturb the result.

mod counting_allocator;

use std::io::{self, Read};
use std::ops::ControlFlow;

use chatstream::sse::{Eof, EventReader, Parser, Status};
use counting_allocator::{CountingAllocator, count_allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocations (including reallocations) this thread made.
fn allocations_during(f: impl FnOnce()) -> u64 {
    count_allocations(f).1
}

/// Realistic streams: recorded provider shapes plus one using every field (event, id, retry).
const STREAMS: &[(&str, &[u8])] = &[
    (
        "openai-content",
        include_bytes!("../../fixtures/sse/recorded/openai-content.sse"),
    ),
    (
        "openai-tool-calls",
        include_bytes!("../../fixtures/sse/recorded/openai-tool-calls.sse"),
    ),
    (
        "openrouter-keepalive",
        include_bytes!("../../fixtures/sse/recorded/openrouter-keepalive.sse"),
    ),
    (
        "responses",
        include_bytes!("../../fixtures/sse/recorded/openai-responses-event-error.sse"),
    ),
    (
        "all-fields",
        b"retry: 3000\r\nid: 1\r\nevent: delta\r\ndata: {\"n\":1}\r\n\r\n: ping\r\n\r\n\
          id: 22\nevent: delta\ndata: {\"n\":2}\ndata: more\n\nid\nevent: done\ndata: {}\n\n",
    ),
];

/// A stream whose data, event type and id need U+FFFD replacement.
const INVALID_UTF8: &[u8] =
    b"event: t\xff\nid: \xed\xa0\x80\ndata: a\xc0\xafb\ndata: \xe4\xb8\n\nevent: u\xfe\ndata: \xf0\x9f\n\n";

/// Parses `input` in chunks of `chunk` bytes, checking each event's data against `expected`
/// (a comparison, which allocates nothing), then finishes and resets the parser.
fn parse(parser: &mut Parser, input: &[u8], chunk: usize, expected: &[String]) {
    let mut seen = 0;
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (status, consumed) = parser.feed(rest).expect("under the limit");
            if status == Status::Event {
                assert!(parser.event().data() == expected[seen], "event #{seen}");
                seen += 1;
            }
            rest = &rest[consumed..];
        }
    }
    assert!(seen == expected.len(), "event count");
    assert!(parser.finish() == Eof::Clean, "clean end");
    parser.reset();
}

/// The data of every event of `input` (outside any measurement).
fn expected_data(input: &[u8]) -> Vec<String> {
    let mut parser = Parser::new();
    let mut data = Vec::new();
    let flow = parser.feed_all(input, |event| {
        data.push(event.data().to_string());
        ControlFlow::Continue(())
    });
    assert_eq!(flow, Ok(ControlFlow::Continue(())));
    assert_eq!(parser.finish(), Eof::Clean);
    assert!(!data.is_empty());
    data
}

/// A reader over a slice returning at most `chunk` bytes per `read`; it never allocates.
struct SliceReader<'a> {
    bytes: &'a [u8],
    chunk: usize,
}

impl Read for SliceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// One test function, so the measurements run one after the other on this thread.
#[test]
fn steady_state_parsing_allocates_nothing() {
    // The counter itself works: a measured allocation is seen.
    let count = allocations_during(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(count, 1, "the counting allocator counts");
    let mut streams: Vec<(&str, &[u8])> = STREAMS.to_vec();
    streams.push(("invalid-utf8", INVALID_UTF8));
    // Every measurement runs; the failures are reported together at the end.
    let mut failures = Vec::new();

    for (name, input) in streams {
        let expected = expected_data(input);

        // Direct feeding, whole and in small chunks, after one warm-up pass.
        let mut parser = Parser::new();
        parse(&mut parser, input, input.len(), &expected);
        for chunk in [input.len(), 1, 7, 64] {
            let count = allocations_during(|| parse(&mut parser, input, chunk, &expected));
            if count != 0 {
                failures.push(format!(
                    "{name}: Parser::feed in chunks of {chunk} bytes: {count}"
                ));
            }
        }

        // Through EventReader: its buffer is allocated by the constructor, the warm parser is
        // handed over, and then reading every event allocates nothing.
        for chunk in [1, 13, 8192] {
            let mut warm = Parser::new();
            parse(&mut warm, input, input.len(), &expected);
            let reader = SliceReader {
                bytes: input,
                chunk,
            };
            let mut reader = EventReader::with_parser(reader, warm);
            let count = allocations_during(|| {
                let mut seen = 0;
                while let Some(event) = reader.next_event().expect("no error") {
                    assert!(event.data() == expected[seen], "event #{seen}");
                    seen += 1;
                }
                assert!(seen == expected.len(), "event count");
                assert!(reader.eof() == Some(Eof::Clean), "clean end");
            });
            if count != 0 {
                failures.push(format!(
                    "{name}: EventReader, reads of {chunk} bytes: {count}"
                ));
            }
        }
    }

    assert!(
        failures.is_empty(),
        "allocations after warm-up:\n{}",
        failures.join("\n")
    );
}
