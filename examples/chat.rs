//! Streams a chat completion to the terminal: the crate's main job.
//!
//! ```text
//! cargo run --release --example chat -- [--api chat|responses] [--model M] [--system TEXT]
//!     [--temperature T] [--max-tokens N] [-n N] [--idle-timeout SECS] [--no-stream] [--json]
//!     PROMPT...
//! ```
//!
//! `--api responses` (the default is `chat`) calls the Responses API (`POST /responses`)
//! instead, with the same flags: `--system` becomes `instructions` and `--max-tokens`
//! `max_output_tokens`; `-n` has no equivalent there and is a usage error. Text deltas go to
//! stdout as they arrive, function calls and reasoning summaries to stderr, and `--json`
//! prints the final response object (`"object": "response"`).
//!
//! Configuration comes from the environment, as for `Client::from_env()`
//! (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_ORG_ID`,
//! `OPENAI_PROJECT_ID`); the model defaults to `OPENAI_MODEL`, else
//! `gpt-4o-mini`. With neither `OPENAI_API_KEY` nor `OPENAI_BASE_URL` set,
//! it starts an embedded replay server on 127.0.0.1 that plays a recorded
//! stream at a realistic pace, says so on stderr, and streams from it
//! through the real client, so it works with no network at all.
//!
//! The reply's content goes to stdout as it arrives (flushed per delta);
//! usage, reasoning and tool-call summaries and errors go to stderr. Exit
//! status: 0 on success, 1 on an error (after printing what arrived), 2 on
//! a usage error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Duration;

use chatstream::responses::{FunctionCallItem, OutputItem};
use chatstream::{
    ChatCompletion, ChatRequest, Client, ClientBuilder, Message, Response, ResponseEvent,
    ResponseRequest, ResponsesDecoder,
};

const USAGE: &str = "usage: chat [--api chat|responses] [--model M] [--system TEXT] \
[--temperature T] [--max-tokens N] [-n N] [--idle-timeout SECS] [--no-stream] [--json] PROMPT...";

/// Which API the example calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Responses,
}

struct Args {
    api: Api,
    model: Option<String>,
    system: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    n: Option<u32>,
    idle_timeout: Option<f64>,
    stream: bool,
    json: bool,
    prompt: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        api: Api::Chat,
        model: None,
        system: None,
        temperature: None,
        max_tokens: None,
        n: None,
        idle_timeout: None,
        stream: true,
        json: false,
        prompt: String::new(),
    };
    let mut words = Vec::new();
    let mut it = std::env::args().skip(1);
    fn value<T: std::str::FromStr>(
        flag: &str,
        it: &mut impl Iterator<Item = String>,
    ) -> Result<T, String> {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: invalid value `{v}`"))
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--api" => {
                args.api = match value::<String>(&arg, &mut it)?.as_str() {
                    "chat" => Api::Chat,
                    "responses" => Api::Responses,
                    other => {
                        return Err(format!(
                            "--api: invalid value `{other}` (expected chat or responses)"
                        ));
                    }
                }
            }
            "--model" => args.model = Some(value(&arg, &mut it)?),
            "--system" => args.system = Some(value(&arg, &mut it)?),
            "--temperature" => args.temperature = Some(value(&arg, &mut it)?),
            "--max-tokens" => args.max_tokens = Some(value(&arg, &mut it)?),
            "-n" => args.n = Some(value(&arg, &mut it)?),
            "--idle-timeout" => {
                let secs: f64 = value(&arg, &mut it)?;
                if !(secs.is_finite() && secs > 0.0) {
                    return Err("--idle-timeout must be a positive number of seconds".into());
                }
                args.idle_timeout = Some(secs);
            }
            "--no-stream" => args.stream = false,
            "--json" => args.json = true,
            "-h" | "--help" => return Err(String::new()),
            "--" => words.extend(it.by_ref()),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => words.push(arg),
        }
    }
    if words.is_empty() {
        return Err("no prompt given".into());
    }
    if args.api == Api::Responses && args.n.is_some() {
        return Err("-n is not available with --api responses (a response has one output)".into());
    }
    args.prompt = words.join(" ");
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("chat: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("chat: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let configured = std::env::var_os("OPENAI_API_KEY").is_some()
        || std::env::var_os("OPENAI_BASE_URL").is_some();
    let mut builder = ClientBuilder::from_env();
    // Keeps the replay server alive for the whole run.
    let _replay;
    if !configured {
        let server = ReplayServer::start().map_err(|e| format!("replay server: {e}"))?;
        eprintln!(
            "chat: OPENAI_API_KEY and OPENAI_BASE_URL are not set; streaming a recorded reply \
             from an embedded replay server at {} (set them to talk to a real server)",
            server.base_url
        );
        builder = builder.base_url(server.base_url.clone());
        _replay = server;
    }
    if let Some(secs) = args.idle_timeout {
        builder = builder.stream_idle_timeout(Duration::from_secs_f64(secs));
    }
    let client = builder.build().map_err(|e| e.to_string())?;

    let model = args
        .model
        .clone()
        .or_else(|| std::env::var("OPENAI_MODEL").ok().filter(|m| !m.is_empty()))
        .unwrap_or_else(|| "gpt-4o-mini".to_string());
    if args.api == Api::Responses {
        return run_responses(args, &client, model);
    }
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::system(system.clone()));
    }
    messages.push(Message::user(args.prompt.clone()));
    let mut request = ChatRequest::new(model, messages);
    request.temperature = args.temperature;
    request.max_tokens = args.max_tokens;
    request.n = args.n;

    let result = if args.stream {
        stream(&client, &request, args.json)
    } else {
        client.chat(&request)
    };
    match result {
        Ok(completion) => {
            if args.json {
                println!("{}", completion.to_json());
            } else if !args.stream {
                print_choices(&completion, 0);
            } else {
                print_choices(&completion, 1);
            }
            summarise(&completion);
            if args.stream && !completion.all_choices_finished() {
                eprintln!(
                    "chat: warning: the stream ended before every choice had a finish reason; \
                     the reply may be incomplete"
                );
            }
            Ok(())
        }
        Err(error) => {
            // What arrived before a mid-stream error is not lost.
            if let Some(partial) = error.partial().filter(|_| args.json) {
                println!("{}", partial.to_json());
            }
            Err(error.to_string())
        }
    }
}

/// Streams choice 0 to stdout as it arrives; returns the accumulated whole.
fn stream(
    client: &Client,
    request: &ChatRequest,
    json: bool,
) -> Result<ChatCompletion, chatstream::Error> {
    let several = request.n.is_some_and(|n| n > 1);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if several && !json {
        let _ = writeln!(out, "=== choice 0 ===");
    }
    let result = client.chat_stream(request, |chunk| {
        if json {
            return ControlFlow::Continue(());
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let delta = &choice.delta;
            for text in [&delta.content, &delta.refusal].into_iter().flatten() {
                let _ = out.write_all(text.as_bytes());
            }
        }
        let _ = out.flush();
        ControlFlow::Continue(())
    });
    if !json {
        let _ = writeln!(out);
    }
    result
}

/// Prints the content of every choice from `first` on, each under a header
/// when there are several.
fn print_choices(completion: &ChatCompletion, first: usize) {
    let several = completion.choices.len() > 1;
    for choice in completion.choices.iter().skip(first) {
        if several {
            println!("=== choice {} ===", choice.index);
        }
        let m = &choice.message;
        for text in [m.text().as_ref(), m.refusal.as_deref().unwrap_or_default()] {
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }
}

/// Reasoning, tool calls, finish reasons and usage, on stderr.
fn summarise(completion: &ChatCompletion) {
    for choice in &completion.choices {
        let m = &choice.message;
        if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
            eprintln!(
                "[choice {}: reasoning, {} characters]",
                choice.index,
                r.chars().count()
            );
        }
        for call in &m.tool_calls {
            eprintln!(
                "[choice {}: tool call {} {}({})]",
                choice.index, call.id, call.function.name, call.function.arguments
            );
        }
        if let Some(reason) = &choice.finish_reason {
            eprintln!("[choice {}: finish reason {reason}]", choice.index);
        }
    }
    match &completion.usage {
        Some(u) => {
            let count = |n: Option<u64>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
            eprintln!(
                "[usage: {} prompt + {} completion = {} tokens]",
                count(u.prompt_tokens),
                count(u.completion_tokens),
                count(u.total_tokens)
            );
        }
        None => eprintln!("[usage: not reported]"),
    }
}

/// `--api responses`: the same flags, through the Responses API.
fn run_responses(args: &Args, client: &Client, model: String) -> Result<(), String> {
    let mut request = ResponseRequest::new(model, args.prompt.clone());
    request.instructions = args.system.clone();
    request.temperature = args.temperature;
    request.max_output_tokens = args.max_tokens;

    let result = if args.stream {
        stream_response(client, &request, args.json)
    } else {
        client.response(&request)
    };
    match result {
        Ok(response) => {
            if args.json {
                println!("{}", response.to_json());
            } else if !args.stream {
                for text in [Some(response.output_text()), response.refusal()]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.is_empty())
                {
                    println!("{text}");
                }
                let summary = response.reasoning_summary();
                if !summary.is_empty() {
                    eprintln!("[reasoning summary: {summary}]");
                }
                for item in &response.output {
                    if let OutputItem::FunctionCall(call) = item {
                        print_function_call(call);
                    }
                }
            }
            summarise_response(&response);
            match response.status.as_deref() {
                // A plain call returns a failed response as it is; it is still an error here.
                Some("failed") => Err(format!(
                    "the response failed: {}",
                    response
                        .error
                        .as_ref()
                        .and_then(|e| e.message.clone())
                        .unwrap_or_default()
                )),
                _ => Ok(()),
            }
        }
        Err(error) => {
            // What arrived before a mid-stream error is not lost.
            if let Some(partial) = error.partial_response().filter(|_| args.json) {
                println!("{}", partial.to_json());
            }
            Err(error.to_string())
        }
    }
}

/// Streams the text to stdout as it arrives, function calls and reasoning summaries to stderr;
/// returns the final response.
fn stream_response(
    client: &Client,
    request: &ResponseRequest,
    json: bool,
) -> Result<Response, chatstream::Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = client.response_stream(request, |event| {
        if json {
            return ControlFlow::Continue(());
        }
        match event {
            ResponseEvent::OutputTextDelta(d) | ResponseEvent::RefusalDelta(d) => {
                let _ = out.write_all(d.delta.as_bytes());
                let _ = out.flush();
            }
            ResponseEvent::ReasoningSummaryTextDelta(d) => eprint!("{}", d.delta),
            ResponseEvent::ReasoningSummaryPartDone(_) => eprintln!(),
            ResponseEvent::OutputItemDone(done) => {
                if let OutputItem::FunctionCall(call) = &done.item {
                    print_function_call(call);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    if !json {
        let _ = writeln!(out);
    }
    result
}

fn print_function_call(call: &FunctionCallItem) {
    eprintln!(
        "[function call {} {}({})]",
        call.call_id, call.name, call.arguments
    );
}

/// Status and usage, on stderr.
fn summarise_response(response: &Response) {
    if let Some(status) = &response.status {
        match response.incomplete_reason() {
            Some(reason) => eprintln!("[status: {status} ({reason})]"),
            None => eprintln!("[status: {status}]"),
        }
    }
    match &response.usage {
        Some(u) => {
            let count = |n: Option<u64>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
            eprintln!(
                "[usage: {} input + {} output = {} tokens]",
                count(u.input_tokens),
                count(u.output_tokens),
                count(u.total_tokens)
            );
        }
        None => eprintln!("[usage: not reported]"),
    }
}

/// A recorded OpenAI stream, played back by [`ReplayServer`].
const REPLAY: &str = include_str!("replay.sse");

/// A recorded OpenAI Responses stream, played back for `POST /responses`.
const REPLAY_RESPONSES: &str = include_str!("replay-responses.sse");

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers chat completion
/// requests with [`REPLAY`] and Responses requests with [`REPLAY_RESPONSES`]:
/// streamed event by event at a realistic pace, or (for non-streaming
/// requests) as one JSON completion or response built from it.
struct ReplayServer {
    base_url: String,
}

impl ReplayServer {
    fn start() -> std::io::Result<ReplayServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = serve(conn);
                });
            }
        });
        Ok(ReplayServer { base_url })
    }
}

fn serve(conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let content_length = header
                .split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"));
            if let Some((_, value)) = content_length {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        reader.read_exact(&mut body)?;
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let responses_api = line
            .split_whitespace()
            .nth(1)
            .is_some_and(|path| path.ends_with("/responses"));
        let replay = if responses_api {
            REPLAY_RESPONSES
        } else {
            REPLAY
        };
        if request["stream"] == serde_json::Value::Bool(true) {
            out.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                  transfer-encoding: chunked\r\nx-request-id: req_replay\r\n\r\n",
            )?;
            for event in replay.split_inclusive("\n\n") {
                std::thread::sleep(Duration::from_millis(30));
                write!(out, "{:x}\r\n{event}\r\n", event.len())?;
                out.flush()?;
            }
            out.write_all(b"0\r\n\r\n")?;
        } else {
            let body = if responses_api {
                replay_response()
            } else {
                replay_completion()
            }
            .to_string();
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 x-request-id: req_replay\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )?;
        }
        out.flush()?;
    }
}

/// The replayed stream accumulated into one completion, for `--no-stream`.
fn replay_completion() -> serde_json::Value {
    let mut acc = chatstream::Accumulator::new();
    chatstream::sse::Parser::new()
        .feed_all(REPLAY.as_bytes(), |event| {
            if let Ok(chunk) = chatstream::ChatChunk::from_json_str(event.data()) {
                acc.push(&chunk);
            }
            ControlFlow::Continue(())
        })
        .ok();
    acc.into_completion().to_json()
}

/// The replayed Responses stream decoded into its final response, for `--no-stream`.
fn replay_response() -> serde_json::Value {
    let mut decoder = ResponsesDecoder::new();
    let _ = decoder.feed(REPLAY_RESPONSES.as_bytes(), |_| ControlFlow::Continue(()));
    decoder.finish().map_or_else(
        |e| serde_json::json!({"error": {"message": e.to_string()}}),
        |r| r.to_json(),
    )
}
