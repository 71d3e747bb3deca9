//! The crate's one error type.
//!
//! Callers either *display* an error (its `Display` is one readable line) or
//! *inspect* it: [`Error::kind`] says what went wrong, [`Error::api`] carries
//! the server's error body, [`Error::timeout`] says which limit fired, and
//! [`Error::partial`] hands back everything a stream delivered before it
//! failed. Foreign error types (ureq's, serde_json's, std's I/O error) are
//! reachable only through [`std::error::Error::source`], so none of them is
//! part of this crate's API.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::chat::{ApiErrorFields, ChatCompletion};
use crate::sse;

/// What went wrong, coarsely; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration or the request is unusable: no API key for the
    /// OpenAI endpoint, an invalid base URL, an `https://` URL without the
    /// `tls` feature, or an API key that would travel in clear text.
    Config,
    /// No connection could be made (refused, DNS failure, proxy failure), or
    /// the connection was lost before any response arrived.
    Connect,
    /// The TLS handshake failed, e.g. an untrusted certificate or one issued
    /// for another host.
    Tls,
    /// A time limit fired; [`Error::timeout`] says which one.
    Timeout,
    /// The server answered with an error: a non-success HTTP status, or an
    /// error object inside a stream. [`Error::api`] has the details.
    Api,
    /// The server answered with a redirect, which is never followed for API
    /// calls; [`Error::location`] names its target.
    Redirect,
    /// The server's bytes were not the HTTP the client expected: not HTTP at
    /// all, broken chunked framing, an unexpected `Content-Encoding`, or a
    /// stream request answered with something other than an event stream.
    Protocol,
    /// A body or a stream event is not the JSON the API promises;
    /// [`Error::raw`] has the offending text.
    Decode,
    /// The stream ended (closed or reset) before it was complete: before
    /// `data: [DONE]` and before every choice had a finish reason; or the
    /// connection ended inside a plain response's body (after its headers).
    Truncated,
    /// One stream event was larger than the configured limit.
    EventTooLarge,
    /// Another I/O error while the response body was being read.
    Io,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Config => "configuration error",
            Self::Connect => "connection failed",
            Self::Tls => "TLS error",
            Self::Timeout => "timed out",
            Self::Api => "API error",
            Self::Redirect => "redirect not followed",
            Self::Protocol => "protocol error",
            Self::Decode => "decode error",
            Self::Truncated => "stream truncated",
            Self::EventTooLarge => "event too large",
            Self::Io => "I/O error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which time limit fired; see [`Error::timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timeout {
    /// Connecting (including the TLS handshake and proxy negotiation).
    Connect,
    /// Waiting for the response's status line and headers.
    ResponseHeaders,
    /// The total limit of a non-streaming call.
    Request,
    /// No stream event arrived within the idle limit (comments do not count).
    StreamIdle,
    /// The optional total limit of a stream.
    StreamTotal,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect timeout",
            Self::ResponseHeaders => "timeout waiting for response headers",
            Self::Request => "request timeout",
            Self::StreamIdle => "stream idle timeout (no event received)",
            Self::StreamTotal => "stream total timeout",
        })
    }
}

/// An error reported by the API server, with everything it said.
///
/// Servers differ: OpenAI sends `code` as a string, llama.cpp as a number
/// (kept here as its decimal text); LiteLLM sometimes sends the string
/// `"None"`. A body that is not JSON at all (an HTML page from a proxy, say)
/// is kept as text in [`ApiError::body`] and its first line becomes the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status of the response that carried the error (200 for an error
    /// that arrived inside a stream).
    pub status: u16,
    /// The error's `message`, or a summary of the body when it had none.
    pub message: String,
    /// The error's `type`, e.g. `invalid_request_error`.
    pub error_type: Option<String>,
    /// The error's `code`, e.g. `insufficient_quota` or `"401"`.
    pub code: Option<String>,
    /// The error's `param`: the request field it is about.
    pub param: Option<String>,
    /// The `x-request-id` response header, to quote to the provider.
    pub request_id: Option<String>,
    /// The raw body (or stream event data), untouched.
    pub body: String,
    /// True when the error arrived inside an event stream.
    pub in_stream: bool,
}

impl ApiError {
    /// The one place an `ApiError` is built, for every way a server reports
    /// one: an error status's body, an `error` event in a stream, a stream
    /// payload with an `error` object. `fields` are what `chat` parsed out of
    /// `body` (`None` when it holds no error object); without a message the
    /// body's first line (or the status, for an empty body) stands in.
    pub(crate) fn new(
        status: u16,
        request_id: Option<&str>,
        body: String,
        fields: Option<ApiErrorFields>,
        in_stream: bool,
    ) -> Self {
        let ApiErrorFields {
            message,
            error_type,
            code,
            param,
        } = fields.unwrap_or_default();
        let message = message.unwrap_or_else(|| body_summary(status, &body));
        Self {
            status,
            message,
            error_type,
            code,
            param,
            request_id: request_id.map(str::to_owned),
            body,
            in_stream,
        }
    }
}

/// The message of an error body without one: its first line, at most 200
/// characters.
fn body_summary(status: u16, body: &str) -> String {
    let first = body.trim().lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return format!("HTTP {status} with an empty body");
    }
    let mut summary: String = first.chars().take(200).collect();
    if summary.len() < first.len() {
        summary.push('…');
    }
    summary
}

/// The error type of every fallible call in this crate.
///
/// It is one pointer wide (the details are boxed), so `Result<T, Error>`
/// stays small on the happy path.
///
/// ```
/// use chatstream::{Client, ErrorKind};
///
/// // The default endpoint is OpenAI's, which needs a key.
/// let err = Client::builder().build().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Config);
/// println!("{err}");
/// ```
pub struct Error {
    inner: Box<ErrorImpl>,
}

struct ErrorImpl {
    detail: Detail,
    /// A server-suggested delay before a retry (`retry-after-ms`, `Retry-After`).
    retry_after: Option<Duration>,
    /// The server's `x-should-retry` header, which overrides every other rule.
    should_retry: Option<bool>,
    partial: Option<ChatCompletion>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// What exactly went wrong: one variant per situation, holding what that
/// situation has and nothing else, so the details cannot disagree with the
/// [`ErrorKind`] (which is derived from the variant).
enum Detail {
    Config(String),
    Connect(String),
    Tls(String),
    Timeout(Timeout),
    Api(ApiError),
    Redirect {
        status: u16,
        location: Option<String>,
    },
    Protocol(String),
    /// A stream request answered with another media type; its body is kept.
    NotAnEventStream {
        media_type: String,
        body: String,
    },
    Decode {
        message: String,
        raw: String,
    },
    Truncated(String),
    EventTooLarge {
        limit: usize,
    },
    Io(String),
}

impl Detail {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Config,
            Self::Connect(_) => ErrorKind::Connect,
            Self::Tls(_) => ErrorKind::Tls,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Api(_) => ErrorKind::Api,
            Self::Redirect { .. } => ErrorKind::Redirect,
            Self::Protocol(_) | Self::NotAnEventStream { .. } => ErrorKind::Protocol,
            Self::Decode { .. } => ErrorKind::Decode,
            Self::Truncated(_) => ErrorKind::Truncated,
            Self::EventTooLarge { .. } => ErrorKind::EventTooLarge,
            Self::Io(_) => ErrorKind::Io,
        }
    }

    /// What `Display` writes after the kind: `": "` and the message, or
    /// nothing when there is none (an API error is shown on its own terms).
    fn write_message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m)
            | Self::Connect(m)
            | Self::Tls(m)
            | Self::Protocol(m)
            | Self::Decode { message: m, .. }
            | Self::Truncated(m)
            | Self::Io(m) => {
                if m.is_empty() {
                    Ok(())
                } else {
                    write!(f, ": {m}")
                }
            }
            Self::Timeout(which) => write!(f, ": {which}"),
            Self::Api(_) => Ok(()),
            Self::Redirect {
                status,
                location: Some(l),
            } => write!(f, ": server answered {status} redirecting to {l}"),
            Self::Redirect {
                status,
                location: None,
            } => write!(f, ": server answered {status} without a Location header"),
            Self::NotAnEventStream { media_type, .. } => write!(
                f,
                ": expected an event stream (text/event-stream), got `{media_type}`"
            ),
            Self::EventTooLarge { limit } => write!(f, ": the limit is {limit} bytes"),
        }
    }
}

impl Error {
    fn from_detail(detail: Detail) -> Self {
        Self {
            inner: Box::new(ErrorImpl {
                detail,
                retry_after: None,
                should_retry: None,
                partial: None,
                source: None,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::from_detail(Detail::Config(message.into()))
    }

    pub(crate) fn connect(message: impl Into<String>) -> Self {
        Self::from_detail(Detail::Connect(message.into()))
    }

    pub(crate) fn tls(message: impl Into<String>) -> Self {
        Self::from_detail(Detail::Tls(message.into()))
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::from_detail(Detail::Protocol(message.into()))
    }

    pub(crate) fn truncated(message: impl Into<String>) -> Self {
        Self::from_detail(Detail::Truncated(message.into()))
    }

    pub(crate) fn io(message: impl Into<String>) -> Self {
        Self::from_detail(Detail::Io(message.into()))
    }

    /// A response or chunk that could not be decoded; `raw` is the offending
    /// text.
    pub(crate) fn decode(message: impl Into<String>, raw: String) -> Self {
        Self::from_detail(Detail::Decode {
            message: message.into(),
            raw,
        })
    }

    pub(crate) fn timeout_of(which: Timeout) -> Self {
        Self::from_detail(Detail::Timeout(which))
    }

    pub(crate) fn api_error(api: ApiError) -> Self {
        Self::from_detail(Detail::Api(api))
    }

    pub(crate) fn redirect(status: u16, location: Option<String>) -> Self {
        Self::from_detail(Detail::Redirect { status, location })
    }

    /// A stream request answered with `media_type` instead of an event
    /// stream; `body` is what the server sent instead.
    pub(crate) fn not_an_event_stream(media_type: impl Into<String>, body: String) -> Self {
        Self::from_detail(Detail::NotAnEventStream {
            media_type: media_type.into(),
            body,
        })
    }

    /// The parser's limit on one event was exceeded; the parser's error
    /// stays reachable as the source.
    pub(crate) fn event_too_large(e: sse::Error) -> Self {
        let sse::Error::EventTooLarge { limit } = e;
        Self::from_detail(Detail::EventTooLarge { limit }).with_source(e)
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    pub(crate) fn with_retry_hints(
        mut self,
        delay: Option<Duration>,
        should_retry: Option<bool>,
    ) -> Self {
        self.inner.retry_after = delay;
        self.inner.should_retry = should_retry;
        self
    }

    pub(crate) fn with_partial(mut self, partial: ChatCompletion) -> Self {
        self.inner.partial = Some(partial);
        self
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    pub(crate) fn should_retry(&self) -> Option<bool> {
        self.inner.should_retry
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.detail.kind()
    }

    /// Which time limit fired, for [`ErrorKind::Timeout`].
    pub fn timeout(&self) -> Option<Timeout> {
        match self.inner.detail {
            Detail::Timeout(which) => Some(which),
            _ => None,
        }
    }

    /// The server's error details, for [`ErrorKind::Api`].
    pub fn api(&self) -> Option<&ApiError> {
        match &self.inner.detail {
            Detail::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|a| a.status)
    }

    /// The `x-request-id` of the response that failed, when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.api()?.request_id.as_deref()
    }

    /// The `Location` of a redirect that was not followed.
    pub fn location(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Redirect { location, .. } => location.as_deref(),
            _ => None,
        }
    }

    /// The raw text that could not be decoded, for [`ErrorKind::Decode`]
    /// (and the body of a non-JSON response where one was kept).
    pub fn raw(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Decode { raw, .. } | Detail::NotAnEventStream { body: raw, .. } => Some(raw),
            _ => None,
        }
    }

    /// Everything a stream had delivered before it failed, accumulated into
    /// a completion. `None` for errors that happened before the stream began.
    pub fn partial(&self) -> Option<&ChatCompletion> {
        self.inner.partial.as_ref()
    }

    /// Takes the partial completion out of the error; see [`Error::partial`].
    pub fn into_partial(self) -> Option<ChatCompletion> {
        self.inner.partial
    }

    /// True for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// True for [`ErrorKind::Api`].
    pub fn is_api(&self) -> bool {
        self.kind() == ErrorKind::Api
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let detail = &inner.detail;
        if let Detail::Api(api) = detail {
            return write_api_error(api, f);
        }
        f.write_str(detail.kind().as_str())?;
        detail.write_message(f)?;
        // The parser's error behind an oversized event says what the
        // message already says.
        let source = inner
            .source
            .as_ref()
            .filter(|_| !matches!(detail, Detail::EventTooLarge { .. }));
        if let Some(source) = source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

/// One line: where the error arrived, the message, then the type, code and
/// request id when the server gave them.
fn write_api_error(api: &ApiError, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if api.in_stream {
        write!(f, "API error in stream: {}", api.message)?;
    } else {
        write!(f, "API error (HTTP {}): {}", api.status, api.message)?;
    }
    if let Some(t) = &api.error_type {
        write!(f, " [type {t}]")?;
    }
    if let Some(c) = &api.code {
        write!(f, " [code {c}]")?;
    }
    if let Some(id) = &api.request_id {
        write!(f, " [request id {id}]")?;
    }
    Ok(())
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.detail.kind());
        match &inner.detail {
            Detail::Config(m)
            | Detail::Connect(m)
            | Detail::Tls(m)
            | Detail::Protocol(m)
            | Detail::Truncated(m)
            | Detail::Io(m) => {
                d.field("message", m);
            }
            Detail::Timeout(which) => {
                d.field("timeout", which);
            }
            Detail::Api(api) => {
                d.field("api", api);
            }
            Detail::Redirect { status, location } => {
                d.field("status", status).field("location", location);
            }
            Detail::NotAnEventStream { media_type, body } => {
                d.field("media_type", media_type).field("raw", body);
            }
            Detail::Decode { message, raw } => {
                d.field("message", message).field("raw", raw);
            }
            Detail::EventTooLarge { limit } => {
                d.field("limit", limit);
            }
        }
        if let Some(p) = &inner.partial {
            d.field("partial_content", &p.content());
        }
        if let Some(s) = &inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

impl From<Error> for std::io::Error {
    /// Lets an [`Error`] travel through `std::io` interfaces; timeouts map to
    /// [`std::io::ErrorKind::TimedOut`], truncation to `UnexpectedEof`, decode
    /// errors to `InvalidData`, everything else to `Other`.
    fn from(e: Error) -> Self {
        let kind = match e.kind() {
            ErrorKind::Timeout => std::io::ErrorKind::TimedOut,
            ErrorKind::Truncated => std::io::ErrorKind::UnexpectedEof,
            ErrorKind::Decode | ErrorKind::EventTooLarge => std::io::ErrorKind::InvalidData,
            ErrorKind::Connect => std::io::ErrorKind::ConnectionRefused,
            _ => std::io::ErrorKind::Other,
        };
        Self::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(in_stream: bool) -> ApiError {
        ApiError {
            status: if in_stream { 200 } else { 429 },
            message: "slow down".to_owned(),
            error_type: Some("requests".to_owned()),
            code: Some("rate_limit_exceeded".to_owned()),
            param: None,
            request_id: Some("req_1".to_owned()),
            body: "{}".to_owned(),
            in_stream,
        }
    }

    /// The parsed fields are taken as they are; the body is kept untouched.
    #[test]
    fn an_api_error_is_built_from_parsed_fields() {
        let fields = ApiErrorFields {
            message: Some("Bad temp".to_owned()),
            error_type: Some("invalid_request_error".to_owned()),
            code: Some("invalid_value".to_owned()),
            param: Some("temperature".to_owned()),
        };
        let body = r#"{"error":{"message":"Bad temp"}}"#.to_owned();
        let api = ApiError::new(400, Some("req_9"), body.clone(), Some(fields), false);
        assert_eq!(
            api,
            ApiError {
                status: 400,
                message: "Bad temp".to_owned(),
                error_type: Some("invalid_request_error".to_owned()),
                code: Some("invalid_value".to_owned()),
                param: Some("temperature".to_owned()),
                request_id: Some("req_9".to_owned()),
                body,
                in_stream: false,
            }
        );
    }

    /// Without a message, the body's first line stands in (at most 200
    /// characters), or the status for an empty body.
    #[test]
    fn an_api_error_without_a_message_summarises_its_body() {
        let page = "\n  <html>502 Bad Gateway</html>  \nmore\n".to_owned();
        let api = ApiError::new(502, None, page.clone(), None, false);
        assert_eq!(api.message, "<html>502 Bad Gateway</html>");
        assert_eq!(
            (api.body, api.error_type, api.request_id),
            (page, None, None)
        );

        let long = "é".repeat(250);
        let api = ApiError::new(500, None, long, None, false);
        assert_eq!(api.message, format!("{}…", "é".repeat(200)));

        let api = ApiError::new(503, None, " \n ".to_owned(), None, false);
        assert_eq!(api.message, "HTTP 503 with an empty body");

        let object_without_message = ApiErrorFields {
            code: Some("429".to_owned()),
            ..ApiErrorFields::default()
        };
        let api = ApiError::new(
            200,
            None,
            "{}".to_owned(),
            Some(object_without_message),
            true,
        );
        assert_eq!(
            (api.message.as_str(), api.code.as_deref()),
            ("{}", Some("429"))
        );
        assert!(api.in_stream);
    }

    #[test]
    fn an_error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    /// Each constructor gives its kind, and only that kind's accessor answers.
    #[test]
    fn the_detail_decides_kind_and_accessors() {
        let timeout = Error::timeout_of(Timeout::StreamIdle);
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        assert!(timeout.is_timeout() && !timeout.is_api());
        assert_eq!(timeout.timeout(), Some(Timeout::StreamIdle));
        assert_eq!(
            (timeout.api(), timeout.raw(), timeout.location()),
            (None, None, None)
        );
        assert_eq!(
            timeout.to_string(),
            "timed out: stream idle timeout (no event received)"
        );

        let err = Error::api_error(api(false));
        assert!(err.is_api() && !err.is_timeout());
        assert_eq!(err.api(), Some(&api(false)));
        assert_eq!((err.status(), err.request_id()), (Some(429), Some("req_1")));
        assert_eq!((err.timeout(), err.raw()), (None, None));
        assert_eq!(
            err.to_string(),
            "API error (HTTP 429): slow down [type requests] [code rate_limit_exceeded] \
             [request id req_1]"
        );
        assert_eq!(
            Error::api_error(api(true)).to_string(),
            "API error in stream: slow down [type requests] [code rate_limit_exceeded] \
             [request id req_1]"
        );

        let moved = Error::redirect(301, Some("https://elsewhere/".to_owned()));
        assert_eq!(moved.kind(), ErrorKind::Redirect);
        assert_eq!(moved.location(), Some("https://elsewhere/"));
        assert_eq!((moved.status(), moved.raw()), (None, None));
        assert_eq!(
            moved.to_string(),
            "redirect not followed: server answered 301 redirecting to https://elsewhere/"
        );
        let nowhere = Error::redirect(302, None);
        assert_eq!(nowhere.location(), None);
        assert_eq!(
            nowhere.to_string(),
            "redirect not followed: server answered 302 without a Location header"
        );

        let decode = Error::decode("bad chunk", "{tru".to_owned());
        assert_eq!(
            (decode.kind(), decode.raw()),
            (ErrorKind::Decode, Some("{tru"))
        );
        assert_eq!(decode.to_string(), "decode error: bad chunk");

        let page = Error::not_an_event_stream("text/html", "<html>".to_owned());
        assert_eq!(
            (page.kind(), page.raw()),
            (ErrorKind::Protocol, Some("<html>"))
        );
        assert_eq!(
            page.to_string(),
            "protocol error: expected an event stream (text/event-stream), got `text/html`"
        );

        for (err, kind) in [
            (Error::config("c"), ErrorKind::Config),
            (Error::connect("c"), ErrorKind::Connect),
            (Error::tls("c"), ErrorKind::Tls),
            (Error::protocol("c"), ErrorKind::Protocol),
            (Error::truncated("c"), ErrorKind::Truncated),
            (Error::io("c"), ErrorKind::Io),
        ] {
            assert_eq!(err.kind(), kind);
            assert_eq!(err.to_string(), format!("{kind}: c"));
            assert_eq!((err.timeout(), err.api(), err.raw()), (None, None, None));
        }
        assert_eq!(Error::tls("").to_string(), "TLS error");
    }

    #[test]
    fn the_source_follows_the_message() {
        let cause = Error::connect("connection lost before a response");
        let err = Error::truncated("the connection ended mid-stream").with_source(cause);
        assert_eq!(
            err.to_string(),
            "stream truncated: the connection ended mid-stream: connection failed: \
             connection lost before a response"
        );
        assert!(StdError::source(&err).is_some());
    }

    /// The parser's error stays the source, and the message says the limit once.
    #[test]
    fn event_too_large_keeps_its_source_without_repeating_it() {
        let err = Error::event_too_large(sse::Error::EventTooLarge { limit: 8 });
        assert_eq!(err.kind(), ErrorKind::EventTooLarge);
        assert_eq!(err.to_string(), "event too large: the limit is 8 bytes");
        let source = StdError::source(&err).expect("the parser's error is kept");
        assert_eq!(
            source.downcast_ref::<sse::Error>(),
            Some(&sse::Error::EventTooLarge { limit: 8 })
        );
    }

    #[test]
    fn retry_hints_and_partial_sit_beside_the_detail() {
        let err = Error::api_error(api(false))
            .with_retry_hints(Some(Duration::from_secs(2)), Some(false));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(err.should_retry(), Some(false));
        assert!(err.partial().is_none());
        let partial = ChatCompletion::default();
        let err = err.with_partial(partial.clone());
        assert_eq!(err.partial(), Some(&partial));
        assert!(err.is_api(), "a partial does not change the kind");
        assert_eq!(err.into_partial(), Some(partial));
    }
}
