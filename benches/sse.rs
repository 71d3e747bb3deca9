//! Throughput of the SSE parser on a synthetic OpenAI-style chat stream, and a linearity check.
//!
//! `cargo bench --bench sse` prints a table; `-- --quick` (or `CHATSTREAM_BENCH_QUICK=1`) uses
//! small inputs for a smoke run. Figures only, no assertions: the point is to notice regressions
//! and to show that a line split over many feeds costs O(n), not O(n^2).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chatstream::sse::{EventReader, Parser, Status};

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var_os("CHATSTREAM_BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty());
    let (stream_size, runs, big_event) = if quick {
        (1 << 20, 3, 1 << 20)
    } else {
        (12 << 20, 9, 8 << 20)
    };

    let stream = chat_stream(stream_size);
    let (events, data_bytes) = parse(&stream, stream.len());
    println!(
        "chat stream: {:.1} MB, {events} events, {:.1} MB of data{}",
        mb(stream.len()),
        mb(data_bytes),
        if quick { " (quick)" } else { "" }
    );
    println!(
        "median of {runs} runs ({} for 1 B feeds); best = fastest run",
        runs.min(5)
    );
    println!();
    println!(
        "{:<20} {:>9} {:>12} {:>11} {:>11}",
        "feed size", "MB/s", "events/s", "median", "best MB/s"
    );
    for (label, feed) in [
        ("1 B", 1),
        ("64 B", 64),
        ("4 KiB", 4 << 10),
        ("64 KiB", 64 << 10),
    ] {
        let runs = if feed == 1 { runs.min(5) } else { runs };
        let times = measure(runs, || {
            black_box(parse(black_box(&stream), feed));
        });
        row(label, stream.len(), events, &times);
    }
    let times = measure(runs, || {
        black_box(read(black_box(&stream), 64 << 10));
    });
    row("EventReader 64 KiB", stream.len(), events, &times);

    // Linearity: one multi-line data event fed one byte at a time. Re-scanning the pending line
    // per feed would make the 8x larger event take ~64x longer instead of ~8x.
    let small = big_data_event(big_event / 8);
    let large = big_data_event(big_event);
    // Best of 3: the ratio of two medians is too sensitive to a busy machine.
    let small_time = measure(3, || {
        black_box(parse(black_box(&small), 1));
    })[0];
    let large_time = measure(3, || {
        black_box(parse(black_box(&large), 1));
    })[0];
    println!();
    println!(
        "linearity, 1-byte feeds, best of 3: {:.1} MB event {:.1} ms, {:.1} MB event {:.1} ms, \
         ratio {:.2} (8 = linear)",
        mb(small.len()),
        ms(small_time),
        mb(large.len()),
        ms(large_time),
        large_time.as_secs_f64() / small_time.as_secs_f64()
    );
}

/// Parses `input` fed in pieces of `feed` bytes; returns (events, data bytes).
fn parse(input: &[u8], feed: usize) -> (usize, usize) {
    let mut parser = Parser::new();
    let (mut events, mut data_bytes) = (0, 0);
    for chunk in input.chunks(feed) {
        let mut rest = chunk;
        loop {
            let (status, consumed) = parser.feed(rest).expect("no limit exceeded");
            rest = rest.get(consumed..).unwrap_or_default();
            if status == Status::NeedMoreInput {
                break;
            }
            events += 1;
            data_bytes += black_box(parser.event()).data().len();
        }
    }
    black_box(parser.finish());
    (events, data_bytes)
}

/// Reads `input` through an `EventReader` with a `capacity`-byte buffer; returns (events, data bytes).
fn read(input: &[u8], capacity: usize) -> (usize, usize) {
    let mut reader = EventReader::with_capacity(capacity, input, Parser::new());
    let (mut events, mut data_bytes) = (0, 0);
    while let Some(event) = reader.next_event().expect("reading a slice") {
        events += 1;
        data_bytes += black_box(event).data().len();
    }
    (events, data_bytes)
}

/// Prints one table row from the sorted run times.
fn row(label: &str, bytes: usize, events: usize, times: &[Duration]) {
    let median = times[times.len() / 2].as_secs_f64();
    let best = times[0].as_secs_f64();
    println!(
        "{label:<20} {:>9.0} {:>12.0} {:>8.2} ms {:>11.0}",
        mb(bytes) / median,
        events as f64 / median,
        median * 1e3,
        mb(bytes) / best
    );
}

/// Wall times of `runs` calls of `f` (after one warm-up call), sorted, fastest first.
fn measure(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f();
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

/// One event of `size` bytes: `data:` lines of 1000 bytes each, then the blank line.
fn big_data_event(size: usize) -> Vec<u8> {
    let line = format!("data: {}\n", "x".repeat(993));
    let mut event = Vec::with_capacity(size + line.len());
    while event.len() < size {
        event.extend_from_slice(line.as_bytes());
    }
    event.push(b'\n');
    event
}

/// A deterministic xorshift generator, enough to vary the synthetic stream.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Content deltas as a model streams them (JSON-escaped already): words, punctuation,
/// newlines, emoji, CJK, code.
const PIECES: &[&str] = &[
    "Hello",
    "!",
    " How",
    " can",
    " I",
    " help",
    " you",
    " today",
    "?",
    " The",
    " answer",
    " is",
    " 42",
    ".",
    "\\n\\n",
    " Here",
    "'s",
    " a",
    " quick",
    " example",
    ":\\n",
    "```",
    "rust",
    "\\n",
    "fn",
    " main",
    "()",
    " {",
    " println",
    "!(\\\"hi\\\")",
    " }",
    " 🎉",
    " 😀",
    " 你好",
    "，",
    "世界",
    " こんにちは",
    " Grüße",
    " naïve",
    " café",
    " —",
    " “quoted”",
    " \\u2028",
    " x",
    " = ",
    "1",
    " +",
    " 2",
    ";",
    " tokens",
    " stream",
    "ing",
    " is",
    " fun",
];

/// Tool-call argument fragments (JSON-escaped JSON), as they arrive piece by piece.
const ARGUMENTS: &[&str] = &[
    "{\\\"",
    "location",
    "\\\":\\\"",
    "Paris",
    ",",
    " France",
    "\\\",\\\"",
    "unit",
    "\\\":\\\"",
    "celsius",
    "\\\"}",
];

/// A stream of OpenAI chat completion chunks of at least `size` bytes.
fn chat_stream(size: usize) -> Vec<u8> {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut out = Vec::with_capacity(size + 4096);
    let mut completion = 0u32;
    while out.len() < size {
        completion += 1;
        let id = format!("chatcmpl-B{completion:08}x7QwErTyUiOpAsDfGhJkL");
        let head = format!(
            "{{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1733{completion:06},\
             \"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\
             \"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{{\"index\":0,\"delta\":"
        );
        let tail = |finish: &str| {
            format!("}},\"logprobs\":null,\"finish_reason\":{finish}}}],\"usage\":null}}")
        };
        let chunk = |out: &mut Vec<u8>, delta: &str, finish: &str| {
            out.extend_from_slice(format!("data: {head}{delta}{}\n\n", tail(finish)).as_bytes());
        };
        if rng.below(4) == 0 {
            out.extend_from_slice(b": keep-alive\n\n");
        }
        chunk(
            &mut out,
            "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",
            "null",
        );
        if rng.below(5) == 0 {
            // A tool call whose arguments arrive in fragments.
            chunk(
                &mut out,
                "{\"tool_calls\":[{\"index\":0,\"id\":\"call_abc123\",\"type\":\"function\",\
                 \"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
                "null",
            );
            for fragment in ARGUMENTS {
                let delta = format!(
                    "{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{fragment}\"}}}}]}}"
                );
                chunk(&mut out, &delta, "null");
            }
            chunk(&mut out, "{}", "\"tool_calls\"");
        } else {
            for _ in 0..20 + rng.below(200) {
                let piece = PIECES[rng.below(PIECES.len())];
                let delta = format!("{{\"content\":\"{piece}\"}}");
                chunk(&mut out, &delta, "null");
                if rng.below(300) == 0 {
                    out.extend_from_slice(b": keep-alive\n\n");
                }
            }
            chunk(&mut out, "{}", "\"stop\"");
        }
        out.extend_from_slice(
            format!(
                "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1733{completion:06},\
                 \"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{},\
                 \"completion_tokens\":{},\"total_tokens\":{}}}}}\n\n",
                10 + rng.below(500),
                10 + rng.below(300),
                20 + rng.below(800)
            )
            .as_bytes(),
        );
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
    out
}
