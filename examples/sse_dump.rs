//! Prints the events of a `text/event-stream` file as JSON lines, one object per event, in the
//! format of the `fixtures/sse/*.json` transcripts.
//!
//! ```text
//! cargo run --release --example sse_dump -- [--chunk-size N] [--reader] [--count] [--repeat K] [FILE]
//! ```
//!
//! * `FILE`: the stream to parse (all of standard input when absent or `-`).
//! * `--chunk-size N`: feed the parser `N` bytes at a time (default: everything at once). With
//!   `--reader`, the reader returns at most `N` bytes per `read`.
//! * `--reader`: go through `EventReader` instead of calling `Parser::feed` directly.
//! * `--count`: print only `events=<n> data_bytes=<total bytes of data>`.
//! * `--repeat K`: parse the bytes `K` times (default 1), each time with a fresh parser; events
//!   and counts cover all passes (useful for timing).
//! * `--max-event-size N`: the parser's event size limit (default 16 MiB), as the optional
//!   `max_event_size` of a fixture.
//!
//! Each event is printed as `{"event": <type>, "data": <data>, "id": <last event id>, "retry":
//! <reconnection time in ms or null>}`, then a last line `{"eof": "clean"}` or
//! `{"eof": "discarded"}`. Exit status: 0; 1 if an event exceeds the parser's size limit (the
//! error goes to standard error); 2 for a usage error.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use chatstream::sse::{Eof, Error, Event, EventReader, Parser, ReadError, Status};

const USAGE: &str = "usage: sse_dump [--chunk-size N] [--reader] [--count] [--repeat K] [FILE]";

/// Command-line options.
struct Options {
    chunk_size: Option<usize>,
    reader: bool,
    count: bool,
    repeat: usize,
    max_event_size: usize,
    file: Option<String>,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("sse_dump: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let input = match read_input(options.file.as_deref()) {
        Ok(input) => input,
        Err(error) => {
            let name = options.file.as_deref().unwrap_or("standard input");
            eprintln!("sse_dump: cannot read {name}: {error}");
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut sink = Sink {
        out: BufWriter::new(stdout.lock()),
        count: options.count,
        events: 0,
        data_bytes: 0,
        line: String::new(),
    };
    let mut parser = Parser::with_max_event_size(options.max_event_size);
    let mut eof = Eof::Clean;
    for _ in 0..options.repeat {
        let result = if options.reader {
            let parser = Parser::with_max_event_size(options.max_event_size);
            dump_via_reader(&input, options.chunk_size, parser, &mut sink).map_err(|error| {
                match error {
                    ReadError::Parse(error) => error.to_string(),
                    other => other.to_string(),
                }
            })
        } else {
            parser.reset();
            dump_via_feed(&input, options.chunk_size, &mut parser, &mut sink)
                .map_err(|error| error.to_string())
        };
        match result {
            Ok(pass_eof) => eof = pass_eof,
            Err(message) => {
                let _ = sink.out.flush();
                eprintln!("sse_dump: {message}");
                return ExitCode::from(1);
            }
        }
    }
    let written = if options.count {
        writeln!(
            sink.out,
            "events={} data_bytes={}",
            sink.events, sink.data_bytes
        )
    } else {
        let eof = match eof {
            Eof::Clean => "clean",
            Eof::DiscardedIncompleteEvent => "discarded",
        };
        writeln!(sink.out, "{{\"eof\": \"{eof}\"}}")
    };
    match written.and_then(|()| sink.out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (e.g. `| head`) is not worth an error message.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sse_dump: writing standard output: {error}");
            ExitCode::from(1)
        }
    }
}

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        chunk_size: None,
        reader: false,
        count: false,
        repeat: 1,
        max_event_size: Parser::DEFAULT_MAX_EVENT_SIZE,
        file: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--reader" => options.reader = true,
            "--count" => options.count = true,
            "--chunk-size" => options.chunk_size = Some(positive(&arg, args.next())?),
            "--repeat" => options.repeat = positive(&arg, args.next())?,
            "--max-event-size" => options.max_event_size = positive(&arg, args.next())?,
            flag if flag.starts_with('-') && flag != "-" => {
                return Err(format!("unknown option {flag:?}"));
            }
            file => {
                if options.file.is_some() {
                    return Err("more than one FILE given".to_owned());
                }
                options.file = Some(file.to_owned());
            }
        }
    }
    Ok(Some(options))
}

/// The value of option `name`: a whole number of at least 1.
fn positive(name: &str, value: Option<String>) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{name} needs a value"))?;
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} must be a whole number >= 1, not {value:?}")),
    }
}

fn read_input(file: Option<&str>) -> io::Result<Vec<u8>> {
    match file {
        None | Some("-") => {
            let mut input = Vec::new();
            io::stdin().lock().read_to_end(&mut input)?;
            Ok(input)
        }
        Some(path) => std::fs::read(path),
    }
}

/// Where events go: printed as JSON lines, or only counted.
struct Sink<W: Write> {
    out: W,
    count: bool,
    events: u64,
    data_bytes: u64,
    /// The JSON line being built for the current event.
    line: String,
}

impl<W: Write> Sink<W> {
    /// Records `event`; [`Sink::end_event`] completes it with the reconnection time. (Two steps
    /// because an event from `EventReader` borrows the reader, which owns the parser.)
    fn begin_event(&mut self, event: Event<'_>) {
        self.events += 1;
        self.data_bytes += event.data().len() as u64;
        if !self.count {
            self.line.clear();
            self.line.push_str("{\"event\": ");
            self.line.push_str(&json(event.event_type()));
            self.line.push_str(", \"data\": ");
            self.line.push_str(&json(event.data()));
            self.line.push_str(", \"id\": ");
            self.line.push_str(&json(event.last_event_id()));
        }
    }

    /// Prints the event recorded by [`Sink::begin_event`] with the reconnection time `retry`.
    fn end_event(&mut self, retry: Option<u64>) {
        if !self.count {
            let retry = retry.map_or_else(|| "null".to_owned(), |ms| ms.to_string());
            // Write errors surface at the final flush.
            let _ = writeln!(self.out, "{}, \"retry\": {retry}}}", self.line);
        }
    }
}

/// `text` as a JSON string literal (serde_json does the escaping).
fn json(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// One pass feeding the parser `chunk_size` bytes at a time.
fn dump_via_feed<W: Write>(
    input: &[u8],
    chunk_size: Option<usize>,
    parser: &mut Parser,
    sink: &mut Sink<W>,
) -> Result<Eof, Error> {
    let chunk_size = chunk_size.unwrap_or(input.len()).max(1);
    for chunk in input.chunks(chunk_size) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (status, consumed) = parser.feed(rest)?;
            rest = rest.get(consumed..).unwrap_or_default();
            if status == Status::Event {
                sink.begin_event(parser.event());
                sink.end_event(parser.reconnection_time());
            }
        }
    }
    Ok(parser.finish())
}

/// One pass through `EventReader` (with a fresh `parser`) over a reader returning at most
/// `chunk_size` bytes per read.
fn dump_via_reader<W: Write>(
    input: &[u8],
    chunk_size: Option<usize>,
    parser: Parser,
    sink: &mut Sink<W>,
) -> Result<Eof, ReadError> {
    let chunked = Chunked {
        rest: input,
        max: chunk_size.unwrap_or(usize::MAX),
    };
    let mut reader = EventReader::with_parser(chunked, parser);
    while let Some(event) = reader.next_event()? {
        sink.begin_event(event);
        // The reconnection time cannot change before the next `next_event`.
        sink.end_event(reader.parser().reconnection_time());
    }
    Ok(reader.eof().unwrap_or(Eof::Clean))
}

/// A reader over a byte slice that returns at most `max` bytes per `read`.
struct Chunked<'a> {
    rest: &'a [u8],
    max: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rest.len().min(self.max).min(buf.len());
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}
