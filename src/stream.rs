//! The live driver of an event stream: [`ChatStream`] reads events with
//! their deadlines, stops at `[DONE]`, turns in-stream errors into typed
//! errors and applies the truncation rule. The chunks it decodes go to the
//! [`Accumulator`], which lives with the chat types.
//!
//! This is the only module that knows OpenAI's `data: [DONE]` marker; the
//! SSE parser below it knows nothing of it.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::chat::{self, Accumulator, ApiErrorFields, ChatChunk, ChatCompletion, StreamData};
use crate::error::{ApiError, Error, ErrorKind, Timeout};
use crate::http::{MAX_ERROR_BODY, Response, ResponseInfo, StreamBody};
use crate::sse::{self, EventReader};

/// The stream limits a client applies to every event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamLimits {
    /// Longest gap between two events (comments do not count).
    pub idle: Option<Duration>,
    /// Longest a whole stream may take, from its response headers on.
    pub total: Option<Duration>,
    /// Largest single event, in bytes.
    pub max_event_size: usize,
}

/// The data of the event that ends an OpenAI stream. It is not part of SSE: the parser passes
/// it on as an ordinary event, and this module is the one that gives it meaning.
const DONE: &str = "[DONE]";

/// How much of a body is read after `[DONE]` so the connection can be
/// reused, and for how long, before it is closed instead.
const DRAIN_MAX_BYTES: usize = 64 * 1024;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(1);

/// Checks that a stream request was answered with an event stream.
///
/// Servers answer some errors with a JSON body and status 200 even when a
/// stream was asked for, and proxies answer with HTML pages; neither is
/// fed to the SSE parser.
pub(crate) fn check_stream_response(response: Response, limit: u64) -> Result<Response, Error> {
    let media_type = response.media_type();
    match media_type.as_deref() {
        None | Some("text/event-stream") => Ok(response),
        Some(other) => {
            let other = other.to_string();
            let (info, bytes) = response.read_body(limit.min(MAX_ERROR_BODY))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match chat::parse_error_body(&text) {
                fields @ Some(_) => {
                    let api = ApiError::new(info.status(), info.request_id(), text, fields, false);
                    Err(Error::api_error(api))
                }
                None => Err(Error::not_an_event_stream(other, text)),
            }
        }
    }
}

/// SSE events from a response body, with the idle and total deadlines.
struct Events {
    reader: EventReader<StreamBody>,
    limits: StreamLimits,
    started: Instant,
}

/// What [`Events::next`] found.
enum Next<'a> {
    Event(sse::Event<'a>),
    /// The body ended. `done_line` is true when the parser discarded an
    /// unterminated event whose data was exactly `[DONE]` (a server that
    /// closes right after that line, without its blank line). `cause` is
    /// the transport error that ended it early (a reset, a cut chunk).
    End {
        done_line: bool,
        discarded: bool,
        cause: Option<Error>,
    },
}

impl Events {
    fn new(body: StreamBody, limits: StreamLimits) -> Self {
        let parser = sse::Parser::with_max_event_size(limits.max_event_size);
        Self {
            reader: EventReader::with_capacity(16 * 1024, body, parser),
            limits,
            started: Instant::now(),
        }
    }

    fn next(&mut self) -> Result<Next<'_>, Error> {
        // Idle time is time spent waiting for the server: it starts when the caller asks for
        // the next event, so the caller's own time (its callback) does not count.
        let idle = self
            .limits
            .idle
            .map(|d| (Instant::now() + d, Timeout::StreamIdle));
        let total = self
            .limits
            .total
            .map(|d| (self.started + d, Timeout::StreamTotal));
        let deadline = match (idle, total) {
            (Some(i), Some(t)) => Some(if t.0 < i.0 { t } else { i }),
            (i, t) => i.or(t),
        };
        self.reader.get_mut().set_deadline(deadline);
        match self.reader.next_event() {
            Ok(Some(_)) => {
                // Re-borrow: the event is read again through the parser so
                // the borrow checker sees one borrow per path.
                Ok(Next::Event(self.reader.parser().event()))
            }
            Ok(None) => Ok(self.end(None)),
            Err(sse::ReadError::Parse(e)) => Err(Error::event_too_large(e)),
            Err(sse::ReadError::Io(io)) => {
                // `StreamBody` sends its typed error inside the `io::Error`.
                let typed = io
                    .downcast::<Error>()
                    .unwrap_or_else(|io| Error::io("reading the stream failed").with_source(io));
                match typed.kind() {
                    // The peer closed or reset the connection mid-body: the
                    // stream ended, and the layer above decides whether what
                    // arrived is complete.
                    ErrorKind::Connect | ErrorKind::Io => {
                        self.reader.parser_mut().finish();
                        Ok(self.end(Some(typed)))
                    }
                    _ => Err(typed),
                }
            }
        }
    }

    fn end(&self, cause: Option<Error>) -> Next<'_> {
        let discarded = self.reader.parser().discarded();
        Next::End {
            done_line: discarded.is_some_and(|e| e.data() == DONE),
            discarded: discarded.is_some(),
            cause,
        }
    }

    /// Reads the rest of the body (bounded) so the connection is reused.
    fn drain(self) {
        self.reader
            .into_inner()
            .drain(DRAIN_MAX_BYTES, DRAIN_MAX_TIME);
    }
}

/// Drives a raw event stream into `on_event`; see `Client::post_stream`.
pub(crate) fn raw_events(
    response: Response,
    limits: StreamLimits,
    mut on_event: impl FnMut(sse::Event<'_>) -> ControlFlow<()>,
) -> Result<(), Error> {
    let (_, body) = response.into_stream();
    let mut events = Events::new(body, limits);
    loop {
        match events.next()? {
            Next::Event(event) => {
                if on_event(event).is_break() {
                    return Ok(());
                }
            }
            Next::End {
                done_line,
                discarded,
                cause,
            } => {
                if done_line {
                    // The same leniency as for chat streams: a server that closes right after
                    // `data: [DONE]`, without its blank line, ended the stream on purpose. The
                    // caller still sees the `[DONE]` event.
                    if let Some(done) = events.reader.parser().discarded() {
                        let _ = on_event(done);
                    }
                    return Ok(());
                }
                return match cause {
                    Some(cause) => Err(truncated("the connection ended mid-stream", Some(cause))),
                    None if discarded => Err(truncated(
                        "the stream ended inside an event (no blank line after it)",
                        None,
                    )),
                    None => Ok(()),
                };
            }
        }
    }
}

fn truncated(what: &str, cause: Option<Error>) -> Error {
    let e = Error::truncated(what);
    match cause {
        Some(c) => e.with_source(c),
        None => e,
    }
}

/// A live chat completion stream: an iterator over its chunks that also
/// accumulates them. Returned by [`Client::chat_chunks`](crate::Client::chat_chunks).
///
/// The iterator ends (`None`) at `data: [DONE]`, or when the server closes
/// the stream after every choice has a finish reason. Any failure is
/// yielded once as `Some(Err(e))` with [`Error::partial`] holding the
/// completion so far; the iterator then ends. Dropping the stream before
/// its end closes the connection.
pub struct ChatStream {
    events: Option<Events>,
    accumulator: Accumulator,
    info: ResponseInfo,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("finished", &self.events.is_none())
            .field("status", &self.info.status())
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    pub(crate) fn new(response: Response, limits: StreamLimits) -> Self {
        let (info, body) = response.into_stream();
        Self {
            events: Some(Events::new(body, limits)),
            accumulator: Accumulator::new(),
            info,
        }
    }

    /// The response's status and headers (request id, rate limits).
    pub fn response_info(&self) -> &ResponseInfo {
        &self.info
    }

    /// What has been accumulated so far.
    pub fn completion(&self) -> ChatCompletion {
        let mut c = self.accumulator.completion();
        c.response = Some(self.info.clone());
        c
    }

    /// Everything accumulated, as one completion.
    pub fn into_completion(self) -> ChatCompletion {
        let mut c = self.accumulator.into_completion();
        c.response = Some(self.info);
        c
    }

    fn step(&mut self) -> Result<Option<ChatChunk>, Error> {
        loop {
            let Some(events) = self.events.as_mut() else {
                return Ok(None);
            };
            let chunk = match events.next()? {
                Next::Event(event) => {
                    let data = event.data();
                    // OpenAI's end-of-stream marker (not part of SSE).
                    if data == DONE {
                        if let Some(events) = self.events.take() {
                            events.drain();
                        }
                        return Ok(None);
                    }
                    if event.event_type() == "error" {
                        let fields = chat::parse_error_event(data);
                        return Err(stream_api_error(&self.info, data, fields));
                    }
                    if data.trim().is_empty() {
                        continue;
                    }
                    match chat::parse_stream_data(data)? {
                        StreamData::Chunk(chunk) => chunk,
                        StreamData::Error { error, chunk } => {
                            // Keep whatever the chunk carried besides the error.
                            if let Some(chunk) = chunk {
                                self.accumulator.push(&chunk);
                            }
                            return Err(stream_api_error(&self.info, data, Some(error)));
                        }
                    }
                }
                Next::End {
                    done_line, cause, ..
                } => {
                    self.events = None;
                    if done_line || self.accumulator.all_choices_finished() {
                        return Ok(None);
                    }
                    let what = if self.accumulator.is_empty() {
                        "the stream ended before any chunk arrived"
                    } else {
                        "the stream ended before [DONE] while a choice was unfinished"
                    };
                    return Err(truncated(what, cause));
                }
            };
            self.accumulator.push(&chunk);
            // Azure's leading prompt-filter chunk carries nothing a caller
            // streams; it still went through the accumulator.
            if chunk.choices.is_empty() && chunk.usage.is_none() {
                continue;
            }
            return Ok(Some(chunk));
        }
    }
}

/// An error that arrived inside the stream (`event: error`, or a `data`
/// payload with an `error` object), from the fields parsed out of `data`.
fn stream_api_error(info: &ResponseInfo, data: &str, fields: Option<ApiErrorFields>) -> Error {
    let api = ApiError::new(
        info.status(),
        info.request_id(),
        data.to_owned(),
        fields,
        true,
    );
    Error::api_error(api)
}

impl Iterator for ChatStream {
    type Item = Result<ChatChunk, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.events.as_ref()?;
        match self.step() {
            Ok(Some(chunk)) => Some(Ok(chunk)),
            Ok(None) => None,
            Err(e) => {
                // Closing the connection: a failed stream is never drained.
                self.events = None;
                Some(Err(e.with_partial(self.completion())))
            }
        }
    }
}

impl std::iter::FusedIterator for ChatStream {}
