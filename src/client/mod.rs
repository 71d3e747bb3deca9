//! [`Client`], the public entry point, and its calls; its [`ClientBuilder`] is in `builder`.
//!
//! The client owns no protocol logic: it builds the request body with
//! `chat`, sends it through `http`, and hands streaming bodies to `stream`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::callback::IntoControlFlow;
use crate::cancel::CancellationToken;
use crate::chat::{
    ChatChunk, ChatCompletion, ChatRequest, Model, ModelList, rejects_stream_options,
};
use crate::error::Error;
use crate::http::{self, Accepted, Mode, Outgoing, Transport};
use crate::responses::{Response, ResponseEvent, ResponseRequest, ResponseStream};
use crate::sse;
use crate::stream::{self, ChatStream, StreamLimits};

mod builder;

pub use self::builder::ClientBuilder;

/// OpenAI's API, the default base URL.
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A blocking client for an OpenAI-compatible API.
///
/// Cheap to clone (clones share one connection pool) and `Send + Sync`, so
/// one client can serve many threads.
///
/// ```no_run
/// use chatstream::{ChatRequest, Client, Message};
///
/// let client = Client::from_env()?;
/// let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("Say hi")]);
/// let completion = client.chat_stream(&request, |chunk| print!("{}", chunk.content()))?;
/// println!("\n{:?} tokens", completion.total_tokens());
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub struct Client {
    transport: Arc<Transport>,
    limits: StreamLimits,
    include_usage: bool,
    /// Set once the server refused `stream_options`; shared by every clone, which all talk
    /// to the same base URL.
    stream_options_refused: Arc<AtomicBool>,
    split_think_tags: bool,
    /// Headers added by [`Client::with_header`], on top of the defaults.
    extra_headers: Arc<Vec<(String, String)>>,
    /// Set by [`Client::with_cancellation`].
    cancel: Option<CancellationToken>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.transport.settings();
        f.debug_struct("Client")
            .field("base_url", &s.base_url)
            .field("api_key", &s.api_key.as_ref().map(|_| "<redacted>"))
            .field("organization", &s.organization)
            .field("project", &s.project)
            .field("max_retries", &s.max_retries)
            .field("stream_idle_timeout", &self.limits.idle)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults: OpenAI's base URL, no key, 10 s
    /// connect timeout, 10 min total for plain calls, 5 min idle between
    /// stream events, 2 retries.
    #[must_use]
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment:
    ///
    /// | variable | meaning |
    /// | --- | --- |
    /// | `OPENAI_API_KEY` | sent as `Authorization: Bearer …` |
    /// | `OPENAI_BASE_URL` | default `https://api.openai.com/v1` |
    /// | `OPENAI_ORG_ID` | sent as `OpenAI-Organization` |
    /// | `OPENAI_PROJECT_ID` | sent as `OpenAI-Project` |
    /// | `CHATSTREAM_ALLOW_INSECURE_HTTP` | `1` allows a key over plain `http://` to a non-loopback host |
    ///
    /// With the default OpenAI URL a missing key is an
    /// [`ErrorKind::Config`](crate::ErrorKind::Config)(crate::ErrorKind::Config) error; with
    /// `OPENAI_BASE_URL` set, no key means no `Authorization` header (local
    /// servers need none). Proxies come from `HTTPS_PROXY` / `NO_PROXY`
    /// (never for loopback URLs).
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::from_env().build()
    }

    /// A client that sends one more header on every request, sharing this
    /// client's connection pool.
    ///
    /// ```
    /// # let client = chatstream::Client::builder().base_url("http://127.0.0.1:1/v1").build()?;
    /// let tagged = client.with_header("x-trace-id", "abc123");
    /// # let _ = tagged; Ok::<(), chatstream::Error>(())
    /// ```
    #[must_use]
    pub fn with_header(&self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let mut headers = (*self.extra_headers).clone();
        headers.push((name.into(), value.into()));
        Self {
            extra_headers: Arc::new(headers),
            ..self.clone()
        }
    }

    /// A view of this client (same connection pool and settings) whose
    /// every call watches `token`: [`chat`](Self::chat),
    /// [`chat_stream`](Self::chat_stream), [`chat_chunks`](Self::chat_chunks)
    /// and the stream it returns, [`models`](Self::models),
    /// [`post_json`](Self::post_json) and [`post_stream`](Self::post_stream).
    ///
    /// Once the token is cancelled, from any thread, such a call returns an
    /// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) error within a fraction of a second, in
    /// whatever phase it is: waiting for the response, reading a stream or
    /// a body, or sleeping before a retry. Its connection is closed, so the
    /// server sees the client leave (llama.cpp and vLLM then stop
    /// generating); the client itself stays usable. A stream's error carries
    /// what had arrived ([`Error::partial`]). A call made with an already
    /// cancelled token sends nothing.
    ///
    /// Connecting is cut short too (a watched call connects on a helper
    /// thread, which finishes alone, within the
    /// [connect timeout](ClientBuilder::connect_timeout), after a cancel),
    /// and so is the TLS handshake. The one wait a cancel does not shorten
    /// is the lookup of the host's name, which ureq bounds by the connect
    /// timeout; loopback and IP addresses need none.
    ///
    /// ```
    /// use chatstream::{CancellationToken, ChatRequest, Client, ErrorKind, Message};
    ///
    /// # let client = Client::builder().base_url("http://127.0.0.1:1/v1").build()?;
    /// let token = CancellationToken::new();
    /// let stoppable = client.with_cancellation(&token);
    /// token.cancel(); // e.g. from a Stop button's thread
    /// let request = ChatRequest::new("m", vec![Message::user("hi")]);
    /// let err = stoppable.chat(&request).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Cancelled); // nothing was sent
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    #[must_use]
    pub fn with_cancellation(&self, token: &CancellationToken) -> Client {
        Client {
            cancel: Some(token.clone()),
            ..self.clone()
        }
    }

    /// `POST /chat/completions` without streaming: the whole completion.
    pub fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, Error> {
        let body = request.to_json();
        let (info, bytes) = self
            .send("POST", "chat/completions", Some(&body), Mode::Json)?
            .read_body(self.transport.settings().max_response_size)?;
        let value = decode_json(&bytes)?;
        let mut completion = ChatCompletion::from_json(value)?;
        completion.response = Some(info);
        Ok(completion)
    }

    /// `POST /chat/completions` with `"stream": true`: calls `on_chunk` with
    /// each chunk the moment it arrives and returns the accumulated
    /// completion.
    ///
    /// `on_chunk` returns `()` to receive every chunk, or a
    /// [`ControlFlow`](std::ops::ControlFlow) ([`IntoControlFlow`]): `Break`
    /// stops early, the connection is closed and what arrived so far is
    /// returned. To stop from another thread, or without waiting for the
    /// next chunk, call through [`with_cancellation`](Self::with_cancellation). Streamed
    /// requests ask for usage (`stream_options.include_usage`) unless
    /// [`ClientBuilder::stream_usage`] turned that off; a server that refuses
    /// the option is asked again without it (see [`ClientBuilder::stream_usage`]).
    /// On any error after the stream began, [`Error::partial`] holds what
    /// arrived.
    pub fn chat_stream<R: IntoControlFlow>(
        &self,
        request: &ChatRequest,
        mut on_chunk: impl FnMut(&ChatChunk) -> R,
    ) -> Result<ChatCompletion, Error> {
        let mut stream = self.chat_chunks(request)?;
        while let Some(chunk) = stream.next_unaccumulated() {
            let chunk = chunk?;
            let flow = on_chunk(&chunk).into_control_flow();
            // The callback only borrowed it: its pieces move into the completion.
            stream.accumulate(chunk);
            if flow.is_break() {
                break;
            }
        }
        Ok(stream.into_completion())
    }

    /// Like [`Client::chat_stream`], for loops: an iterator over the chunks,
    /// which also accumulates them ([`ChatStream::completion`]). Dropping
    /// it halfway closes the connection. It returns once the first chunk
    /// has arrived (or the stream failed), so that a stream whose first
    /// event is a rate-limit or overload error is retried before the loop
    /// sees anything.
    ///
    /// ```no_run
    /// # use chatstream::{ChatRequest, Client, Message};
    /// # let client = Client::from_env()?;
    /// # let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("Hi")]);
    /// let mut stream = client.chat_chunks(&request)?;
    /// for chunk in &mut stream {
    ///     print!("{}", chunk?.content());
    /// }
    /// let completion = stream.into_completion();
    /// # let _ = completion; Ok::<(), chatstream::Error>(())
    /// ```
    pub fn chat_chunks(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        // Only the option this client adds is dropped on a refusal: one the caller set in
        // `extra` is sent as given.
        let with_options = self.include_usage
            && !self.stream_options_refused.load(Ordering::Relaxed)
            && !request.extra.contains_key("stream_options");
        let accept = |response| {
            let mut stream = ChatStream::new(response, self.limits);
            if self.split_think_tags {
                stream = stream.split_think_tags();
            }
            // Nothing reached the caller yet, so a stream that begins with a
            // rate-limit or overload error may be sent again.
            Ok(match stream.first_event_error() {
                Some(error) => Accepted::FirstEventFailed(error, stream),
                None => Accepted::Done(stream),
            })
        };
        let body = request.to_json_streaming(with_options);
        match self.send_stream("chat/completions", &body, accept) {
            Err(e) if with_options && rejects_stream_options(&e) => {
                self.stream_options_refused.store(true, Ordering::Relaxed);
                let body = request.to_json_streaming(false);
                self.send_stream("chat/completions", &body, accept)
            }
            sent => sent,
        }
    }

    /// `POST /responses` without streaming: the whole [`Response`] (the
    /// Responses API).
    ///
    /// A response whose `status` is `failed` or `incomplete` is returned as
    /// it is: its `error` / `incomplete_details` say why.
    pub fn response(&self, request: &ResponseRequest) -> Result<Response, Error> {
        let body = request.to_json();
        self.get_response("POST", "responses", Some(&body))
    }

    /// `POST /responses` with `"stream": true`: calls `on_event` with each
    /// [`ResponseEvent`] the moment it arrives and returns the final
    /// [`Response`] (the one `response.completed` or `response.incomplete`
    /// carries).
    ///
    /// `on_event` returns `()` to receive every event, or a
    /// [`ControlFlow`](std::ops::ControlFlow) ([`IntoControlFlow`]): `Break` stops early, the
    /// connection is closed and the response rebuilt from what arrived is
    /// returned. `response.failed` and `error` events reach `on_event`, then
    /// the call fails with [`ErrorKind::Api`](crate::ErrorKind::Api); a stream that ends before its
    /// terminal event is [`ErrorKind::Truncated`](crate::ErrorKind::Truncated). On any error after the
    /// stream began, [`Error::partial_response`] holds what arrived.
    ///
    /// ```no_run
    /// use chatstream::{Client, ResponseRequest};
    ///
    /// let client = Client::from_env()?;
    /// let request = ResponseRequest::new("gpt-4.1-mini", "Why is the sky blue?");
    /// let response = client.response_stream(&request, |event| {
    ///     print!("{}", event.text_delta().unwrap_or_default());
    /// })?;
    /// println!("\n{:?}", response.usage);
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    pub fn response_stream<R: IntoControlFlow>(
        &self,
        request: &ResponseRequest,
        mut on_event: impl FnMut(&ResponseEvent) -> R,
    ) -> Result<Response, Error> {
        let mut stream = self.response_events(request)?;
        for event in stream.by_ref() {
            if on_event(&event?).into_control_flow().is_break() {
                break;
            }
        }
        Ok(stream.into_response())
    }

    /// Like [`Client::response_stream`], for loops: an iterator over the
    /// events, which also rebuilds the response
    /// ([`ResponseStream::response`]). Dropping it halfway closes the
    /// connection.
    ///
    /// ```no_run
    /// # use chatstream::{Client, ResponseRequest};
    /// # let client = Client::from_env()?;
    /// # let request = ResponseRequest::new("gpt-4.1-mini", "Hi");
    /// let mut stream = client.response_events(&request)?;
    /// for event in &mut stream {
    ///     print!("{}", event?.text_delta().unwrap_or_default());
    /// }
    /// let response = stream.into_response();
    /// # let _ = response; Ok::<(), chatstream::Error>(())
    /// ```
    pub fn response_events(&self, request: &ResponseRequest) -> Result<ResponseStream, Error> {
        let body = request.to_json_streaming();
        self.send_stream("responses", &body, |response| {
            Ok(Accepted::Done(ResponseStream::new(response, self.limits)))
        })
    }

    /// `GET /responses/{id}`: a stored response (one created with `store`
    /// not set to `false`).
    pub fn retrieve_response(&self, id: &str) -> Result<Response, Error> {
        let valid = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            // The id becomes a path segment: anything else could change the request's path.
            return Err(Error::config(format!(
                "invalid response id {id:?}: expected letters, digits, `_` and `-`"
            )));
        }
        self.get_response("GET", &format!("responses/{id}"), None)
    }

    fn get_response(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, Error> {
        let (info, bytes) = self
            .send(method, path, body, Mode::Json)?
            .read_body(self.transport.settings().max_response_size)?;
        let mut response = Response::from_json(decode_json(&bytes)?)?;
        response.info = Some(info);
        Ok(response)
    }

    /// `GET /models`: the models the server offers.
    pub fn models(&self) -> Result<Vec<Model>, Error> {
        let (_, bytes) = self
            .send("GET", "models", None, Mode::Json)?
            .read_body(self.transport.settings().max_response_size)?;
        Ok(ModelList::from_json(decode_json(&bytes)?)?.data)
    }

    /// Escape hatch: `POST` any JSON to any path (relative to the base URL)
    /// and get the JSON answer, with the same headers, retries and errors as
    /// the typed calls.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let (_, bytes) = self
            .send("POST", path, Some(body), Mode::Json)?
            .read_body(self.transport.settings().max_response_size)?;
        decode_json(&bytes)
    }

    /// Escape hatch: `POST` any JSON to any path and receive the raw
    /// Server-Sent Events, for endpoints this crate does not model (legacy
    /// completions, anything new). `on_event` sees every event,
    /// `data: [DONE]` included; it returns `()` to go on or a
    /// [`ControlFlow`](std::ops::ControlFlow) ([`IntoControlFlow`]), `Break` to stop.
    /// The stream's idle and total limits apply. A stream that ends inside
    /// an event is [`ErrorKind::Truncated`](crate::ErrorKind::Truncated),
    /// except a final `data: [DONE]` line without its blank line, which is
    /// handed to `on_event` and ends the stream successfully.
    pub fn post_stream<R: IntoControlFlow>(
        &self,
        path: &str,
        body: &Value,
        mut on_event: impl FnMut(sse::Event<'_>) -> R,
    ) -> Result<(), Error> {
        let response = self.send_stream(path, body, |r| Ok(Accepted::Done(r)))?;
        stream::raw_events(response, self.limits, |event| {
            on_event(event).into_control_flow()
        })
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        mode: Mode,
    ) -> Result<http::Response, Error> {
        let bytes = body.map(encode_body).transpose()?;
        self.transport
            .send(&self.outgoing(method, path, bytes.as_deref(), mode))
    }

    /// Sends a stream request and lets `accept` make the result of an event
    /// stream response (see `Transport::send_then`).
    fn send_stream<T>(
        &self,
        path: &str,
        body: &Value,
        mut accept: impl FnMut(http::Response) -> Result<Accepted<T>, Error>,
    ) -> Result<T, Error> {
        let bytes = encode_body(body)?;
        let limit = self.transport.settings().max_response_size;
        let outgoing = self.outgoing("POST", path, Some(&bytes), Mode::Stream);
        self.transport.send_then(&outgoing, |response| {
            accept(stream::check_stream_response(response, limit)?)
        })
    }

    fn outgoing<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        body: Option<&'a [u8]>,
        mode: Mode,
    ) -> Outgoing<'a> {
        Outgoing {
            method,
            path,
            body,
            headers: &self.extra_headers,
            mode,
            cancel: self.cancel.as_ref(),
        }
    }
}

/// The bytes of a request body. Serialising a `Value` cannot fail today;
/// should it ever, the request is refused with a typed error instead of
/// being sent with an empty body.
fn encode_body(body: &Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(body_not_serialisable)
}

fn body_not_serialisable(e: serde_json::Error) -> Error {
    Error::config("the request body could not be serialised as JSON, so nothing was sent")
        .with_source(e)
}

fn decode_json(bytes: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::decode(
            format!("response body is not valid JSON ({e})"),
            String::from_utf8_lossy(bytes).into_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time promises of the public types.
    #[test]
    fn threads_can_share_a_client_and_move_streams() {
        fn shared<T: Send + Sync + Clone>() {}
        fn movable<T: Send>() {}
        shared::<Client>();
        shared::<ClientBuilder>();
        fn token<T: Send + Sync + Clone + Default + std::fmt::Debug>() {}
        token::<CancellationToken>();
        movable::<ChatStream>();
        movable::<ResponseStream>();
        movable::<crate::ResponsesDecoder>();
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        error::<Error>();
    }

    #[test]
    fn debug_redacts_the_key() {
        let builder = Client::builder()
            .base_url("http://127.0.0.1:1/v1")
            .api_key("sk-secret-value");
        assert!(!format!("{builder:?}").contains("sk-secret-value"));
        let client = builder.build().expect("loopback needs no opt-in");
        let shown = format!("{client:?}");
        assert!(!shown.contains("sk-secret-value"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    /// The body sent is the JSON text of the value, never an empty stand-in.
    #[test]
    fn a_body_is_its_json_text() {
        let body = serde_json::json!({"model": "m", "input": ["a", {"b": [1, 2.5, null]}]});
        let bytes = encode_body(&body).expect("a Value serialises");
        assert!(!bytes.is_empty());
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), body);
    }

    /// A serialisation failure is a typed configuration error with its cause.
    #[test]
    fn an_unserialisable_body_is_a_config_error() {
        let cause = serde_json::from_str::<Value>("{").unwrap_err();
        let shown = cause.to_string();
        let err = body_not_serialisable(cause);
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains("nothing was sent"), "{err}");
        let source = std::error::Error::source(&err).expect("the cause is kept");
        assert_eq!(source.to_string(), shown);
    }
}
