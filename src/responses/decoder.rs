//! [`ResponsesDecoder`]: the rules of a Responses stream, without any I/O.

use std::ops::ControlFlow;

use crate::IntoControlFlow;

use super::accumulate::ResponseAccumulator;
use super::event::ResponseEvent;
use super::response::Response;
use crate::chat::ApiErrorFields;
use crate::error::{ApiError, Error};
use crate::sse::{self, Status};

/// A sans-IO decoder of a Responses API stream: bytes in (split anywhere, even one byte at a
/// time), typed [`ResponseEvent`]s out, the final [`Response`] at the end.
///
/// It owns every rule of the stream, so any transport can drive it: the blocking
/// [`Client`](crate::Client) does, and so can an async program, a proxy or a replay of
/// recorded bytes. It never does I/O, never blocks and never reads a clock.
///
/// The rules:
///
/// - SSE framing comes from [`crate::sse`]; an event's type is the `type` of its JSON (else its
///   SSE `event:` name). Events with empty data, and a `data: [DONE]` that some compatible
///   servers add, are skipped.
/// - Every event reaches the callback, unknown types as [`ResponseEvent::Other`], and is
///   merged into the response ([`ResponseAccumulator`] has the rules).
/// - The stream ends at `response.completed` or `response.incomplete` (a success: the status
///   and `incomplete_details` say why it is incomplete); bytes after it are ignored.
/// - `response.failed` and an `error` event (an SSE `event: error`, whatever the `type` of
///   its JSON) reach the callback, then `feed` fails with an
///   [`ErrorKind::Api`](crate::ErrorKind::Api) error whose [`partial_response`](Error::partial_response) is the
///   failed response (or the response rebuilt so far).
/// - An event that is not valid JSON, or a known event of the wrong shape, is an
///   [`ErrorKind::Decode`](crate::ErrorKind::Decode) error; an event over the size limit is
///   [`ErrorKind::EventTooLarge`](crate::ErrorKind::EventTooLarge). Both carry the partial response.
/// - [`finish`](Self::finish) without a terminal event is [`ErrorKind::Truncated`](crate::ErrorKind::Truncated), with the
///   rebuilt partial. A terminal event whose blank line never came (the server closed right
///   after its `data:` line) still counts.
/// - Once failed, the decoder stays failed: `feed` and `finish` return the same error.
///
/// ```
/// use std::ops::ControlFlow;
/// use chatstream::{ErrorKind, ResponseEvent, ResponsesDecoder};
///
/// let stream = concat!(
///     "event: response.created\n",
///     "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
///     "event: response.output_text.delta\n",
///     "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hel\"}\n\n",
///     "event: response.output_text.delta\n",
///     "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"lo\"}\n\n",
///     "event: response.completed\n",
///     "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"output\":[",
///     "{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello\"}]}]}}\n\n",
/// );
///
/// let mut decoder = ResponsesDecoder::new();
/// let mut printed = String::new();
/// for piece in stream.as_bytes().chunks(7) {
///     // Each decoded event reaches the callback; Break stops early.
///     decoder.feed(piece, |event| {
///         printed.push_str(event.text_delta().unwrap_or_default());
///         ControlFlow::Continue(())
///     })?;
/// }
/// let response = decoder.finish()?;
/// assert_eq!(response.output_text(), printed);
/// assert_eq!(response.status.as_deref(), Some("completed"));
///
/// // The same stream cut off before its end: Truncated, with what arrived.
/// let mut decoder = ResponsesDecoder::new();
/// decoder.feed(&stream.as_bytes()[..400], |_| ControlFlow::Continue(()))?;
/// let error = decoder.finish().unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Truncated);
/// assert_eq!(error.partial_response().unwrap().output_text(), "Hel");
/// # Ok::<(), chatstream::Error>(())
/// ```
///
/// An async program drives it the same way from its own byte stream:
///
/// ```
/// # use std::ops::ControlFlow;
/// # use chatstream::ResponsesDecoder;
/// # fn print(_: &str) {}
/// # let byte_chunks: Vec<Vec<u8>> = Vec::new();
/// let mut decoder = ResponsesDecoder::new();
/// for chunk in byte_chunks {            // e.g. `while let Some(chunk) = body.next().await`
///     let flow = decoder.feed(&chunk, |event| {
///         if let Some(text) = event.text_delta() {
///             print(text);
///         }
///         ControlFlow::Continue(())
///     })?;
///     if flow.is_break() || decoder.is_done() {
///         break;
///     }
/// }
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug)]
pub struct ResponsesDecoder {
    parser: sse::Parser,
    state: State,
}

/// Everything but the parser, so that an event borrowed from the parser can be decoded.
#[derive(Debug)]
struct State {
    acc: ResponseAccumulator,
    end: End,
    status: u16,
    request_id: Option<String>,
}

#[derive(Debug)]
enum End {
    /// No terminal event yet.
    Open,
    /// `response.completed` or `response.incomplete` arrived.
    Done,
    /// The stream failed; every later call reports this error.
    Failed(Error),
}

impl Default for ResponsesDecoder {
    fn default() -> Self {
        ResponsesDecoder::new()
    }
}

impl ResponsesDecoder {
    /// A decoder with the default event size limit
    /// ([`sse::Parser::DEFAULT_MAX_EVENT_SIZE`]).
    pub fn new() -> ResponsesDecoder {
        ResponsesDecoder::with_parser(sse::Parser::new())
    }

    /// A decoder whose events may be at most `limit` bytes.
    pub fn with_max_event_size(limit: usize) -> ResponsesDecoder {
        ResponsesDecoder::with_parser(sse::Parser::with_max_event_size(limit))
    }

    fn with_parser(parser: sse::Parser) -> ResponsesDecoder {
        ResponsesDecoder {
            parser,
            state: State {
                acc: ResponseAccumulator::new(),
                end: End::Open,
                status: 200,
                request_id: None,
            },
        }
    }

    /// The HTTP status and request id that API errors from the stream report.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn set_http(&mut self, status: u16, request_id: Option<&str>) {
        self.state.status = status;
        self.state.request_id = request_id.map(str::to_owned);
    }

    /// Decodes `bytes`, calling `on_event` with each event as soon as it is complete.
    /// `on_event` returns `()` to go on, or a `ControlFlow` ([`IntoControlFlow`]).
    ///
    /// Returns `ControlFlow::Break` when `on_event` did (the rest of `bytes` is then not
    /// decoded; the decoder stays usable). After the stream's terminal event, further bytes
    /// are ignored; see [`is_done`](Self::is_done).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Api`](crate::ErrorKind::Api) after a `response.failed` or `error` event (which `on_event` saw
    /// first), [`ErrorKind::Decode`](crate::ErrorKind::Decode) for an event that is not what the API promises,
    /// [`ErrorKind::EventTooLarge`](crate::ErrorKind::EventTooLarge); each with [`Error::partial_response`].
    pub fn feed<R: IntoControlFlow>(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(&ResponseEvent) -> R,
    ) -> Result<ControlFlow<()>, Error> {
        let mut input = bytes;
        loop {
            match &self.state.end {
                End::Failed(error) => return Err(error.duplicate()),
                End::Done => return Ok(ControlFlow::Continue(())),
                End::Open if input.is_empty() => return Ok(ControlFlow::Continue(())),
                End::Open => {}
            }
            let (status, consumed) = match self.parser.feed(input) {
                Ok(step) => step,
                Err(e) => {
                    let error = Error::event_too_large(e);
                    return Err(self.state.fail(error));
                }
            };
            input = input.get(consumed..).unwrap_or_default();
            if status != Status::Event {
                continue;
            }
            let event = self.parser.event();
            let Some(event) = self.state.decode(event.event_type(), event.data())? else {
                continue;
            };
            let flow = on_event(&event).into_control_flow();
            if let End::Failed(error) = &self.state.end {
                return Err(error.duplicate());
            }
            if flow.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }

    /// Decodes one SSE event that was framed elsewhere (its `event:` name and its data) and
    /// merges it; for a program that has its own SSE parser. `Ok(None)` for an event that is
    /// skipped (empty data, `[DONE]`, anything after the terminal event).
    ///
    /// A `response.failed` or `error` event is returned like any other; the decoder has then
    /// failed, and [`finish`](Self::finish) returns the [`ErrorKind::Api`](crate::ErrorKind::Api) error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`](crate::ErrorKind::Decode) for an event that is not what the API promises, with the partial
    /// response; the error of an earlier failure.
    pub fn decode_event(
        &mut self,
        event_type: &str,
        data: &str,
    ) -> Result<Option<ResponseEvent>, Error> {
        match &self.state.end {
            End::Failed(error) => Err(error.duplicate()),
            End::Done => Ok(None),
            End::Open => self.state.decode(event_type, data),
        }
    }

    /// True once the stream's terminal event arrived (or the stream failed): nothing more is
    /// expected.
    pub fn is_done(&self) -> bool {
        !matches!(self.state.end, End::Open)
    }

    /// The error the stream failed with, if it did.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn failure(&self) -> Option<Error> {
        match &self.state.end {
            End::Failed(error) => Some(error.duplicate()),
            _ => None,
        }
    }

    /// The response so far: the terminal event's, or rebuilt from the events.
    pub fn response(&self) -> Response {
        self.state.acc.response()
    }

    /// Ends the stream: the final response, or the error the stream ended with.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) when no terminal event arrived, and every error `feed` could
    /// return; each with [`Error::partial_response`].
    pub fn finish(mut self) -> Result<Response, Error> {
        self.parser.finish();
        let discarded = self
            .parser
            .discarded()
            .map(|e| (e.event_type().to_owned(), e.data().to_owned()));
        // The terminal event itself is in the response returned.
        let _ = self.close(
            discarded.as_ref().map(|(t, d)| (t.as_str(), d.as_str())),
            None,
        );
        match self.state.end {
            End::Failed(error) => Err(error),
            End::Open | End::Done => Ok(self.state.acc.into_response()),
        }
    }

    /// The end of the byte stream, for a driver that frames events itself: `discarded` is the
    /// event a blank line would have dispatched, `cause` what ended the stream early. Without
    /// a terminal event the decoder fails with [`ErrorKind::Truncated`](crate::ErrorKind::Truncated).
    /// Returns the terminal event found in `discarded`, for the driver to hand on like any
    /// other.
    pub(crate) fn close(
        &mut self,
        discarded: Option<(&str, &str)>,
        cause: Option<Error>,
    ) -> Option<ResponseEvent> {
        if !matches!(self.state.end, End::Open) {
            return None;
        }
        if let Some((event_type, data)) = discarded {
            // A terminal event complete but for its blank line: the server closed right after
            // it, on purpose.
            let terminal = ResponseEvent::from_sse(event_type, data).is_ok_and(|e| e.is_terminal());
            if terminal {
                let event = self.state.decode(event_type, data).ok().flatten();
                if !matches!(self.state.end, End::Open) {
                    return event;
                }
            }
        }
        let what = if self.state.acc.is_empty() {
            "the stream ended before any response event arrived"
        } else {
            "the stream ended before its terminal event (response.completed, response.incomplete \
             or response.failed)"
        };
        let mut error = Error::truncated(what);
        if let Some(cause) = cause {
            error = error.with_source(cause);
        }
        self.state.fail(error);
        None
    }
}

impl State {
    /// Decodes and merges one event; marks the end of the stream at a terminal event.
    fn decode(&mut self, event_type: &str, data: &str) -> Result<Option<ResponseEvent>, Error> {
        let trimmed = data.trim();
        if trimmed.is_empty() || trimmed == "[DONE]" {
            return Ok(None);
        }
        let event = match ResponseEvent::from_sse(event_type, data) {
            Ok(event) => event,
            // An error event whose data is not JSON is still the server's error.
            Err(_) if event_type == "error" => {
                return Err(self.fail_api(data, crate::chat::parse_error_event(data)));
            }
            Err(error) => return Err(self.fail(error)),
        };
        self.acc.push(&event);
        // `event: error` is the server's error whatever type its JSON claims.
        let error_event = event_type == "error" || matches!(event, ResponseEvent::Error(_));
        match &event {
            ResponseEvent::Failed(failed) => {
                let error = failed.response.error.as_ref();
                let fields = ApiErrorFields {
                    message: Some(
                        error
                            .and_then(|e| e.message.clone())
                            .unwrap_or_else(|| "the response failed".to_owned()),
                    ),
                    error_type: None,
                    code: error.and_then(|e| e.code.clone()),
                    param: None,
                };
                self.fail_api(data, Some(fields));
            }
            _ if error_event => {
                self.fail_api(data, crate::chat::parse_error_event(data));
            }
            ResponseEvent::Completed(_) | ResponseEvent::Incomplete(_) => self.end = End::Done,
            _ => {}
        }
        Ok(Some(event))
    }

    /// Fails with the server's error that the event `data` carries (its `fields` parsed).
    fn fail_api(&mut self, data: &str, fields: Option<ApiErrorFields>) -> Error {
        let api = ApiError::new(
            self.status,
            self.request_id.as_deref(),
            data.to_owned(),
            fields,
            true,
        );
        self.fail(Error::api_error(api))
    }

    /// Records the failure (with the partial response) and returns a copy for the caller.
    fn fail(&mut self, error: Error) -> Error {
        let error = error.with_partial_response(self.acc.response());
        let copy = error.duplicate();
        self.end = End::Failed(error);
        copy
    }
}
