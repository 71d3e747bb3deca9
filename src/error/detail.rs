//! [`Detail`]: what exactly went wrong, the private heart of an [`Error`](super::Error).

use std::fmt;

use super::{ApiError, ErrorKind, Timeout};

/// What exactly went wrong: one variant per situation, holding what that
/// situation has and nothing else, so the details cannot disagree with the
/// [`ErrorKind`] (which is derived from the variant).
// Most variants and their constructors belong to the HTTP layer, unused without the client;
// the default build checks them for dead code.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
#[derive(Clone)]
pub(super) enum Detail {
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
    Cancelled,
    /// The refusal text.
    Refused(String),
    /// Why the answer stopped short, and the text so far.
    Incomplete {
        finish_reason: String,
        text: String,
    },
}

impl Detail {
    pub(super) fn kind(&self) -> ErrorKind {
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
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Refused(_) => ErrorKind::Refused,
            Self::Incomplete { .. } => ErrorKind::Incomplete,
        }
    }

    /// What `Display` writes after the kind: `": "` and the message, or
    /// nothing when there is none (an API error is shown on its own terms).
    pub(super) fn write_message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            Self::Api(_) | Self::Cancelled => Ok(()),
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
            Self::Refused(refusal) => write!(f, ": {refusal}"),
            Self::Incomplete { finish_reason, .. } => {
                let why = match finish_reason.as_str() {
                    "length" => "the token limit was reached",
                    "content_filter" => "the content filter stopped it",
                    _ => "generation stopped early",
                };
                write!(f, ": {why} (finish_reason `{finish_reason}`)")
            }
        }
    }
}
