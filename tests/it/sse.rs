//! Tests of `chatstream::sse` at its public boundary.
//!
//! - Every fixture in `fixtures/sse/**` under every split plan, through `Parser::feed`,
//!   `Parser::feed_all` and `EventReader` (`fixtures_match_under_every_split_plan`).
//! - Every fixture's expectation equals the naive oracle's, so fixtures cannot drift from the
//!   spec (`fixtures_agree_with_naive_oracle`).
//! - A seeded differential test against the oracle on generated inputs.
//! - Scale (a multi-megabyte line one byte at a time), the event size limit, the API contract.
//!
//! `UPDATE_FIXTURES=1 cargo test --test it sse::` rewrites the fixture `.json` files.

use crate::sse_props::naive_sse;
use crate::support::cpu_time::thread_cpu_time;
use crate::support::fixture;
use crate::support::rng::SplitMix64;

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::time::Duration;

use chatstream::sse::{Eof, Error, EventReader, Parser, ReadError, Status};
use fixture::{Dispatched, Ending, Plan, Transcript, check, message};

/// The oracle's verdict in the fixture transcript shape.
fn oracle(bytes: &[u8]) -> Transcript {
    let outcome = naive_sse::interpret(bytes);
    let events = outcome
        .events
        .into_iter()
        .map(|e| Dispatched {
            event: e.event,
            data: e.data,
            id: e.id,
            retry: e.retry,
        })
        .collect();
    let ending = match outcome.discarded {
        None => Ending::Clean,
        Some((event, data)) => Ending::Discarded { event, data },
    };
    Transcript { events, ending }
}

/// Renders bytes for a failure message: printable ASCII as is, everything else escaped.
fn escaped(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[test]
fn smoke() {
    // An inline case to step through in a debugger.
    let input = b"event: greeting\nid: 1\ndata: hello\r\ndata: world\r\n\r\n: ping\n";
    let expected = Transcript {
        events: vec![Dispatched {
            event: "greeting".to_string(),
            data: "hello\nworld".to_string(),
            id: "1".to_string(),
            retry: None,
        }],
        ending: Ending::Clean,
    };
    check("smoke", input, &expected);
}

#[test]
fn fixtures_match_under_every_split_plan() {
    let mut fixtures = fixture::all();
    assert!(
        !fixtures.is_empty(),
        "no fixtures found under {}",
        fixture::root().display()
    );
    for fixture in &mut fixtures {
        if fixture::update_mode() {
            let context = format!("{} [update]", fixture.name);
            let whole = Plan::Whole.chunks(&fixture.bytes);
            let got = fixture::parse_with_feed(&whole, fixture.max_event_size, &context);
            fixture.rewrite(got);
        }
        fixture::check_limited(
            &fixture.name,
            &fixture.bytes,
            fixture.max_event_size,
            &fixture.expected,
        );
    }
}

#[test]
fn fixtures_agree_with_naive_oracle() {
    for fixture in fixture::all() {
        let context = format!("{} [naive oracle vs fixture .json]", fixture.name);
        let verdict = oracle(&fixture.bytes);
        if fixture.expected.ending == Ending::EventTooLarge {
            // The oracle has no limit: it must see the listed events and then the oversized one.
            let listed = fixture.expected.events.len();
            assert!(
                verdict.events.len() > listed
                    && verdict.events[..listed] == fixture.expected.events,
                "{context}: the listed events must be a strict prefix of the oracle's\n\
                 oracle: {verdict:#?}"
            );
        } else {
            fixture::assert_same(&context, &verdict, &fixture.expected);
        }
    }
}

#[test]
fn fixture_corpus_is_complete() {
    let fixtures = fixture::all();
    let count = |dir: &str| fixtures.iter().filter(|f| f.name.starts_with(dir)).count();
    assert!(
        count("spec/") >= 45,
        "at least 45 spec fixtures, found {}",
        count("spec/")
    );
    assert!(
        count("recorded/") >= 8,
        "at least 8 recorded fixtures, found {}",
        count("recorded/")
    );
    assert!(
        count("regressions/") >= 1,
        "at least 1 regression fixture, found {}",
        count("regressions/")
    );
    // Every fixture lies in one of the three directories, so the counts cover the corpus.
    assert_eq!(
        count("spec/") + count("recorded/") + count("regressions/"),
        fixtures.len(),
        "a fixture outside spec/, recorded/ and regressions/"
    );
    for f in &fixtures {
        let description = f.description.as_deref().unwrap_or("");
        assert!(
            !description.is_empty(),
            "{}: every fixture needs a description",
            f.name
        );
    }
    let total: usize = fixtures.iter().map(|f| f.bytes.len()).sum();
    assert!(
        total < 256 * 1024,
        "keep fixtures small; {total} bytes of .sse in total"
    );
}

// ---------------------------------------------------------------------------------------------
// Differential testing against the naive oracle.

/// Field names, weighted: the four real ones, near misses, and comments.
const NAMES: &[(u32, &[u8])] = &[
    (10, b"data"),
    (4, b"event"),
    (4, b"id"),
    (4, b"retry"),
    (3, b""),
    (1, b"Data"),
    (1, b"dat"),
    (1, b"data "),
    (1, b" data"),
    (1, b"\xEF\xBB\xBFdata"),
];

/// Value and free-form pieces, weighted.
const PIECES: &[(u32, &[u8])] = &[
    (6, b"x"),
    (2, b"hello"),
    (6, b" "),
    (4, b":"),
    (6, b"1"),
    (3, b"42"),
    (2, b"0"),
    (1, b"18446744073709551616"),
    (1, b"+"),
    (1, b"-"),
    (1, b"\t"),
    (2, b"\0"),
    (2, "\u{e9}".as_bytes()),
    (2, "\u{4f60}".as_bytes()),
    (2, "\u{1f680}".as_bytes()),
    (1, "\u{2028}".as_bytes()),
    (1, "\u{661}".as_bytes()),
    (2, b"\xEF\xBB\xBF"),
    (1, b"\xEF\xBB"),
    (1, b"\xBF"),
    (1, b"\xC0\xAF"),
    (1, b"\xED\xA0\x80"),
    (1, b"\xE4\xB8"),
    (1, b"\xFF"),
    (1, b"\xF0\x9F"),
];

/// Line terminators, weighted (the empty one lets lines run together).
const TERMINATORS: &[(u32, &[u8])] = &[(8, b"\n"), (4, b"\r"), (4, b"\r\n"), (1, b"")];

fn pick<'a>(rng: &mut SplitMix64, table: &[(u32, &'a [u8])]) -> &'a [u8] {
    let total: u32 = table.iter().map(|(weight, _)| weight).sum();
    let mut roll = rng.below(total as usize) as u32;
    for (weight, bytes) in table {
        if roll < *weight {
            return bytes;
        }
        roll -= weight;
    }
    unreachable!("roll is below the total weight")
}

/// A random stream: mostly field lines and blank lines, with free-form noise mixed in.
fn generate(rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.below(8) == 0 {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    for _ in 0..rng.below(24) {
        match rng.below(10) {
            0..=5 => {
                out.extend_from_slice(pick(rng, NAMES));
                if rng.below(5) != 0 {
                    out.push(b':');
                }
                for _ in 0..rng.below(4) {
                    out.extend_from_slice(pick(rng, PIECES));
                }
                out.extend_from_slice(pick(rng, TERMINATORS));
            }
            6..=7 => out.extend_from_slice(pick(rng, TERMINATORS)),
            _ => out.extend_from_slice(pick(rng, PIECES)),
        }
    }
    out
}

#[test]
fn differential_random_inputs_match_oracle() {
    const CASES: u64 = 3000;
    for seed in 0..CASES {
        let mut rng = SplitMix64::new(seed);
        let input = generate(&mut rng);
        let expected = oracle(&input);
        let context = |how: &str| format!("seed {seed}, {how}, input b\"{}\"", escaped(&input));

        let whole = fixture::parse_with_feed(&[&input], None, &context("whole"));
        fixture::assert_same(&context("Parser::feed, whole"), &expected, &whole);

        let bytes =
            fixture::parse_with_feed(&Plan::ByteByByte.chunks(&input), None, &context("bytes"));
        fixture::assert_same(
            &context("Parser::feed, one byte per feed"),
            &expected,
            &bytes,
        );

        let chunks = fixture::random_chunks(&input, &mut rng, 8);
        let fed = fixture::parse_with_feed(&chunks, None, &context("random"));
        fixture::assert_same(
            &context("Parser::feed, random chunks 1..=8"),
            &expected,
            &fed,
        );

        let read = fixture::parse_with_reader(chunks, None, &context("reader"));
        fixture::assert_same(
            &context("EventReader, random chunks 1..=8"),
            &expected,
            &read,
        );
    }
}

#[test]
fn naive_oracle_follows_the_spec_on_its_own() {
    // The oracle is only useful if it is right; pin a few verdicts independently of fixtures.
    let verdict = oracle(b"\xEF\xBB\xBFid: 1\nretry: 5\nevent: e\ndata: a\ndata\n\ndata: b\n");
    let first = Dispatched {
        event: "e".to_string(),
        data: "a\n".to_string(),
        id: "1".to_string(),
        retry: Some(5),
    };
    assert_eq!(verdict.events, vec![first]);
    let discarded = Ending::Discarded {
        event: "message".to_string(),
        data: "b".to_string(),
    };
    assert_eq!(verdict.ending, discarded);
    assert_eq!(oracle(b"data: a\r").events, vec![]);
    assert_eq!(oracle(b"data: a\r\r").events, vec![message("a")]);
    assert_eq!(oracle(b": only a comment").ending, Ending::Clean);
}

// ---------------------------------------------------------------------------------------------
// Scale.

/// A long line mixing 1-, 2-, 3- and 4-byte characters, so feeds split them everywhere.
fn long_text(min_len: usize) -> String {
    let unit = "lorem ipsum dolor é 你好 🚀 sit amet; ";
    unit.repeat(min_len / unit.len() + 1)
}

fn huge_len() -> usize {
    // 8 MB in release builds; debug builds get 2 MB to keep the default test run fast.
    if cfg!(debug_assertions) {
        2 << 20
    } else {
        8 << 20
    }
}

/// How much more CPU time per byte a long line may cost than the short-line baseline.
const COST_RATIO: f64 = 8.0;
/// A fixed allowance on top of the ratio, for one-off costs (buffer growth, page faults).
const COST_ALLOWANCE: Duration = Duration::from_millis(200);
/// Bytes between two budget checks.
const CHECK_EVERY: usize = 4096;

/// A CPU-time budget linear in the bytes fed, which fails as soon as it is overdrawn.
///
/// The baseline is the cost per byte of a stream of short events fed one byte per feed: the
/// pending buffer never holds more than one short line there, so the baseline is the parser's
/// linear cost even if it re-scanned or re-copied its pending bytes on every feed. A long line
/// fed the same way must then cost at most `COST_RATIO` times as much per byte. A parser that
/// does work proportional to the pending line per feed is quadratic on a long line: it
/// overdraws the budget after a few kilobytes and the test fails in well under a second,
/// instead of running for minutes; a linear one stays far inside it on any machine, as both
/// figures are measured on the same thread in the same run.
struct Budget {
    per_byte_secs: f64,
    start: Duration,
}

impl Budget {
    /// Measures the baseline, then starts the clock.
    fn start() -> Budget {
        let unit = "data: lorem \u{e9} \u{4f60}\u{597d} \u{1f680} ipsum\n\n";
        let input = unit.repeat((256 << 10) / unit.len());
        let mut parser = Parser::new();
        let mut events = 0;
        let before = thread_cpu_time();
        for byte in input.as_bytes() {
            let (status, _) = parser.feed(std::slice::from_ref(byte)).expect("small");
            if status == Status::Event {
                events += 1;
            }
        }
        let took = thread_cpu_time() - before;
        assert_eq!(events, input.len() / unit.len());
        Budget {
            per_byte_secs: took.as_secs_f64() / input.len() as f64,
            start: thread_cpu_time(),
        }
    }

    /// Fails if feeding `fed` bytes has cost more than the budget allows for them.
    #[track_caller]
    fn check(&self, fed: usize, what: &str) {
        let spent = thread_cpu_time() - self.start;
        let allowed =
            COST_ALLOWANCE + Duration::from_secs_f64(self.per_byte_secs * COST_RATIO * fed as f64);
        assert!(
            spent <= allowed,
            "{what}: {fed} bytes cost {spent:?} of CPU time, more than {COST_RATIO} times the \
             short-line cost per byte ({:.0} ns) plus {COST_ALLOWANCE:?}: the parser's work per \
             feed grows with the pending line (quadratic)",
            self.per_byte_secs * 1e9
        );
    }
}

/// A reader that checks a [`Budget`] as it hands out bytes.
struct BudgetedRead<'a, R> {
    inner: R,
    budget: &'a Budget,
    fed: usize,
    next_check: usize,
}

impl<R: Read> Read for BudgetedRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fed >= self.next_check {
            self.budget.check(self.fed, "EventReader");
            self.next_check = self.fed + CHECK_EVERY;
        }
        let n = self.inner.read(buf)?;
        self.fed += n;
        Ok(n)
    }
}

#[test]
fn huge_single_data_line_one_byte_per_feed() {
    // Linearity as a correctness check at scale, within a CPU-time budget (see `Budget`).
    let text = long_text(huge_len());
    let input = format!("data: {text}\n\n");
    let mut parser = Parser::new();
    let mut dispatched = 0;
    let budget = Budget::start();
    for (i, byte) in input.as_bytes().iter().enumerate() {
        if i % CHECK_EVERY == 0 {
            budget.check(i, "one byte per feed");
        }
        let (status, consumed) = parser
            .feed(std::slice::from_ref(byte))
            .expect("under the limit");
        assert_eq!(consumed, 1, "byte {i}");
        if status == Status::Event {
            assert_eq!(
                i,
                input.len() - 1,
                "the event is dispatched by the final LF"
            );
            assert!(
                parser.event().data() == text,
                "data differs from the input line"
            );
            dispatched += 1;
        }
    }
    assert_eq!(dispatched, 1);
    assert_eq!(parser.finish(), Eof::Clean);
    budget.check(input.len(), "one byte per feed");
}

#[test]
fn huge_multi_line_event_through_small_reader_buffer() {
    let line = long_text(1000);
    let lines = huge_len() / 4 / line.len() + 1;
    let mut input = String::new();
    for _ in 0..lines {
        input += "data: ";
        input += &line;
        input += "\r\n";
    }
    input += "\r\n";
    let expected = vec![line.as_str(); lines].join("\n");
    let chunks = fixture::random_chunks(input.as_bytes(), &mut SplitMix64::new(7), 97);
    let budget = Budget::start();
    let reader = BudgetedRead {
        inner: fixture::ChunkedRead::new(chunks),
        budget: &budget,
        fed: 0,
        next_check: 0,
    };
    let mut reader = EventReader::with_capacity(61, reader, Parser::new());
    let event = reader.next_event().expect("no error").expect("one event");
    assert_eq!(event.data().len(), expected.len());
    assert!(event.data() == expected, "data differs");
    assert!(reader.next_event().expect("no error").is_none());
    assert_eq!(reader.eof(), Some(Eof::Clean));
    budget.check(input.len(), "EventReader");
}

// ---------------------------------------------------------------------------------------------
// The event size limit.

#[test]
fn default_limit() {
    assert_eq!(
        Parser::new().max_event_size(),
        Parser::DEFAULT_MAX_EVENT_SIZE
    );
    assert_eq!(
        Parser::default().max_event_size(),
        Parser::DEFAULT_MAX_EVENT_SIZE
    );
    assert_eq!(Parser::with_max_event_size(10).max_event_size(), 10);
}

// An event of exactly `max_event_size` bytes (data buffer with its line feeds, event type and
// last event ID) is dispatched, and one byte less of limit fails it, under every split plan and
// through every driver: the boundary is not guarded by one plan alone.
#[test]
fn event_exactly_at_the_limit_under_every_split_plan() {
    let cases: [(&[u8], Dispatched, usize); 3] = [
        // "x\n" in the data buffer.
        (b"data: x\n\n", message("x"), 2),
        // "hello\nworld\n", "tick" and "42".
        (
            b"event: tick\nid: 42\ndata: hello\ndata: world\n\n",
            Dispatched {
                event: "tick".to_string(),
                data: "hello\nworld".to_string(),
                id: "42".to_string(),
                retry: None,
            },
            18,
        ),
        // Multibyte text counts in bytes: "\u{e9}\u{4f60}\u{1f680}\n" is 2 + 3 + 4 + 1.
        (
            "data: \u{e9}\u{4f60}\u{1f680}\r\n\r\n".as_bytes(),
            message("\u{e9}\u{4f60}\u{1f680}"),
            10,
        ),
    ];
    for (input, event, size) in cases {
        let name = escaped(input);
        let at_limit = Transcript {
            events: vec![event],
            ending: Ending::Clean,
        };
        fixture::check_limited(
            &format!("{name} at limit {size}"),
            input,
            Some(size),
            &at_limit,
        );
        let over = Transcript {
            events: Vec::new(),
            ending: Ending::EventTooLarge,
        };
        let limit = size - 1;
        fixture::check_limited(
            &format!("{name} at limit {limit}"),
            input,
            Some(limit),
            &over,
        );
    }
}

#[test]
fn event_too_large_fails_until_reset() {
    const LIMIT: usize = 1024;
    let mut parser = Parser::with_max_event_size(LIMIT);
    assert_eq!(parser.feed(b"data: ok\n\n"), Ok((Status::Event, 10)));

    // A 1 MB line in 64-byte feeds: memory stays bounded by the limit, so the error must come
    // soon after the limit is crossed, not at the end of the line.
    let input = format!("data: {}\n\n", "x".repeat(1 << 20));
    let mut fed = 0;
    let error = loop {
        let chunk = &input.as_bytes()[fed..(fed + 64).min(input.len())];
        assert!(!chunk.is_empty(), "the whole oversized event was accepted");
        match parser.feed(chunk) {
            Ok((Status::NeedMoreInput, n)) => fed += n,
            Ok((Status::Event, _)) => panic!("an oversized event was dispatched"),
            Err(error) => break error,
        }
    };
    assert_eq!(error, Error::EventTooLarge { limit: LIMIT });
    assert!(fed <= 2 * LIMIT, "the error came only after {fed} bytes");
    assert!(!error.to_string().is_empty(), "Display is implemented");

    // Every later feed fails the same way, even a well-formed event.
    for input in [&b"\n\n"[..], b"data: a\n\n", b"x"] {
        assert_eq!(parser.feed(input), Err(error), "feed({:?})", escaped(input));
    }

    // reset() recovers, keeping the configured limit.
    parser.reset();
    assert_eq!(parser.max_event_size(), LIMIT);
    assert_eq!(parser.feed(b"data: again\n\n"), Ok((Status::Event, 13)));
    assert_eq!(parser.event().data(), "again");
}

#[test]
fn limit_counts_type_id_and_data_of_one_event_together() {
    let field = "y".repeat(60);
    for name in ["event", "id"] {
        // 60 + 61 bytes: neither part reaches the limit of 100, together they exceed it.
        let input = format!("{name}: {field}\ndata: {field}\n\n");
        let mut parser = Parser::with_max_event_size(100);
        let result = parser.feed(input.as_bytes());
        assert_eq!(
            result,
            Err(Error::EventTooLarge { limit: 100 }),
            "{name} + data"
        );
    }

    // The event type buffer is cleared by dispatch, so it does not count toward the next event.
    let mut parser = Parser::with_max_event_size(100);
    let input = format!("event: {field}\n\ndata: {field}\n\n");
    let result = parser.feed_all(input.as_bytes(), |_| ControlFlow::Continue(()));
    assert_eq!(result, Ok(ControlFlow::Continue(())));

    // The last event ID buffer is never cleared (9.2.6 dispatch step 1), so it keeps counting
    // (sse-api.md: the limit counts the id buffer; the parser documents this choice).
    let mut parser = Parser::with_max_event_size(100);
    let input = format!("id: {field}\n\ndata: {field}\n\n");
    let result = parser.feed_all(input.as_bytes(), |_| ControlFlow::Continue(()));
    assert_eq!(result, Err(Error::EventTooLarge { limit: 100 }));
}

#[test]
fn comments_do_not_count_toward_limit() {
    let input = format!(":{}\ndata: ok\n\n", "c".repeat(1 << 20));
    let mut parser = Parser::with_max_event_size(64);
    let mut data = Vec::new();
    let flow = parser.feed_all(input.as_bytes(), |event| {
        data.push(event.data().to_string());
        ControlFlow::Continue(())
    });
    assert_eq!(flow, Ok(ControlFlow::Continue(())));
    assert_eq!(data, ["ok"]);
}

// ---------------------------------------------------------------------------------------------
// The API contract around feeding.

#[test]
fn feed_stops_after_each_dispatch() {
    let mut parser = Parser::new();
    let input = b"data: a\n\n: c\ndata: b\n\ndata: c";
    assert_eq!(parser.feed(input), Ok((Status::Event, 9)));
    assert_eq!(parser.event().data(), "a");
    assert_eq!(parser.feed(&input[9..]), Ok((Status::Event, 13)));
    assert_eq!(parser.event().data(), "b");
    assert_eq!(parser.feed(&input[22..]), Ok((Status::NeedMoreInput, 7)));
    assert_eq!(parser.feed(&[]), Ok((Status::NeedMoreInput, 0)));
    // The last dispatched event stays readable.
    assert_eq!(parser.event().data(), "b");
}

#[test]
fn blank_line_without_data_returns_need_more_input() {
    let mut parser = Parser::new();
    assert_eq!(
        parser.feed(b"id: 9\n\n\n\r\n"),
        Ok((Status::NeedMoreInput, 10))
    );
    assert_eq!(parser.last_event_id(), "9");
}

#[test]
fn lone_cr_blank_line_dispatches_at_the_cr_and_swallows_the_next_lf() {
    let mut parser = Parser::new();
    assert_eq!(parser.feed(b"data: a\r\r"), Ok((Status::Event, 9)));
    assert_eq!(parser.event().data(), "a");
    // The LF completing that CRLF arrives in the next feed: one line end, not another blank line
    // (and not the end of the following field's line).
    assert_eq!(parser.feed(b"\ndata: b\n"), Ok((Status::NeedMoreInput, 9)));
    assert_eq!(parser.feed(b"\n"), Ok((Status::Event, 1)));
    assert_eq!(parser.event().data(), "b");
}

#[test]
fn finish_keeps_last_event_id_and_retry_and_reports_discarded() {
    let mut parser = Parser::new();
    assert_eq!(parser.discarded(), None, "before finish()");
    let flow = parser.feed_all(b"id: 5\nretry: 700\ndata: a\n\nevent: t\ndata: b\n", |_| {
        ControlFlow::Continue(())
    });
    assert_eq!(flow, Ok(ControlFlow::Continue(())));
    assert_eq!(parser.discarded(), None, "not finished yet");
    assert_eq!(parser.finish(), Eof::DiscardedIncompleteEvent);
    let discarded = parser.discarded().expect("an event was discarded");
    assert_eq!((discarded.event_type(), discarded.data()), ("t", "b"));
    assert_eq!(parser.last_event_id(), "5");
    assert_eq!(parser.reconnection_time(), Some(700));
}

#[test]
fn reset_starts_a_fresh_stream() {
    let mut parser = Parser::new();
    let first = b"\xEF\xBB\xBFid: 5\nretry: 700\ndata: a\n\ndata: partial";
    let _ = parser.feed_all(first, |_| ControlFlow::Continue(()));
    parser.reset();
    assert_eq!(parser.last_event_id(), "");
    assert_eq!(parser.reconnection_time(), None);
    assert_eq!(parser.discarded(), None);
    // The BOM state is fresh again: a leading BOM is stripped; the partial line is gone.
    assert_eq!(
        parser.feed(b"\xEF\xBB\xBFdata: b\n\n"),
        Ok((Status::Event, 12))
    );
    let event = parser.event();
    assert_eq!(
        (event.event_type(), event.data(), event.last_event_id()),
        ("message", "b", "")
    );
    assert_eq!(parser.finish(), Eof::Clean);
}

#[test]
fn feed_all_stops_on_break() {
    let mut parser = Parser::new();
    let mut seen = Vec::new();
    let flow = parser.feed_all(b"data: 1\n\ndata: 2\n\ndata: 3\n\n", |event| {
        seen.push(event.data().to_string());
        ControlFlow::Break(())
    });
    assert_eq!(flow, Ok(ControlFlow::Break(())));
    assert_eq!(seen, ["1"]);
}

// ---------------------------------------------------------------------------------------------
// EventReader.

#[test]
fn event_reader_under_small_buffers() {
    // Buffers smaller than a line, for every recorded stream.
    for f in fixture::all()
        .iter()
        .filter(|f| f.name.starts_with("recorded/"))
    {
        for capacity in [1, 3, 7, 64] {
            let context = format!("{} [EventReader::with_capacity({capacity})]", f.name);
            let reader = fixture::ChunkedRead::new(vec![&f.bytes[..]]);
            let mut reader = EventReader::with_capacity(capacity, reader, Parser::new());
            let mut events = Vec::new();
            while let Some(event) = reader.next_event().expect("no error") {
                events.push(event.data().to_string());
            }
            let expected: Vec<&str> = f.expected.events.iter().map(|e| e.data.as_str()).collect();
            assert_eq!(events, expected, "{context}");
            assert!(
                reader.get_ref().reads >= f.bytes.len() / capacity,
                "{context}: read calls"
            );
        }
    }
}

/// A reader that serves one script step per `read` call.
struct Scripted {
    steps: Vec<io::Result<&'static [u8]>>,
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(!self.steps.is_empty(), "read called after the script ended");
        let bytes = self.steps.remove(0)?;
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(bytes.len())
    }
}

#[test]
fn event_reader_returns_an_event_as_soon_as_its_blank_line_is_read() {
    // The second read would fail: the first event must come out before it is attempted.
    let steps = vec![
        Ok(&b"data: a\n\ndata: b\n\n"[..]),
        Err(io::Error::other("the connection broke")),
    ];
    let mut reader = EventReader::new(Scripted { steps });
    assert_eq!(
        reader.next_event().expect("first").map(|e| e.data()),
        Some("a")
    );
    assert_eq!(
        reader.next_event().expect("second").map(|e| e.data()),
        Some("b")
    );
    assert_eq!(
        reader.get_ref().steps.len(),
        1,
        "no read beyond the second event"
    );
    match reader.next_event() {
        Err(ReadError::Io(error)) => {
            assert_eq!(error.to_string(), "the connection broke");
        }
        other => panic!(
            "expected ReadError::Io, got {:?}",
            other.map(|e| e.map(|e| e.data()))
        ),
    }
}

#[test]
fn event_reader_retries_interrupted_reads() {
    let steps = vec![
        Err(io::Error::from(io::ErrorKind::Interrupted)),
        Ok(&b"data: a\n"[..]),
        Err(io::Error::from(io::ErrorKind::Interrupted)),
        Ok(&b"\n"[..]),
        Ok(&b"data: cut"[..]),
        Ok(&b""[..]),
    ];
    let mut reader = EventReader::new(Scripted { steps });
    assert_eq!(
        reader.next_event().expect("retried").map(|e| e.data()),
        Some("a")
    );
    assert!(reader.next_event().expect("eof").is_none());
    assert_eq!(reader.eof(), Some(Eof::DiscardedIncompleteEvent));
    assert!(reader.into_inner().steps.is_empty());
}

#[test]
fn read_error_exposes_its_source() {
    let error = ReadError::Io(io::Error::other("boom"));
    let source = std::error::Error::source(&error).expect("the io::Error is the source");
    assert_eq!(source.to_string(), "boom");
    let parse = ReadError::Parse(Error::EventTooLarge { limit: 3 });
    assert!(!parse.to_string().is_empty());
}
