//! [`ChatDecoder`]: the rules of a chat completion stream, without any I/O.

use std::ops::ControlFlow;

use super::error_body::{ApiErrorFields, StreamData, parse_error_event, parse_stream_data};
use super::{Accumulator, ChatChunk, ChatCompletion, ThinkSplitter};
use crate::IntoControlFlow;
use crate::error::{ApiError, Error};
use crate::response_info::ResponseInfo;
use crate::sse::{self, Status};

/// The data of the event that ends an OpenAI stream. It is not part of SSE: the parser passes
/// it on as an ordinary event, and the decoder is what gives it meaning.
pub(crate) const DONE: &str = "[DONE]";

/// Whether a chunk handed on is accumulated at once (`No`: the caller keeps it, so the
/// completion gets a copy) or later (`Yes`: the caller lends it out, then gives it back to
/// [`ChatDecoder::accumulate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Defer {
    No,
    Yes,
}

/// A sans-IO decoder of a chat completion stream: bytes in (split anywhere, even one byte at a
/// time), typed [`ChatChunk`]s out, the accumulated [`ChatCompletion`] at the end.
///
/// It owns every rule of the stream, so any transport can drive it: the blocking
/// [`Client`](crate::Client) does (its deadlines, draining and retries stay around it), and so
/// can an async program, a proxy or a replay of recorded bytes. It never does I/O, never blocks
/// and never reads a clock.
///
/// The rules:
///
/// - SSE framing comes from [`crate::sse`]; comments and events with blank data are skipped.
/// - `data: [DONE]` ends the stream; bytes after it are ignored ([`is_done`](Self::is_done)).
/// - Each event's data is decoded as a [`ChatChunk`] and merged into the completion (the
///   [`Accumulator`] has the rules). Chunks with neither choices nor usage (Azure's leading
///   prompt-filter chunk) are merged but not handed on.
/// - An `event: error`, or data with an `error` object (alone, or inside an otherwise normal
///   chunk, whose other fields are still merged), is an [`ErrorKind::Api`](crate::ErrorKind::Api)
///   error with [`ApiError::in_stream`] set.
/// - Data that is not a chunk (invalid JSON, a field of the wrong shape) is an
///   [`ErrorKind::Decode`](crate::ErrorKind::Decode) error carrying the text
///   ([`Error::raw`]); an event over the size limit is
///   [`ErrorKind::EventTooLarge`](crate::ErrorKind::EventTooLarge).
/// - [`finish`](Self::finish) succeeds after `[DONE]` (also a last `data: [DONE]` line whose
///   blank line never came: the server closed right after it), or when every choice has a
///   finish reason (some servers never send `[DONE]`); otherwise it is
///   [`ErrorKind::Truncated`](crate::ErrorKind::Truncated).
/// - Every error carries the completion so far ([`Error::partial`]). Once failed, the decoder
///   stays failed: `feed`, `decode` and `finish` report the same error again.
///
/// ```
/// use std::ops::ControlFlow;
/// use chatstream::{ChatDecoder, ErrorKind};
///
/// let stream_bytes = concat!(
///     ": keep-alive comment\n\n",
///     "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
///     "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
///     "data: [DONE]\n\n",
/// ).as_bytes();
///
/// let mut decoder = ChatDecoder::new();
/// let mut printed = String::new();
/// for piece in stream_bytes.chunks(7) {
///     // Each decoded chunk reaches the callback; Break stops early, like Client::chat_stream.
///     decoder.feed(piece, |chunk| { printed.push_str(chunk.content()); ControlFlow::Continue(()) })?;
/// }
/// let completion = decoder.finish()?;          // Truncated (with the partial) if the stream was cut
/// assert_eq!(completion.content(), printed);   // for a one-choice stream
/// assert_eq!(completion.content(), "Hello");
///
/// // An error event yields ErrorKind::Api from `feed`, with everything before it in `partial()`.
/// let mut decoder = ChatDecoder::new();
/// let failed = decoder.feed(
///     b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n\
///       event: error\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n",
///     |_| ControlFlow::Continue(()),
/// );
/// let error = failed.unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Api);
/// assert_eq!(error.api().map(|api| api.message.as_str()), Some("overloaded"));
/// assert_eq!(error.partial().map(|c| c.content()), Some("Hi".into()));
///
/// // The same stream cut off before its end: Truncated, with what arrived.
/// let mut decoder = ChatDecoder::new();
/// decoder.feed(&stream_bytes[..150], |_| ControlFlow::Continue(()))?;
/// let error = decoder.finish().unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Truncated);
/// assert_eq!(error.partial().map(|c| c.content()), Some("Hel".into()));
/// # Ok::<(), chatstream::Error>(())
/// ```
///
/// An async program drives it the same way from its own byte stream; here a plain iterator of
/// byte chunks stands in for the body:
///
/// ```
/// # use std::ops::ControlFlow;
/// # use chatstream::ChatDecoder;
/// # fn print(_: &str) {}
/// # let body: Vec<Vec<u8>> = vec![b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".to_vec()];
/// let mut decoder = ChatDecoder::new();
/// for bytes in body {                   // e.g. `while let Some(bytes) = body.next().await`
///     decoder.feed(&bytes, |chunk| {
///         print(chunk.content());
///         ControlFlow::Continue(())
///     })?;
///     if decoder.is_done() {
///         break;                        // `[DONE]`: the rest of the body is not needed
///     }
/// }
/// let completion = decoder.finish()?;
/// # assert_eq!(completion.content(), "Hi");
/// # Ok::<(), chatstream::Error>(())
/// ```
///
/// Besides the callback, [`decode`](Self::decode) is a pull style (one event per call, for a
/// driver that checks a deadline or a cancellation between events), [`event`](Self::event)
/// shows the raw SSE event behind the last step (for a proxy that re-frames it),
/// [`decode_event`](Self::decode_event) takes events framed by another SSE parser, and
/// [`reset`](Self::reset) readies the decoder for another stream, keeping its buffers.
#[derive(Debug)]
pub struct ChatDecoder {
    parser: sse::Parser,
    rules: Rules,
}

/// Everything but the parser, so that an event borrowed from the parser can be decoded.
#[derive(Debug, Default)]
struct Rules {
    accumulator: Accumulator,
    end: End,
    /// The HTTP response the stream came in, when a driver knows it.
    response: Option<ResponseInfo>,
    /// Set by [`ChatDecoder::split_think_tags`]; runs before the accumulator, so the completion
    /// holds the split text too.
    think: Option<ThinkSplitter>,
}

#[derive(Debug, Default)]
enum End {
    /// No `[DONE]` yet.
    #[default]
    Open,
    /// `[DONE]` arrived, or `finish` found the stream complete.
    Done,
    /// The stream failed; every later call reports this error (without its source).
    Failed(Error),
}

/// What one call of [`ChatDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Boxing the chunk would cost an allocation per chunk to save a move of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
pub enum Decoded {
    /// An event gave a chunk to hand on; it is already merged into the completion.
    Chunk(ChatChunk),
    /// An event that gives nothing to hand on: blank data, or a chunk with neither choices nor
    /// usage (merged all the same). A driver that times the gaps between events counts it.
    Skipped,
    /// The stream is complete (`data: [DONE]` arrived); further bytes are ignored.
    Done,
    /// Every byte was consumed without completing an event.
    NeedMoreInput,
}

impl Default for ChatDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatDecoder {
    /// A decoder with the default event size limit
    /// ([`sse::Parser::DEFAULT_MAX_EVENT_SIZE`]).
    pub fn new() -> Self {
        Self::with_parser(sse::Parser::new())
    }

    /// A decoder whose events may be at most `limit` bytes (a larger one is
    /// [`ErrorKind::EventTooLarge`](crate::ErrorKind::EventTooLarge)).
    pub fn with_max_event_size(limit: usize) -> Self {
        Self::with_parser(sse::Parser::with_max_event_size(limit))
    }

    fn with_parser(parser: sse::Parser) -> Self {
        Self {
            parser,
            rules: Rules::default(),
        }
    }

    /// The HTTP response the stream arrives in: API errors from the stream report its status
    /// and request id, and every completion carries it ([`ChatCompletion::response`]).
    /// Moves `<think>…</think>` out of every chunk's content into its reasoning field as the
    /// stream arrives (see [`ThinkSplitter`]), for servers that inline a reasoning model's
    /// thoughts in the content. Text that may be the start of a tag is held back until the next
    /// chunk; what is held at the end of the stream comes as one last chunk.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use chatstream::ChatDecoder;
    ///
    /// let stream = concat!(
    ///     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<thi\"}}]}\n\n",
    ///     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nk>hm</think>Hi\"},",
    ///     "\"finish_reason\":\"stop\"}]}\n\n",
    ///     "data: [DONE]\n\n",
    /// );
    /// let mut decoder = ChatDecoder::new().split_think_tags();
    /// decoder.feed(stream.as_bytes(), |_| ControlFlow::Continue(()))?;
    /// let completion = decoder.finish()?;
    /// assert_eq!(completion.content(), "Hi");
    /// assert_eq!(completion.choices[0].message.reasoning_content.as_deref(), Some("hm"));
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    #[must_use]
    pub fn split_think_tags(mut self) -> Self {
        self.rules.think = Some(ThinkSplitter::new());
        self
    }

    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn set_response_info(&mut self, info: ResponseInfo) {
        self.rules.response = Some(info);
    }

    /// Decodes `bytes`, calling `on_chunk` with each chunk as soon as its event is complete.
    ///
    /// Returns `ControlFlow::Break` when `on_chunk` did; the rest of `bytes` is then not
    /// decoded, and the decoder can go on with it later (or [`into_completion`] takes what
    /// arrived, as [`Client::chat_stream`](crate::Client::chat_stream) does when its callback
    /// breaks). After `[DONE]`, bytes are ignored.
    ///
    /// [`into_completion`]: Self::into_completion
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Api`](crate::ErrorKind::Api) for an error the server sent in the stream,
    /// [`ErrorKind::Decode`](crate::ErrorKind::Decode) for data that is not a chunk,
    /// [`ErrorKind::EventTooLarge`](crate::ErrorKind::EventTooLarge); each with
    /// [`Error::partial`]. After a failure, the same error again.
    pub fn feed<R: IntoControlFlow>(
        &mut self,
        mut bytes: &[u8],
        mut on_chunk: impl FnMut(&ChatChunk) -> R,
    ) -> Result<ControlFlow<()>, Error> {
        loop {
            let (decoded, consumed) = self.decode_with(bytes, Defer::Yes)?;
            bytes = bytes.get(consumed..).unwrap_or_default();
            match decoded {
                Decoded::Chunk(chunk) => {
                    let flow = on_chunk(&chunk).into_control_flow();
                    // The callback only borrowed it: its pieces move into the completion.
                    self.accumulate(chunk);
                    if flow.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Decoded::Skipped => {}
                Decoded::Done | Decoded::NeedMoreInput => return Ok(ControlFlow::Continue(())),
            }
        }
    }

    /// Decodes `bytes` up to the end of at most one event: the pull style of
    /// [`feed`](Self::feed), for a driver that does something between events (checks a
    /// deadline, a cancellation). Returns what was found and how many bytes were consumed;
    /// feed the rest (`&bytes[consumed..]`) next. [`Decoded::NeedMoreInput`] consumes
    /// everything; after [`Decoded::Done`], every call consumes everything and returns `Done`.
    ///
    /// ```
    /// use chatstream::{ChatDecoder, Decoded};
    ///
    /// let mut decoder = ChatDecoder::new();
    /// let mut bytes: &[u8] = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
    /// let mut chunks = 0;
    /// loop {
    ///     let (decoded, consumed) = decoder.decode(bytes)?;
    ///     bytes = &bytes[consumed..];
    ///     match decoded {
    ///         Decoded::Chunk(chunk) => chunks += chunk.choices.len(),
    ///         Decoded::Done => break,
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(chunks, 1);
    /// assert_eq!(decoder.finish()?.content(), "Hi");
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`feed`](Self::feed).
    pub fn decode(&mut self, bytes: &[u8]) -> Result<(Decoded, usize), Error> {
        self.decode_with(bytes, Defer::No)
    }

    /// [`decode`](Self::decode), where a chunk handed on with `Defer::Yes` is not accumulated
    /// yet: the caller only lends it out and gives it back with
    /// [`accumulate`](Self::accumulate), which moves what the completion keeps instead of
    /// cloning it.
    pub(crate) fn decode_with(
        &mut self,
        bytes: &[u8],
        defer: Defer,
    ) -> Result<(Decoded, usize), Error> {
        match &self.rules.end {
            End::Failed(error) => return Err(error.duplicate()),
            End::Done => return Ok((Decoded::Done, bytes.len())),
            End::Open => {}
        }
        let (status, consumed) = match self.parser.feed(bytes) {
            Ok(step) => step,
            Err(e) => return Err(self.rules.fail(Error::event_too_large(e))),
        };
        if status == Status::NeedMoreInput {
            return Ok((Decoded::NeedMoreInput, consumed));
        }
        let event = self.parser.event();
        let decoded = self.rules.apply(event.event_type(), event.data(), defer)?;
        Ok((decoded, consumed))
    }

    /// Accumulates a chunk that [`decode_with`](Self::decode_with) handed on unaccumulated.
    pub(crate) fn accumulate(&mut self, chunk: ChatChunk) {
        self.rules.accumulator.push_owned(chunk);
    }

    /// Applies the stream's rules to one event framed by another SSE parser (its `event:`
    /// type, `"message"` when it had none, and its data): `Ok(Some(chunk))` for a chunk to
    /// hand on, `Ok(None)` for an event that gives none (blank data, a chunk with neither
    /// choices nor usage, `[DONE]`, anything after `[DONE]`). The bytes given to
    /// [`feed`](Self::feed) and events given here must not be mixed in one stream.
    ///
    /// The framing is then the other parser's, and so is the end of the stream: when it
    /// discards an unterminated last event whose data is `[DONE]` (a server that closed right
    /// after that line), pass that event here before [`finish`](Self::finish), which then
    /// sees a complete stream.
    ///
    /// ```
    /// use chatstream::{ChatDecoder, ErrorKind};
    ///
    /// let mut decoder = ChatDecoder::new();
    /// let chunk = decoder.decode_event("message", r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#)?;
    /// assert_eq!(chunk.map(|c| c.content().to_owned()), Some("Hi".to_owned()));
    /// // An error object in the data is the server's error, not an empty chunk.
    /// let error = decoder.decode_event("message", r#"{"error":{"message":"quota"}}"#).unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::Api);
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`feed`](Self::feed), except the event size limit, which is the framing
    /// parser's business.
    pub fn decode_event(
        &mut self,
        event_type: &str,
        data: &str,
    ) -> Result<Option<ChatChunk>, Error> {
        match &self.rules.end {
            End::Failed(error) => Err(error.duplicate()),
            End::Done => Ok(None),
            End::Open => match self.rules.apply(event_type, data, Defer::No)? {
                Decoded::Chunk(chunk) => Ok(Some(chunk)),
                _ => Ok(None),
            },
        }
    }

    /// The SSE event behind the last step of [`decode`](Self::decode) other than
    /// [`Decoded::NeedMoreInput`] (type, data, last event id), as the parser dispatched it: for
    /// a driver that passes events on untouched, e.g. a proxy re-framing the stream. Before any
    /// event, an empty `"message"` event.
    pub fn event(&self) -> sse::Event<'_> {
        self.parser.event()
    }

    /// True once the stream is complete (`[DONE]`) or has failed: nothing more is expected.
    pub fn is_done(&self) -> bool {
        !matches!(self.rules.end, End::Open)
    }

    /// A snapshot of everything accumulated so far.
    pub fn completion(&self) -> ChatCompletion {
        self.rules.completion()
    }

    /// Everything accumulated, whether or not the stream is complete (no truncation rule; see
    /// [`finish`](Self::finish) for that).
    pub fn into_completion(self) -> ChatCompletion {
        let mut completion = self.rules.accumulator.into_completion();
        completion.response = self.rules.response;
        completion
    }

    /// Ends the stream (the transport reached its end): the accumulated completion, or the
    /// error the stream ended with.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) when neither `[DONE]` came nor
    /// every choice has a finish reason, and the error of an earlier failure; each with
    /// [`Error::partial`].
    pub fn finish(mut self) -> Result<ChatCompletion, Error> {
        self.end(None, Defer::No)?;
        Ok(self.into_completion())
    }

    /// [`finish`](Self::finish) without consuming the decoder, for a driver whose transport
    /// ended early: `cause` (a reset connection, say) becomes the truncation error's source.
    pub(crate) fn end(
        &mut self,
        cause: Option<Error>,
        defer: Defer,
    ) -> Result<Option<ChatChunk>, Error> {
        match &self.rules.end {
            End::Failed(error) => return Err(error.duplicate()),
            End::Done => return Ok(None),
            End::Open => {}
        }
        self.parser.finish();
        // A server that closes right after `data: [DONE]`, without its blank line, ended the
        // stream on purpose.
        let done_line = self.parser.discarded().is_some_and(|e| e.data() == DONE);
        if done_line || self.rules.accumulator.all_choices_finished() {
            self.rules.end = End::Done;
            return Ok(self.rules.think_rest(defer));
        }
        let what = if self.rules.accumulator.is_empty() {
            "the stream ended before any chunk arrived"
        } else {
            "the stream ended before [DONE] while a choice was unfinished"
        };
        let mut error = Error::truncated(what);
        if let Some(cause) = cause {
            error = error.with_source(cause);
        }
        Err(self.rules.fail(error))
    }

    /// Readies the decoder for another stream: everything is forgotten but the event size
    /// limit, and the buffers keep their capacity.
    pub fn reset(&mut self) {
        self.parser.reset();
        let think = self.rules.think.is_some();
        self.rules = Rules::default();
        if think {
            self.rules.think = Some(ThinkSplitter::new());
        }
    }
}

impl Rules {
    /// The text the think splitter still holds at the successful end of the stream, as a last
    /// chunk (accumulated here).
    fn think_rest(&mut self, defer: Defer) -> Option<ChatChunk> {
        let rest = self.think.as_mut()?.finish()?;
        if defer == Defer::No {
            self.accumulator.push(&rest);
        }
        Some(rest)
    }

    /// One event through the rules.
    fn apply(&mut self, event_type: &str, data: &str, defer: Defer) -> Result<Decoded, Error> {
        if data == DONE {
            self.end = End::Done;
            // The next call reports `Done`; first comes what a think splitter still held.
            return Ok(match self.think_rest(defer) {
                Some(rest) => Decoded::Chunk(rest),
                None => Decoded::Done,
            });
        }
        if event_type == "error" {
            let fields = parse_error_event(data);
            return Err(self.fail_api(data, fields));
        }
        if data.trim().is_empty() {
            return Ok(Decoded::Skipped);
        }
        let mut chunk = match parse_stream_data(data) {
            Ok(StreamData::Chunk(chunk)) => chunk,
            Ok(StreamData::Error { error, chunk }) => {
                // Keep whatever the chunk carried besides the error.
                if let Some(chunk) = chunk {
                    self.accumulator.push(&chunk);
                }
                return Err(self.fail_api(data, Some(error)));
            }
            Err(error) => return Err(self.fail(error)),
        };
        if let Some(think) = &mut self.think {
            think.split(&mut chunk);
        }
        // Azure's leading prompt-filter chunk carries nothing a caller streams; it still goes
        // through the accumulator.
        if chunk.choices.is_empty() && chunk.usage.is_none() {
            self.accumulator.push_owned(chunk);
            return Ok(Decoded::Skipped);
        }
        if defer == Defer::No {
            self.accumulator.push(&chunk);
        }
        Ok(Decoded::Chunk(chunk))
    }

    /// Fails with the error the server sent in the stream.
    fn fail_api(&mut self, data: &str, fields: Option<ApiErrorFields>) -> Error {
        let (status, request_id) = match &self.response {
            Some(info) => (info.status(), info.request_id()),
            None => (200, None),
        };
        let api = ApiError::new(status, request_id, data.to_owned(), fields, true);
        let mut error = Error::api_error(api);
        if let Some(info) = &self.response {
            error = error.with_response(info.clone());
        }
        self.fail(error)
    }

    /// Records the failure (with the partial completion) and returns it for the caller.
    fn fail(&mut self, error: Error) -> Error {
        let error = error.with_partial(self.completion());
        self.end = End::Failed(error.duplicate());
        error
    }

    fn completion(&self) -> ChatCompletion {
        let mut completion = self.accumulator.completion();
        completion.response.clone_from(&self.response);
        completion
    }
}

#[cfg(test)]
mod tests;
