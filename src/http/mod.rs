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

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ureq::unversioned::transport::{Connector, Transport as UreqTransport};

use crate::cancel::CancellationToken;
use crate::error::{Error, Timeout};
use crate::response_info::ResponseInfo;

use headers::{
    check_header_values, control_character_error, insecure_http_error, is_credential_header,
    is_valid_header_value,
};
use retry::{RetryDecision, backoff_delay, first_event_retryable, retry_decision};
use url::{parse_url, percent_encode_into};
use watch::{Watching, WatchingConnector};

pub(crate) use body::StreamBody;
pub(crate) use response::Response;

mod body;
mod headers;
mod response;
mod retry;
#[cfg(feature = "tls")]
mod tls;
mod url;
mod watch;

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

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ u64::from(std::process::id()) << 32) | 1
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

    // The backoff's jitter spreads clients that failed together over the last quarter of the
    // delay; a generator stuck on one value (or collapsing to 0 or to all ones) would send
    // them back in step.
    #[test]
    fn jitter_draws_spread_over_the_range() {
        let transport = Transport::new(crate::Client::builder().settings_for_tests()).unwrap();
        // A fixed seed (odd, as `seed` makes them) so the draws are the same on every run.
        transport
            .jitter
            .store(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut per_decile = [0u32; 10];
        let mut draws = std::collections::HashSet::new();
        for _ in 0..1000 {
            let random = transport.next_random();
            draws.insert(random);
            per_decile[(random % 1000 / 100) as usize] += 1;
        }
        assert!(draws.len() > 990, "{} distinct draws of 1000", draws.len());
        // 100 expected in each; a uniform draw would put fewer than 50 in one about once in
        // 10^8 seeds.
        assert!(per_decile.iter().all(|&n| n >= 50), "{per_decile:?}");
    }
}
