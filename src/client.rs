//! [`Client`], the public entry point, and its [`ClientBuilder`].
//!
//! The client owns no protocol logic: it builds the request body with
//! `chat`, sends it through `http`, and hands streaming bodies to `stream`.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::chat::{ChatChunk, ChatCompletion, ChatRequest, Model, ModelList};
use crate::error::Error;
use crate::http::{self, Mode, ProxySetting, Settings, Transport};
use crate::sse;
use crate::stream::{self, ChatStream, StreamLimits};

/// OpenAI's API, the default base URL.
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
/// let completion = client.chat_stream(&request, |chunk| {
///     print!("{}", chunk.content());
///     std::ops::ControlFlow::Continue(())
/// })?;
/// println!("\n{:?}", completion.usage);
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
    limits: StreamLimits,
    include_usage: bool,
    /// Headers added by [`Client::with_header`], on top of the defaults.
    extra_headers: Arc<Vec<(String, String)>>,
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
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) error; with
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
    /// Return [`ControlFlow::Break`] from `on_chunk` to stop early: the
    /// connection is closed and what arrived so far is returned. Streamed
    /// requests ask for usage (`stream_options.include_usage`) unless
    /// [`ClientBuilder::stream_usage`] turned that off. On any error after
    /// the stream began, [`Error::partial`] holds what arrived.
    pub fn chat_stream(
        &self,
        request: &ChatRequest,
        mut on_chunk: impl FnMut(&ChatChunk) -> ControlFlow<()>,
    ) -> Result<ChatCompletion, Error> {
        let mut stream = self.chat_chunks(request)?;
        for chunk in stream.by_ref() {
            if on_chunk(&chunk?).is_break() {
                break;
            }
        }
        Ok(stream.into_completion())
    }

    /// Like [`Client::chat_stream`], for loops: an iterator over the chunks,
    /// which also accumulates them ([`ChatStream::completion`]). Dropping
    /// it halfway closes the connection.
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
        let body = request.to_json_streaming(self.include_usage);
        let response = self.send_stream("chat/completions", &body)?;
        Ok(ChatStream::new(response, self.limits))
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
    /// Server-Sent Events, for endpoints this crate does not model (the
    /// Responses API, legacy completions). `on_event` sees every event,
    /// `data: [DONE]` included; return [`ControlFlow::Break`] to stop.
    /// The stream's idle and total limits apply. A stream that ends inside
    /// an event is [`ErrorKind::Truncated`](crate::ErrorKind::Truncated),
    /// except a final `data: [DONE]` line without its blank line, which is
    /// handed to `on_event` and ends the stream successfully.
    pub fn post_stream(
        &self,
        path: &str,
        body: &Value,
        on_event: impl FnMut(sse::Event<'_>) -> ControlFlow<()>,
    ) -> Result<(), Error> {
        let response = self.send_stream(path, body)?;
        stream::raw_events(response, self.limits, on_event)
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
            .send(method, path, bytes.as_deref(), &self.extra_headers, mode)
    }

    fn send_stream(&self, path: &str, body: &Value) -> Result<http::Response, Error> {
        let response = self.send("POST", path, Some(body), Mode::Stream)?;
        stream::check_stream_response(response, self.transport.settings().max_response_size)
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

/// Configures a [`Client`]; start with [`Client::builder`] or
/// [`ClientBuilder::from_env`].
///
/// ```
/// use std::time::Duration;
/// use chatstream::Client;
///
/// // A local llama.cpp or Ollama server needs no key.
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8080/v1")
///     .stream_idle_timeout(Duration::from_secs(60))
///     .max_retries(0)
///     .build()?;
/// # let _ = client; Ok::<(), chatstream::Error>(())
/// ```
///
/// Azure OpenAI uses an `api-key` header and an `api-version` query
/// parameter instead of a bearer token:
///
/// ```
/// let client = chatstream::Client::builder()
///     .base_url("https://my-resource.openai.azure.com/openai/deployments/my-gpt4o")
///     .header("api-key", "AZURE-KEY")
///     .query("api-version", "2024-10-21")
///     .build()?;
/// # let _ = client; Ok::<(), chatstream::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    settings: Settings,
    limits: StreamLimits,
    include_usage: bool,
    base_url_from_default: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.settings.base_url)
            .field(
                "api_key",
                &self.settings.api_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            settings: Settings {
                base_url: DEFAULT_BASE_URL.to_string(),
                api_key: None,
                organization: None,
                project: None,
                headers: Vec::new(),
                query: Vec::new(),
                connect_timeout: Some(Duration::from_secs(10)),
                response_timeout: None,
                request_timeout: Some(Duration::from_secs(600)),
                stream_idle_timeout: None,
                max_retries: 2,
                initial_backoff: Duration::from_millis(500),
                max_backoff: Duration::from_secs(8),
                proxy: ProxySetting::FromEnv,
                root_certificates_pem: None,
                allow_insecure_http: false,
                pool_idle_timeout: Duration::from_secs(4),
                max_response_size: 64 * 1024 * 1024,
            },
            limits: StreamLimits {
                idle: Some(Duration::from_secs(300)),
                total: None,
                max_event_size: sse::Parser::DEFAULT_MAX_EVENT_SIZE,
            },
            include_usage: true,
            base_url_from_default: true,
        }
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl ClientBuilder {
    /// A builder preset from the environment; see [`Client::from_env`].
    #[must_use]
    pub fn from_env() -> Self {
        let mut b = Self::default();
        if let Some(url) = env_var("OPENAI_BASE_URL") {
            b = b.base_url(url);
        }
        b.settings.api_key = env_var("OPENAI_API_KEY");
        b.settings.organization = env_var("OPENAI_ORG_ID");
        b.settings.project = env_var("OPENAI_PROJECT_ID");
        b
    }

    /// The API's base URL, up to and including `/v1` (a query string, as
    /// Azure uses, is kept and sent with every request).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.base_url = url.into();
        self.base_url_from_default = false;
        self
    }

    /// The API key, sent as `Authorization: Bearer <key>`. It never appears
    /// in `Debug` output or error messages.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.settings.api_key = Some(key.into());
        self
    }

    /// The `OpenAI-Organization` header.
    #[must_use]
    pub fn organization(mut self, org: impl Into<String>) -> Self {
        self.settings.organization = Some(org.into());
        self
    }

    /// The `OpenAI-Project` header.
    #[must_use]
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.settings.project = Some(project.into());
        self
    }

    /// One more header on every request (e.g. Azure's `api-key`).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.headers.push((name.into(), value.into()));
        self
    }

    /// One more query parameter on every request (e.g. Azure's
    /// `api-version`).
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.query.push((name.into(), value.into()));
        self
    }

    /// Limit for connecting, TLS included (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = Some(timeout);
        self
    }

    /// Limit for receiving the response headers once the request is sent
    /// (default: none of its own; plain calls are bounded by the request
    /// timeout, streams by the idle timeout).
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.settings.response_timeout = Some(timeout);
        self
    }

    /// Total limit for a non-streaming call, body included (default 10 min;
    /// `None` for none).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// Limit between two stream *events* (default 5 min). SSE comments,
    /// which some servers send as keep-alives, do not reset it, so a server
    /// that pings but never answers is caught. `None` for none.
    #[must_use]
    pub fn stream_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.idle = timeout.into();
        self
    }

    /// Total limit for a stream, from the response headers on (default:
    /// none, so a healthy long stream is never cut).
    #[must_use]
    pub fn stream_total_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.total = timeout.into();
        self
    }

    /// Largest single stream event, in bytes (default 16 MiB).
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.limits.max_event_size = bytes;
        self
    }

    /// How many times a failed request is retried (default 2; 0 turns
    /// retries off). Retried: connection failures before any response,
    /// 408, 409, 429 (except `insufficient_quota`) and 5xx, or whatever the
    /// server's `x-should-retry` header says. Never retried: a stream whose
    /// body has begun.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.settings.max_retries = retries;
        self
    }

    /// Exponential backoff between retries: `initial · 2^n`, at most `max`,
    /// minus up to 25 % jitter (default 0.5 s and 8 s). A server's
    /// `retry-after-ms` or `Retry-After` of at most 60 s is used instead.
    #[must_use]
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.settings.initial_backoff = initial;
        self.settings.max_backoff = max;
        self
    }

    /// Sends every request through this HTTP proxy (`http://host:port`),
    /// except to loopback base URLs.
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.settings.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Ignores `HTTPS_PROXY` and friends: connect directly.
    #[must_use]
    pub fn no_proxy(mut self) -> Self {
        self.settings.proxy = ProxySetting::Off;
        self
    }

    /// Trusts exactly the root certificates in this PEM text instead of the
    /// bundled Mozilla roots: for a corporate TLS proxy or a self-hosted
    /// server with its own CA. Certificate verification is never turned off.
    #[must_use]
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.settings.root_certificates_pem = Some(pem.into());
        self
    }

    /// Allows sending the API key over plain `http://` to a host that is not
    /// loopback (refused by default). The environment variable
    /// `CHATSTREAM_ALLOW_INSECURE_HTTP=1` does the same.
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.settings.allow_insecure_http = allow;
        self
    }

    /// Ask for a final usage chunk on streams (`stream_options.include_usage`,
    /// default true). Turn off for servers that reject the option.
    #[must_use]
    pub fn stream_usage(mut self, include: bool) -> Self {
        self.include_usage = include;
        self
    }

    /// Pooled connections idle longer than this are not reused (default
    /// 4 s, below the 5 s keep-alive of common servers).
    #[must_use]
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.pool_idle_timeout = timeout;
        self
    }

    /// Builds the client. Fails with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an invalid base
    /// URL, a missing key for OpenAI's own endpoint, or a key that would
    /// travel in clear text.
    pub fn build(mut self) -> Result<Client, Error> {
        if self.base_url_from_default && self.settings.api_key.is_none() {
            return Err(Error::config(
                "no API key: set OPENAI_API_KEY (or ClientBuilder::api_key), \
                 or point OPENAI_BASE_URL at a server that needs none",
            ));
        }
        if env_var("CHATSTREAM_ALLOW_INSECURE_HTTP").as_deref() == Some("1") {
            self.settings.allow_insecure_http = true;
        }
        if self.limits.max_event_size == 0 {
            return Err(Error::config("max_event_size must be positive"));
        }
        self.settings.stream_idle_timeout = self.limits.idle;
        let transport = Transport::new(self.settings)?;
        Ok(Client {
            transport: Arc::new(transport),
            limits: self.limits,
            include_usage: self.include_usage,
            extra_headers: Arc::new(Vec::new()),
        })
    }
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
        movable::<ChatStream>();
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
