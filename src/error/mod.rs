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

use crate::chat::ChatCompletion;
use crate::response_info::ResponseInfo;
use crate::responses::Response;
use crate::sse;

mod api;
mod detail;
mod kind;

pub use self::api::ApiError;
use self::detail::Detail;
pub use self::kind::{ErrorKind, Timeout};

/// The error type of every fallible call in this crate.
///
/// It is one pointer wide (the details are boxed), so `Result<T, Error>`
/// stays small on the happy path.
///
/// ```
/// use chatstream::{ChatChunk, ErrorKind};
///
/// // A stream event that is not a chunk.
/// let err = ChatChunk::from_json_str("{\"choices\": 5}").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Decode);
/// assert_eq!(err.raw(), Some("{\"choices\": 5}"));
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
    /// The partial of a Responses stream (boxed: errors stay small on the happy path).
    partial_response: Option<Box<Response>>,
    /// The status and headers of the response that carried an API error.
    response: Option<ResponseInfo>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

#[cfg_attr(not(feature = "client"), allow(dead_code))]
impl Error {
    fn from_detail(detail: Detail) -> Self {
        Self {
            inner: Box::new(ErrorImpl {
                detail,
                retry_after: None,
                should_retry: None,
                partial: None,
                partial_response: None,
                response: None,
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

    /// The model refused; `refusal` is what it said.
    pub(crate) fn refused(refusal: impl Into<String>) -> Self {
        Self::from_detail(Detail::Refused(refusal.into()))
    }

    /// The answer stopped for `finish_reason` before it was complete; `text` is what there is.
    pub(crate) fn incomplete(finish_reason: impl Into<String>, text: impl Into<String>) -> Self {
        Self::from_detail(Detail::Incomplete {
            finish_reason: finish_reason.into(),
            text: text.into(),
        })
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

    /// A call stopped by its cancellation token.
    pub(crate) fn cancelled() -> Self {
        Self::from_detail(Detail::Cancelled)
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

    /// A copy without its source, for a decoder that reports one failure to every later
    /// call (the source is a foreign error, which cannot be copied; `Display` of the copy
    /// loses only its last part).
    pub(crate) fn duplicate(&self) -> Self {
        let inner = &*self.inner;
        Self {
            inner: Box::new(ErrorImpl {
                detail: inner.detail.clone(),
                retry_after: inner.retry_after,
                should_retry: inner.should_retry,
                partial: inner.partial.clone(),
                partial_response: inner.partial_response.clone(),
                response: inner.response.clone(),
                source: None,
            }),
        }
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

    /// Keeps the response that carried this (API) error.
    pub(crate) fn with_response(mut self, info: ResponseInfo) -> Self {
        self.inner.response = Some(info);
        self
    }

    pub(crate) fn with_partial(mut self, partial: ChatCompletion) -> Self {
        self.inner.partial = Some(partial);
        self
    }

    pub(crate) fn with_partial_response(mut self, partial: Response) -> Self {
        self.inner.partial_response = Some(Box::new(partial));
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

    /// The status and headers of the response that carried an API error
    /// (for an error inside a stream, the stream's response): rate-limit
    /// headers, the request id, `retry-after`; the same [`ResponseInfo`]
    /// a success has. `None` for other kinds of error.
    ///
    /// ```
    /// # fn report(err: &chatstream::Error) {
    /// if let Some(info) = err.response_info() {
    ///     for (name, value) in info.rate_limits() {
    ///         eprintln!("{name}: {value}");
    ///     }
    ///     if let Some(wait) = info.header("retry-after") {
    ///         eprintln!("the server asks to wait {wait} s");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn response_info(&self) -> Option<&ResponseInfo> {
        self.inner.response.as_ref()
    }

    /// The `Location` of a redirect that was not followed.
    pub fn location(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Redirect { location, .. } => location.as_deref(),
            _ => None,
        }
    }

    /// The raw text that could not be decoded, for [`ErrorKind::Decode`]
    /// (and the body of a non-JSON response where one was kept); the
    /// refusal text for [`ErrorKind::Refused`]; the text so far for
    /// [`ErrorKind::Incomplete`].
    pub fn raw(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Decode { raw, .. }
            | Detail::NotAnEventStream { body: raw, .. }
            | Detail::Refused(raw)
            | Detail::Incomplete { text: raw, .. } => Some(raw),
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

    /// Everything a Responses stream had delivered before it failed, as a
    /// [`Response`]: the `response.failed` event's response, or the response
    /// rebuilt from the events that arrived. `None` for chat streams and for
    /// errors that happened before the stream began.
    pub fn partial_response(&self) -> Option<&Response> {
        self.inner.partial_response.as_deref()
    }

    /// Takes the partial response out of the error; see [`Error::partial_response`].
    pub fn into_partial_response(self) -> Option<Response> {
        self.inner.partial_response.map(|r| *r)
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
            Detail::Cancelled => {}
            Detail::Refused(refusal) => {
                d.field("raw", refusal);
            }
            Detail::Incomplete {
                finish_reason,
                text,
            } => {
                d.field("finish_reason", finish_reason).field("raw", text);
            }
        }
        if let Some(p) = &inner.partial {
            d.field("partial_content", &p.content());
        }
        if let Some(p) = &inner.partial_response {
            d.field("partial_output_text", &p.output_text());
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
