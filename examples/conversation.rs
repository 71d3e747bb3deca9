//! A multi-turn chat on stdin: each line is your next message, the reply streams to stdout,
//! and the conversation grows in place (the history is never cloned).
//!
//! ```text
//! cargo run --example conversation -- [--model M] [--system TEXT] [--max-tokens N] [--extra JSON]
//! ```
//!
//! Configuration comes from the environment, as for `Client::from_env()` (`OPENAI_API_KEY`,
//! `OPENAI_BASE_URL`, ...); the model defaults to `OPENAI_MODEL`, else `gpt-4o-mini`.
//! `--extra` merges a JSON object into every request body. End with Ctrl-D (end of input);
//! an empty line is skipped.
//!
//! Replies go to stdout, one line each; the prompt (`> `, only when stdin is a terminal) and
//! per-turn token counts go to stderr. Exit status: 0 at the end of input, 1 on an error
//! (after printing what arrived), 2 on a usage error.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use chatstream::{ChatRequest, Client, Message};
use serde_json::Value;

const USAGE: &str =
    "usage: conversation [--model M] [--system TEXT] [--max-tokens N] [--extra JSON]";

fn main() -> ExitCode {
    let mut request = match parse_args() {
        Ok(request) => request,
        Err(msg) => {
            eprintln!("conversation: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match chat(&mut request) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conversation: {e}");
            ExitCode::from(1)
        }
    }
}

fn chat(request: &mut ChatRequest) -> Result<(), String> {
    let client = Client::from_env().map_err(|e| e.to_string())?;
    let interactive = std::io::stdin().is_terminal();
    let mut input = std::io::stdin().lock();
    for turn in 1.. {
        let mut line = String::new();
        while line.trim().is_empty() {
            if interactive {
                eprint!("> ");
            }
            line.clear();
            if input.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Ok(()); // end of input
            }
        }
        request.push(Message::user(line.trim_end()));
        let reply = client
            .chat_stream(request, |chunk| {
                print!("{}", chunk.content());
                let _ = std::io::stdout().flush();
            })
            .map_err(|e| e.to_string())?;
        println!();
        let count = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        eprintln!(
            "[turn {turn}: {} prompt + {} completion tokens]",
            count(reply.prompt_tokens()),
            count(reply.completion_tokens())
        );
        request.push(reply.into_message());
    }
    Ok(())
}

fn parse_args() -> Result<ChatRequest, String> {
    let model = std::env::var("OPENAI_MODEL")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "gpt-4o-mini".to_owned());
    let mut request = ChatRequest::new(model, vec![]);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => request.model = value()?,
            "--system" => {
                request.push(Message::system(value()?));
            }
            "--max-tokens" => {
                let n = value()?;
                request.max_tokens = Some(n.parse().map_err(|_| format!("--max-tokens: `{n}`"))?);
            }
            "--extra" => match serde_json::from_str(&value()?) {
                Ok(Value::Object(fields)) => request.extra.extend(fields),
                _ => return Err("--extra needs a JSON object".into()),
            },
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(request)
}
