//! The parsers being compared. Each takes the whole input and a feed size, feeds the input in
//! pieces of that size, and returns what it saw, so the results can be checked against each
//! other.

use std::convert::Infallible;
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;

use chatstream::sse::{Parser, Status};
use chatstream::{Accumulator, ChatChunk};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::Value;

/// What a pass saw: dispatched events (non-empty data) and their data bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub data_bytes: u64,
}

impl Counts {
    fn add(&mut self, data: &str) {
        self.events += 1;
        self.data_bytes += data.len() as u64;
    }
}

/// `chatstream::sse::Parser::feed` over pieces of `feed` bytes, with a new parser.
pub fn chatstream(input: &[u8], feed: usize) -> Counts {
    chatstream_with(&mut Parser::new(), input, feed)
}

/// The same with a parser that is reset and reused (its buffers stay warm).
pub fn chatstream_with(parser: &mut Parser, input: &[u8], feed: usize) -> Counts {
    parser.reset();
    let mut counts = Counts::default();
    for piece in input.chunks(feed) {
        let mut rest = piece;
        loop {
            let (status, consumed) = parser.feed(rest).expect("no event over the size limit");
            rest = &rest[consumed..];
            if status == Status::NeedMoreInput {
                break;
            }
            counts.add(black_box(parser.event()).data());
        }
    }
    black_box(parser.finish());
    counts
}

/// `eventsource-stream` (the parser under `reqwest-eventsource` and `async-openai`), driven as
/// those crates drive it: a `Stream` of byte chunks, polled to completion on the current thread.
pub fn eventsource_stream(input: &[u8], feed: usize) -> Counts {
    let chunks = futures::stream::iter(input.chunks(feed).map(Ok::<&[u8], Infallible>));
    let mut events = chunks.eventsource();
    futures::executor::block_on(async {
        let mut counts = Counts::default();
        while let Some(event) = events.next().await {
            let event = event.expect("eventsource-stream parse error");
            counts.add(&black_box(event).data);
        }
        counts
    })
}

/// A reader that returns at most `max` bytes per `read`, like a socket delivering small pieces.
pub struct Pieces<'a> {
    pub rest: &'a [u8],
    pub max: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rest.len().min(self.max).min(buf.len());
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}

/// The naive splitter a hand-rolled client starts from: `BufReader::lines()` over the body,
/// `data:` lines appended, a blank line dispatches. (Not a conforming parser: a lone CR does not
/// end a line, no BOM handling, a line is allocated as a `String` each time.)
pub fn naive_lines(input: &[u8], feed: usize) -> Counts {
    let reader = BufReader::with_capacity(
        feed.max(8 * 1024),
        Pieces {
            rest: input,
            max: feed,
        },
    );
    let mut counts = Counts::default();
    let mut data = String::new();
    let mut event_type = String::new();
    for line in reader.lines() {
        let line = line.expect("valid UTF-8 lines");
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                counts.add(black_box(&data));
                data.clear();
            }
            event_type.clear();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
            data.push('\n');
        } else if let Some(value) = line.strip_prefix("event:") {
            event_type.clear();
            event_type.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    black_box(&event_type);
    counts
}

/// The speed limit: find every `\n` with `memchr_iter`, piece by piece. Returns the count.
pub fn memchr_limit(input: &[u8], feed: usize) -> u64 {
    let mut newlines = 0;
    for piece in input.chunks(feed) {
        newlines += memchr::memchr_iter(b'\n', piece).count() as u64;
    }
    newlines
}

/// What a chunk-decoding pass saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Events whose data was decoded as a chunk (all but `[DONE]`).
    pub chunks: u64,
    /// Chunks that failed to decode.
    pub errors: u64,
    /// Completions finished by `[DONE]`.
    pub completions: u64,
    /// Content text bytes accumulated.
    pub content_bytes: u64,
}

/// chatstream's chat layer as `Client::chat_stream` runs it: SSE parser, `[DONE]`,
/// `ChatChunk::from_json_str` (typed chunk), the chunk lent to the caller, then moved into the
/// completion with `Accumulator::push_owned`; a completion is built at every `[DONE]`.
pub fn chatstream_chunks(input: &[u8], feed: usize) -> Decoded {
    let mut parser = Parser::new();
    let mut accumulator = Accumulator::new();
    let mut out = Decoded::default();
    for piece in input.chunks(feed) {
        let flow = parser.feed_all(piece, |event| {
            let data = event.data();
            if data == "[DONE]" {
                let completion = std::mem::take(&mut accumulator).into_completion();
                out.content_bytes += completion.content().len() as u64;
                black_box(completion);
                out.completions += 1;
                return ControlFlow::Continue(());
            }
            out.chunks += 1;
            match ChatChunk::from_json_str(data) {
                Ok(chunk) => {
                    black_box(&chunk);
                    accumulator.push_owned(chunk);
                }
                Err(error) => {
                    out.errors += 1;
                    black_box(error);
                }
            }
            ControlFlow::Continue(())
        });
        let _: ControlFlow<()> = flow.expect("no event over the size limit");
    }
    black_box(accumulator);
    out
}

/// Where the chat layer's allocations go, counted in one pass of [`chatstream_chunks`]'s work
/// (call inside `count_allocations`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Phases {
    pub chunks: u64,
    pub completions: u64,
    /// `ChatChunk::from_json_str` (JSON into `Value`, then the typed chunk).
    pub decode: u64,
    /// Heap blocks the decoded chunks own, counted as the allocations of `ChatChunk::clone`
    /// (one per owned `String`, `Vec` or map node): "the allocations of the typed chunk itself".
    pub typed: u64,
    /// `Accumulator::push_owned`.
    pub push: u64,
    /// `Accumulator::into_completion` at `[DONE]` (and the fresh accumulator).
    pub completion: u64,
    /// The SSE parser and everything else.
    pub other: u64,
}

pub fn chatstream_chunk_phases(input: &[u8], feed: usize) -> Phases {
    use crate::measure::allocations_so_far as now;
    let start = now();
    let mut parser = Parser::new();
    let mut accumulator = Accumulator::new();
    let mut phases = Phases::default();
    for piece in input.chunks(feed) {
        let flow = parser.feed_all(piece, |event| {
            let data = event.data();
            if data == "[DONE]" {
                let t = now();
                black_box(std::mem::take(&mut accumulator).into_completion());
                phases.completion += now() - t;
                phases.completions += 1;
                return ControlFlow::Continue(());
            }
            phases.chunks += 1;
            let t = now();
            let chunk = ChatChunk::from_json_str(data);
            phases.decode += now() - t;
            if let Ok(chunk) = chunk {
                let t = now();
                black_box(chunk.clone());
                phases.typed += now() - t;
                let t = now();
                accumulator.push_owned(chunk);
                phases.push += now() - t;
            }
            ControlFlow::Continue(())
        });
        let _: ControlFlow<()> = flow.expect("no event over the size limit");
    }
    drop(accumulator);
    phases.other = now() - start - phases.decode - phases.typed - phases.push - phases.completion;
    phases
}

/// The same parser, JSON into an untyped `serde_json::Value` only (for reference: what the typed
/// mapping and the accumulator add).
pub fn chatstream_value(input: &[u8], feed: usize) -> Decoded {
    let mut parser = Parser::new();
    let mut out = Decoded::default();
    let mut content = String::new();
    for piece in input.chunks(feed) {
        let flow = parser.feed_all(piece, |event| {
            on_value_event(event.data(), &mut out, &mut content);
            ControlFlow::Continue(())
        });
        let _: ControlFlow<()> = flow.expect("no event over the size limit");
    }
    out
}

/// `eventsource-stream` + `serde_json::from_str::<Value>`, with the content deltas appended to a
/// `String` (the least a client does with them).
pub fn eventsource_value(input: &[u8], feed: usize) -> Decoded {
    let chunks = futures::stream::iter(input.chunks(feed).map(Ok::<&[u8], Infallible>));
    let mut events = chunks.eventsource();
    futures::executor::block_on(async {
        let mut out = Decoded::default();
        let mut content = String::new();
        while let Some(event) = events.next().await {
            let event = event.expect("eventsource-stream parse error");
            on_value_event(&event.data, &mut out, &mut content);
        }
        out
    })
}

fn on_value_event(data: &str, out: &mut Decoded, content: &mut String) {
    if data == "[DONE]" {
        out.content_bytes += content.len() as u64;
        black_box(std::mem::take(content));
        out.completions += 1;
        return;
    }
    out.chunks += 1;
    match serde_json::from_str::<Value>(data) {
        Ok(value) => {
            if let Some(choices) = value.get("choices").and_then(Value::as_array) {
                let first = choices
                    .iter()
                    .filter(|choice| choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0);
                for choice in first {
                    if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str) {
                        content.push_str(text);
                    }
                }
            }
            black_box(value);
        }
        Err(error) => {
            out.errors += 1;
            black_box(error);
        }
    }
}
