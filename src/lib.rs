//! A blocking client for OpenAI-compatible chat APIs, built on a reference
//! Server-Sent Events parser.
//!
//! `chatstream` calls `POST /v1/chat/completions` (plain and streamed) and
//! `GET /v1/models` on OpenAI or any compatible server (Azure OpenAI,
//! llama.cpp, vLLM, Ollama, OpenRouter, LiteLLM…) from ordinary blocking
//! code: no async runtime, two runtime dependencies (`ureq` with rustls, and
//! `serde_json`).
//!
//! # Quick start
//!
//! ```no_run
//! use std::ops::ControlFlow;
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
//! let completion = client.chat_stream(&request, |chunk| {
//!     print!("{}", chunk.content());
//!     ControlFlow::Continue(())
//! })?;
//! if let Some(total) = completion.usage.as_ref().and_then(|u| u.total_tokens) {
//!     eprintln!("\n{total} tokens");
//! }
//! # Ok::<(), chatstream::Error>(())
//! ```
//!
//! # Streaming
//!
//! Three ways to consume a stream, from most to least convenient:
//!
//! * [`Client::chat_stream`] calls a closure per [`ChatChunk`]; return
//!   [`ControlFlow::Break`](std::ops::ControlFlow::Break) to stop early (the
//!   connection is closed and what arrived is returned).
//! * [`Client::chat_chunks`] returns a [`ChatStream`], an iterator over
//!   chunks that accumulates as it goes.
//! * [`Client::post_stream`] hands raw [`sse::Event`]s of any endpoint to a
//!   closure: the Responses API, legacy completions, anything not modelled.
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
//! # Ok::<(), chatstream::Error>(())
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
//! | response headers | bounded by the two below | [`ClientBuilder::response_timeout`] |
//! | whole non-streaming call | 10 min | [`ClientBuilder::request_timeout`] |
//! | between two stream events | 5 min | [`ClientBuilder::stream_idle_timeout`] |
//! | whole stream | none | [`ClientBuilder::stream_total_timeout`] |
//!
//! The stream idle limit counts *events*: SSE comments such as `: ping`,
//! which some servers send as keep-alives, do not reset it. No default cuts
//! a healthy long stream. [`Error::timeout`] says which limit fired.
//!
//! # Retries
//!
//! Failed requests are retried twice by default ([`ClientBuilder::max_retries`]):
//! connection failures before any response, 408, 409, 429 (except
//! `insufficient_quota`) and 5xx, unless the server's `x-should-retry`
//! header says otherwise. The wait is the server's `retry-after-ms` or
//! `Retry-After` (seconds or an HTTP date, up to 60 s), else exponential
//! backoff from 0.5 s, capped at 8 s, with jitter. Nothing is retried once a
//! stream's body has begun, so a generation is never silently run twice.
//!
//! # Compatible servers
//!
//! Local servers need no key: point the base URL at them.
//!
//! ```
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
//! # let _ = (llama, ollama, azure); Ok::<(), chatstream::Error>(())
//! ```
//!
//! Requests keep unknown fields ([`ChatRequest::extra`]) and responses keep
//! every field they do not model, so server-specific options pass through.
//!
//! # Security
//!
//! TLS certificates are always verified (rustls with the Mozilla roots, or
//! your own via [`ClientBuilder::root_certificates_pem`]). Redirects are
//! never followed, so credentials never reach another host. The API key
//! never appears in `Debug` output or error messages, and is refused over
//! plain `http://` to a host that is not loopback unless you opt in
//! ([`ClientBuilder::allow_insecure_http`] or
//! `CHATSTREAM_ALLOW_INSECURE_HTTP=1`).
//!
//! # The SSE parser
//!
//! [`sse`] is a standalone, incremental parser for the WHATWG
//! `text/event-stream` format that knows nothing of HTTP or JSON; see its
//! module documentation.
//!
//! # Features
//!
//! * `tls` (default): `https://` through rustls (ring, webpki roots).
//!   Without it the crate only speaks plain `http://`, which is enough for
//!   local servers and makes a smaller binary.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod chat;
pub mod sse;

mod client;
mod error;
mod http;
mod stream;

// Every item the crate root offers is named here, so a new `pub` item in a module does not
// silently become root API. The chat types are also reachable as `chatstream::chat::*`.
pub use crate::chat::{
    Accumulator, ChatChunk, ChatCompletion, ChatRequest, Choice, ChunkChoice,
    CompletionTokensDetails, Content, ContentPart, Delta, FileRef, FunctionCall, FunctionCallDelta,
    FunctionDef, ImageUrl, InputAudio, Logprobs, Message, Model, ModelList, PromptTokensDetails,
    ResponseFormat, Role, Stop, TokenLogprob, Tool, ToolCall, ToolCallDelta, ToolChoice,
    TopLogprob, Usage,
};
pub use crate::client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use crate::error::{ApiError, Error, ErrorKind, Timeout};
pub use crate::http::ResponseInfo;
pub use crate::stream::ChatStream;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
