//! A successful response before its body is read: whole, as a stream, or as an API error.

use std::time::Instant;

use super::body::StreamBody;
use super::retry::server_retry_delay;
use super::watch::Watching;
use super::{MAX_ERROR_BODY, Mode, map_ureq_error};
use crate::cancel::CancellationToken;
use crate::error::{ApiError, Error, ErrorKind};
use crate::response_info::ResponseInfo;

/// A successful response whose body has not been read yet.
pub(crate) struct Response {
    pub(super) info: ResponseInfo,
    pub(super) body: ureq::Body,
    /// When the request that got this response was sent, for the
    /// first-event limit.
    pub(crate) sent_at: Instant,
    pub(super) cancel: Option<CancellationToken>,
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

    pub(super) fn into_api_error(self) -> Error {
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
