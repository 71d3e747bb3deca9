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
//! through [`TickTransport`], which caps each wait for input at
//! [`READ_TICK`] while (and only while) a [`StreamBody`] reads on that
//! thread; on every tick the body checks the deadline the stream layer set
//! after its last event. A timed-out ureq read leaves the body readable, so
//! a tick costs nothing but a wake-up. The same tick bounds the drain after
//! `[DONE]`, so a server that holds the connection open is never waited on.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout,
    Transport as UreqTransport,
};

use crate::error::{ApiError, Error, ErrorKind, Timeout};

/// The longest a transport read blocks before the stream body checks its
/// deadline again; bounds how late an idle or total stream timeout fires.
const READ_TICK: Duration = Duration::from_millis(250);
thread_local! {
    /// True while a [`StreamBody`] reads on this thread: [`TickTransport`]
    /// then caps each wait for input at [`READ_TICK`].
    static TICKING: Cell<bool> = const { Cell::new(false) };
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
    /// `response_timeout` is not set.
    pub(crate) stream_idle_timeout: Option<Duration>,
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) proxy: ProxySetting,
    pub(crate) root_certificates_pem: Option<Vec<u8>>,
    pub(crate) allow_insecure_http: bool,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) max_response_size: u64,
}

/// What a successful response said besides its body.
///
/// ```
/// # fn demo(info: &chatstream::ResponseInfo) {
/// if let Some(id) = info.request_id() {
///     eprintln!("request id {id}");
/// }
/// let remaining = info.header("x-ratelimit-remaining-requests");
/// # let _ = remaining; }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseInfo {
    status: u16,
    headers: Vec<(String, String)>,
}

impl ResponseInfo {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `x-request-id` header, to quote to the provider.
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-request-id")
    }

    /// A response header by name (case-insensitive), e.g.
    /// `x-ratelimit-remaining-tokens`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `x-ratelimit-*` header, as sent.
    pub fn rate_limits(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.len() > 12 && n[..12].eq_ignore_ascii_case("x-ratelimit-"))
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// All response headers (names lower-case).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}

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

/// A successful response whose body has not been read yet.
pub(crate) struct Response {
    info: ResponseInfo,
    body: ureq::Body,
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
        let builder = tls_settings(builder, &settings)?;
        let connector = DefaultConnector::new().chain(TickConnector);
        let agent = ureq::Agent::with_parts(
            builder.build(),
            connector,
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
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra_headers: &[(String, String)],
        mode: Mode,
    ) -> Result<Response, Error> {
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
        let mut attempt = 0;
        loop {
            let result = self.send_once(method, path, body, extra_headers, mode);
            let delay = match &result {
                Ok(_) => return result,
                Err(e) if attempt < self.settings.max_retries => match retry_decision(e) {
                    RetryDecision::No => return result,
                    RetryDecision::After(Some(d)) => d,
                    RetryDecision::After(None) => self.backoff(attempt),
                },
                Err(_) => return result,
            };
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra_headers: &[(String, String)],
        mode: Mode,
    ) -> Result<Response, Error> {
        let s = &self.settings;
        #[cfg(not(feature = "tls"))]
        if self
            .base
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        {
            return Err(no_tls_error());
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
        let sent = match body {
            Some(bytes) => self.run(req.body(bytes), mode),
            None => self.run(req.body(()), mode),
        };
        let response = sent.map_err(|e| map_ureq_error(e, mode))?;
        let (parts, body) = response.into_parts();
        let info = ResponseInfo {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        };
        let response = Response { info, body };
        let status = response.info.status;
        if (300..400).contains(&status) {
            let location = response.info.header("location").map(str::to_string);
            return Err(Error::redirect(status, location));
        }
        if !(200..300).contains(&status) {
            return Err(response.into_api_error());
        }
        let encoding = response.info.header("content-encoding").map(str::trim);
        if let Some(enc) = encoding.filter(|e| !e.eq_ignore_ascii_case("identity")) {
            return Err(Error::protocol(format!(
                "unexpected Content-Encoding `{enc}` (the client asks for identity)"
            )));
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
                builder.timeout_recv_response(s.response_timeout.or(s.stream_idle_timeout))
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
        let Self { info, mut body } = self;
        let bytes = body.with_config().limit(limit).read_to_vec().map_err(|e| {
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
        let Self { info, body } = self;
        let body = StreamBody {
            reader: body.into_reader(),
            deadline: None,
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
        let api = ApiError::new(info.status, info.request_id(), body, fields, false);
        Error::api_error(api).with_retry_hints(retry_after, should_retry)
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
}

impl Read for StreamBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Checked before every read, not only after a quiet tick: bytes
            // that keep arriving (keep-alive comments) must not postpone it.
            if let Some((_, which)) = self.deadline.filter(|(at, _)| Instant::now() >= *at) {
                return Err(Error::timeout_of(which).into());
            }
            let result = {
                let _ticking = Ticking::start();
                self.reader.read(buf)
            };
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

/// The last link of the connector chain: wraps every connection (plain or
/// TLS) in a [`TickTransport`].
#[derive(Debug)]
struct TickConnector;

impl Connector<Box<dyn UreqTransport>> for TickConnector {
    type Out = TickTransport;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<Box<dyn UreqTransport>>,
    ) -> Result<Option<TickTransport>, ureq::Error> {
        Ok(chained.map(TickTransport))
    }
}

/// A connection that, while [`TICKING`] is set on the reading thread, waits
/// for input at most [`READ_TICK`] at a time (reported to ureq as a
/// per-read timeout, which leaves the connection usable). Everything else is
/// passed through unchanged.
#[derive(Debug)]
struct TickTransport(Box<dyn UreqTransport>);

impl UreqTransport for TickTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, mut timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if TICKING.with(Cell::get) {
            let tick = READ_TICK.into();
            timeout.per_read = Some(timeout.per_read.map_or(tick, |d| d.min(tick)));
        }
        self.0.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
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

#[cfg(feature = "tls")]
fn tls_settings(
    builder: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    s: &Settings,
) -> Result<ureq::config::ConfigBuilder<ureq::typestate::AgentScope>, Error> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let Some(pem) = &s.root_certificates_pem else {
        return Ok(builder);
    };
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(Error::config("invalid root certificate PEM").with_source(e)),
        }
    }
    if certs.is_empty() {
        return Err(Error::config(
            "the root certificate PEM holds no certificate",
        ));
    }
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&certs))
        .build();
    Ok(builder.tls_config(tls))
}

#[cfg(not(feature = "tls"))]
fn tls_settings(
    builder: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    s: &Settings,
) -> Result<ureq::config::ConfigBuilder<ureq::typestate::AgentScope>, Error> {
    if s.root_certificates_pem.is_some() {
        return Err(no_tls_error());
    }
    Ok(builder)
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
            server_retry_delay(&ResponseInfo {
                status: 429,
                headers: headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            })
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
