//! End to end over loopback: a server thread in this process streams OpenAI-shaped events to
//! client processes (this same executable, started with `--e2e-client`), and each client
//! process's CPU time comes from `wait4`, so the server's work is never counted and every client
//! pays its own start-up, HTTP stack, SSE, decode and accumulation.

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// The clients, in the order they are run in each round. `start + exit` only starts the process
/// and exits: what every other row pays before its first byte.
pub const CLIENTS: [&str; 4] = ["chatstream", "naive", "async-openai", "start + exit"];

/// What one stream holds: chunks (events other than `[DONE]`) and the bytes of their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub chunks: u64,
    pub content_bytes: u64,
}

/// The HTTP response: an OpenAI-shaped stream of `events` chunks (a role chunk, content chunks,
/// a `finish_reason` chunk and a usage chunk) and `[DONE]`, one HTTP chunk per event as a server
/// that flushes every token sends it.
pub fn response(events: usize) -> (Vec<u8>, Expected) {
    const WORDS: [&str; 8] = [
        " The",
        " quick",
        " brown",
        " fox",
        " jumps\\n",
        " over",
        " \\\"the\\\"",
        " lazy dog.",
    ];
    let events = events.max(3);
    let head = r#"{"id":"chatcmpl-Bm5l2UzSrkBcB6c39iyaQzRvlBaFq","object":"chat.completion.chunk","created":1750848512,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_34a54ae93c","choices":["#;
    let mut body = Vec::with_capacity(events * 300);
    let mut content_bytes = 0;
    let mut data = String::new();
    for i in 0..events {
        data.clear();
        data.push_str(head);
        if i == 0 {
            data.push_str(r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"obfuscation":"pN4S"}"#);
        } else if i == events - 2 {
            data.push_str(r#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"obfuscation":"q"}"#);
        } else if i == events - 1 {
            data.push_str(r#"],"usage":{"prompt_tokens":12,"completion_tokens":99998,"total_tokens":100010,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"Xx"}"#);
        } else {
            let word = i % WORDS.len();
            // The unescaped length, as a client accumulates it.
            let text: String = serde_json::from_str(&format!("\"{}\"", WORDS[word]))
                .expect("the words are valid JSON strings");
            content_bytes += text.len() as u64;
            let _ = write!(
                data,
                r#"{{"index":0,"delta":{{"content":"{}"}},"logprobs":null,"finish_reason":null}}],"obfuscation":"a8Zr"}}"#,
                WORDS[word]
            );
        }
        http_chunk(&mut body, &format!("data: {data}\n\n"));
    }
    http_chunk(&mut body, "data: [DONE]\n\n");
    body.extend_from_slice(b"0\r\n\r\n");
    let expected = Expected {
        chunks: events as u64,
        content_bytes,
    };
    (body, expected)
}

fn http_chunk(body: &mut Vec<u8>, payload: &str) {
    let _ = write!(body, "{:x}\r\n", payload.len());
    body.extend_from_slice(payload.as_bytes());
    body.extend_from_slice(b"\r\n");
}

/// Starts the loopback server on a thread: every connection gets the same response, whatever it
/// asked. Returns the port.
pub fn serve(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    let body = Arc::new(body);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            // A client that failed is reported by its exit status; the server just goes on.
            let _ = answer(stream, &body);
        }
    });
    port
}

fn answer(stream: TcpStream, body: &[u8]) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    io::copy(&mut reader.by_ref().take(length), &mut io::sink())?;
    let mut stream = stream;
    stream.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\
          connection: close\r\n\r\n",
    )?;
    stream.write_all(body)?;
    stream.flush()?;
    stream.shutdown(Shutdown::Write)?;
    // Let the client read to the end before the socket goes away.
    io::copy(&mut reader, &mut io::sink())?;
    Ok(())
}

/// One client process's run.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// User + system CPU seconds of the child (`wait4`'s rusage).
    pub cpu: f64,
    pub user: f64,
    pub sys: f64,
    pub wall: f64,
    /// What the client reported seeing, if it exited successfully.
    pub seen: Option<Expected>,
}

/// Runs one client in a child process and waits for it with `wait4`.
pub fn run_client(client: &str, port: u16) -> Run {
    let exe = std::env::current_exe().expect("current executable");
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["--e2e-client", client, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a client process");
    let mut output = String::new();
    let _ = child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut output);
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value; wait4 only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own child, not yet waited for (std's `Child` is never waited on
    // here, and dropping it does not wait); both pointers are valid and writable.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4 failed: {}", io::Error::last_os_error());
    let wall = started.elapsed().as_secs_f64();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let seen = output.split_whitespace().collect::<Vec<_>>();
    let seen = match (ok, seen.as_slice()) {
        (true, [chunks, content]) => {
            chunks
                .parse()
                .ok()
                .zip(content.parse().ok())
                .map(|(chunks, content_bytes)| Expected {
                    chunks,
                    content_bytes,
                })
        }
        _ => None,
    };
    Run {
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
        wall,
        seen,
    }
}

/// The child's side: runs one client against the server on `port`, prints the chunks and content
/// bytes it saw, and exits (status 1 on an error).
pub fn client_main(args: &[String]) -> ! {
    let (client, port) = match args {
        [client, port] => (
            client.as_str(),
            port.parse::<u16>().unwrap_or_else(|_| fail("bad port")),
        ),
        _ => fail("usage: --e2e-client CLIENT PORT"),
    };
    let base = format!("http://127.0.0.1:{port}/v1");
    let seen = match client {
        "chatstream" => chatstream_client(&base),
        "naive" => naive_client(&base),
        "async-openai" => async_openai_client(&base),
        "start + exit" => Ok((0, 0)),
        other => fail(&format!("unknown client {other:?}")),
    };
    match seen {
        Ok((chunks, content)) => {
            println!("{chunks} {content}");
            std::process::exit(0)
        }
        Err(error) => fail(&format!("{client}: {error}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("chatstream-compare client: {message}");
    std::process::exit(1)
}

type Seen = Result<(u64, usize), Box<dyn std::error::Error>>;

const MODEL: &str = "gpt-4o-mini";
const PROMPT: &str = "Write a long story.";

/// `Client::chat_stream`, the crate's main call: chunks to a callback, the completion returned.
fn chatstream_client(base: &str) -> Seen {
    use chatstream::{ChatRequest, Client, Message};
    let client = Client::builder()
        .base_url(base)
        .api_key("sk-bench")
        .build()?;
    let request = ChatRequest::new(MODEL, vec![Message::user(PROMPT)]);
    let mut chunks = 0;
    let completion = client.chat_stream(&request, |chunk| {
        chunks += 1;
        black_box(chunk);
        ControlFlow::Continue(())
    })?;
    Ok((chunks, completion.content().len()))
}

/// What a hand-rolled client does: ureq, `BufRead::lines()`, each `data: ` line parsed into a
/// `serde_json::Value`, the content of choice 0 appended to a `String`.
fn naive_client(base: &str) -> Seen {
    let body = serde_json::json!({
        "model": MODEL,
        "stream": true,
        "messages": [{"role": "user", "content": PROMPT}],
    });
    let mut response = ureq::post(format!("{base}/chat/completions"))
        .header("authorization", "Bearer sk-bench")
        .header("content-type", "application/json")
        .send(&serde_json::to_vec(&body)?[..])?;
    let reader = BufReader::new(response.body_mut().as_reader());
    let (mut chunks, mut content) = (0, String::new());
    for line in reader.lines() {
        let line = line?;
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let chunk: serde_json::Value = serde_json::from_str(data)?;
        chunks += 1;
        if let Some(text) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(text);
        }
    }
    Ok((chunks, content.len()))
}

/// async-openai's `create_stream` (reqwest, eventsource-stream, its typed chunks) on a
/// current-thread tokio runtime, the content of choice 0 appended to a `String`.
fn async_openai_client(base: &str) -> Seen {
    use async_openai::Client;
    use async_openai::config::OpenAIConfig;
    use async_openai::types::chat::{
        ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
    };
    use futures::StreamExt;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = OpenAIConfig::new()
            .with_api_base(base)
            .with_api_key("sk-bench");
        let client = Client::with_config(config);
        let request = CreateChatCompletionRequestArgs::default()
            .model(MODEL)
            .messages(vec![ChatCompletionRequestUserMessage::from(PROMPT).into()])
            .stream(true)
            .build()?;
        let mut stream = client.chat().create_stream(request).await?;
        let (mut chunks, mut content) = (0, String::new());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            chunks += 1;
            for choice in chunk.choices.iter().filter(|choice| choice.index == 0) {
                if let Some(text) = &choice.delta.content {
                    content.push_str(text);
                }
            }
        }
        Ok((chunks, content.len()))
    })
}
