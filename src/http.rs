//! The blocking HTTP layer: one `ureq` agent, headers, timeouts, retries.
//!
//! This is the only module that names `ureq` types. It turns the client's
//! [`Settings`] into an agent, sends requests with retries and backoff,
//! turns error statuses into [`ApiError`]s, and hands a streaming body to
//! the stream layer as a plain [`std::io::Read`] whose reads honour a
//! deadline the stream layer moves ([`StreamBody::set_deadline`]).
//!
//! Why the deadline lives here: ureq measures a per-read timeout in bytes
//! on the wire, but the stream's idle limit is measured in *events* (SSE
//! comment keep-alives must not postpone it), and a body's remaining time
//! cannot be changed once ureq has the response. So every connection goes
//! through [`WatchedTransport`], which caps each wait for input at
//! [`READ_TICK`] while (and only while) a [`StreamBody`] reads on that
//! thread; on every tick the body checks the deadline the stream layer set
//! after its last event. A timed-out ureq read leaves the body readable, so
//! a tick costs nothing but a wake-up. The same tick bounds the drain after
//! `[DONE]`, so a server that holds the connection open is never waited on.
//!
//! Cancellation does not wait for a tick. [`WatchingConnector`] keeps the
//! shutdown handle ureq's TCP connector registers for each socket, and while
//! a call with a [`CancellationToken`] does I/O on its thread ([`WATCHED`]),
//! every wait of the connection (connecting's TLS handshake, sending,
//! waiting for headers, reading a body) registers that socket with the
//! token. `cancel` shuts the socket down, which wakes the blocked system
//! call at once; the layer above sees the token and reports
//! [`ErrorKind::Cancelled`]. A socket shut down this way reports itself
//! closed, so it never goes back to the pool.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, ShutdownHandle, Transport as UreqTransport,
};

use crate::cancel::{CancellationToken, Interrupt};
use crate::error::{ApiError, Error, ErrorKind, Timeout};
use crate::response_info::ResponseInfo;

#[cfg(feature = "tls")]
mod tls;

/// The longest a transport read blocks before the stream body checks its
/// deadline again; bounds how late an idle or total stream timeout fires.
const READ_TICK: Duration = Duration::from_millis(250);
thread_local! {
    /// True while a [`StreamBody`] reads on this thread: [`TickTransport`]
    /// then caps each wait for input at [`READ_TICK`].
    static TICKING: Cell<bool> = const { Cell::new(false) };
    /// The token of the call doing I/O on this thread, if it has one: every
    /// wait of a [`WatchedTransport`] registers its socket with it.
    static WATCHED: RefCell<Option<CancellationToken>> = const { RefCell::new(None) };
}

/// Server-suggested retry delays above this are ignored in favour of backoff.
const MAX_SERVER_RETRY_DELAY: Duration = Duration::from_secs(60);
/// At most this much of an error body (or of any other body that is read
/// only to be reported, such as a page where an event stream was expected)
/// is kept.
pub(crate) const MAX_ERROR_BODY: u64 = 1024 * 1024;

/// How the client picks an HTTP proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxySetting {
    /// `ALL_PROXY` / `HTTPS_PROXY` / `HTTP_PROXY` and `NO_PROXY` from the
    /// environment (never for loopback base URLs).
    FromEnv,
    /// No proxy at all.
    Off,
    /// This proxy URL (still never for loopback base URLs).
    Url(String),
}

/// Everything the transport needs, filled in by `ClientBuilder`.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) base_url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) organization: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) response_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    /// Bounds the wait for a stream's response headers when
    /// `response_timeout` is not set (the wait for the first event).
    pub(crate) stream_first_event_timeout: Option<Duration>,
    pub(crate) max_retries: u32,
    /// Re-send a request whose response headers did not come in time after
    /// it was sent whole (off by default: the server may be working on it).
    pub(crate) retry_response_timeout: bool,
    pub(crate) on_retry: Option<RetryHook>,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) proxy: ProxySetting,
    /// Trust exactly these roots (no bundled ones, no `SSL_CERT_*`).
    pub(crate) root_certificates_pem: Option<Vec<u8>>,
    /// Trust these roots too.
    pub(crate) added_root_certificates_pem: Vec<Vec<u8>>,
    /// A client certificate chain and its private key, both PEM, for mutual TLS.
    pub(crate) client_certificate_pem: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) allow_insecure_http: bool,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) max_response_size: u64,
}

/// Called before each retry's wait: the retry's number (1 for the first),
/// the delay, and the error that caused it.
pub(crate) type RetryHook = Arc<dyn Fn(u32, Duration, &Error) + Send + Sync>;

/// Whether a request expects an event stream or one JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Json,
    Stream,
}

/// The HTTP transport shared by all clones of a `Client`.
pub(crate) struct Transport {
    agent: ureq::Agent,
    settings: Settings,
    /// Base URL without its query string.
    base: String,
    /// The base URL's query string, already encoded, sent with every request.
    base_query: Option<String>,
    /// Plain `http://` to a host that is not loopback, without the opt-in:
    /// per-request credential headers are refused too.
    insecure_remote: bool,
    jitter: AtomicU64,
}

/// One request to send: where, what, and the token that may cancel it.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) body: Option<&'a [u8]>,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) mode: Mode,
    pub(crate) cancel: Option<&'a CancellationToken>,
}

/// A successful response whose body has not been read yet.
pub(crate) struct Response {
    info: ResponseInfo,
    body: ureq::Body,
    /// When the request that got this response was sent, for the
    /// first-event limit.
    pub(crate) sent_at: Instant,
    cancel: Option<CancellationToken>,
}

/// What a response that arrived whole made of it; see [`Transport::send_then`].
pub(crate) enum Accepted<T> {
    /// The call's result.
    Done(T),
    /// The stream failed before anything reached the caller with an error
    /// retried like an HTTP 429 or 5xx; `T` is the result to hand over
    /// anyway when no retry is left.
    FirstEventFailed(Error, T),
}

impl Transport {
    pub(crate) fn new(settings: Settings) -> Result<Self, Error> {
        let url = parse_url(&settings.base_url)?;
        // Plain `http://` to a host that is not loopback, without the opt-in:
        // no credential may travel, now (the key, default headers) or per
        // request (see `send`).
        let insecure_remote = url.scheme.eq_ignore_ascii_case("http")
            && !url.is_loopback()
            && !settings.allow_insecure_http;
        let has_credential = settings.api_key.is_some()
            || settings
                .headers
                .iter()
                .any(|(n, _)| is_credential_header(n));
        if insecure_remote && has_credential {
            return Err(insecure_http_error("the API key", url.host));
        }
        check_header_values(&settings)?;
        let (base, base_query) = match settings.base_url.split_once('?') {
            Some((b, q)) => (b.trim_end_matches('/').to_string(), Some(q.to_string())),
            None => (settings.base_url.trim_end_matches('/').to_string(), None),
        };

        let proxy = if url.is_loopback() {
            None
        } else {
            match &settings.proxy {
                ProxySetting::Off => None,
                ProxySetting::FromEnv => ureq::Proxy::try_from_env(),
                ProxySetting::Url(p) => Some(ureq::Proxy::new(p).map_err(|e| {
                    Error::config("invalid proxy URL (give scheme, host and port)").with_source(e)
                })?),
            }
        };

        let builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(proxy)
            .user_agent(concat!("chatstream/", env!("CARGO_PKG_VERSION")))
            .accept_encoding("identity")
            .timeout_connect(settings.connect_timeout)
            .timeout_recv_response(settings.response_timeout)
            .max_idle_age(settings.pool_idle_timeout);
        // Every connection is watched for cancellation, whatever the chain below opens.
        let watching = WatchingConnector(Arc::new(connector(&settings)?));
        let agent = ureq::Agent::with_parts(
            builder.build(),
            watching,
            ureq::unversioned::resolver::DefaultResolver::default(),
        );
        Ok(Self {
            agent,
            settings,
            base,
            base_query,
            insecure_remote,
            jitter: AtomicU64::new(seed()),
        })
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Sends a request, retrying what may be retried, and returns the first
    /// successful response. Error statuses become [`ErrorKind::Api`] errors
    /// with the body; a redirect becomes [`ErrorKind::Redirect`].
    pub(crate) fn send(&self, request: &Outgoing<'_>) -> Result<Response, Error> {
        self.send_then(request, |response| Ok(Accepted::Done(response)))
    }

    /// Like [`send`](Self::send), then `accept` turns the response into the
    /// call's result; when it reports that the stream's first event was a
    /// retryable error, the request is retried under the same rules and
    /// limit as an HTTP 429 or 5xx.
    pub(crate) fn send_then<T>(
        &self,
        request: &Outgoing<'_>,
        mut accept: impl FnMut(Response) -> Result<Accepted<T>, Error>,
    ) -> Result<T, Error> {
        let extra_headers = request.headers;
        if let Some((name, _)) = extra_headers
            .iter()
            .find(|(_, value)| !is_valid_header_value(value))
        {
            return Err(control_character_error(&format!("the `{name}` header")));
        }
        if self.insecure_remote
            && extra_headers
                .iter()
                .any(|(name, _)| is_credential_header(name))
        {
            let host = parse_url(&self.settings.base_url).map_or("", |u| u.host);
            return Err(insecure_http_error("a credential header", host));
        }
        let cancelled = || request.cancel.is_some_and(CancellationToken::is_cancelled);
        let mut attempt = 0;
        loop {
            // Also before the first attempt: a cancelled token sends nothing.
            if cancelled() {
                return Err(Error::cancelled());
            }
            let (error, delay) = match self.send_once(request) {
                Ok(response) => match accept(response) {
                    Ok(Accepted::Done(done)) => return Ok(done),
                    Ok(Accepted::FirstEventFailed(error, done)) => {
                        match self.first_event_retry(&error, attempt) {
                            Some(delay) => (error, delay),
                            None => return Ok(done),
                        }
                    }
                    Err(error) => return Err(error),
                },
                Err(_) if cancelled() => return Err(Error::cancelled()),
                Err(failed) => match self.retry(&failed, attempt) {
                    Some(delay) => (failed.error, delay),
                    None => return Err(failed.error),
                },
            };
            attempt += 1;
            if let Some(hook) = &self.settings.on_retry {
                hook(attempt, delay, &error);
            }
            match request.cancel {
                Some(token) if token.sleep(delay) => return Err(Error::cancelled()),
                Some(_) => {}
                None => std::thread::sleep(delay),
            }
        }
    }

    /// The delay before retrying a failed attempt, or `None`.
    fn retry(&self, failed: &Failed, attempt: u32) -> Option<Duration> {
        if attempt >= self.settings.max_retries {
            return None;
        }
        if failed.sent_whole_unanswered && !self.settings.retry_response_timeout {
            return None;
        }
        match retry_decision(&failed.error) {
            RetryDecision::No => None,
            RetryDecision::After(Some(d)) => Some(d),
            RetryDecision::After(None) => Some(self.backoff(attempt)),
        }
    }

    /// The delay before retrying a stream whose first event was `error`.
    fn first_event_retry(&self, error: &Error, attempt: u32) -> Option<Duration> {
        let retryable = error.api().is_some_and(first_event_retryable);
        (retryable && attempt < self.settings.max_retries).then(|| self.backoff(attempt))
    }

    fn send_once(&self, request: &Outgoing<'_>) -> Result<Response, Failed> {
        let sent_at = Instant::now();
        let Outgoing {
            method,
            path,
            body,
            headers: extra_headers,
            mode,
            cancel,
        } = *request;
        let s = &self.settings;
        #[cfg(not(feature = "tls"))]
        if self
            .base
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        {
            return Err(no_tls_error().into());
        }
        let mut url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        if let Some(q) = &self.base_query {
            url.push('?');
            url.push_str(q);
        }
        for (k, v) in &s.query {
            url.push(if url.contains('?') { '&' } else { '?' });
            percent_encode_into(&mut url, k);
            url.push('=');
            percent_encode_into(&mut url, v);
        }
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header(
                "accept",
                match mode {
                    Mode::Json => "application/json",
                    Mode::Stream => "text/event-stream",
                },
            );
        if let Some(key) = &s.api_key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        if let Some(org) = &s.organization {
            req = req.header("openai-organization", org);
        }
        if let Some(project) = &s.project {
            req = req.header("openai-project", project);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (name, value) in s.headers.iter().chain(extra_headers) {
            req = req.header(name, value);
        }
        let sent = {
            let _watching = Watching::start(cancel);
            match body {
                Some(bytes) => self.run(req.body(bytes), mode),
                None => self.run(req.body(()), mode),
            }
        };
        let response = sent.map_err(|e| Failed {
            // Sent whole, and the wait for the answer ran out: the server may
            // be working on it.
            sent_whole_unanswered: matches!(e, ureq::Error::Timeout(ureq::Timeout::RecvResponse)),
            error: map_ureq_error(e, mode),
        })?;
        let (parts, body) = response.into_parts();
        let headers = parts.headers.iter().map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        });
        let info = ResponseInfo::new(parts.status.as_u16(), headers.collect());
        let response = Response {
            info,
            body,
            sent_at,
            cancel: cancel.cloned(),
        };
        let status = response.info.status();
        if (300..400).contains(&status) {
            let location = response.info.header("location").map(str::to_string);
            return Err(Error::redirect(status, location).into());
        }
        if !(200..300).contains(&status) {
            return Err(response.into_api_error().into());
        }
        let encoding = response.info.header("content-encoding").map(str::trim);
        if let Some(enc) = encoding.filter(|e| !e.eq_ignore_ascii_case("identity")) {
            return Err(Error::protocol(format!(
                "unexpected Content-Encoding `{enc}` (the client asks for identity)"
            ))
            .into());
        }
        Ok(response)
    }

    /// Applies the per-request limits and runs the request.
    fn run<B: ureq::AsSendBody>(
        &self,
        request: Result<ureq::http::Request<B>, ureq::http::Error>,
        mode: Mode,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let s = &self.settings;
        let builder = self.agent.configure_request(request?);
        let request = match mode {
            Mode::Json => builder.timeout_global(s.request_timeout),
            // The stream layer owns the body's deadlines (see the module
            // docs); the headers are bounded here.
            Mode::Stream => {
                builder.timeout_recv_response(s.response_timeout.or(s.stream_first_event_timeout))
            }
        }
        .build();
        self.agent.run(request)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let s = &self.settings;
        backoff_delay(
            s.initial_backoff,
            s.max_backoff,
            attempt,
            self.next_random(),
        )
    }

    fn next_random(&self) -> u64 {
        // xorshift64*; quality is irrelevant, only spread matters.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A failed attempt, with what the retry rules need to know about it.
struct Failed {
    error: Error,
    /// The request went out whole and the response headers did not come in
    /// time.
    sent_whole_unanswered: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Self {
            error,
            sent_whole_unanswered: false,
        }
    }
}

/// The wait before retrying after failed attempt number `attempt` (0 for the first) when the
/// server suggested no delay: `initial` doubled per attempt, at most `max`, then up to 25% less
/// as `random` says, so clients that failed together do not retry together.
fn backoff_delay(initial: Duration, max: Duration, attempt: u32, random: u64) -> Duration {
    let exp = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    let jitter = random % 1000;
    exp.mul_f64(1.0 - 0.25 * (jitter as f64 / 1000.0))
}

/// Appends `text` percent-encoded for a query string: everything but
/// RFC 3986 unreserved characters is escaped.
fn percent_encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ u64::from(std::process::id()) << 32) | 1
}

impl Response {
    /// Reads a whole JSON body (bounded by `max_response_size`).
    pub(crate) fn read_body(self, limit: u64) -> Result<(ResponseInfo, Vec<u8>), Error> {
        let Self {
            info,
            mut body,
            cancel,
            ..
        } = self;
        let read = {
            let _watching = Watching::start(cancel.as_ref());
            body.with_config().limit(limit).read_to_vec()
        };
        // Checked whatever the read returned: a socket shut down by `cancel`
        // may end a body without a length as if it were complete.
        if cancel.as_ref().is_some_and(CancellationToken::is_cancelled) {
            return Err(Error::cancelled());
        }
        let bytes = read.map_err(|e| {
            match map_ureq_error(e, Mode::Json) {
                // The status line and headers did arrive, so this is not a
                // connection failure (which says the request may not have been
                // processed, and is retried): the body was cut short.
                cut if cut.kind() == ErrorKind::Connect => {
                    Error::truncated("the connection ended before the whole response body arrived")
                        .with_source(cut)
                }
                other => other,
            }
        })?;
        Ok((info, bytes))
    }

    /// The body as a stream, for the SSE parser.
    pub(crate) fn into_stream(self) -> (ResponseInfo, StreamBody) {
        let Self {
            info, body, cancel, ..
        } = self;
        let body = StreamBody {
            reader: body.into_reader(),
            deadline: None,
            cancel,
        };
        (info, body)
    }

    /// The `Content-Type` header's media type, lower-case, without parameters.
    pub(crate) fn media_type(&self) -> Option<String> {
        self.info.header("content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    fn into_api_error(self) -> Error {
        let info = self.info.clone();
        let body = match self.read_body(MAX_ERROR_BODY) {
            Ok((_, b)) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => String::new(),
        };
        let retry_after = server_retry_delay(&info);
        let should_retry = match info.header("x-should-retry").map(str::trim) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        let fields = crate::chat::parse_error_body(&body);
        let api = ApiError::new(info.status(), info.request_id(), body, fields, false);
        Error::api_error(api)
            .with_retry_hints(retry_after, should_retry)
            .with_response(info)
    }
}

/// A streaming response body whose reads stop at a deadline.
///
/// A failed read's [`io::Error`] carries the typed [`Error`] inside (made
/// with `io::Error::from`), so the stream layer gets it back intact with
/// `io::Error::downcast`.
pub(crate) struct StreamBody {
    reader: ureq::BodyReader<'static>,
    deadline: Option<(Instant, Timeout)>,
    cancel: Option<CancellationToken>,
}

impl StreamBody {
    /// From now on, a read that has waited past `at` fails with `which`.
    pub(crate) fn set_deadline(&mut self, deadline: Option<(Instant, Timeout)>) {
        self.deadline = deadline;
    }

    /// Reads the rest of the body so the connection can go back to the
    /// pool, but never more than `max_bytes` or for longer than `max_time`:
    /// a server that keeps the connection open after the end of the stream
    /// is not waited for (the connection is closed instead).
    pub(crate) fn drain(mut self, max_bytes: usize, max_time: Duration) {
        self.deadline = Some((Instant::now() + max_time, Timeout::StreamTotal));
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total <= max_bytes {
            match self.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    }

    /// Whether the call this body belongs to was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }
}

impl Read for StreamBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.is_cancelled() {
                return Err(Error::cancelled().into());
            }
            // Checked before every read, not only after a quiet tick: bytes
            // that keep arriving (keep-alive comments) must not postpone it.
            if let Some((_, which)) = self.deadline.filter(|(at, _)| Instant::now() >= *at) {
                return Err(Error::timeout_of(which).into());
            }
            let result = {
                let _ticking = Ticking::start();
                let _watching = Watching::start(self.cancel.as_ref());
                self.reader.read(buf)
            };
            // Whatever the read returned: a socket shut down by `cancel` may
            // look like the end of the body.
            if self.is_cancelled() {
                return Err(Error::cancelled().into());
            }
            match result {
                Ok(n) => return Ok(n),
                Err(e) => {
                    let err = ureq::Error::from(e);
                    if let ureq::Error::Timeout(ureq::Timeout::PerRead) = err {
                        continue;
                    }
                    let typed = match err {
                        ureq::Error::Io(io)
                            if matches!(
                                io.kind(),
                                io::ErrorKind::UnexpectedEof
                                    | io::ErrorKind::ConnectionReset
                                    | io::ErrorKind::ConnectionAborted
                                    | io::ErrorKind::BrokenPipe
                            ) =>
                        {
                            Error::io("the connection closed mid-stream").with_source(io)
                        }
                        other => map_ureq_error(other, Mode::Stream),
                    };
                    return Err(typed.into());
                }
            }
        }
    }
}

/// Marks this thread as reading a stream body until dropped (also on
/// unwinding, so a panicking callback cannot leave the flag set).
struct Ticking;

impl Ticking {
    fn start() -> Self {
        TICKING.with(|t| t.set(true));
        Self
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        TICKING.with(|t| t.set(false));
    }
}

/// Sets the token watched by the I/O on this thread until dropped
/// (restoring the previous one, also on unwinding).
struct Watching {
    previous: Option<CancellationToken>,
}

impl Watching {
    fn start(token: Option<&CancellationToken>) -> Self {
        let previous = WATCHED.with(|w| w.replace(token.cloned()));
        Self { previous }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let previous = self.previous.take();
        WATCHED.with(|w| *w.borrow_mut() = previous);
    }
}

/// The error a watched wait returns when its call is cancelled; the layer
/// above sees the token and reports [`ErrorKind::Cancelled`] instead.
fn cancelled_io() -> ureq::Error {
    ureq::Error::Io(io::Error::other("cancelled"))
}

/// The connector chain: ureq's default (proxy, TCP, TLS), with every
/// connection wrapped in a [`WatchedTransport`] that holds a handle to shut
/// its socket down.
#[derive(Debug)]
struct WatchingConnector<C>(Arc<C>);

/// What a connection attempt on another thread hands back.
type Connected = Result<Option<Box<dyn UreqTransport>>, ureq::Error>;

impl<C: Connector<Out = Box<dyn UreqTransport>>> Connector<()> for WatchingConnector<C> {
    type Out = WatchedTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<WatchedTransport>, ureq::Error> {
        let socket = Arc::new(Socket::default());
        // ureq hands the connector chain a callback through which the
        // connector that opens the socket registers a shutdown handle, right
        // after connecting and before any TLS or proxy handshake. Passing it
        // on wrapped keeps that handle for this connection too.
        let register = details.register_shutdown.clone();
        let slot = socket.clone();
        let details = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: Arc::new(move |handle: Weak<dyn ShutdownHandle>| {
                register(handle.clone())?;
                // False when the call was cancelled while connecting: stop
                // before the handshake.
                if slot.set(handle) {
                    Ok(())
                } else {
                    Err(cancelled_io())
                }
            }),
        };
        let token = WATCHED.with(|w| w.borrow().clone());
        let connected = match &token {
            None => self.0.connect(&details, chained)?,
            Some(token) => {
                // Cancelling during the handshake shuts the socket down.
                let _registration = token.register(socket.clone()).ok_or_else(cancelled_io)?;
                self.connect_apart(&details, chained, token)?
            }
        };
        Ok(connected.map(|inner| WatchedTransport { inner, socket }))
    }
}

impl<C: Connector<Out = Box<dyn UreqTransport>>> WatchingConnector<C> {
    /// Connects on a thread of its own, so that a cancelled call need not
    /// wait for a TCP connect, which nothing can wake without `unsafe` code
    /// (no handle to the socket exists before it is connected). The thread
    /// goes on alone after a cancel: its socket is marked killed, so it
    /// stops as soon as the connect ends, bounded by the connect timeout.
    fn connect_apart(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<()>,
        token: &CancellationToken,
    ) -> Connected {
        let handoff = Arc::new(Handoff::default());
        let _registration = token.register(handoff.clone()).ok_or_else(cancelled_io)?;
        let connector = self.0.clone();
        let (uri, addrs, config) = (
            details.uri.clone(),
            details.addrs.clone(),
            details.config.clone(),
        );
        let (request_level, now, timeout) = (details.request_level, details.now, details.timeout);
        let current_time = details.current_time.clone();
        let run_connector = details.run_connector.clone();
        let register_shutdown = details.register_shutdown.clone();
        let result = handoff.clone();
        let spawned = std::thread::Builder::new()
            .name("chatstream-connect".into())
            .spawn(move || {
                let mut courier = Courier(result, None);
                // The agent's resolver is ureq's default one too; it only
                // serves proxies here, as the target is resolved already.
                let resolver = ureq::unversioned::resolver::DefaultResolver::default();
                let details = ConnectionDetails {
                    uri: &uri,
                    addrs,
                    config: &config,
                    request_level,
                    resolver: &resolver,
                    now,
                    timeout,
                    current_time,
                    run_connector,
                    register_shutdown,
                };
                courier.1 = Some(connector.connect(&details, chained));
            });
        if spawned.is_err() {
            // No thread to spare: connect here, as without a token.
            return self.0.connect(details, chained);
        }
        handoff.wait()
    }
}

/// Carries a connection from the thread that made it to the call waiting
/// for it, or wakes the call when it is cancelled first.
#[derive(Default)]
struct Handoff {
    state: Mutex<(Option<Connected>, bool)>,
    changed: std::sync::Condvar,
}

impl Handoff {
    fn deliver(&self, connected: Connected) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = Some(connected);
        self.changed.notify_all();
    }

    /// The connection, or a cancellation error as soon as the call is
    /// cancelled.
    fn wait(&self) -> Connected {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.1 {
                return Err(cancelled_io());
            }
            if let Some(connected) = state.0.take() {
                return connected;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Delivers the connection thread's result when dropped, so the waiting
/// call is answered even if connecting panicked.
struct Courier(Arc<Handoff>, Option<Connected>);

impl Drop for Courier {
    fn drop(&mut self) {
        let connected = self.1.take().unwrap_or(Err(ureq::Error::ConnectionFailed));
        self.0.deliver(connected);
    }
}

impl Interrupt for Handoff {
    fn interrupt(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1 = true;
        self.changed.notify_all();
    }
}

/// One connection's socket, as far as cancelling is concerned.
#[derive(Default)]
struct Socket {
    /// Set once the socket exists.
    handle: Mutex<Option<Weak<dyn ShutdownHandle>>>,
    /// Shut down by a cancelled call: never to be reused.
    killed: AtomicBool,
}

impl Socket {
    /// Keeps the socket's handle; false (and the socket shut down) when a
    /// cancellation came first.
    fn set(&self, handle: Weak<dyn ShutdownHandle>) -> bool {
        let mut slot = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        if self.killed.load(Ordering::SeqCst) {
            if let Some(h) = handle.upgrade() {
                h.shutdown();
            }
            return false;
        }
        *slot = Some(handle);
        true
    }
}

impl Interrupt for Socket {
    fn interrupt(&self) {
        // Under the lock `set` takes, so a socket that appears after this
        // is shut down by `set`.
        let slot = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        self.killed.store(true, Ordering::SeqCst);
        if let Some(h) = slot.as_ref().and_then(Weak::upgrade) {
            h.shutdown();
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("killed", &self.killed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// A connection as the calls see it. While [`TICKING`] is set on the
/// reading thread, each wait for input lasts at most [`READ_TICK`]
/// (reported to ureq as a per-read timeout, which leaves the connection
/// usable). While a token is [`WATCHED`], each wait registers the socket
/// with it, so `cancel` shuts the socket down and the wait returns at once;
/// a socket shut down that way is never reused. Everything else is passed
/// through unchanged.
#[derive(Debug)]
struct WatchedTransport {
    inner: Box<dyn UreqTransport>,
    socket: Arc<Socket>,
}

impl WatchedTransport {
    /// Runs one wait with the socket registered with the watched token.
    fn watched<T>(
        &mut self,
        wait: impl FnOnce(&mut dyn UreqTransport) -> Result<T, ureq::Error>,
    ) -> Result<T, ureq::Error> {
        let token = WATCHED.with(|w| w.borrow().clone());
        let _registration = match &token {
            Some(token) => Some(
                token
                    .register(self.socket.clone())
                    .ok_or_else(cancelled_io)?,
            ),
            None => None,
        };
        wait(&mut *self.inner)
    }
}

impl UreqTransport for WatchedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.watched(|inner| inner.transmit_output(amount, timeout))
    }

    fn await_input(&mut self, mut timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if TICKING.with(Cell::get) {
            let tick = READ_TICK.into();
            timeout.per_read = Some(timeout.per_read.map_or(tick, |d| d.min(tick)));
        }
        self.watched(|inner| inner.await_input(timeout))
    }

    fn is_open(&mut self) -> bool {
        !self.socket.killed.load(Ordering::SeqCst) && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

enum RetryDecision {
    No,
    /// Retry after this delay (`None`: after the backoff delay).
    After(Option<Duration>),
}

/// The retry rules of the official SDKs: connection failures before a
/// response, 408, 409, 429 and 5xx; `x-should-retry` overrides; never for
/// `insufficient_quota`.
fn retry_decision(e: &Error) -> RetryDecision {
    match e.kind() {
        ErrorKind::Connect => RetryDecision::After(None),
        ErrorKind::Timeout => match e.timeout() {
            Some(Timeout::Connect | Timeout::ResponseHeaders) => RetryDecision::After(None),
            _ => RetryDecision::No,
        },
        ErrorKind::Api => {
            let Some(api) = e.api() else {
                return RetryDecision::No;
            };
            if api.in_stream {
                return RetryDecision::No;
            }
            let retry = e.should_retry().unwrap_or_else(|| {
                let quota = api.code.as_deref() == Some("insufficient_quota")
                    || api.error_type.as_deref() == Some("insufficient_quota");
                match api.status {
                    429 => !quota,
                    408 | 409 => true,
                    s => s >= 500,
                }
            });
            if retry {
                RetryDecision::After(e.retry_after())
            } else {
                RetryDecision::No
            }
        }
        _ => RetryDecision::No,
    }
}

/// Whether an error that came as a stream's first event is retried like an
/// HTTP 429 or 5xx: a rate limit (except `insufficient_quota`), an overload
/// or a server error, by `type` or `code` (servers that send the HTTP
/// status as the code are understood too).
fn first_event_retryable(api: &ApiError) -> bool {
    let fields = [api.error_type.as_deref(), api.code.as_deref()];
    if fields.contains(&Some("insufficient_quota")) {
        return false;
    }
    fields.into_iter().flatten().any(|f| {
        matches!(
            f,
            "rate_limit_exceeded"
                | "rate_limit_error"
                | "overloaded"
                | "overloaded_error"
                | "server_error"
                | "internal_server_error"
                | "service_unavailable"
                | "service_unavailable_error"
        ) || f
            .parse::<u16>()
            .is_ok_and(|code| code == 429 || (500..600).contains(&code))
    })
}

/// `retry-after-ms`, then `Retry-After` (seconds or an HTTP date), when
/// positive and at most a minute.
fn server_retry_delay(info: &ResponseInfo) -> Option<Duration> {
    let valid = |d: Duration| (!d.is_zero() && d <= MAX_SERVER_RETRY_DELAY).then_some(d);
    let retry_after_ms = info
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .and_then(|ms| valid(Duration::from_secs_f64(ms.min(1e9) / 1000.0)));
    if retry_after_ms.is_some() {
        return retry_after_ms;
    }
    let value = info.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 {
            return valid(Duration::from_secs_f64(secs.min(1e9)));
        }
        return None;
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    valid(Duration::from_secs(at.checked_sub(now)?))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only HTTP
/// date format senders may generate (RFC 9110, 5.6.7), into Unix seconds.
fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()? // dates before 1970 are in the past anyway
        .checked_mul(86_400)?
        .checked_add(h * 3600 + m * 60 + sec)
}

/// Sorts a ureq error into this crate's kinds.
fn map_ureq_error(e: ureq::Error, mode: Mode) -> Error {
    use ureq::Error as U;
    match e {
        U::Timeout(t) => Error::timeout_of(match t {
            ureq::Timeout::Connect | ureq::Timeout::Resolve => Timeout::Connect,
            ureq::Timeout::SendRequest | ureq::Timeout::SendBody | ureq::Timeout::RecvResponse => {
                Timeout::ResponseHeaders
            }
            _ if mode == Mode::Stream => Timeout::StreamTotal,
            _ => Timeout::Request,
        }),
        U::HostNotFound => Error::connect("host not found"),
        U::ConnectionFailed => Error::connect("connection failed"),
        U::ConnectProxyFailed(m) => Error::connect(format!("proxy CONNECT failed: {m}")),
        U::InvalidProxyUrl => Error::config("invalid proxy URL"),
        U::BadUri(m) => Error::config(format!("invalid URL: {m}")),
        U::BodyExceedsLimit(n) => {
            Error::protocol(format!("response body exceeds the {n} byte limit"))
        }
        U::TlsRequired => Error::config("https is required"),
        U::Tls(m) => Error::tls(m.to_string()),
        #[cfg(feature = "tls")]
        U::Pem(p) => Error::tls("invalid PEM").with_source(p),
        #[cfg(feature = "tls")]
        U::Rustls(r) => Error::tls("TLS handshake failed").with_source(r),
        U::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::AddrNotAvailable => {
                Error::connect("connection lost before a response").with_source(io)
            }
            // rustls reports handshake and certificate failures as
            // `InvalidData` I/O errors; plain HTTP parse errors arrive as
            // `ureq::Error::Protocol` instead.
            io::ErrorKind::InvalidData => Error::tls("TLS handshake failed").with_source(io),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                Error::timeout_of(Timeout::ResponseHeaders)
            }
            _ => Error::io("I/O error").with_source(io),
        },
        U::Protocol(p) => Error::protocol("malformed HTTP response").with_source(p),
        U::Http(h) => Error::protocol("invalid HTTP").with_source(h),
        other => Error::protocol("HTTP error").with_source(other),
    }
}

/// The parts of a URL the client needs to decide things before any I/O.
struct Url<'a> {
    scheme: &'a str,
    host: &'a str,
}

impl Url<'_> {
    /// Loopback is decided from the URL alone, never by resolving a name:
    /// `localhost`, 127.0.0.0/8 and `[::1]`.
    fn is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.octets()[0] == 127,
            Ok(IpAddr::V6(v6)) => {
                v6 == Ipv6Addr::LOCALHOST
                    || v6
                        .to_ipv4_mapped()
                        .is_some_and(|v4: Ipv4Addr| v4.octets()[0] == 127)
            }
            Err(_) => false,
        }
    }
}

fn parse_url(url: &str) -> Result<Url<'_>, Error> {
    let bad = || {
        Error::config(format!(
            "invalid base URL `{url}`: expected http(s)://host[:port]/path"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    if !scheme_ok {
        return Err(bad());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority
            .split_once(']')
            .map(|(h, _)| &authority[..h.len() + 1])
    } else {
        authority.split(':').next()
    }
    .filter(|h| !h.is_empty())
    .ok_or_else(bad)?;
    Ok(Url { scheme, host })
}

/// Header values are checked when the client is built, so a key pasted
/// with its line break is a clear configuration error (which never echoes
/// the value) instead of a protocol error on every request.
fn check_header_values(s: &Settings) -> Result<(), Error> {
    let named = [
        ("the API key", s.api_key.as_deref()),
        ("the organization", s.organization.as_deref()),
        ("the project", s.project.as_deref()),
    ]
    .into_iter()
    .map(|(what, value)| (what.to_string(), value));
    let headers = s
        .headers
        .iter()
        .map(|(name, value)| (format!("the `{name}` header"), Some(value.as_str())));
    for (what, value) in named.chain(headers) {
        if value.is_some_and(|v| !is_valid_header_value(v)) {
            return Err(control_character_error(&what));
        }
    }
    Ok(())
}

/// Whether `value` may be sent as an HTTP field value: no control characters
/// but tab (RFC 9110, 5.5).
fn is_valid_header_value(value: &str) -> bool {
    !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// The error for a header value that cannot be sent; it never echoes the value.
fn control_character_error(what: &str) -> Error {
    Error::config(format!(
        "{what} contains a control character (a line break?), which cannot be sent in an \
         HTTP header"
    ))
}

/// Headers that carry a credential as surely as `api_key` does: Azure's
/// `api-key`, a hand-made `Authorization`, and `x-api-key`.
fn is_credential_header(name: &str) -> bool {
    ["authorization", "api-key", "x-api-key"]
        .iter()
        .any(|c| name.trim().eq_ignore_ascii_case(c))
}

/// The refusal to send `what` in clear text, naming both ways to opt in.
fn insecure_http_error(what: &str, host: &str) -> Error {
    Error::config(format!(
        "refusing to send {what} in clear text over http:// to `{host}`, which is not \
         loopback; use https, or opt in with ClientBuilder::allow_insecure_http(true) or \
         CHATSTREAM_ALLOW_INSECURE_HTTP=1"
    ))
}

/// Every connection: through a `CONNECT` proxy or straight over TCP, then TLS (see
/// [`tls`]) for `https://`. The TLS configuration is built here, once, so a bad certificate
/// or key is a configuration error of `build()`.
#[cfg(feature = "tls")]
fn connector(s: &Settings) -> Result<impl Connector<Out = Box<dyn UreqTransport>>, Error> {
    use ureq::unversioned::transport::{ConnectProxyConnector, TcpConnector};
    let tls = tls::TlsConnector::new(tls::client_config(s)?);
    Ok(
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(tls),
    )
}

/// Without TLS, ureq's connections (plain TCP, or a `CONNECT` proxy); TLS settings are
/// refused.
#[cfg(not(feature = "tls"))]
fn connector(s: &Settings) -> Result<impl Connector<Out = Box<dyn UreqTransport>>, Error> {
    if s.root_certificates_pem.is_some()
        || !s.added_root_certificates_pem.is_empty()
        || s.client_certificate_pem.is_some()
    {
        return Err(no_tls_error());
    }
    Ok(ureq::unversioned::transport::DefaultConnector::new())
}

/// Without the `tls` feature an `https://` URL is refused when a request
/// is made (not when the client is built, so configuration code compiles
/// and runs the same with and without the feature).
#[cfg(not(feature = "tls"))]
fn no_tls_error() -> Error {
    Error::config("https needs chatstream's `tls` feature, which this build leaves out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn first_event_errors_retried_like_429_and_5xx() {
        let api = |kind: Option<&str>, code: Option<&str>| ApiError {
            status: 200,
            message: String::new(),
            error_type: kind.map(str::to_owned),
            code: code.map(str::to_owned),
            param: None,
            request_id: None,
            body: String::new(),
            in_stream: true,
        };
        for (kind, code) in [
            (Some("requests"), Some("rate_limit_exceeded")),
            (Some("rate_limit_error"), None),
            (Some("overloaded_error"), None),
            (Some("server_error"), None),
            (None, Some("503")),
            (None, Some("429")),
        ] {
            assert!(first_event_retryable(&api(kind, code)), "{kind:?} {code:?}");
        }
        for (kind, code) in [
            (Some("insufficient_quota"), Some("insufficient_quota")),
            (Some("rate_limit_error"), Some("insufficient_quota")),
            (
                Some("invalid_request_error"),
                Some("context_length_exceeded"),
            ),
            (None, Some("400")),
            (None, None),
        ] {
            assert!(
                !first_event_retryable(&api(kind, code)),
                "{kind:?} {code:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_less_at_most_a_quarter() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for (attempt, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let full = Duration::from_millis(full);
            // No jitter at 0 (and at 1000: only `random % 1000` counts).
            assert_eq!(backoff_delay(initial, max, attempt, 0), full, "{attempt}");
            assert_eq!(
                backoff_delay(initial, max, attempt, 1000),
                full,
                "{attempt}"
            );
            // The most jitter: just over three quarters.
            let least = backoff_delay(initial, max, attempt, 999);
            assert!(
                least >= full.mul_f64(0.75) && least <= full.mul_f64(0.7503),
                "attempt {attempt}: {least:?} for {full:?}"
            );
            for random in [1, 250, 500, 998, 1_234_567, u64::MAX] {
                let delay = backoff_delay(initial, max, attempt, random);
                assert!(
                    delay <= full && delay >= full.mul_f64(0.75),
                    "attempt {attempt}, random {random}: {delay:?} for {full:?}"
                );
            }
        }
    }

    /// What `retry_decision` says, as `Some(server delay)` for a retry and `None` for none.
    fn retried(e: &Error) -> Option<Option<Duration>> {
        match retry_decision(e) {
            RetryDecision::No => None,
            RetryDecision::After(delay) => Some(delay),
        }
    }

    fn status(status: u16, code: Option<&str>, error_type: Option<&str>) -> Error {
        let fields = crate::chat::ApiErrorFields {
            code: code.map(str::to_owned),
            error_type: error_type.map(str::to_owned),
            ..Default::default()
        };
        Error::api_error(ApiError::new(
            status,
            None,
            "{}".into(),
            Some(fields),
            false,
        ))
    }

    #[test]
    fn retry_rules() {
        assert_eq!(retried(&Error::connect("refused")), Some(None));
        for (timeout, retry) in [
            (Timeout::Connect, true),
            (Timeout::ResponseHeaders, true),
            (Timeout::Request, false),
        ] {
            let e = Error::timeout_of(timeout);
            assert_eq!(retried(&e).is_some(), retry, "{timeout:?}");
        }
        for code in [429, 408, 409, 500, 503] {
            assert_eq!(retried(&status(code, None, None)), Some(None), "{code}");
        }
        for code in [400, 401, 404, 422] {
            assert_eq!(retried(&status(code, None, None)), None, "{code}");
        }
        // Out of quota is not retried, whichever of `code` and `type` says so.
        let quota = Some("insufficient_quota");
        assert_eq!(retried(&status(429, quota, None)), None);
        assert_eq!(retried(&status(429, None, quota)), None);
        // The server's delay is passed on; `x-should-retry` overrides the status.
        let delay = Some(Duration::from_millis(1500));
        let hinted = status(503, None, None).with_retry_hints(delay, None);
        assert_eq!(retried(&hinted), Some(delay));
        assert_eq!(
            retried(&status(400, None, None).with_retry_hints(None, Some(true))),
            Some(None)
        );
        assert_eq!(
            retried(&status(503, None, None).with_retry_hints(None, Some(false))),
            None
        );
        // An error inside a stream that already began is never retried.
        let in_stream = ApiError::new(500, None, "{}".into(), None, true);
        assert_eq!(retried(&Error::api_error(in_stream)), None);
        assert_eq!(retried(&Error::protocol("not HTTP")), None);
    }

    #[test]
    fn server_retry_delays() {
        let delay = |headers: &[(&str, &str)]| {
            server_retry_delay(&ResponseInfo::new(
                429,
                headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            ))
        };
        let ms = Duration::from_millis;
        assert_eq!(delay(&[("retry-after-ms", "1500")]), Some(ms(1500)));
        assert_eq!(
            delay(&[("retry-after-ms", "0.5")]),
            Some(Duration::from_micros(500))
        );
        // `retry-after-ms` first; `Retry-After` when it is missing or unusable.
        let both = [("retry-after-ms", "20"), ("retry-after", "3")];
        assert_eq!(delay(&both), Some(ms(20)));
        for unusable in ["0", "-5", "nan", "inf", "60001", "soon"] {
            let headers = [("retry-after-ms", unusable), ("Retry-After", "2")];
            assert_eq!(delay(&headers), Some(ms(2000)), "{unusable}");
            assert_eq!(delay(&headers[..1]), None, "{unusable}");
        }
        assert_eq!(delay(&[("retry-after", "1.5")]), Some(ms(1500)));
        assert_eq!(delay(&[("retry-after", "60")]), Some(ms(60_000)));
        for ignored in [
            "0",
            "-1",
            "nan",
            "inf",
            "61",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert_eq!(delay(&[("retry-after", ignored)]), None, "{ignored}");
        }
        assert_eq!(delay(&[]), None);
    }

    #[test]
    fn loopback_is_decided_from_the_url() {
        for u in [
            "http://localhost:8080/v1",
            "http://127.0.0.1/v1",
            "http://127.9.9.9:1",
            "http://[::1]:8080/v1",
            "http://user:pw@LOCALHOST/v1",
        ] {
            assert!(parse_url(u).unwrap().is_loopback(), "{u}");
        }
        for u in [
            "http://192.168.1.2:11434/v1",
            "http://localhost.example.com/v1",
            "http://128.0.0.1/",
            "https://api.openai.com/v1",
            "http://[::2]/",
        ] {
            assert!(!parse_url(u).unwrap().is_loopback(), "{u}");
        }
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://").is_err());
        assert!(parse_url("no scheme").is_err());
    }
}
