//! A blocking client for OpenAI-compatible chat APIs, built on a reference
//! Server-Sent Events parser.
//!
//! `chatstream` calls `POST /v1/chat/completions` and `POST /v1/responses`
//! (the Responses API; plain and streamed) and `GET /v1/models` on OpenAI
//! or any compatible server (Azure OpenAI,
//! llama.cpp, vLLM, Ollama, OpenRouter, LiteLLM…) from ordinary blocking
//! code: no async runtime. Its runtime dependencies are `ureq` (with rustls)
//! and `serde_json`, plus `memchr` and `serde_core`, which `serde_json`
//! already depends on (named directly because the parser and the chunk
//! decoder use them); without the client only the last three remain. Its stream rules are a sans-IO core that any other
//! transport can drive, with or without the client ([features](#features)).
//!
//! # Quick start
//!
//! ```no_run
//! # #[cfg(feature = "client")] fn main() -> Result<(), chatstream::Error> {
//! use chatstream::{ChatRequest, Client, Message};
//!
//! // OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID.
//! let client = Client::from_env()?;
//! let request = ChatRequest::new(
//!     "gpt-4o-mini",
//!     vec![Message::system("Be brief."), Message::user("Why is the sky blue?")],
//! );
//!
//! // Plain call: the whole completion at once.
//! let completion = client.chat(&request)?;
//! println!("{}", completion.content());
//!
//! // Streamed: each chunk the moment it arrives, then the accumulated whole.
//! let completion = client.chat_stream(&request, |chunk| print!("{}", chunk.content()))?;
//! if let Some(total) = completion.total_tokens() {
//!     eprintln!("\n{total} tokens");
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "client"))] fn main() {}
//! ```
//!
//! # Streaming
//!
//! Three ways to consume a stream, from most to least convenient:
//!
//! * [`Client::chat_stream`] calls a closure per [`ChatChunk`]. The closure
//!   returns `()`, or a [`ControlFlow`](std::ops::ControlFlow) when it may
//!   stop early ([`IntoControlFlow`]): on `Break` the connection is closed
//!   and what arrived is returned.
//! * [`Client::chat_chunks`] returns a [`ChatStream`], an iterator over
//!   chunks that accumulates as it goes.
//! * [`Client::post_stream`] hands raw [`sse::Event`]s of any endpoint to a
//!   closure: legacy completions, anything not modelled.
//!
//! The Responses API has the same three ways; see [below](#the-responses-api).
//!
//! Bytes reach the parser the moment they arrive: each chunk is delivered
//! as soon as its event's blank line has been read, never after a buffer
//! fills.
//!
//! # Accumulating
//!
//! Every streamed call returns, or leaves in [`ChatStream::completion`], the
//! full [`ChatCompletion`] rebuilt from the deltas, like the official SDKs'
//! final-completion helpers: content, refusals and reasoning concatenated,
//! tool calls merged by index, several choices (`n > 1`), finish reasons,
//! usage and logprobs. The [`Accumulator`] doing it is public, for chunks
//! that arrive some other way.
//!
//! # Choices
//!
//! Accessors without an index ([`ChatChunk::content`],
//! [`ChatCompletion::content`], `finish_reason`, `tool_calls`, `refusal`,
//! `reasoning`, ...) read choice **index 0**, the only one unless
//! [`ChatRequest::n`] asks for more. Their `_of(index)` twins
//! ([`ChatChunk::content_of`], [`ChatCompletion::content_of`], ...) read any
//! choice; with `n > 1` a chunk carries news for whichever choices it has.
//!
//! # The Responses API
//!
//! `POST /responses` is OpenAI's newer API (llama.cpp's `llama-server`,
//! vLLM and others serve it too). Its stream is a sequence of named events
//! (`response.created`, `response.output_text.delta`, ...,
//! `response.completed`) rather than chunks, and ends without `[DONE]`.
//! The calls mirror the chat ones:
//!
//! * [`Client::response`]: the whole [`Response`] at once.
//! * [`Client::response_stream`]: a closure per [`ResponseEvent`], then the
//!   final [`Response`].
//! * [`Client::response_events`]: a [`ResponseStream`], an iterator over the
//!   events that rebuilds the response as it goes.
//! * [`Client::retrieve_response`]: a stored response by id.
//!
//! ```no_run
//! # #[cfg(feature = "client")] fn main() -> Result<(), chatstream::Error> {
//! use std::ops::ControlFlow;
//! use chatstream::{Client, ErrorKind, ResponseRequest};
//!
//! let client = Client::from_env()?;
//! let request = ResponseRequest::new("gpt-4.1-mini", "Why is the sky blue?")
//!     .instructions("Be brief.")
//!     .max_output_tokens(300);
//! match client.response_stream(&request, |event| {
//!     print!("{}", event.text_delta().unwrap_or_default());
//!     ControlFlow::Continue(())
//! }) {
//!     Ok(response) => {
//!         // `incomplete` (e.g. max_output_tokens reached) is a success whose status says why.
//!         eprintln!("\n{:?} {:?}", response.status, response.incomplete_reason());
//!         for call in response.function_calls() {
//!             eprintln!("{}({})", call.name, call.arguments);
//!         }
//!     }
//!     // `response.failed` and `error` events, and a stream cut before its end.
//!     Err(e) if matches!(e.kind(), ErrorKind::Api | ErrorKind::Truncated) => {
//!         let partial = e.partial_response().map(|r| r.output_text().into_owned());
//!         eprintln!("{e}; received {partial:?}");
//!     }
//!     Err(e) => eprintln!("{e}"),
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "client"))] fn main() {}
//! ```
//!
//! The final response is the one the terminal event carries; a stream
//! without one is rebuilt from its item and delta events
//! ([`ResponseAccumulator`]). Events of types this crate does not know
//! arrive as [`ResponseEvent::Other`], so a new server feature never breaks
//! a stream. The rules live in [`ResponsesDecoder`], a sans-IO decoder
//! (bytes in, events out, never any I/O) that any transport can drive;
//! [`responses`] has the types.
//!
//! # Recipes
//!
#![cfg_attr(feature = "client", doc = include_str!("recipes.md"))]
#![cfg_attr(
    not(feature = "client"),
    doc = "The recipes use the client (feature `client`)."
)]
//!
//! # Errors
//!
//! One [`Error`] type; [`Error::kind`] says what went wrong
//! ([`ErrorKind`]). API errors carry the HTTP status, the server's
//! `message`, `type`, `code`, `param`, the `x-request-id` and the raw body
//! ([`Error::api`]). A stream that fails after it began — a timeout, a
//! reset, an error event, a cut-off before `[DONE]` — returns an error that
//! still holds everything that arrived ([`Error::partial`]):
//!
//! ```no_run
//! # #[cfg(feature = "client")] fn main() -> Result<(), chatstream::Error> {
//! # use chatstream::{ChatRequest, Client, ErrorKind, Message};
//! # let client = Client::from_env()?;
//! # let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("Hi")]);
//! match client.chat_stream(&request, |_| std::ops::ControlFlow::Continue(())) {
//!     Ok(done) => println!("{}", done.content()),
//!     Err(e) if e.kind() == ErrorKind::Truncated => {
//!         let partial = e.partial().map(|c| c.content()).unwrap_or_default();
//!         eprintln!("cut off after {partial:?}");
//!     }
//!     Err(e) => eprintln!("{e}"),
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "client"))] fn main() {}
//! ```
//!
//! A stream that ends without `[DONE]` is a success only when every choice
//! already has a finish reason (some servers never send `[DONE]`);
//! otherwise it is [`ErrorKind::Truncated`].
//!
//! # Timeouts
//!
//! | limit | default | builder method |
//! | --- | --- | --- |
//! | connect (TLS included) | 10 s | [`ClientBuilder::connect_timeout`] |
//! | response headers | bounded by the request (plain) or first-event (stream) limit | [`ClientBuilder::response_timeout`] |
//! | whole non-streaming call | 10 min | [`ClientBuilder::request_timeout`] |
//! | until a stream's first event, from the request | as between events (5 min) | [`ClientBuilder::stream_first_event_timeout`] |
//! | between two stream events | 5 min | [`ClientBuilder::stream_idle_timeout`] |
//! | whole stream | none | [`ClientBuilder::stream_total_timeout`] |
//!
//! The stream limits count *events*: SSE comments such as `: ping`, which
//! some servers send as keep-alives, do not reset them. No default cuts a
//! healthy long stream. A local server that processes a long prompt before
//! its first token wants a long first-event limit and may keep a short idle
//! one. [`Error::timeout`] says which limit fired.
//!
//! # Retries
//!
//! Failed requests are retried twice by default ([`ClientBuilder::max_retries`]):
//! connection failures before the request was sent, 408, 409, 429 (except
//! `insufficient_quota`) and 5xx, unless the server's `x-should-retry`
//! header says otherwise; and a chat stream whose *first* event is a
//! rate-limit (except `insufficient_quota`), overload or server error, so
//! the callback only ever sees the attempt that worked. The wait is the
//! server's `retry-after-ms` or `Retry-After` (seconds or an HTTP date, up
//! to 60 s), else exponential backoff from 0.5 s, capped at 8 s, with
//! jitter; [`ClientBuilder::on_retry`] is told of each one.
//!
//! A generation is never silently run twice: nothing is retried once a
//! stream delivered a chunk, and a request sent whole whose response did
//! not begin in time is not sent again (the server may still be working on
//! it) unless [`ClientBuilder::retry_response_timeout`] asks for it.
//!
//! # Cancelling
//!
//! A [`CancellationToken`] stops calls from any thread: a Stop button, a
//! Ctrl-C handler, a deadline. [`Client::with_cancellation`] gives a view of
//! the client whose calls watch the token; once it is cancelled, such a
//! call returns an [`ErrorKind::Cancelled`] error within a fraction of a
//! second (microseconds on loopback), whether it was connecting, waiting
//! for the response, reading a stream or a body, or sleeping before a
//! retry (only a DNS lookup runs to its end, bounded by the connect
//! timeout). The
//! connection is closed, so the server stops generating; what a stream had
//! delivered is in [`Error::partial`]; the client stays usable. Returning
//! [`ControlFlow::Break`](std::ops::ControlFlow::Break) from a callback
//! still stops a stream too, but only when the next chunk arrives.
//!
//! A Stop button: a worker thread streams, the UI thread holds the token.
//!
//! ```no_run
//! # #[cfg(feature = "client")] fn main() -> Result<(), chatstream::Error> {
//! use std::ops::ControlFlow;
//! use std::sync::mpsc;
//! use std::thread;
//! use chatstream::{CancellationToken, ChatRequest, Client, ErrorKind, Message};
//!
//! enum Update {
//!     Text(String),
//!     Done(String),
//!     Stopped(String),
//!     Failed(chatstream::Error),
//! }
//!
//! let client = Client::from_env()?;
//! let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("Tell a long story")]);
//! let stop = CancellationToken::new();
//! let (updates, ui) = mpsc::channel();
//!
//! let worker = {
//!     let client = client.with_cancellation(&stop);
//!     thread::spawn(move || {
//!         let result = client.chat_stream(&request, |chunk| {
//!             let _ = updates.send(Update::Text(chunk.content().to_string()));
//!             ControlFlow::Continue(())
//!         });
//!         let _ = updates.send(match result {
//!             Ok(done) => Update::Done(done.content().into_owned()),
//!             Err(e) if e.kind() == ErrorKind::Cancelled => {
//!                 Update::Stopped(e.into_partial().map(|p| p.content().into_owned()).unwrap_or_default())
//!             }
//!             Err(e) => Update::Failed(e),
//!         });
//!     })
//! };
//!
//! // The UI thread: show text as it comes; the Stop button calls `stop.cancel()`.
//! # let stop_pressed = || true;
//! for update in ui {
//!     match update {
//!         Update::Text(text) => print!("{text}"),
//!         Update::Done(_) => println!("\n[done]"),
//!         Update::Stopped(kept) => println!("\n[stopped after {} characters]", kept.len()),
//!         Update::Failed(e) => eprintln!("\n{e}"),
//!     }
//!     if stop_pressed() {
//!         stop.cancel(); // the worker's call returns at once
//!     }
//! }
//! worker.join().unwrap();
//! # Ok(()) }
//! # #[cfg(not(feature = "client"))] fn main() {}
//! ```
//!
//! # Compatible servers
//!
//! Local servers need no key: point the base URL at them.
//!
//! ```
//! # #[cfg(feature = "client")] fn main() -> Result<(), chatstream::Error> {
//! use chatstream::Client;
//!
//! // llama.cpp's llama-server (add .api_key(..) if started with --api-key).
//! let llama = Client::builder().base_url("http://127.0.0.1:8080/v1").build()?;
//! // Ollama's OpenAI-compatible endpoint.
//! let ollama = Client::builder().base_url("http://localhost:11434/v1").build()?;
//! // Azure OpenAI: api-key header and api-version query instead of a bearer token.
//! let azure = Client::builder()
//!     .base_url("https://my-resource.openai.azure.com/openai/deployments/my-gpt4o")
//!     .header("api-key", "AZURE-KEY")
//!     .query("api-version", "2024-10-21")
//!     .build()?;
//! # let _ = (llama, ollama, azure); Ok(()) }
//! # #[cfg(not(feature = "client"))] fn main() {}
//! ```
//!
//! Requests keep unknown fields ([`ChatRequest::extra`]) and responses keep
//! every field they do not model, so server-specific options pass through.
//!
//! Streams ask for usage with `stream_options`, which some servers refuse
//! (a 400 or 422 naming it). The client then sends the request once more
//! without it, and remembers that for its base URL: later streams of that
//! client and its clones go without it straight away
//! ([`ClientBuilder::stream_usage`]).
//!
//! Reasoning models served without a reasoning parser write their reasoning
//! into the content between `<think>` and `</think>`;
//! [`ClientBuilder::split_think_tags`] (or a [`ThinkSplitter`] on chunks from
//! anywhere) moves it to `reasoning_content` as the stream arrives.
//!
//! # Security
//!
//! TLS certificates are always verified (rustls). Trusted by default: the
//! bundled Mozilla roots, plus the certificates of the PEM file named by
//! `SSL_CERT_FILE` and of the files in the directories named by
//! `SSL_CERT_DIR`, plus your own from
//! [`ClientBuilder::add_root_certificates_pem`];
//! [`ClientBuilder::root_certificates_pem`] trusts exactly the roots you give
//! instead. [`ClientBuilder::client_certificate_pem`] presents a client
//! certificate to gateways that require mutual TLS. Redirects are
//! never followed, so credentials never reach another host. The API key
//! never appears in `Debug` output or error messages, and is refused over
//! plain `http://` to a host that is not loopback unless you opt in
//! ([`ClientBuilder::allow_insecure_http`] or
//! `CHATSTREAM_ALLOW_INSECURE_HTTP=1`).
//!
//! # The stream core, for any transport
//!
//! The rules of a chat stream live in [`ChatDecoder`], a sans-IO state
//! machine: bytes in (split anywhere), typed [`ChatChunk`]s out, the
//! accumulated [`ChatCompletion`] (or a typed error with the partial) at the
//! end. It never does I/O, never blocks and never reads a clock. The
//! blocking client is one driver of it (adding deadlines, draining and
//! retries); an async program, a proxy or a replay of recorded bytes drives
//! it the same way from its own byte stream:
//!
//! ```
//! use std::ops::ControlFlow;
//! use chatstream::ChatDecoder;
//!
//! # let body = [&b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"[..],
//! #     b"\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"];
//! // `body` is any source of byte chunks: an async body (`while let Some(bytes) =
//! // body.next().await`), a message queue, a file read in pieces.
//! let mut decoder = ChatDecoder::new();
//! for bytes in body {
//!     decoder.feed(bytes, |chunk| {
//!         print!("{}", chunk.content());
//!         ControlFlow::Continue(())
//!     })?;
//! }
//! let completion = decoder.finish()?; // ErrorKind::Truncated if the stream was cut
//! assert_eq!(completion.content(), "Hi");
//! # Ok::<(), chatstream::Error>(())
//! ```
//!
//! Below it, [`sse`] is a standalone, incremental parser for the WHATWG
//! `text/event-stream` format that knows nothing of HTTP or JSON; see its
//! module documentation.
//!
//! # Features
//!
//! * `client` (default): the blocking [`Client`], [`ChatStream`] and the
//!   HTTP layer, on `ureq`. Without it (`default-features = false`) the
//!   crate is the core alone, on `serde_json` and `memchr`: the [`sse`]
//!   parser, the [`chat`] types, the [`Accumulator`] and the
//!   [`ChatDecoder`]. No HTTP crate is built.
//! * `tls` (default, implies `client`): `https://` through rustls (ring,
//!   webpki roots). Without it the client only speaks plain `http://`,
//!   which is enough for local servers and makes a smaller binary.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without the client, the docs' links to it have no target; the default build, which CI
// documents with warnings denied, checks them.
#![cfg_attr(not(feature = "client"), allow(rustdoc::broken_intra_doc_links))]

pub mod chat;
pub mod responses;
pub mod sse;

mod callback;
#[cfg(feature = "client")]
mod cancel;
mod error;
mod response_info;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod http;
#[cfg(feature = "client")]
mod stream;

// Every item the crate root offers is named here, so a new `pub` item in a module does not
// silently become root API. The chat types are also reachable as `chatstream::chat::*`.
pub use crate::callback::IntoControlFlow;
#[cfg(feature = "client")]
pub use crate::cancel::CancellationToken;
pub use crate::chat::{
    Accumulator, ChatChunk, ChatCompletion, ChatDecoder, ChatRequest, Choice, ChunkChoice,
    CompletionTokensDetails, Content, ContentPart, Decoded, Delta, FileRef, FunctionCall,
    FunctionCallDelta, FunctionDef, ImageUrl, InputAudio, Logprobs, Message, Model, ModelList,
    PromptTokensDetails, ResponseFormat, Role, Stop, ThinkSplitter, TokenLogprob, Tool, ToolCall,
    ToolCallDelta, ToolChoice, TopLogprob, Usage,
};
#[cfg(feature = "client")]
pub use crate::client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use crate::error::{ApiError, Error, ErrorKind, Timeout};
pub use crate::response_info::ResponseInfo;
#[cfg(feature = "client")]
pub use crate::responses::ResponseStream;
pub use crate::responses::{
    Response, ResponseAccumulator, ResponseEvent, ResponseRequest, ResponsesDecoder,
};
#[cfg(feature = "client")]
pub use crate::stream::ChatStream;

// The README's examples use the client.
#[cfg(all(doctest, feature = "client"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
