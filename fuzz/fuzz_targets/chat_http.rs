//! Fuzz input served as the HTTP response body of a streamed chat request over a loopback
//! socket: the real `Client::chat_chunks` must agree with the reference model of `ChatStream`
//! in `props/chat.rs` (the chunks yielded, how the stream ends, the completion or the error's
//! partial completion), and never panic or hang.
//!
//! Same input layout as `chat_stream` (first byte: mode). Slower (one HTTP exchange per
//! input, on a kept-alive connection when the stream ends cleanly).
#![no_main]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock, PoisonError};

use chatstream::{ChatRequest, Client, Message};
use libfuzzer_sys::fuzz_target;

#[path = "../props/chat.rs"]
mod chat_props;

/// The body the server sends next.
static BODY: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Harness {
    client: Client,
    request: ChatRequest,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = serve(connection);
                });
            }
        });
        Harness {
            client: Client::builder()
                .base_url(format!("http://127.0.0.1:{port}/v1"))
                .max_retries(0)
                .build()
                .expect("client"),
            request: ChatRequest::new("m", vec![Message::user("hi")]),
        }
    })
}

/// Answers every request on `connection` with the current body, chunked.
fn serve(connection: TcpStream) -> io::Result<()> {
    connection.set_nodelay(true)?;
    let mut reader = BufReader::new(connection.try_clone()?);
    let mut writer = connection;
    let mut line = String::new();
    loop {
        let mut length = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        io::copy(&mut (&mut reader).take(length), &mut io::sink())?;
        let body = BODY.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut out = Vec::with_capacity(body.len() + 128);
        out.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        if !body.is_empty() {
            write!(out, "{:x}\r\n", body.len())?;
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        writer.write_all(&out)?;
    }
}

fuzz_target!(|input: &[u8]| {
    let harness = harness();
    let stream = chat_props::stream_of(input);
    let (events, discarded) = chat_props::events(&stream);
    let expected = chat_props::expected_stream(&events, discarded.as_ref());
    *BODY.lock().unwrap_or_else(PoisonError::into_inner) = stream;
    let live = harness
        .client
        .chat_chunks(&harness.request)
        .expect("the stream starts");
    chat_props::check_chat_stream(live, chatstream::ChatStream::into_completion, &expected);
});
