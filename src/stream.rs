//! The blocking drivers of an event stream: [`ChatStream`] reads a chat
//! stream's bytes with their deadlines into a [`ChatDecoder`], which owns the
//! stream's rules (`[DONE]`, in-stream errors, the truncation rule); the raw
//! event loop behind `Client::post_stream` does the same for any endpoint.
//! What stays here is what needs a connection and a clock: the deadlines
//! between events, draining the body after `[DONE]` so the connection is
//! reused, and closing it on failure.

use std::io::Read;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::chat::{self, ChatChunk, ChatCompletion, ChatDecoder, DONE, Decoded, Defer};
use crate::error::{ApiError, Error, ErrorKind, Timeout};
use crate::http::{MAX_ERROR_BODY, Response, StreamBody};
use crate::response_info::ResponseInfo;
use crate::sse;

/// The stream limits a client applies to every event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamLimits {
    /// Longest wait for the first event, from when the request was sent
    /// (comments do not count); when not set (`None`), the idle limit
    /// applies to the first event as to every other.
    pub first_event: Option<Option<Duration>>,
    /// Longest gap between two events (comments do not count).
    pub idle: Option<Duration>,
    /// Longest a whole stream may take, from its response headers on.
    pub total: Option<Duration>,
    /// Largest single event, in bytes.
    pub max_event_size: usize,
}

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

/// A stream response's body, read with the stream's deadlines: the bytes both stream drivers
/// (raw events and chat chunks) decode.
struct Body {
    reader: StreamBody,
    /// When the request was sent.
    sent_at: Instant,
    /// Whether an event has arrived: until then the first-event limit applies instead of the
    /// idle limit.
    seen_event: bool,
    limits: StreamLimits,
    started: Instant,
    /// Read buffer, allocated once; `buffer[start..end]` is read but not yet decoded.
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
}

/// What [`Body::fill`] found.
enum Fill<'a> {
    /// Bytes not yet decoded (never empty).
    Bytes(&'a [u8]),
    /// The body ended; `cause` is the transport error that ended it early (a reset, a cut
    /// chunk), after which the layer above decides whether what arrived is complete.
    End { cause: Option<Error> },
}

impl Body {
    fn new(reader: StreamBody, limits: StreamLimits, sent_at: Instant) -> Self {
        Self {
            reader,
            sent_at,
            seen_event: false,
            limits,
            started: Instant::now(),
            buffer: vec![0; 16 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Starts the wait for the next event. Idle time is time spent waiting for the server: it
    /// starts when the caller asks for the next event, so the caller's own time (its callback)
    /// does not count.
    fn wait_for_event(&mut self) {
        // The first event has its own limit, counted from the request, since a server may think
        // long before it and never pause long after.
        let idle = match self.limits.first_event {
            Some(first) if !self.seen_event => {
                first.map(|d| (self.sent_at + d, Timeout::StreamFirstEvent))
            }
            _ => self
                .limits
                .idle
                .map(|d| (Instant::now() + d, Timeout::StreamIdle)),
        };
        let total = self
            .limits
            .total
            .map(|d| (self.started + d, Timeout::StreamTotal));
        let deadline = match (idle, total) {
            (Some(i), Some(t)) => Some(if t.0 < i.0 { t } else { i }),
            (i, t) => i.or(t),
        };
        self.reader.set_deadline(deadline);
    }

    /// The bytes read but not yet decoded, reading once (one `read`, so bytes are decoded the
    /// moment they arrive) when there are none.
    fn fill(&mut self) -> Result<Fill<'_>, Error> {
        if self.start == self.end {
            let read = loop {
                match self.reader.read(&mut self.buffer) {
                    Ok(read) => break read,
                    Err(io) if io.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(io) => {
                        // `StreamBody` sends its typed error inside the `io::Error`.
                        let typed = io.downcast::<Error>().unwrap_or_else(|io| {
                            Error::io("reading the stream failed").with_source(io)
                        });
                        return match typed.kind() {
                            ErrorKind::Connect | ErrorKind::Io => {
                                Ok(Fill::End { cause: Some(typed) })
                            }
                            _ => Err(typed),
                        };
                    }
                }
            };
            if read == 0 {
                return Ok(Fill::End { cause: None });
            }
            self.start = 0;
            self.end = read.min(self.buffer.len());
        }
        Ok(Fill::Bytes(&self.buffer[self.start..self.end]))
    }

    /// From now on the idle limit applies between events.
    fn event_seen(&mut self) {
        self.seen_event = true;
    }

    fn is_cancelled(&mut self) -> bool {
        self.reader.is_cancelled()
    }

    /// Marks `n` bytes of what [`fill`](Self::fill) returned as decoded.
    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
    }

    /// Reads the rest of the body (bounded) so the connection is reused.
    fn drain(self) {
        self.reader.drain(DRAIN_MAX_BYTES, DRAIN_MAX_TIME);
    }
}

/// SSE events from a response body, with the idle and total deadlines.
pub(crate) struct Events {
    body: Body,
    parser: sse::Parser,
}

/// What [`Events::next`] found.
pub(crate) enum Next<'a> {
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
    pub(crate) fn new(response: Response, limits: StreamLimits) -> (ResponseInfo, Self) {
        let sent_at = response.sent_at;
        let (info, body) = response.into_stream();
        let events = Self {
            parser: sse::Parser::with_max_event_size(limits.max_event_size),
            body: Body::new(body, limits, sent_at),
        };
        (info, events)
    }

    pub(crate) fn next(&mut self) -> Result<Next<'_>, Error> {
        // Events the parser already holds are not handed out once cancelled.
        if self.body.is_cancelled() {
            return Err(Error::cancelled());
        }
        self.body.wait_for_event();
        loop {
            match self.body.fill()? {
                Fill::Bytes(bytes) => {
                    let (status, consumed) =
                        self.parser.feed(bytes).map_err(Error::event_too_large)?;
                    self.body.consume(consumed);
                    if status == sse::Status::Event {
                        self.body.event_seen();
                        return Ok(Next::Event(self.parser.event()));
                    }
                }
                Fill::End { cause } => {
                    self.parser.finish();
                    let discarded = self.parser.discarded();
                    return Ok(Next::End {
                        done_line: discarded.is_some_and(|e| e.data() == DONE),
                        discarded: discarded.is_some(),
                        cause,
                    });
                }
            }
        }
    }

    /// The event the parser discarded at the end of the body (complete lines without their
    /// blank line), if any.
    pub(crate) fn discarded(&self) -> Option<sse::Event<'_>> {
        self.parser.discarded()
    }

    /// Reads the rest of the body (bounded) so the connection is reused.
    pub(crate) fn drain(self) {
        self.body.drain();
    }
}

/// Drives a raw event stream into `on_event`; see `Client::post_stream`.
pub(crate) fn raw_events(
    response: Response,
    limits: StreamLimits,
    mut on_event: impl FnMut(sse::Event<'_>) -> ControlFlow<()>,
) -> Result<(), Error> {
    let (_, mut events) = Events::new(response, limits);
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
                    if let Some(done) = events.parser.discarded() {
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
///
/// The stream's rules are a [`ChatDecoder`]'s; this adds the connection: the
/// deadlines between events, draining the body after `[DONE]` so the
/// connection is reused, and closing it on failure.
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub struct ChatStream {
    /// `None` once the stream has ended (closed, drained or failed).
    body: Option<Body>,
    decoder: ChatDecoder,
    info: ResponseInfo,
    /// The first item, read ahead by [`ChatStream::first_event_error`].
    pending: Option<Option<Result<ChatChunk, Error>>>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("finished", &self.body.is_none())
            .field("status", &self.info.status())
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    pub(crate) fn new(response: Response, limits: StreamLimits) -> Self {
        let sent_at = response.sent_at;
        let (info, body) = response.into_stream();
        let mut decoder = ChatDecoder::with_max_event_size(limits.max_event_size);
        decoder.set_response_info(info.clone());
        Self {
            body: Some(Body::new(body, limits, sent_at)),
            decoder,
            info,
            pending: None,
        }
    }

    /// Reads ahead to the first chunk (which the iterator still yields
    /// first). When the stream failed before it with an error the server sent
    /// in the stream, returns a copy of that error, for the retry rules: the
    /// caller has seen nothing yet, so the request may be sent again.
    pub(crate) fn first_event_error(&mut self) -> Option<Error> {
        // Not accumulated yet: `next_item` does that when it hands the chunk on.
        let first = self.next_item(Defer::Yes);
        let failed = match &first {
            Some(Err(e)) => e
                .api()
                .filter(|api| api.in_stream)
                .map(|api| Error::api_error(api.clone()).with_response(self.info.clone())),
            _ => None,
        };
        self.pending = Some(first);
        failed
    }

    /// Moves `<think>…</think>` from content to reasoning in every chunk.
    pub(crate) fn split_think_tags(mut self) -> Self {
        self.decoder = std::mem::take(&mut self.decoder).split_think_tags();
        self
    }

    /// The response's status and headers (request id, rate limits).
    pub fn response_info(&self) -> &ResponseInfo {
        &self.info
    }

    /// What has been accumulated so far.
    pub fn completion(&self) -> ChatCompletion {
        self.decoder.completion()
    }

    /// Everything accumulated, as one completion.
    pub fn into_completion(self) -> ChatCompletion {
        self.decoder.into_completion()
    }

    /// The next chunk: bytes from the body into the decoder, one event at a time, each wait
    /// for an event under the stream's deadlines.
    fn step(&mut self, defer: Defer) -> Result<Option<ChatChunk>, Error> {
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        // Bytes already read are not decoded once cancelled.
        if body.is_cancelled() {
            return Err(Error::cancelled());
        }
        body.wait_for_event();
        loop {
            let (decoded, consumed) = match body.fill()? {
                Fill::Bytes(bytes) => self.decoder.decode_with(bytes, defer)?,
                Fill::End { cause } => {
                    self.body = None;
                    // What a think splitter still held comes back as a last chunk.
                    return self.decoder.end(cause, defer);
                }
            };
            body.consume(consumed);
            if !matches!(decoded, Decoded::NeedMoreInput) {
                body.event_seen();
            }
            match decoded {
                Decoded::Chunk(chunk) => return Ok(Some(chunk)),
                // An event all the same: the idle limit starts again.
                Decoded::Skipped => body.wait_for_event(),
                Decoded::NeedMoreInput => {}
                Decoded::Done => {
                    if let Some(body) = self.body.take() {
                        body.drain();
                    }
                    return Ok(None);
                }
            }
        }
    }
}

impl Iterator for ChatStream {
    type Item = Result<ChatChunk, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item(Defer::No)
    }
}

impl ChatStream {
    /// The next item, like [`Iterator::next`], except that a chunk is not accumulated yet: a
    /// caller that no longer needs it gives it back with [`accumulate`](Self::accumulate),
    /// which moves what it keeps instead of cloning it.
    pub(crate) fn next_unaccumulated(&mut self) -> Option<Result<ChatChunk, Error>> {
        self.next_item(Defer::Yes)
    }

    /// Accumulates a chunk from [`next_unaccumulated`](Self::next_unaccumulated).
    pub(crate) fn accumulate(&mut self, chunk: ChatChunk) {
        self.decoder.accumulate(chunk);
    }

    fn next_item(&mut self, defer: Defer) -> Option<Result<ChatChunk, Error>> {
        let error = match self.pending.take() {
            // A chunk read ahead is not handed out once cancelled.
            Some(Some(Ok(_))) if self.body.as_mut().is_some_and(Body::is_cancelled) => {
                Error::cancelled()
            }
            Some(Some(Ok(chunk))) => {
                if defer == Defer::No {
                    self.decoder.accumulate(chunk.clone());
                }
                return Some(Ok(chunk));
            }
            Some(first) => return first,
            None => {
                self.body.as_ref()?;
                match self.step(defer) {
                    Ok(Some(chunk)) => return Some(Ok(chunk)),
                    Ok(None) => return None,
                    Err(e) => e,
                }
            }
        };
        // Closing the connection: a failed stream is never drained.
        self.body = None;
        Some(Err(error.with_partial(self.completion())))
    }
}

impl std::iter::FusedIterator for ChatStream {}
