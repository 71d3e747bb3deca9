//! Fixture support for the `chatstream::sse` tests.
//!
//! A fixture is `fixtures/sse/**/NAME.sse` (the exact bytes of a stream) plus `NAME.json`
//! (everything observable when parsing it; the format is described in `fixtures/README.md`).
//! This module loads fixtures, describes the ways a stream can be cut into feeds ("split plans"),
//! drives the parser through `Parser::feed`, `Parser::feed_all` and `EventReader`,
//! and offers one `check` that demands the identical transcript from every plan and driver.
//!
//! `UPDATE_FIXTURES=1 cargo test --test it sse::` rewrites every `.json` from the parser's
//! whole-input result (keeping `description` and `max_event_size`); review the diff.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chatstream::sse::{Eof, Error, EventReader, Parser, ReadError, Status};
use serde_json::Value;

use super::rng::SplitMix64;

/// Fixtures up to this size are split at every position; larger ones only near interesting bytes.
pub const EVERY_SPLIT_MAX_LEN: usize = 4096;
/// Number of seeded random chunkings per fixture.
pub const RANDOM_PLANS: u64 = 32;
/// Largest chunk of a random chunking.
pub const MAX_RANDOM_CHUNK: usize = 64;

// ---------------------------------------------------------------------------------------------
// Transcript: what a stream looks like from the outside.

/// One dispatched event plus the reconnection time in effect when it was dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    pub event: String,
    pub data: String,
    pub id: String,
    pub retry: Option<u64>,
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// `finish()` returned `Eof::Clean`.
    Clean,
    /// `finish()` returned `Eof::DiscardedIncompleteEvent`; `discarded()` showed this event.
    Discarded { event: String, data: String },
    /// Feeding failed with `Error::EventTooLarge` (no `finish()` then).
    EventTooLarge,
}

/// Everything observable about one parse of a stream, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub events: Vec<Dispatched>,
    pub ending: Ending,
}

/// Shorthand for tests: an event without id or retry.
pub fn message(data: &str) -> Dispatched {
    Dispatched {
        event: "message".to_string(),
        data: data.to_string(),
        id: String::new(),
        retry: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture files.

/// One `NAME.sse` + `NAME.json` pair.
#[derive(Debug)]
pub struct Fixture {
    /// Path relative to `fixtures/sse`, without extension, e.g. `spec/lf-terminators`.
    pub name: String,
    pub json_path: PathBuf,
    pub bytes: Vec<u8>,
    pub description: Option<String>,
    pub max_event_size: Option<usize>,
    pub expected: Transcript,
}

/// The fixture root, `fixtures/sse`.
pub fn root() -> PathBuf {
    repo_path("fixtures/sse")
}

/// The repository directory `relative` (e.g. `fixtures/chat`).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The one fixture walker: every file under `dir` (all subdirectories), sorted.
///
/// Panics when `dir` is missing or holds no file, so a test built on a walk can never pass by
/// finding nothing (a moved directory, a bad checkout or merge).
#[track_caller]
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("readable directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "{} holds no file", dir.display());
    files.sort();
    files
}

/// The files under `dir` whose name ends in `.EXT`, sorted; panics when there is none.
#[track_caller]
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .collect();
    assert!(!files.is_empty(), "{} holds no .{ext} file", dir.display());
    files
}

/// Every fixture under `fixtures/sse/**`, sorted by name.
/// Panics on a `.sse` without its `.json` or the other way round, and on any other file.
pub fn all() -> Vec<Fixture> {
    let root = root();
    let files = files_under(&root);

    let mut fixtures = Vec::new();
    for path in &files {
        let ext = path.extension().and_then(|e| e.to_str());
        match ext {
            Some("sse") => {
                let json_path = path.with_extension("json");
                assert!(
                    files.contains(&json_path),
                    "{} has no .json",
                    path.display()
                );
                fixtures.push(load(&root, path, &json_path));
            }
            Some("json") => {
                let sse_path = path.with_extension("sse");
                assert!(files.contains(&sse_path), "{} has no .sse", path.display());
            }
            _ => panic!("unexpected file in the fixture tree: {}", path.display()),
        }
    }
    fixtures
}

fn load(root: &Path, sse_path: &Path, json_path: &Path) -> Fixture {
    let name = sse_path
        .strip_prefix(root)
        .expect("fixture below the root")
        .with_extension("")
        .to_string_lossy()
        .replace('\\', "/");
    let bytes = std::fs::read(sse_path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let text = std::fs::read_to_string(json_path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}.json: {e}"));
    let (description, max_event_size, expected) =
        from_json(&json).unwrap_or_else(|e| panic!("{name}.json: {e}"));
    Fixture {
        name,
        json_path: json_path.to_path_buf(),
        bytes,
        description,
        max_event_size,
        expected,
    }
}

type Loaded = (Option<String>, Option<usize>, Transcript);

/// Reads the fixture JSON format (see `fixtures/README.md`).
fn from_json(json: &Value) -> Result<Loaded, String> {
    let object = json.as_object().ok_or("top level is not an object")?;
    const KEYS: [&str; 6] = [
        "description",
        "max_event_size",
        "events",
        "eof",
        "discarded",
        "error",
    ];
    if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown key {key:?}"));
    }
    let string = |value: &Value, what: &str| -> Result<String, String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or(format!("{what} is not a string"))
    };
    let description = match object.get("description") {
        None => None,
        Some(value) => Some(string(value, "description")?),
    };
    let max_event_size = match object.get("max_event_size") {
        None => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or("max_event_size is not a size")?,
        ),
    };
    let mut events = Vec::new();
    let listed = object.get("events").and_then(Value::as_array);
    for event in listed.ok_or("events is not an array")? {
        let retry = match event.get("retry") {
            Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().ok_or("retry is not a u64")?),
            None => return Err("event without retry".to_string()),
        };
        let field = |key: &str| string(event.get(key).unwrap_or(&Value::Null), key);
        events.push(Dispatched {
            event: field("event")?,
            data: field("data")?,
            id: field("id")?,
            retry,
        });
    }
    let null = Value::Null;
    let eof = object.get("eof").unwrap_or(&null);
    let discarded = object.get("discarded").unwrap_or(&null);
    let error = object.get("error").unwrap_or(&null);
    let ending = match (eof.as_str(), discarded, error.as_str()) {
        (Some("clean"), Value::Null, None) => Ending::Clean,
        (Some("discarded"), Value::Object(_), None) => Ending::Discarded {
            event: string(&discarded["event"], "discarded.event")?,
            data: string(&discarded["data"], "discarded.data")?,
        },
        (None, Value::Null, Some("event_too_large")) if max_event_size.is_some() => {
            Ending::EventTooLarge
        }
        _ => return Err("inconsistent eof / discarded / error".to_string()),
    };
    Ok((description, max_event_size, Transcript { events, ending }))
}

/// Writes the fixture JSON format, one event per line, keys in a fixed order.
fn to_json(description: Option<&str>, max_event_size: Option<usize>, t: &Transcript) -> String {
    let s = |text: &str| serde_json::to_string(text).expect("strings serialize");
    let mut out = String::from("{\n");
    if let Some(description) = description {
        out += &format!("  \"description\": {},\n", s(description));
    }
    if let Some(limit) = max_event_size {
        out += &format!("  \"max_event_size\": {limit},\n");
    }
    if t.events.is_empty() {
        out += "  \"events\": [],\n";
    } else {
        let rows: Vec<String> = t
            .events
            .iter()
            .map(|e| {
                let retry = e.retry.map_or("null".to_string(), |r| r.to_string());
                format!(
                    "    {{\"event\": {}, \"data\": {}, \"id\": {}, \"retry\": {retry}}}",
                    s(&e.event),
                    s(&e.data),
                    s(&e.id)
                )
            })
            .collect();
        out += &format!("  \"events\": [\n{}\n  ],\n", rows.join(",\n"));
    }
    match &t.ending {
        Ending::Clean => out += "  \"eof\": \"clean\",\n  \"discarded\": null\n",
        Ending::Discarded { event, data } => {
            out += "  \"eof\": \"discarded\",\n";
            out += &format!(
                "  \"discarded\": {{\"event\": {}, \"data\": {}}}\n",
                s(event),
                s(data)
            );
        }
        Ending::EventTooLarge => {
            out += "  \"eof\": null,\n  \"discarded\": null,\n  \"error\": \"event_too_large\"\n";
        }
    }
    out + "}\n"
}

/// Whether `UPDATE_FIXTURES=1` is set.
pub fn update_mode() -> bool {
    std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1")
}

impl Fixture {
    /// Rewrites this fixture's `.json` from `transcript`, keeping description and limit.
    pub fn rewrite(&mut self, transcript: Transcript) {
        let text = to_json(
            self.description.as_deref(),
            self.max_event_size,
            &transcript,
        );
        std::fs::write(&self.json_path, text).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        self.expected = transcript;
    }
}

// ---------------------------------------------------------------------------------------------
// Split plans.

/// One way of cutting a stream into feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The whole stream in one feed.
    Whole,
    /// One byte per feed.
    ByteByByte,
    /// Two feeds: `[..at]` and `[at..]`.
    SplitAt(usize),
    /// Chunks of random sizes in `1..=MAX_RANDOM_CHUNK` drawn from `SplitMix64::new(seed)`.
    Random { seed: u64 },
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Whole => write!(f, "whole input"),
            Plan::ByteByByte => write!(f, "one byte per feed"),
            Plan::SplitAt(at) => write!(f, "split at byte {at}"),
            Plan::Random { seed } => write!(f, "random chunks 1..={MAX_RANDOM_CHUNK}, seed {seed}"),
        }
    }
}

impl Plan {
    /// The feeds of this plan; they concatenate to `bytes`. May contain empty chunks.
    pub fn chunks<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        match *self {
            Plan::Whole => vec![bytes],
            Plan::ByteByByte => bytes.chunks(1).collect(),
            Plan::SplitAt(at) => vec![&bytes[..at], &bytes[at..]],
            Plan::Random { seed } => {
                random_chunks(bytes, &mut SplitMix64::new(seed), MAX_RANDOM_CHUNK)
            }
        }
    }
}

/// Cuts `bytes` into chunks of random sizes `1..=max`.
pub fn random_chunks<'a>(bytes: &'a [u8], rng: &mut SplitMix64, max: usize) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let size = (1 + rng.below(max)).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Every plan for `bytes`: whole, byte by byte, the single split points, and the random seeds.
///
/// Up to `EVERY_SPLIT_MAX_LEN` bytes every split point is used; above that only split points
/// within 2 bytes of a CR, LF, colon, BOM byte or UTF-8 lead byte (keeps the work near-linear).
pub fn plans(bytes: &[u8]) -> Vec<Plan> {
    let mut plans = vec![Plan::Whole, Plan::ByteByByte];
    if bytes.len() <= EVERY_SPLIT_MAX_LEN {
        plans.extend((0..=bytes.len()).map(Plan::SplitAt));
    } else {
        let mut points = BTreeSet::new();
        for (i, &b) in bytes.iter().enumerate() {
            let interesting = matches!(b, b'\r' | b'\n' | b':' | 0xEF | 0xBB | 0xBF) || b >= 0xC0;
            if interesting {
                points.extend(i.saturating_sub(2)..=(i + 3).min(bytes.len()));
            }
        }
        plans.extend(points.into_iter().map(Plan::SplitAt));
    }
    plans.extend((0..RANDOM_PLANS).map(|seed| Plan::Random { seed }));
    plans
}

// ---------------------------------------------------------------------------------------------
// Drivers: the same chunks through each entry point of the API.

/// A fresh parser, limited if the fixture asks for it.
pub fn new_parser(max_event_size: Option<usize>) -> Parser {
    match max_event_size {
        Some(limit) => Parser::with_max_event_size(limit),
        None => Parser::new(),
    }
}

fn record(parser: &Parser, context: &str) -> Dispatched {
    let event = parser.event();
    assert_eq!(
        parser.last_event_id(),
        event.last_event_id(),
        "{context}: Parser::last_event_id() differs from the event just dispatched"
    );
    Dispatched {
        event: event.event_type().to_string(),
        data: event.data().to_string(),
        id: event.last_event_id().to_string(),
        retry: parser.reconnection_time(),
    }
}

fn finish(parser: &mut Parser, context: &str) -> Ending {
    match parser.finish() {
        Eof::Clean => {
            let discarded = parser.discarded().map(|e| (e.event_type(), e.data()));
            assert_eq!(
                discarded, None,
                "{context}: discarded() after a clean finish()"
            );
            Ending::Clean
        }
        Eof::DiscardedIncompleteEvent => {
            let discarded = parser.discarded();
            let event = discarded.unwrap_or_else(|| {
                panic!("{context}: finish() discarded an event but discarded() is None")
            });
            Ending::Discarded {
                event: event.event_type().to_string(),
                data: event.data().to_string(),
            }
        }
    }
}

fn assert_too_large(error: Error, limit: Option<usize>, context: &str) {
    match (error, limit) {
        (Error::EventTooLarge { limit: got }, Some(limit)) => {
            assert_eq!(
                got, limit,
                "{context}: EventTooLarge reports the wrong limit"
            );
        }
        (error, limit) => panic!("{context}: unexpected error {error:?} (limit {limit:?})"),
    }
}

/// Feeds `chunks` one after the other through `Parser::feed`, then calls `finish()`.
pub fn parse_with_feed(
    chunks: &[&[u8]],
    max_event_size: Option<usize>,
    context: &str,
) -> Transcript {
    let mut parser = new_parser(max_event_size);
    let mut events = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        if rest.is_empty() {
            let result = parser.feed(rest);
            assert_eq!(
                result,
                Ok((Status::NeedMoreInput, 0)),
                "{context}: feed(&[]) is a no-op"
            );
        }
        while !rest.is_empty() {
            match parser.feed(rest) {
                Ok((Status::Event, consumed)) => {
                    assert!(
                        (1..=rest.len()).contains(&consumed),
                        "{context}: Status::Event after consuming {consumed} of {} bytes",
                        rest.len()
                    );
                    events.push(record(&parser, context));
                    rest = &rest[consumed..];
                }
                Ok((Status::NeedMoreInput, consumed)) => {
                    assert_eq!(
                        consumed,
                        rest.len(),
                        "{context}: NeedMoreInput must consume the whole input"
                    );
                    rest = &[];
                }
                Err(error) => {
                    assert_too_large(error, max_event_size, context);
                    // The parser stays failed until reset().
                    let again = parser.feed(b"data: more\n\n");
                    assert_eq!(again, Err(error), "{context}: the parser must stay failed");
                    let ending = Ending::EventTooLarge;
                    return Transcript { events, ending };
                }
            }
        }
    }
    let ending = finish(&mut parser, context);
    Transcript { events, ending }
}

/// Feeds the whole input through `Parser::feed_all`. The callback cannot see the parser, so
/// `retry` is read after the call: only the events' type, data and id are compared.
pub fn parse_with_feed_all(
    bytes: &[u8],
    max_event_size: Option<usize>,
    context: &str,
) -> Transcript {
    let mut parser = new_parser(max_event_size);
    let mut events = Vec::new();
    let result = parser.feed_all(bytes, |event| {
        events.push(Dispatched {
            event: event.event_type().to_string(),
            data: event.data().to_string(),
            id: event.last_event_id().to_string(),
            retry: None,
        });
        ControlFlow::Continue(())
    });
    let ending = match result {
        Ok(flow) => {
            assert_eq!(
                flow,
                ControlFlow::Continue(()),
                "{context}: feed_all stopped by itself"
            );
            finish(&mut parser, context)
        }
        Err(error) => {
            assert_too_large(error, max_event_size, context);
            Ending::EventTooLarge
        }
    };
    Transcript { events, ending }
}

/// A `Read` that returns exactly the given chunks, one per `read` call (split further only
/// if the caller's buffer is smaller). Empty chunks are skipped (a 0-byte read means EOF).
pub struct ChunkedRead<'a> {
    chunks: std::vec::IntoIter<&'a [u8]>,
    current: &'a [u8],
    /// How many `read` calls returned data.
    pub reads: usize,
}

impl<'a> ChunkedRead<'a> {
    pub fn new(chunks: Vec<&'a [u8]>) -> Self {
        ChunkedRead {
            chunks: chunks.into_iter(),
            current: &[],
            reads: 0,
        }
    }
}

impl Read for ChunkedRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.next() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = &self.current[n..];
        self.reads += 1;
        Ok(n)
    }
}

/// Reads `chunks` through `EventReader` over a `ChunkedRead`.
pub fn parse_with_reader(
    chunks: Vec<&[u8]>,
    max_event_size: Option<usize>,
    context: &str,
) -> Transcript {
    let parser = new_parser(max_event_size);
    let mut reader = EventReader::with_parser(ChunkedRead::new(chunks), parser);
    let mut events = Vec::new();
    loop {
        let dispatched = match reader.next_event() {
            Ok(Some(event)) => (
                event.event_type().to_string(),
                event.data().to_string(),
                event.last_event_id().to_string(),
            ),
            Ok(None) => break,
            Err(ReadError::Parse(error)) => {
                assert_too_large(error, max_event_size, context);
                let ending = Ending::EventTooLarge;
                return Transcript { events, ending };
            }
            Err(error) => panic!("{context}: unexpected read error {error:?}"),
        };
        let (event, data, id) = dispatched;
        let retry = reader.parser().reconnection_time();
        events.push(Dispatched {
            event,
            data,
            id,
            retry,
        });
    }
    let eof = reader.eof();
    let parser = reader.parser();
    let ending = match eof {
        Some(Eof::Clean) => {
            assert!(
                parser.discarded().is_none(),
                "{context}: discarded() after a clean EOF"
            );
            Ending::Clean
        }
        Some(Eof::DiscardedIncompleteEvent) => {
            let event = parser.discarded().unwrap_or_else(|| {
                panic!("{context}: EOF discarded an event but discarded() is None")
            });
            Ending::Discarded {
                event: event.event_type().to_string(),
                data: event.data().to_string(),
            }
        }
        None => panic!("{context}: eof() is None after next_event returned Ok(None)"),
    };
    Transcript { events, ending }
}

// ---------------------------------------------------------------------------------------------
// The one check.

/// Parses `bytes` with the default parser under every plan and driver; all must equal `expected`.
#[track_caller]
pub fn check(name: &str, bytes: &[u8], expected: &Transcript) {
    check_limited(name, bytes, None, expected);
}

/// `check` with an optional `max_event_size`.
#[track_caller]
pub fn check_limited(
    name: &str,
    bytes: &[u8],
    max_event_size: Option<usize>,
    expected: &Transcript,
) {
    let context = format!("{name} [feed_all, whole input]");
    let got = parse_with_feed_all(bytes, max_event_size, &context);
    let without_retry = Transcript {
        events: expected
            .events
            .iter()
            .map(|e| Dispatched {
                retry: None,
                ..e.clone()
            })
            .collect(),
        ending: expected.ending.clone(),
    };
    assert_same(&context, &without_retry, &got);

    for plan in plans(bytes) {
        let chunks = plan.chunks(bytes);
        let context = format!("{name} [Parser::feed, {plan}]");
        assert_same(
            &context,
            expected,
            &parse_with_feed(&chunks, max_event_size, &context),
        );
        let context = format!("{name} [EventReader, {plan}]");
        assert_same(
            &context,
            expected,
            &parse_with_reader(chunks, max_event_size, &context),
        );
    }
}

#[track_caller]
pub fn assert_same(context: &str, expected: &Transcript, got: &Transcript) {
    if expected != got {
        let first_difference = expected
            .events
            .iter()
            .zip(&got.events)
            .position(|(e, g)| e != g)
            .unwrap_or(expected.events.len().min(got.events.len()));
        panic!(
            "{context}: transcript differs (first difference at event #{first_difference})\n\
             expected: {expected:#?}\n     got: {got:#?}"
        );
    }
}
