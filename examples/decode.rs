//! Decodes a recorded chat completion stream with `ChatDecoder`, the crate's sans-IO core: a
//! transport that is not the blocking client (here a file or standard input, read in pieces)
//! drives the same stream rules. Builds without the client:
//!
//! ```text
//! cargo run --no-default-features --example decode -- [--chunk-size N] [--json] [FILE]
//! ```
//!
//! * `FILE`: the raw `text/event-stream` bytes (standard input when absent or `-`), e.g.
//!   `fixtures/sse/recorded/openai-content.sse`.
//! * `--chunk-size N`: read and decode `N` bytes at a time (default 64), as a network would
//!   deliver them.
//! * `--json`: print nothing while decoding, then the final completion as one JSON line, the
//!   shape the `chat` example's `--json` prints.
//!
//! Without `--json`, the content of choice 0 goes to stdout as each chunk is decoded (flushed
//! per piece) and the finish reason and usage to stderr. Exit status: 0 when the stream is
//! complete; 1 on an error (an API error in the stream, a cut-off stream, data that is not a
//! chunk), after printing what arrived (with `--json`, the partial completion); 2 on a usage
//! error.

use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;

use chatstream::{ChatCompletion, ChatDecoder, Error};

const USAGE: &str = "usage: decode [--chunk-size N] [--json] [FILE]";

struct Args {
    chunk_size: usize,
    json: bool,
    file: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        chunk_size: 64,
        json: false,
        file: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--chunk-size" => {
                let value = it.next().ok_or("--chunk-size needs a value")?;
                args.chunk_size = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--chunk-size: invalid value `{value}`"))?;
            }
            "--json" => args.json = true,
            "-h" | "--help" => return Err(String::new()),
            "-" => args.file = None,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if args.file.is_some() => return Err("more than one FILE".into()),
            _ => args.file = Some(arg),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("decode: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let input: Box<dyn Read> = match &args.file {
        Some(path) => match std::fs::File::open(path) {
            Ok(file) => Box::new(file),
            Err(e) => {
                eprintln!("decode: {path}: {e}");
                return ExitCode::from(2);
            }
        },
        None => Box::new(io::stdin().lock()),
    };
    match decode(input, &args) {
        Ok(completion) => {
            if args.json {
                println!("{}", completion.to_json());
            } else {
                summarise(&completion);
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Read(e)) => {
            eprintln!("decode: reading the input failed: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Stream(error)) => {
            // What arrived before the error is not lost.
            if let Some(partial) = error.partial().filter(|_| args.json) {
                println!("{}", partial.to_json());
            }
            eprintln!("decode: {error}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Read(io::Error),
    Stream(Error),
}

/// Reads `input` in pieces of `args.chunk_size` bytes into the decoder, printing choice 0's
/// content as it is decoded; the decoder's verdict at the end of the input.
fn decode(mut input: impl Read, args: &Args) -> Result<ChatCompletion, Failure> {
    let mut decoder = ChatDecoder::new();
    let mut buffer = vec![0; args.chunk_size];
    let mut stdout = io::stdout().lock();
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Read(e)),
        };
        let fed = decoder.feed(&buffer[..read], |chunk| {
            if !args.json {
                for choice in chunk.choices.iter().filter(|c| c.index == 0) {
                    let delta = &choice.delta;
                    for text in [&delta.content, &delta.refusal].into_iter().flatten() {
                        let _ = stdout.write_all(text.as_bytes());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        let _ = stdout.flush();
        if let Err(error) = fed {
            if !args.json {
                let _ = writeln!(stdout);
            }
            return Err(Failure::Stream(error));
        }
        if decoder.is_done() {
            // `[DONE]`: whatever follows is not part of the stream.
            break;
        }
    }
    if !args.json {
        let _ = writeln!(stdout);
    }
    decoder.finish().map_err(Failure::Stream)
}

/// The finish reason of each choice and the usage, on stderr.
fn summarise(completion: &ChatCompletion) {
    for choice in &completion.choices {
        if let Some(reason) = &choice.finish_reason {
            eprintln!("[choice {}: finish reason {reason}]", choice.index);
        }
    }
    if let Some(total) = completion.usage.as_ref().and_then(|u| u.total_tokens) {
        eprintln!("[usage: {total} tokens]");
    }
}
