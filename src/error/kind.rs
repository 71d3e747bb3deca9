//! What went wrong, coarsely ([`ErrorKind`]), and which time limit fired ([`Timeout`]).

use std::fmt;

/// What went wrong, coarsely; see [`Error::kind`](super::Error::kind).
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
    /// A time limit fired; [`Error::timeout`](super::Error::timeout) says which one.
    Timeout,
    /// The server answered with an error: a non-success HTTP status, or an
    /// error object inside a stream. [`Error::api`](super::Error::api) has the details.
    Api,
    /// The server answered with a redirect, which is never followed for API
    /// calls; [`Error::location`](super::Error::location) names its target.
    Redirect,
    /// The server's bytes were not the HTTP the client expected: not HTTP at
    /// all, broken chunked framing, an unexpected `Content-Encoding`, or a
    /// stream request answered with something other than an event stream.
    Protocol,
    /// A body or a stream event is not the JSON the API promises;
    /// [`Error::raw`](super::Error::raw) has the offending text.
    Decode,
    /// The stream ended (closed or reset) before it was complete: before
    /// `data: [DONE]` and before every choice had a finish reason (a chat
    /// stream), or before its terminal event (a Responses stream); or the
    /// connection ended inside a plain response's body (after its headers).
    Truncated,
    /// One stream event was larger than the configured limit.
    EventTooLarge,
    /// Another I/O error while the response body was being read.
    Io,
    /// The call's [`CancellationToken`](crate::CancellationToken) was
    /// cancelled. [`Error::partial`](super::Error::partial) holds what a stream had delivered.
    Cancelled,
    /// The model refused to answer (its message has a `refusal`), so there is no answer to
    /// parse; [`Error::raw`](super::Error::raw) has the refusal text. From
    /// [`ChatCompletion::parse_json`](crate::ChatCompletion::parse_json).
    Refused,
    /// The model stopped before the answer was complete: `finish_reason` is `"length"` (the
    /// token limit; structured output is then cut-off JSON) or `"content_filter"`;
    /// [`Error::raw`](super::Error::raw) has the text so far. From
    /// [`ChatCompletion::parse_json`](crate::ChatCompletion::parse_json).
    Incomplete,
}

impl ErrorKind {
    pub(super) fn as_str(self) -> &'static str {
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
            Self::Cancelled => "cancelled",
            Self::Refused => "the model refused",
            Self::Incomplete => "answer incomplete",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which time limit fired; see [`Error::timeout`](super::Error::timeout).
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
            Self::Connect => "connect timeout",
            Self::ResponseHeaders => "timeout waiting for response headers",
            Self::Request => "request timeout",
            Self::StreamIdle => "stream idle timeout (no event received)",
            Self::StreamFirstEvent => "stream first-event timeout (no event received)",
            Self::StreamTotal => "stream total timeout",
        })
    }
}
