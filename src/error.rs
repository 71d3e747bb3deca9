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
    /// The call's [`CancellationToken`](crate::CancellationToken) was
    /// cancelled. [`Error::partial`] holds what a stream had delivered.
    Cancelled,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "configuration error",
            ErrorKind::Connect => "connection failed",
            ErrorKind::Tls => "TLS error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Api => "API error",
            ErrorKind::Redirect => "redirect not followed",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Decode => "decode error",
            ErrorKind::Truncated => "stream truncated",
            ErrorKind::EventTooLarge => "event too large",
            ErrorKind::Io => "I/O error",
            ErrorKind::Cancelled => "cancelled",
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
    /// The stream's first event did not arrive within its limit, counted
    /// from when the request was sent.
    StreamFirstEvent,
    /// The optional total limit of a stream.
    StreamTotal,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Connect => "connect timeout",
            Timeout::ResponseHeaders => "timeout waiting for response headers",
            Timeout::Request => "request timeout",
            Timeout::StreamIdle => "stream idle timeout (no event received)",
            Timeout::StreamFirstEvent => "stream first-event timeout (no event received)",
            Timeout::StreamTotal => "stream total timeout",
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
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    timeout: Option<Timeout>,
    api: Option<ApiError>,
    location: Option<String>,
    raw: Option<String>,
    retry_after: Option<Duration>,
    /// The server's `x-should-retry` header, which overrides every other rule.
    should_retry: Option<bool>,
    partial: Option<ChatCompletion>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                timeout: None,
                api: None,
                location: None,
                raw: None,
                retry_after: None,
                should_retry: None,
                partial: None,
                source: None,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// A response or chunk that could not be decoded; `raw` is the offending
    /// text when known.
    pub(crate) fn decode(message: impl Into<String>, raw: Option<String>) -> Self {
        let mut e = Error::new(ErrorKind::Decode, message);
        e.inner.raw = raw;
        e
    }

    pub(crate) fn timeout_of(which: Timeout) -> Self {
        let mut e = Error::new(ErrorKind::Timeout, which.to_string());
        e.inner.timeout = Some(which);
        e
    }

    /// A call stopped by its cancellation token.
    pub(crate) fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, String::new())
    }

    pub(crate) fn api_error(api: ApiError) -> Self {
        let mut e = Error::new(ErrorKind::Api, String::new());
        e.inner.api = Some(api);
        e
    }

    pub(crate) fn redirect(status: u16, location: Option<String>) -> Self {
        let message = match &location {
            Some(l) => format!("server answered {status} redirecting to {l}"),
            None => format!("server answered {status} without a Location header"),
        };
        let mut e = Error::new(ErrorKind::Redirect, message);
        e.inner.location = location;
        e
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    pub(crate) fn with_raw(mut self, raw: impl Into<String>) -> Self {
        self.inner.raw = Some(raw.into());
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
        self.inner.kind
    }

    /// Which time limit fired, for [`ErrorKind::Timeout`].
    pub fn timeout(&self) -> Option<Timeout> {
        self.inner.timeout
    }

    /// The server's error details, for [`ErrorKind::Api`].
    pub fn api(&self) -> Option<&ApiError> {
        self.inner.api.as_ref()
    }

    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        self.inner.api.as_ref().map(|a| a.status)
    }

    /// The `x-request-id` of the response that failed, when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.api.as_ref()?.request_id.as_deref()
    }

    /// The `Location` of a redirect that was not followed.
    pub fn location(&self) -> Option<&str> {
        self.inner.location.as_deref()
    }

    /// The raw text that could not be decoded, for [`ErrorKind::Decode`]
    /// (and the body of a non-JSON response where one was kept).
    pub fn raw(&self) -> Option<&str> {
        self.inner.raw.as_deref()
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
        self.inner.kind == ErrorKind::Timeout
    }

    /// True for [`ErrorKind::Api`].
    pub fn is_api(&self) -> bool {
        self.inner.kind == ErrorKind::Api
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        if let Some(api) = &inner.api {
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
            return Ok(());
        }
        if inner.message.is_empty() {
            f.write_str(inner.kind.as_str())?;
        } else {
            write!(f, "{}: {}", inner.kind.as_str(), inner.message)?;
        }
        if let Some(source) = &inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind);
        if !inner.message.is_empty() {
            d.field("message", &inner.message);
        }
        if let Some(t) = &inner.timeout {
            d.field("timeout", t);
        }
        if let Some(a) = &inner.api {
            d.field("api", a);
        }
        if let Some(l) = &inner.location {
            d.field("location", l);
        }
        if let Some(r) = &inner.raw {
            d.field("raw", r);
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
        std::io::Error::new(kind, e)
    }
}
