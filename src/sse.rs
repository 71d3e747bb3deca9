//! A resumable, allocation-free parser for `text/event-stream` (Server-Sent Events).
//!
//! This module implements the WHATWG HTML Living Standard, section 9.2.5 "Parsing an event
//! stream" and section 9.2.6 "Interpreting an event stream", as a push parser over bytes. It knows
//! nothing about HTTP, JSON or any particular server: bytes go in, events come out.
//!
//! * [`Parser`] is the core. Give it byte slices of any size with [`Parser::feed`]; it keeps all
//!   of its state between calls, never re-scans bytes consumed by an earlier call (a line split
//!   over 100 000 feeds costs O(n) in total), and stops right after each
//!   dispatched event so you can read it with [`Parser::event`]. [`Parser::feed_all`] wraps that
//!   loop in a callback.
//! * [`EventReader`] is the pull adapter over any [`std::io::Read`]: one `read` per refill, and an
//!   event is returned the moment its blank line has been read.
//!
//! # Example
//!
//! ```
//! use chatstream::sse::{Parser, Status};
//!
//! // Bytes as they might arrive from a socket: chunk boundaries fall anywhere,
//! // even between the CR and the LF of a CRLF.
//! let chunks: [&[u8]; 4] = [b"data: hel", b"lo\r", b"\n\r\nevent: done\nid: 7\ndata", b":\n\n"];
//!
//! let mut parser = Parser::new();
//! let mut seen = Vec::new();
//! for chunk in chunks {
//!     let mut rest = chunk;
//!     // `feed` stops after each dispatched event and says how many bytes it consumed.
//!     while !rest.is_empty() {
//!         let (status, consumed) = parser.feed(rest)?;
//!         rest = &rest[consumed..];
//!         if status == Status::Event {
//!             let event = parser.event();
//!             seen.push((event.event_type().to_owned(), event.data().to_owned()));
//!         }
//!     }
//! }
//! assert_eq!(seen, [("message".to_owned(), "hello".to_owned()), ("done".to_owned(), String::new())]);
//! assert_eq!(parser.last_event_id(), "7");
//! // End of input: nothing was left half-finished.
//! assert_eq!(parser.finish(), chatstream::sse::Eof::Clean);
//! # Ok::<(), chatstream::sse::Error>(())
//! ```
//!
//! The same with a reader (any `std::io::Read`, e.g. an HTTP response body):
//!
//! ```
//! use chatstream::sse::{Eof, EventReader};
//!
//! let body: &[u8] = b": keep-alive\n\ndata: {\"n\":1}\n\ndata: [DONE]\n\n";
//! let mut reader = EventReader::new(body);
//! let mut data = Vec::new();
//! while let Some(event) = reader.next_event()? {
//!     data.push(event.data().to_owned());
//! }
//! assert_eq!(data, ["{\"n\":1}", "[DONE]"]);
//! assert_eq!(reader.eof(), Some(Eof::Clean));
//! # Ok::<(), chatstream::sse::ReadError>(())
//! ```
//!
//! # Conformance
//!
//! Every rule of HTML 9.2.5/9.2.6 is implemented. Where the specification leaves a choice open,
//! or where a byte-level parser has to decide something the character-level specification does
//! not spell out, this module does the following (and the tests pin it):
//!
//! * **Line ends.** CRLF, LF and a lone CR all end a line; nothing else does (U+2028, U+2029,
//!   U+0085, VT and FF are ordinary data). A CR at the end of one `feed` and an LF at the start of
//!   the next are one line end. A CR is acted on immediately, so a CR that is the stream's last
//!   byte is a complete line end: `data: x\r\r` dispatches even if nothing follows.
//! * **BOM.** One leading UTF-8 byte order mark (`EF BB BF`) is stripped, only at the start of
//!   the stream, even when split across feeds. A second BOM is not stripped: it becomes part of
//!   the first line's field name, so that line is an unknown field and is ignored. A partial BOM
//!   (e.g. `EF BB 41`) is not a BOM: those bytes decode to U+FFFD and start the first line, which
//!   is then an unknown field (ignored), never a blank line, even if a line end follows at once.
//! * **`retry`.** The value must be one or more ASCII digits; an empty value is ignored. It is
//!   read in base ten; a value that overflows `u64` is ignored. A valid value sets the
//!   [reconnection time](Parser::reconnection_time) as soon as its line ends, even if the block
//!   never dispatches, and it persists until [`Parser::reset`].
//! * **`id`.** A value containing U+0000 NULL is ignored. `id` and `id:` set the last event ID
//!   buffer to the empty string. The last event ID string is updated when a blank line is
//!   processed (dispatch step 1), also when the data buffer is empty and no event is dispatched.
//! * **Invalid UTF-8** is replaced by U+FFFD following the WHATWG/Unicode "maximal subpart"
//!   rule, exactly like [`String::from_utf8_lossy`]. Each field value is decoded at dispatch,
//!   after the bytes were split into lines and fields; this is exact because CR, LF, `:`, space
//!   and NUL never occur inside a multi-byte UTF-8 sequence. A character split across feeds is
//!   therefore reassembled.
//! * **Comments** are ignored and never surfaced. They are not buffered and do not count towards
//!   the event size limit.
//! * **Field names** are compared byte for byte (case-sensitive); unknown names are ignored.
//! * **End of input.** [`Parser::finish`] returns [`Eof::DiscardedIncompleteEvent`] if, since
//!   the last blank line, a `data`, `event` or `id` line was completed, or any line other than a
//!   comment was in progress (a partial line). A trailing comment, a trailing complete `retry`
//!   line, a completed unknown field, or nothing at all is [`Eof::Clean`].
//! * **Event size limit** (default [`Parser::DEFAULT_MAX_EVENT_SIZE`], 16 MiB). The size of the
//!   event being built is the number of bytes in the data buffer (including the LF appended after
//!   each `data` line, as the specification defines the buffer) plus the event type buffer plus the
//!   last event ID buffer (which persists across events, as in the specification). While an
//!   `event` or `id` line is being read its value counts instead of the buffer it will replace.
//!   Exceeding the limit fails with [`Error::EventTooLarge`] before the offending bytes are
//!   stored, so memory stays bounded by the limit; the parser then stays failed until
//!   [`Parser::reset`].
//! * **Empty input.** `feed(&[])` is a no-op returning `(Status::NeedMoreInput, 0)`.
//! * **After [`Parser::finish`]** the machine is at the start of a line with empty data and event
//!   type buffers; the last event ID, the reconnection time and a failure are kept. Feeding more
//!   bytes continues that stream (no BOM is stripped); [`Parser::reset`] starts a new one.
//! * **[`Parser::event`]** returns the last dispatched event until the next one; its last event
//!   ID is the one in effect at its dispatch, even if a later data-less block changed the
//!   parser's [`last_event_id`](Parser::last_event_id).
//!
//! # How it works
//!
//! The parser is a state machine over bytes with one state per position inside a line, plus a
//! flag remembering that the last line ended with a CR. Field values are never collected into a
//! line buffer: a `data` value is copied straight into the data buffer, an `event` or `id` value
//! into a scratch buffer that is copied into the target buffer when its line
//! ends, and a `retry` value is accumulated as a number.
//!
//! ```text
//!                    +--------------------- CR or LF ends the line ---------------------+
//!                    v                                                                  |
//! (start) Bom ---> LineStart -----> Name -----> ValueStart -----> Value ----------------+
//!          |        | |  ^  |         |   |                          ^                  |
//!          |        | +--+  |         |   +--- CR or LF (no colon) --+                  |
//!          |        | blank |         v                                                 |
//!          |        | line: |       Unknown ------------------------------------------->+
//!          |        | dispatch        ^  ^                                              |
//!          |        |       +---------+  |   (from LineStart: any other first byte)     |
//!          +--------|--------------------+   (from Bom: a partial BOM)                  |
//!                   +---------------> Comment ----------------------------------------->+
//!
//!  Bom{matched}        EF, BB, BF in turn ......... Bom{matched + 1}; after BF: LineStart
//!                      any other byte, matched = 0  LineStart (no BOM; byte processed there)
//!                      any other byte, matched > 0  Unknown (partial BOM = U+FFFD; byte
//!                                                   processed there)
//!  LineStart           LF right after a CR line end swallowed (rest of a CRLF)
//!                      CR or LF ................... dispatch the event; stay in LineStart
//!                      ':' ........................ Comment
//!                      'd' 'e' 'i' 'r' ............ Name{field: data/event/id/retry, 1}
//!                      any other byte ............. Unknown
//!  Name{field, m}      next byte of field's name .. Name{field, m + 1}
//!                      ':' after the whole name ... ValueStart(field)
//!                      CR/LF after the whole name . Value(field) with an empty value
//!                                                   (the line end is processed there)
//!                      any other byte ............. Unknown (byte processed there)
//!  ValueStart(field)   ' ' ........................ Value(field) (one space removed)
//!                      any other byte ............. Value(field) (byte processed there)
//!  Value(field)        run up to CR/LF ............ appended to the field's buffer
//!                      CR or LF ................... process the field; LineStart
//!  Comment, Unknown    run up to CR/LF ............ ignored
//!                      CR or LF ................... LineStart
//!
//!  Every CR that ends a line (in any state) sets the after_cr flag for LineStart.
//! ```
//!
//! A line end is acted on at the CR or LF itself; the `after_cr` flag then makes `LineStart`
//! swallow one LF, so a CRLF split across two feeds is still one line end. `feed` returns right
//! after a dispatch, reporting how many bytes it consumed, so the caller can read the event (it
//! borrows the parser's buffers) and feed the rest.
//!
//! The bytes of an event are validated as UTF-8 once, when the event is dispatched. Valid data
//! (the normal case) is moved into the output `String` without copying; invalid data is decoded
//! with replacement characters into a reused `String`. Once the buffers have grown to the size of
//! the largest event, parsing allocates nothing.

// ------------------------------------------------------------------------------------------------
// NOTES FOR MAINTAINERS: how the machine works, and what must change together.
//
// The specification is written for characters and lines: decode the whole stream as UTF-8, split
// it into lines, then look at each line. A network parser cannot do that literally. Bytes arrive
// in pieces of any size, a line may be megabytes long and arrive one byte at a time, and we want
// neither a line buffer (a copy of every byte before we even know what the line is) nor any
// re-scanning of bytes we have already looked at (that is how SSE parsers go quadratic; see the
// eventsource-parser, eventsource-stream, openai-node and openai-python issue trackers).
//
// So the parser works on bytes and decides what every byte is the moment it sees it. Splitting
// first and decoding later is exact for UTF-8: CR, LF, ':', ' ' and NUL are ASCII and never occur
// inside a multi-byte sequence, so the line and field structure of the bytes is the line and field
// structure of the decoded text, and decoding each field value separately (at dispatch) gives the
// same characters as decoding the whole stream. The one exception is the BOM, which the decoder
// strips before any line exists; that is why the machine starts in `State::Bom`.
//
// The position inside the current line is `self.state` (see the `State` docs and the diagram in
// the module docs). The only other positional state is `after_cr`: a line end is processed at the
// CR itself (so a stream ending in CR is complete), and an LF arriving next (possibly in the next
// `feed`) is then swallowed by `LineStart`. `after_cr` can only be true in `LineStart`, because a
// CR always moves the machine to `LineStart`; that is why only `LineStart` looks at it.
//
// Everything else belongs to the block of lines being interpreted (the "event being built"):
//   data                  the spec's data buffer, raw bytes, one LF appended per data line.
//   event_type            the spec's event type buffer, raw bytes.
//   last_event_id_buffer  the spec's last event ID buffer, raw bytes; NOT cleared at dispatch.
//   value                 the value of the `event` or `id` line in progress. It is copied into
//                         its buffer when the line ends (and ignored for an `id` with a NUL), so
//                         an unterminated line never changes a buffer. `data` values go straight
//                         into `data`; `data_line_start` remembers where the line began so that
//                         `finish` can cut an unterminated data line off again.
//   retry                 the `retry` value in progress, as a number (no bytes stored).
//   block_pending         a data/event/id line completed since the last blank line; only
//                         `finish` needs it.
// and to the outputs, decoded at dispatch: `last_event_id` (the spec's last event ID string),
// `dispatched` (the event `event()` returns), `discarded` (what `finish` dropped).
//
// Why `feed` stops after one dispatch and returns a status instead of the event: the event
// borrows the parser's buffers, and a caller's loop that returns a borrowed event in one arm and
// feeds (mutably borrows) in the other is rejected by today's borrow checker (NLL "problem case
// #3"). A plain `(Status, usize)` keeps both `feed_all` and `EventReader` simple, and makes the
// unit tests one-line `assert_feed!` checks, like csv-core's `assert_read!`.
//
// The hot path. A typical chat line is `data: {...json...}\n\n`: `LineStart` and `Name` compare
// five bytes, `ValueStart` skips the space, `Value` finds the line end with one `memchr2` and
// copies the run with one `extend_from_slice`, and the blank line dispatches: one UTF-8
// validation of the data, a few buffer moves. Per-byte work happens only in the name; everything
// long (values, comments, unknown fields) is handled in runs. Keep it that way: a per-byte loop
// over values costs several times the throughput (see `benches/sse.rs`).
//
// Things that must change together:
// * A new `State` variant needs: its arm in `feed`, its answer in `finish` (is a line in progress,
//   and does an unterminated value need to be cut off), and a line in the module diagram.
// * A new field name needs: `Field::name`, `Field::from_first_byte` (the first bytes of all
//   names must stay distinct, or `Name` has to track several candidates), and arms in
//   `begin_value`, `append` and `commit`. If it stores bytes, count them in `event_size`.
// * The limit is enforced in `append` and `commit` only, before bytes are stored. Anything
//   that stores bytes elsewhere must check it too, or memory is no longer bounded.
// * `dispatch` follows the numbered steps of 9.2.6; keep the step numbers in its comments in sync
//   with the specification text if it is renumbered.
// * `reset` must clear every field added to `Parser` (except the limit). `finish` must leave the
//   machine in `LineStart` with the block buffers empty.
// * The zero-allocation property: no `String`/`Vec`/`Box`/`format!` on the per-byte, per-line or
//   per-event paths. Buffers are cleared (capacity kept), copied into, or moved between `Vec<u8>` and
//   `String` (`String::from_utf8` and `String::into_bytes` reuse the allocation). Invalid UTF-8
//   is decoded with `utf8_chunks` into a reused `String`, never through `from_utf8_lossy` (its
//   `Cow` allocates). An allocation-counting test guards this; keep it passing.
// * No `unsafe`, no indexing or `unwrap` that could panic on any input: slices are split with
//   `split_first`, `get` and `split_at_checked`.
// ------------------------------------------------------------------------------------------------

use std::fmt;
use std::io;
use std::mem;
use std::ops::ControlFlow;

/// The UTF-8 encoding of U+FEFF BYTE ORDER MARK.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The event type of an event whose event type buffer was empty (9.2.6, dispatch step 5:
/// "Initialize event's type attribute to "message"").
const DEFAULT_EVENT_TYPE: &str = "message";

/// Resumable push parser for `text/event-stream` (WHATWG HTML 9.2.5 and 9.2.6).
///
/// Feed it bytes with [`feed`](Parser::feed) (or [`feed_all`](Parser::feed_all)); after a
/// [`Status::Event`] read the event with [`event`](Parser::event). At the end of the stream call
/// [`finish`](Parser::finish) to learn whether an unterminated event was discarded. See the
/// [module documentation](self) for the exact rules and an example.
///
/// The parser owns every buffer it needs. They grow to the size of the largest event seen (bounded
/// by [`max_event_size`](Parser::max_event_size)) and are then reused, so a warm parser does not
/// allocate.
pub struct Parser {
    /// Where in the current line the parser is.
    state: State,
    /// The last line ended with a CR, so an LF that comes next is the rest of a CRLF.
    after_cr: bool,

    /// The spec's *data buffer*: the values of the block's `data` lines, each followed by LF.
    data: Vec<u8>,
    /// Length of `data` before the value of the `data` line in progress (for `finish`).
    data_line_start: usize,
    /// The spec's *event type buffer*.
    event_type: Vec<u8>,
    /// The spec's *last event ID buffer* (not reset by a dispatch).
    last_event_id_buffer: Vec<u8>,
    /// `last_event_id_buffer` was set since the last dispatch updated `last_event_id`.
    last_event_id_buffer_changed: bool,
    /// Value of the `event` or `id` line in progress, copied into its buffer at the line end.
    value: Vec<u8>,
    /// The `id` value in progress contains U+0000 NULL, so the field is ignored.
    value_has_nul: bool,
    /// The `retry` value in progress.
    retry: Retry,
    /// A `data`, `event` or `id` line was completed since the last blank line.
    block_pending: bool,

    /// The stream's *reconnection time* in milliseconds, set by the last valid `retry` field.
    reconnection_time: Option<u64>,
    /// The spec's *last event ID string*, set from the buffer by every dispatch (step 1).
    last_event_id: String,
    /// `last_event_id` changed after `dispatched.last_event_id` was copied from it.
    dispatched_id_stale: bool,
    /// The last dispatched event, decoded.
    dispatched: Decoded,
    /// The event `finish` discarded (valid while `has_discarded`).
    discarded: Decoded,
    /// The last call of `finish` returned `Eof::DiscardedIncompleteEvent`.
    has_discarded: bool,

    /// Cap on the size of the event being built (see `event_size`).
    max_event_size: usize,
    /// Set once the limit was exceeded; every later `feed` returns it until `reset`.
    failed: Option<Error>,
}

/// Where the parser is inside the current line.
///
/// The spec (9.2.6) reads the decoded stream "line by line" and then looks at each line as a
/// whole. Each variant here is the part of that reading that can be decided from the bytes seen so
/// far, so the machine never has to look back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of the stream, `matched` bytes of a UTF-8 BOM seen (0 to 2).
    ///
    /// 9.2.6: "Streams must be decoded using the UTF-8 decode algorithm. [...] The UTF-8 decode
    /// algorithm strips one leading UTF-8 Byte Order Mark (BOM), if any." The three BOM bytes may
    /// arrive in separate feeds. A byte that does not continue the BOM after one or two matched
    /// bytes makes those bytes an invalid sequence (U+FFFD), which begins the first line: an
    /// unknown field name, so the machine continues in `Unknown` with that byte.
    Bom { matched: usize },
    /// No byte of the current line seen yet.
    ///
    /// 9.2.6: "If the line is empty (a blank line): Dispatch the event". "If the line starts with
    /// a U+003A COLON character (:): Ignore the line." An LF directly after a CR line end is not a
    /// line: "a single U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN
    /// (CR) character" ends a line, one preceded by a CR completes the CRLF.
    LineStart,
    /// Reading a field name that so far equals the first `matched` bytes of `field`'s name.
    ///
    /// 9.2.6: "Collect the characters on the line before the first U+003A COLON character (:),
    /// and let field be that string." If the line ends without a colon: "Process the field [...]
    /// using the whole line as the field name, and the empty string as the field value." "Field
    /// names must be compared literally, with no case folding performed."
    Name { field: Field, matched: usize },
    /// Just after the colon that ends the name of a known field.
    ///
    /// 9.2.6: "Collect the characters on the line after the first U+003A COLON character (:), and
    /// let value be that string. If value starts with a U+0020 SPACE character, remove it from
    /// value." Only one space is removed; any further space is part of the value.
    ValueStart(Field),
    /// Reading the value of a known field up to the end of the line, then processing the field.
    ///
    /// 9.2.6: "Process the field using the steps described below, using field as the field name
    /// and value as the field value." The value bytes stream into their destination as they
    /// arrive (see `Parser::append`); the field is processed at the line end (`Parser::commit`).
    Value(Field),
    /// Inside a comment line, skipped up to the end of the line.
    ///
    /// 9.2.6: "If the line starts with a U+003A COLON character (:): Ignore the line."
    Comment,
    /// Inside a line whose field name is not one of the four known names, skipped up to its end.
    ///
    /// 9.2.6, processing a field: "Otherwise: The field is ignored."
    Unknown,
}

/// The four field names the specification gives a meaning to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `data`: "Append the field value to the data buffer, then append a single U+000A LINE FEED
    /// (LF) character to the data buffer."
    Data,
    /// `event`: "Set the event type buffer to field value."
    Event,
    /// `id`: "If the field value does not contain U+0000 NULL, then set the last event ID buffer
    /// to the field value. Otherwise, ignore the field."
    Id,
    /// `retry`: "If the field value consists of only ASCII digits, then interpret the field value
    /// as an integer in base ten, and set the event stream's reconnection time to that integer.
    /// Otherwise, ignore the field."
    Retry,
}

impl Field {
    /// The field name as it appears on the wire.
    fn name(self) -> &'static [u8] {
        match self {
            Field::Data => b"data",
            Field::Event => b"event",
            Field::Id => b"id",
            Field::Retry => b"retry",
        }
    }

    /// The only field whose name starts with `byte`, if any (the four first bytes differ).
    fn from_first_byte(byte: u8) -> Option<Field> {
        match byte {
            b'd' => Some(Field::Data),
            b'e' => Some(Field::Event),
            b'i' => Some(Field::Id),
            b'r' => Some(Field::Retry),
            _ => None,
        }
    }
}

/// The value of the `retry` line in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// No byte of the value yet (an empty value is ignored).
    Empty,
    /// Only ASCII digits so far; their base-ten value.
    Digits(u64),
    /// A byte other than an ASCII digit, or a value too large for `u64`: the field is ignored.
    Invalid,
}

/// The decoded strings of an event, kept by the parser so that [`Event`] can borrow them.
#[derive(Debug, Default)]
struct Decoded {
    /// The event type, never empty once an event was decoded ("message" by default).
    event_type: String,
    /// The data, with the final LF removed.
    data: String,
    /// The last event ID string in effect at dispatch.
    last_event_id: String,
}

impl Decoded {
    fn clear(&mut self) {
        self.event_type.clear();
        self.data.clear();
        self.last_event_id.clear();
    }

    #[inline]
    fn event(&self) -> Event<'_> {
        Event {
            event_type: if self.event_type.is_empty() {
                DEFAULT_EVENT_TYPE
            } else {
                &self.event_type
            },
            data: &self.data,
            last_event_id: &self.last_event_id,
        }
    }
}

/// What [`Parser::feed`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// All of the input was consumed without dispatching an event.
    NeedMoreInput,
    /// An event was dispatched; read it with [`Parser::event`] before feeding more input.
    Event,
}

/// One dispatched event, borrowed from the [`Parser`] (valid until its next `feed`).
///
/// This corresponds to the `MessageEvent` the specification creates in 9.2.6, dispatch steps 4
/// to 6, without the browser-only `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    event_type: &'a str,
    data: &'a str,
    last_event_id: &'a str,
}

impl<'a> Event<'a> {
    /// The event type: the event type buffer, or `"message"` when the buffer was empty.
    ///
    /// 9.2.6, dispatch steps 5 and 6: "Initialize event's type attribute to "message" [...] If the
    /// event type buffer has a value other than the empty string, change the type of the newly
    /// created event to equal the value of the event type buffer."
    #[inline]
    pub fn event_type(&self) -> &'a str {
        self.event_type
    }

    /// The data: the `data` lines joined with LF (the data buffer without its final LF).
    ///
    /// 9.2.6, dispatch step 3: "If the data buffer's last character is a U+000A LINE FEED (LF)
    /// character, then remove the last character from the data buffer."
    #[inline]
    pub fn data(&self) -> &'a str {
        self.data
    }

    /// The last event ID string in effect when this event was dispatched (`""` if none).
    ///
    /// 9.2.6, dispatch step 5: "Initialize event's type attribute to "message", its data attribute
    /// to data, [...] and its lastEventId attribute to the last event ID string of the event
    /// source." It persists across events until an `id` field changes it.
    #[inline]
    pub fn last_event_id(&self) -> &'a str {
        self.last_event_id
    }
}

/// How a stream ended, as reported by [`Parser::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eof {
    /// Nothing was pending: the stream ended after a blank line, or after comments, `retry`
    /// lines or unknown fields only.
    Clean,
    /// An incomplete event (or an unterminated line) was discarded, as 9.2.6 requires: "Once the
    /// end of the file is reached, any pending data must be discarded." See
    /// [`Parser::discarded`].
    DiscardedIncompleteEvent,
}

/// Why [`Parser::feed`] failed. Only configured limits fail: the format itself has no errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The event being built grew beyond the parser's
    /// [`max_event_size`](Parser::max_event_size) bytes (see the module's `# Conformance`
    /// section for what is counted).
    EventTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EventTooLarge { limit } => {
                write!(
                    f,
                    "server-sent event larger than the limit of {limit} bytes"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl Default for Parser {
    fn default() -> Parser {
        Parser::new()
    }
}

impl fmt::Debug for Parser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parser")
            .field("state", &self.state)
            .field("after_cr", &self.after_cr)
            .field("data_len", &self.data.len())
            .field("last_event_id", &self.last_event_id)
            .field("reconnection_time", &self.reconnection_time)
            .field("max_event_size", &self.max_event_size)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Parser {
    /// The default for [`max_event_size`](Parser::max_event_size): 16 MiB.
    ///
    /// Generous on purpose: some servers send multi-megabyte events (base64 images), and a low cap
    /// breaks them. The cap exists so that a broken or hostile stream cannot exhaust memory.
    pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

    /// A parser at the start of a stream, with the default event size limit.
    ///
    /// No buffer is allocated until bytes arrive.
    pub fn new() -> Parser {
        Parser::with_max_event_size(Parser::DEFAULT_MAX_EVENT_SIZE)
    }

    /// A parser at the start of a stream that fails with [`Error::EventTooLarge`] once the event
    /// being built exceeds `limit` bytes.
    ///
    /// The size counts the data buffer (one LF per `data` line included), the event type buffer
    /// and the last event ID buffer. After the error the parser stays failed (every later `feed`
    /// returns the same error) until [`reset`](Parser::reset).
    ///
    /// ```
    /// use chatstream::sse::{Error, Parser};
    ///
    /// let mut parser = Parser::with_max_event_size(8);
    /// assert!(parser.feed(b"data: 1234567\n").is_ok()); // 7 bytes + LF
    /// assert_eq!(parser.feed(b"data: x\n"), Err(Error::EventTooLarge { limit: 8 }));
    /// assert_eq!(parser.feed(b"\n"), Err(Error::EventTooLarge { limit: 8 }));
    /// ```
    pub fn with_max_event_size(limit: usize) -> Parser {
        Parser {
            state: State::Bom { matched: 0 },
            after_cr: false,
            data: Vec::new(),
            data_line_start: 0,
            event_type: Vec::new(),
            last_event_id_buffer: Vec::new(),
            last_event_id_buffer_changed: false,
            value: Vec::new(),
            value_has_nul: false,
            retry: Retry::Empty,
            block_pending: false,
            reconnection_time: None,
            last_event_id: String::new(),
            dispatched_id_stale: false,
            dispatched: Decoded::default(),
            discarded: Decoded::default(),
            has_discarded: false,
            max_event_size: limit,
            failed: None,
        }
    }

    /// The event size limit in bytes (see [`with_max_event_size`](Parser::with_max_event_size)).
    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    /// Parses bytes of `input` up to and including at most one dispatch.
    ///
    /// Returns `(Status::Event, n)` when an event was dispatched after consuming the first `n`
    /// bytes of `input` (the last of them ends the blank line); read the event with
    /// [`event`](Parser::event), then feed `&input[n..]`. Otherwise returns
    /// `(Status::NeedMoreInput, input.len())`: everything was consumed and the parser waits for
    /// more. A blank line whose data buffer is empty dispatches nothing, so it does not stop
    /// `feed`.
    ///
    /// `input` may be split anywhere, even inside a CRLF, a BOM or a multi-byte character, with
    /// the same result. Bytes consumed by one call are never looked at again, so the total cost
    /// is linear in the input however it is split. `feed(&[])` does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::EventTooLarge`] when the event being built exceeds
    /// [`max_event_size`](Parser::max_event_size). The parser then stays failed: every later call
    /// returns the same error until [`reset`](Parser::reset).
    ///
    /// ```
    /// use chatstream::sse::{Parser, Status};
    ///
    /// let mut parser = Parser::new();
    /// let input = b"data: a\n\ndata: b\n";
    /// assert_eq!(parser.feed(input)?, (Status::Event, 9));
    /// assert_eq!(parser.event().data(), "a");
    /// assert_eq!(parser.feed(&input[9..])?, (Status::NeedMoreInput, 8));
    /// assert_eq!(parser.feed(b"\n")?, (Status::Event, 1));
    /// assert_eq!(parser.event().data(), "b");
    /// # Ok::<(), chatstream::sse::Error>(())
    /// ```
    pub fn feed(&mut self, input: &[u8]) -> Result<(Status, usize), Error> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let mut rest = input;
        loop {
            match self.state {
                State::Bom { matched } => {
                    let Some((&byte, tail)) = rest.split_first() else {
                        break;
                    };
                    if BOM.get(matched) == Some(&byte) {
                        rest = tail;
                        self.state = if matched + 1 == BOM.len() {
                            State::LineStart
                        } else {
                            State::Bom {
                                matched: matched + 1,
                            }
                        };
                    } else if matched == 0 {
                        // No BOM: the byte starts the first line.
                        self.state = State::LineStart;
                    } else {
                        // A partial BOM decodes to U+FFFD, the start of an unknown field name.
                        self.state = State::Unknown;
                    }
                }
                State::LineStart => {
                    if let Some(value) = rest.strip_prefix(b"data:") {
                        // The common line, taken at once: what `Name` would conclude after
                        // matching `data` and the colon byte by byte. (The first byte is not an
                        // LF, so a pending CR has nothing to swallow.)
                        self.after_cr = false;
                        self.begin_value(Field::Data);
                        self.state = State::ValueStart(Field::Data);
                        rest = value;
                        continue;
                    }
                    let Some((&byte, tail)) = rest.split_first() else {
                        break;
                    };
                    rest = tail;
                    if mem::take(&mut self.after_cr) && byte == b'\n' {
                        // The LF of a CRLF whose CR already ended the previous line.
                        continue;
                    }
                    match byte {
                        b'\r' | b'\n' => {
                            self.after_cr = byte == b'\r';
                            if self.dispatch() {
                                return Ok((Status::Event, consumed(input, rest)));
                            }
                        }
                        b':' => self.state = State::Comment,
                        _ => {
                            self.state = match Field::from_first_byte(byte) {
                                Some(field) => State::Name { field, matched: 1 },
                                None => State::Unknown,
                            };
                        }
                    }
                }
                State::Name { field, matched } => {
                    let name = field.name();
                    let expected = name.get(matched..).unwrap_or_default();
                    let same = rest
                        .iter()
                        .zip(expected)
                        .take_while(|(got, want)| got == want)
                        .count();
                    let matched = matched + same;
                    rest = rest.get(same..).unwrap_or_default();
                    let Some((&byte, tail)) = rest.split_first() else {
                        self.state = State::Name { field, matched };
                        break;
                    };
                    let whole_name = matched == name.len();
                    self.state = match byte {
                        b':' if whole_name => {
                            rest = tail;
                            self.begin_value(field);
                            State::ValueStart(field)
                        }
                        // No colon: the whole line is the name and the value is empty. `Value`
                        // sees the line end at once and processes the field.
                        b'\r' | b'\n' if whole_name => {
                            self.begin_value(field);
                            State::Value(field)
                        }
                        // A longer or different name: unknown. Reprocess the byte there (it may
                        // be a line end).
                        _ => State::Unknown,
                    };
                }
                State::ValueStart(field) => {
                    let Some((&byte, tail)) = rest.split_first() else {
                        break;
                    };
                    if byte == b' ' {
                        rest = tail;
                    }
                    self.state = State::Value(field);
                }
                State::Value(field) => match split_at_line_end(rest) {
                    Some((run, line_end, after)) => {
                        self.append(field, run)?;
                        self.commit(field)?;
                        self.end_line(line_end);
                        rest = after;
                    }
                    None => {
                        self.append(field, rest)?;
                        break;
                    }
                },
                State::Comment | State::Unknown => match split_at_line_end(rest) {
                    Some((_ignored, line_end, after)) => {
                        self.end_line(line_end);
                        rest = after;
                    }
                    None => break,
                },
            }
        }
        Ok((Status::NeedMoreInput, input.len()))
    }

    /// Feeds all of `input`, calling `on_event` for every dispatched event.
    ///
    /// Stops early and returns `ControlFlow::Break(())` when `on_event` does; the bytes after
    /// that event are then not consumed. Returns `ControlFlow::Continue(())` once all of `input`
    /// was consumed.
    ///
    /// # Errors
    ///
    /// As [`feed`](Parser::feed): [`Error::EventTooLarge`] (also when the parser had already
    /// failed before this call).
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use chatstream::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// let mut data = Vec::new();
    /// parser.feed_all(b"data: 1\n\ndata: [DONE]\n\ndata: ignored\n\n", |event| {
    ///     if event.data() == "[DONE]" {
    ///         return ControlFlow::Break(());
    ///     }
    ///     data.push(event.data().to_owned());
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(data, ["1"]);
    /// # Ok::<(), chatstream::sse::Error>(())
    /// ```
    pub fn feed_all(
        &mut self,
        mut input: &[u8],
        mut on_event: impl FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, Error> {
        loop {
            let (status, consumed) = self.feed(input)?;
            input = input.get(consumed..).unwrap_or_default();
            if status == Status::Event && on_event(self.event()).is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if input.is_empty() {
                return Ok(ControlFlow::Continue(()));
            }
        }
    }

    /// The event dispatched by the last [`feed`](Parser::feed) that returned [`Status::Event`].
    ///
    /// Read it before feeding more input. Called at any other time it returns the last
    /// dispatched event (or, before the first one, an event with empty data and type
    /// `"message"`); it never panics.
    #[inline]
    pub fn event(&self) -> Event<'_> {
        self.dispatched.event()
    }

    /// Ends the stream: "any pending data must be discarded" (9.2.6).
    ///
    /// Returns [`Eof::DiscardedIncompleteEvent`] if, since the last blank line, a `data`, `event`
    /// or `id` line was completed or any line other than a comment was still in progress;
    /// [`discarded`](Parser::discarded) then shows what was lost. Otherwise returns
    /// [`Eof::Clean`]. A trailing CR has already ended its line, so `data: x\r\r` leaves nothing
    /// to discard.
    ///
    /// `finish` then empties the data and event type buffers and returns the machine to the start
    /// of a line. It does not clear the last event ID or the reconnection time (a reconnecting
    /// client needs both), nor a failure. To parse a new stream call [`reset`](Parser::reset),
    /// which also re-arms BOM stripping.
    ///
    /// ```
    /// use chatstream::sse::{Eof, Parser};
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"data: [DONE]\n")?; // the server hung up before the blank line
    /// assert_eq!(parser.finish(), Eof::DiscardedIncompleteEvent);
    /// assert_eq!(parser.discarded().map(|event| event.data()), Some("[DONE]"));
    /// # Ok::<(), chatstream::sse::Error>(())
    /// ```
    pub fn finish(&mut self) -> Eof {
        let line_in_progress = match self.state {
            State::Bom { matched } => matched > 0,
            State::LineStart | State::Comment => false,
            State::Name { .. } | State::ValueStart(_) | State::Value(_) | State::Unknown => true,
        };
        if let State::ValueStart(Field::Data) | State::Value(Field::Data) = self.state {
            // The unterminated line is not part of the discarded event.
            self.data.truncate(self.data_line_start);
        }
        let eof = if self.block_pending || line_in_progress {
            Eof::DiscardedIncompleteEvent
        } else {
            Eof::Clean
        };
        self.has_discarded = eof == Eof::DiscardedIncompleteEvent;
        if self.has_discarded {
            // What dispatch steps 1, 3, 5 and 6 would have produced from the complete lines.
            let data = self.data.strip_suffix(b"\n").unwrap_or(&self.data);
            decode_into(data, &mut self.discarded.data);
            decode_into(&self.event_type, &mut self.discarded.event_type);
            decode_into(
                &self.last_event_id_buffer,
                &mut self.discarded.last_event_id,
            );
        }
        self.data.clear();
        self.event_type.clear();
        self.block_pending = false;
        self.state = State::LineStart;
        self.after_cr = false;
        eof
    }

    /// The event discarded by the last [`finish`](Parser::finish), if it returned
    /// [`Eof::DiscardedIncompleteEvent`].
    ///
    /// This is the event a blank line would have dispatched at that point, built from complete
    /// lines only (an unterminated last line is not part of it). Its data may be empty and its
    /// type is the event type buffer or `"message"`; its last event ID is the last event ID
    /// buffer. `None` if `finish` returned [`Eof::Clean`] or was not called since the parser was
    /// created or [`reset`](Parser::reset).
    pub fn discarded(&self) -> Option<Event<'_>> {
        self.has_discarded.then(|| self.discarded.event())
    }

    /// The last event ID string: the last event ID buffer as of the last blank line (`""` if
    /// none).
    ///
    /// 9.2.6, dispatch step 1: "Set the last event ID string of the event source to the value of
    /// the last event ID buffer. The buffer does not get reset, so the last event ID string of
    /// the event source remains set to this value until the next time it is set by the server."
    /// A reconnecting client sends it as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds set by the last valid `retry` field, if any.
    ///
    /// It takes effect as soon as the `retry` line ends, even if its block never dispatches.
    pub fn reconnection_time(&self) -> Option<u64> {
        self.reconnection_time
    }

    /// Returns the parser to the start of a new stream.
    ///
    /// Clears everything (buffers, last event ID, reconnection time, the BOM state, a failure and
    /// the discarded event) except the event size limit. Keeps the buffers' capacity.
    pub fn reset(&mut self) {
        self.state = State::Bom { matched: 0 };
        self.after_cr = false;
        self.data.clear();
        self.data_line_start = 0;
        self.event_type.clear();
        self.last_event_id_buffer.clear();
        self.last_event_id_buffer_changed = false;
        self.value.clear();
        self.value_has_nul = false;
        self.retry = Retry::Empty;
        self.block_pending = false;
        self.reconnection_time = None;
        self.last_event_id.clear();
        self.dispatched_id_stale = false;
        self.dispatched.clear();
        self.discarded.clear();
        self.has_discarded = false;
        self.failed = None;
    }

    /// Prepares for the value of `field`, whose name (and colon, if any) was just read.
    fn begin_value(&mut self, field: Field) {
        match field {
            Field::Data => self.data_line_start = self.data.len(),
            Field::Event | Field::Id => {
                self.value.clear();
                self.value_has_nul = false;
            }
            Field::Retry => self.retry = Retry::Empty,
        }
    }

    /// Streams a run of value bytes (containing no CR or LF) to the destination of `field`.
    fn append(&mut self, field: Field, run: &[u8]) -> Result<(), Error> {
        if run.is_empty() {
            return Ok(());
        }
        match field {
            Field::Data => {
                self.check_size(field, run.len())?;
                self.data.extend_from_slice(run);
            }
            Field::Event | Field::Id => {
                self.check_size(field, run.len())?;
                if field == Field::Id && run.contains(&0) {
                    self.value_has_nul = true;
                }
                self.value.extend_from_slice(run);
            }
            Field::Retry => {
                for &byte in run {
                    self.retry = match (self.retry, byte) {
                        (Retry::Empty, b'0'..=b'9') => Retry::Digits(u64::from(byte - b'0')),
                        (Retry::Digits(ms), b'0'..=b'9') => ms
                            .checked_mul(10)
                            .and_then(|ms| ms.checked_add(u64::from(byte - b'0')))
                            .map_or(Retry::Invalid, Retry::Digits),
                        _ => Retry::Invalid,
                    };
                    if self.retry == Retry::Invalid {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Processes `field` at the end of its line (9.2.6, "the steps to process the field").
    fn commit(&mut self, field: Field) -> Result<(), Error> {
        match field {
            Field::Data => {
                // "Append the field value to the data buffer, then append a single U+000A LINE
                // FEED (LF) character to the data buffer." (The value is already there.)
                self.check_size(field, 1)?;
                self.data.push(b'\n');
                self.block_pending = true;
            }
            Field::Event => {
                // "Set the event type buffer to field value."
                // Copied, not swapped: a swap would move capacities between the two buffers,
                // so values of different lengths could make a warm parser allocate again.
                self.event_type.clear();
                self.event_type.extend_from_slice(&self.value);
                self.block_pending = true;
            }
            Field::Id => {
                // "If the field value does not contain U+0000 NULL, then set the last event ID
                // buffer to the field value. Otherwise, ignore the field."
                if !self.value_has_nul {
                    self.last_event_id_buffer.clear();
                    self.last_event_id_buffer.extend_from_slice(&self.value);
                    self.last_event_id_buffer_changed = true;
                }
                self.block_pending = true;
            }
            Field::Retry => {
                // "If the field value consists of only ASCII digits, then interpret the field
                // value as an integer in base ten, and set the event stream's reconnection time
                // to that integer. Otherwise, ignore the field."
                if let Retry::Digits(ms) = self.retry {
                    self.reconnection_time = Some(ms);
                }
            }
        }
        Ok(())
    }

    /// The line ended at `line_end` (CR or LF): back to the start of a line.
    fn end_line(&mut self, line_end: u8) {
        self.after_cr = line_end == b'\r';
        self.state = State::LineStart;
    }

    /// Size of the event being built while a value of `field` is read: data buffer, plus event
    /// type, plus last event ID, where the value in progress stands in for the buffer it will
    /// replace.
    fn event_size(&self, field: Field) -> usize {
        let event_type = match field {
            Field::Event => self.value.len(),
            _ => self.event_type.len(),
        };
        let last_event_id = match field {
            Field::Id => self.value.len(),
            _ => self.last_event_id_buffer.len(),
        };
        self.data
            .len()
            .saturating_add(event_type)
            .saturating_add(last_event_id)
    }

    /// Fails (for good, until `reset`) if storing `extra` more bytes for `field` would exceed
    /// the limit.
    fn check_size(&mut self, field: Field, extra: usize) -> Result<(), Error> {
        if self.event_size(field).saturating_add(extra) > self.max_event_size {
            let error = Error::EventTooLarge {
                limit: self.max_event_size,
            };
            self.failed = Some(error);
            return Err(error);
        }
        Ok(())
    }

    /// A blank line: "dispatch the event" (9.2.6). Returns whether an event was dispatched.
    fn dispatch(&mut self) -> bool {
        self.block_pending = false;
        // Step 1: "Set the last event ID string of the event source to the value of the last
        // event ID buffer. The buffer does not get reset [...]". Decoded only when it changed.
        if mem::take(&mut self.last_event_id_buffer_changed) {
            decode_into(&self.last_event_id_buffer, &mut self.last_event_id);
            self.dispatched_id_stale = true;
        }
        // Step 2: "If the data buffer is an empty string, set the data buffer and the event type
        // buffer to the empty string and return."
        if self.data.is_empty() {
            self.event_type.clear();
            return false;
        }
        // Step 3: "If the data buffer's last character is a U+000A LINE FEED (LF) character,
        // then remove the last character from the data buffer." (It always is.)
        if self.data.last() == Some(&b'\n') {
            self.data.pop();
        }
        // Steps 4 to 6: create the event. Type "message" unless the event type buffer is set;
        // lastEventId is the last event ID string. The data moves into the event without a copy
        // when it is valid UTF-8; the event's old string becomes the (cleared) data buffer.
        let data = mem::take(&mut self.data);
        self.data = match String::from_utf8(data) {
            Ok(text) => mem::replace(&mut self.dispatched.data, text).into_bytes(),
            Err(invalid) => {
                let bytes = invalid.into_bytes();
                decode_lossy_into(&bytes, &mut self.dispatched.data);
                bytes
            }
        };
        if self.event_type.is_empty() {
            self.dispatched.event_type.clear();
            self.dispatched.event_type.push_str(DEFAULT_EVENT_TYPE);
        } else {
            decode_into(&self.event_type, &mut self.dispatched.event_type);
        }
        if mem::take(&mut self.dispatched_id_stale) {
            self.dispatched.last_event_id.clear();
            self.dispatched.last_event_id.push_str(&self.last_event_id);
        }
        // Step 7: "Set the data buffer and the event type buffer to the empty string."
        self.data.clear();
        // The data buffer and the event's string trade allocations at every dispatch. Keep the
        // two equally large, so that once both have held the largest event of a stream, later
        // events of any size in any order reuse them without allocating.
        let largest = self.dispatched.data.capacity();
        if self.data.capacity() < largest {
            // `reserve_exact`, not `reserve`: after `clear` the length is 0, and the amortised
            // growth of `reserve` (at least double the old capacity) would overshoot
            // `largest`, so the two buffers would keep outgrowing each other at every dispatch.
            self.data.reserve_exact(largest);
        }
        self.event_type.clear();
        true
    }
}

/// Number of bytes of `input` consumed when `rest` is what is left of it.
fn consumed(input: &[u8], rest: &[u8]) -> usize {
    input.len().saturating_sub(rest.len())
}

/// Splits `bytes` at its first CR or LF into the run before it, the CR or LF, and the bytes
/// after it. `None` if `bytes` contains no line end.
fn split_at_line_end(bytes: &[u8]) -> Option<(&[u8], u8, &[u8])> {
    let index = if bytes.len() < 16 {
        bytes.iter().position(|&b| b == b'\r' || b == b'\n')?
    } else {
        memchr::memchr2(b'\r', b'\n', bytes)?
    };
    let (run, tail) = bytes.split_at_checked(index)?;
    let (&line_end, after) = tail.split_first()?;
    Some((run, line_end, after))
}

/// Decodes `bytes` into `out` (cleared first), replacing invalid UTF-8 with U+FFFD.
fn decode_into(bytes: &[u8], out: &mut String) {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            out.clear();
            out.push_str(text);
        }
        Err(_) => decode_lossy_into(bytes, out),
    }
}

/// Decodes `bytes` into `out` (cleared first), replacing each maximal invalid subpart with
/// U+FFFD, as [`String::from_utf8_lossy`] does, but into a reused `String`.
fn decode_lossy_into(bytes: &[u8], out: &mut String) {
    out.clear();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// Pull adapter: reads an event stream from any [`io::Read`] and returns its events one by one.
///
/// Each refill is exactly one `read` into a buffer allocated once, and its bytes are fed to the
/// parser at once, so an event is returned the moment the read that contains its blank line
/// returns: the reader never waits for more data than the server has sent (no `read_exact`, no
/// reading until the buffer is full). Bytes after a returned event stay in the buffer for the
/// next call. `next_event` is a lending method (the event borrows the reader), so this is not an
/// `Iterator`.
///
/// ```
/// use chatstream::sse::EventReader;
///
/// let mut reader = EventReader::new(&b"id: 1\ndata: a\n\ndata: b\n\n"[..]);
/// let event = reader.next_event()?.expect("an event");
/// assert_eq!((event.data(), event.last_event_id()), ("a", "1"));
/// let event = reader.next_event()?.expect("an event");
/// assert_eq!((event.data(), event.last_event_id()), ("b", "1"));
/// assert!(reader.next_event()?.is_none());
/// # Ok::<(), chatstream::sse::ReadError>(())
/// ```
pub struct EventReader<R> {
    reader: R,
    parser: Parser,
    /// Read buffer, allocated once; `buffer[start..end]` is read but not yet fed.
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    eof: Option<Eof>,
}

impl<R: io::Read> EventReader<R> {
    /// Reads events from `reader` with a default [`Parser`] and an 8 KiB buffer.
    pub fn new(reader: R) -> Self {
        EventReader::with_parser(reader, Parser::new())
    }

    /// Reads events from `reader` with `parser` (e.g. one with a different event size limit) and
    /// an 8 KiB buffer.
    pub fn with_parser(reader: R, parser: Parser) -> Self {
        EventReader::with_capacity(8 * 1024, reader, parser)
    }

    /// Reads events from `reader` with `parser` and a buffer of `capacity` bytes (at least 1).
    ///
    /// The buffer only bounds how much one `read` may return; events may be much larger.
    pub fn with_capacity(capacity: usize, reader: R, parser: Parser) -> Self {
        EventReader {
            reader,
            parser,
            buffer: vec![0; capacity.max(1)].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: None,
        }
    }

    /// The next event, or `Ok(None)` at the end of the stream.
    ///
    /// Feeds the bytes left over from the previous call, then reads (one `read` per refill) until
    /// an event is dispatched. When `read` returns 0 the stream has ended: the parser's
    /// [`finish`](Parser::finish) is called, its result is kept for [`eof`](EventReader::eof), and
    /// this and every later call return `Ok(None)` without reading again.
    ///
    /// # Errors
    ///
    /// [`ReadError::Io`] for an error of the reader other than
    /// [`io::ErrorKind::Interrupted`] (which is retried); [`ReadError::Parse`] when the parser
    /// fails ([`Error::EventTooLarge`]). The reader can be called again after an I/O error.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, ReadError> {
        if self.eof.is_some() {
            return Ok(None);
        }
        loop {
            let pending = self.buffer.get(self.start..self.end).unwrap_or_default();
            if !pending.is_empty() {
                let (status, consumed) = self.parser.feed(pending).map_err(ReadError::Parse)?;
                self.start = self.start.saturating_add(consumed).min(self.end);
                if status == Status::Event {
                    return Ok(Some(self.parser.event()));
                }
            }
            self.start = 0;
            self.end = 0;
            let read = loop {
                match self.reader.read(&mut self.buffer) {
                    Ok(read) => break read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(ReadError::Io(error)),
                }
            };
            if read == 0 {
                self.eof = Some(self.parser.finish());
                return Ok(None);
            }
            self.end = read.min(self.buffer.len());
        }
    }
}

impl<R> EventReader<R> {
    /// How the stream ended: `Some` once [`next_event`](EventReader::next_event) returned
    /// `Ok(None)`, with the result of [`Parser::finish`].
    pub fn eof(&self) -> Option<Eof> {
        self.eof
    }

    /// The parser, e.g. for [`Parser::last_event_id`], [`Parser::reconnection_time`] or
    /// [`Parser::discarded`].
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The parser, mutably: e.g. to call [`Parser::finish`] when the
    /// underlying reader failed (a reset connection) and the caller wants to
    /// know what was pending.
    pub fn parser_mut(&mut self) -> &mut Parser {
        &mut self.parser
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably. Reading from it directly skips those bytes.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The underlying reader. Bytes already read but not yet parsed are lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: fmt::Debug> fmt::Debug for EventReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReader")
            .field("reader", &self.reader)
            .field("parser", &self.parser)
            .field("buffered", &self.end.saturating_sub(self.start))
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

/// Why [`EventReader::next_event`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading failed (any [`io::ErrorKind`] except `Interrupted`, which is retried).
    Io(io::Error),
    /// The parser failed: the event was larger than its limit.
    Parse(Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(_) => f.write_str("reading the event stream failed"),
            ReadError::Parse(_) => f.write_str("parsing the event stream failed"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(error) => Some(error),
            ReadError::Parse(error) => Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `$input` and checks `(status, consumed)`, like csv-core's `assert_read!`.
    macro_rules! assert_feed {
        ($parser:expr, $input:expr, $status:ident, $consumed:expr) => {
            assert_eq!(
                $parser.feed($input),
                Ok((Status::$status, $consumed)),
                "feeding {:?}",
                String::from_utf8_lossy($input)
            );
        };
    }

    /// Checks the event the parser just dispatched.
    #[track_caller]
    fn assert_event(parser: &Parser, event_type: &str, data: &str, last_event_id: &str) {
        let event = parser.event();
        assert_eq!(
            (event.event_type(), event.data(), event.last_event_id()),
            (event_type, data, last_event_id)
        );
    }

    /// All events of `input` fed in pieces of `chunk` bytes, as (type, data, id) triples, plus
    /// the end-of-stream result.
    fn parse_chunked(input: &[u8], chunk: usize) -> (Vec<(String, String, String)>, Eof) {
        let mut parser = Parser::new();
        let mut events = Vec::new();
        for piece in input.chunks(chunk) {
            let flow = parser.feed_all(piece, |event| {
                events.push((
                    event.event_type().to_owned(),
                    event.data().to_owned(),
                    event.last_event_id().to_owned(),
                ));
                ControlFlow::Continue(())
            });
            assert_eq!(flow, Ok(ControlFlow::Continue(())));
        }
        (events, parser.finish())
    }

    /// The data of every event of `input`, checking that every chunking gives the same result.
    #[track_caller]
    fn data_of(input: &[u8]) -> Vec<String> {
        let whole = parse_chunked(input, input.len().max(1));
        for chunk in 1..input.len().min(8) {
            assert_eq!(parse_chunked(input, chunk), whole, "chunk size {chunk}");
        }
        whole.0.into_iter().map(|(_, data, _)| data).collect()
    }

    #[test]
    fn status_and_consumed() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"data: a\n\ndata: b\n\n", Event, 9);
        assert_event(&parser, "message", "a", "");
        assert_feed!(parser, b"data: b\n\n", Event, 9);
        assert_event(&parser, "message", "b", "");
        assert_feed!(parser, b"data: c\n", NeedMoreInput, 8);
        assert_feed!(parser, b"\nrest", Event, 1);
        assert_event(&parser, "message", "c", "");
    }

    #[test]
    fn empty_feed_is_a_no_op() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"", NeedMoreInput, 0);
        assert_feed!(parser, b"\xEF\xBB", NeedMoreInput, 2);
        assert_feed!(parser, b"", NeedMoreInput, 0);
        assert_feed!(parser, b"\xBFdata: a\n", NeedMoreInput, 9);
        assert_feed!(parser, b"", NeedMoreInput, 0);
        assert_feed!(parser, b"\n", Event, 1);
        assert_event(&parser, "message", "a", "");
    }

    #[test]
    fn line_ends() {
        assert_eq!(
            data_of(b"data: a\r\rdata: b\r\n\r\ndata: c\n\n"),
            ["a", "b", "c"]
        );
        // Mixed: CR LF CRLF inside one event.
        assert_eq!(data_of(b"data: a\rdata: b\ndata: c\r\n\n"), ["a\nb\nc"]);
        // Only CR, LF and CRLF end lines.
        assert_eq!(
            data_of("data: a\u{2028}b\u{85}c\x0B\x0C\n\n".as_bytes()),
            ["a\u{2028}b\u{85}c\x0B\x0C"]
        );
    }

    #[test]
    fn crlf_split_across_feeds_is_one_line_end() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"data: a\r", NeedMoreInput, 8);
        // The LF completes the CRLF: not a blank line.
        assert_feed!(parser, b"\n", NeedMoreInput, 1);
        assert_feed!(parser, b"\r", Event, 1);
        assert_event(&parser, "message", "a", "");
        // The LF of the blank line's CRLF, then a new event.
        assert_feed!(parser, b"\ndata: b\r", NeedMoreInput, 9);
        assert_feed!(parser, b"\r", Event, 1);
        assert_event(&parser, "message", "b", "");
        // A CR that ends a line, then a CR that is a blank line: `\r\r\n` = CR + CRLF.
        assert_feed!(parser, b"\n", NeedMoreInput, 1);
        assert_eq!(parser.finish(), Eof::Clean);
    }

    #[test]
    fn trailing_cr_completes_the_line() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"data: x\r\r", Event, 9);
        assert_event(&parser, "message", "x", "");
        assert_eq!(parser.finish(), Eof::Clean);
    }

    #[test]
    fn bom_is_stripped_once_even_when_split() {
        assert_eq!(data_of(b"\xEF\xBB\xBFdata: a\n\n"), ["a"]);
        let mut parser = Parser::new();
        for byte in [0xEF, 0xBB, 0xBF] {
            assert_feed!(parser, &[byte], NeedMoreInput, 1);
        }
        assert_feed!(parser, b"data: a\n\n", Event, 9);
        // A second BOM makes the first line an unknown field.
        assert_eq!(
            data_of(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"),
            ["b"]
        );
        // A BOM is only stripped at the start of the stream.
        assert_eq!(data_of(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"), ["a"]);
    }

    #[test]
    fn partial_bom_is_an_unknown_field_not_a_blank_line() {
        assert_eq!(data_of(b"\xEF\xBBdata: a\n\ndata: b\n\n"), ["b"]);
        assert_eq!(data_of(b"\xEF\xBB\x41\ndata: b\n\n"), ["b"]);
        let mut parser = Parser::new();
        assert_feed!(parser, b"\xEF\xBB", NeedMoreInput, 2);
        assert_eq!(parser.finish(), Eof::DiscardedIncompleteEvent);
        let mut parser = Parser::new();
        assert_feed!(parser, b"\xEF\n", NeedMoreInput, 2);
        assert_eq!(parser.finish(), Eof::Clean);
    }

    #[test]
    fn fields() {
        // One leading space removed, no other trimming.
        assert_eq!(
            data_of(b"data:a\n\ndata: a\n\ndata:  a \n\ndata:\ta\n\n"),
            ["a", "a", " a ", "\ta"]
        );
        // `data`, `data:` and `data: ` append an empty line; two of them give "\n".
        assert_eq!(data_of(b"data\n\ndata:\n\ndata\ndata\n\n"), ["", "", "\n"]);
        // Case-sensitive names, unknown fields, near-misses, comments.
        assert_eq!(
            data_of(b"Data: x\ndata : x\n data: x\ndat: x\ndatas: x\n: data: x\nfoo\ndata: y\n\n"),
            ["y"]
        );
        // The first colon splits; later ones are data.
        assert_eq!(data_of(b"data: a: b:c\n\n"), ["a: b:c"]);
        // Blocks without data dispatch nothing.
        assert_eq!(
            data_of(b"event: x\n\nid: 1\n\nretry: 1\n\n: c\n\n\n\n"),
            [""; 0]
        );
    }

    #[test]
    fn event_type() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"event: a\nevent: b\ndata: 1\n\n", Event, 27);
        assert_event(&parser, "b", "1", "");
        // Reset after every dispatch, also one without data.
        assert_feed!(parser, b"data: 2\n\n", Event, 9);
        assert_event(&parser, "message", "2", "");
        assert_feed!(parser, b"event: c\n\ndata: 3\n\n", Event, 19);
        assert_event(&parser, "message", "3", "");
        assert_feed!(parser, b"event: x\nevent\ndata: 4\n\n", Event, 24);
        assert_event(&parser, "message", "4", "");
    }

    #[test]
    fn last_event_id() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"id: 1\ndata: a\n\n", Event, 15);
        assert_event(&parser, "message", "a", "1");
        assert_feed!(parser, b"data: b\n\n", Event, 9);
        assert_event(&parser, "message", "b", "1");
        // An id with NUL is ignored.
        assert_feed!(parser, b"id: 2\0\ndata: c\n\n", Event, 16);
        assert_event(&parser, "message", "c", "1");
        // An id-only block sets the last event ID string without an event.
        assert_feed!(parser, b"id: 3\n\n", NeedMoreInput, 7);
        assert_eq!(parser.last_event_id(), "3");
        // Not before its blank line.
        assert_feed!(parser, b"id\n", NeedMoreInput, 3);
        assert_eq!(parser.last_event_id(), "3");
        assert_feed!(parser, b"data: d\n\n", Event, 9);
        assert_event(&parser, "message", "d", "");
        // Last event ID of a dispatched event stays as it was when it was dispatched.
        assert_feed!(parser, b"id: 9\n\n", NeedMoreInput, 7);
        assert_event(&parser, "message", "d", "");
    }

    #[test]
    fn retry() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"retry: 1000\n", NeedMoreInput, 12);
        assert_eq!(parser.reconnection_time(), Some(1000));
        for ignored in [
            &b"retry: 10x\n"[..],
            b"retry:\n",
            b"retry\n",
            b"retry:  5\n",
            b"retry: 5 \n",
            b"retry: -1\n",
            b"retry: +5\n",
            b"retry: 1.5\n",
            b"retry: 18446744073709551616\n",
            "retry: \u{661}\n".as_bytes(),
            b"Retry: 5\n",
        ] {
            assert_feed!(parser, ignored, NeedMoreInput, ignored.len());
            assert_eq!(parser.reconnection_time(), Some(1000));
        }
        assert_feed!(parser, b"retry:18446744073709551615\n", NeedMoreInput, 27);
        assert_eq!(parser.reconnection_time(), Some(u64::MAX));
        assert_feed!(parser, b"retry: 0", NeedMoreInput, 8);
        // Only a complete line counts.
        assert_eq!(parser.reconnection_time(), Some(u64::MAX));
        assert_eq!(parser.finish(), Eof::DiscardedIncompleteEvent);
        assert_eq!(parser.reconnection_time(), Some(u64::MAX));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(data_of(b"data: a\xFFb\n\n"), ["a\u{FFFD}b"]);
        // Maximal subparts: C0 AF -> 2, ED A0 80 -> 3, truncated E4 B8 -> 1.
        assert_eq!(
            data_of(b"data: \xC0\xAF|\xED\xA0\x80|\xE4\xB8\n\n"),
            ["\u{FFFD}\u{FFFD}|\u{FFFD}\u{FFFD}\u{FFFD}|\u{FFFD}"]
        );
        // Multi-byte characters split across feeds are reassembled (data_of tries every split).
        assert_eq!(data_of("data: 你好 🎉\n\n".as_bytes()), ["你好 🎉"]);
        let mut parser = Parser::new();
        assert_feed!(parser, b"event: \xFF\nid: \xFE\ndata: ok\n\n", Event, 25);
        assert_event(&parser, "\u{FFFD}", "ok", "\u{FFFD}");
    }

    #[test]
    fn finish_and_discarded() {
        let discarded = |input: &[u8]| {
            let mut parser = Parser::new();
            let flow = parser.feed_all(input, |_| ControlFlow::Continue(()));
            assert_eq!(flow, Ok(ControlFlow::Continue(())));
            let eof = parser.finish();
            let event = parser
                .discarded()
                .map(|event| (event.event_type().to_owned(), event.data().to_owned()));
            (eof, event)
        };
        let clean = (Eof::Clean, None);
        let lost = |event_type: &str, data: &str| {
            (
                Eof::DiscardedIncompleteEvent,
                Some((event_type.to_owned(), data.to_owned())),
            )
        };
        assert_eq!(discarded(b""), clean);
        assert_eq!(discarded(b"data: a\n\n"), clean);
        assert_eq!(discarded(b"data: a\n\n: comment\n"), clean);
        assert_eq!(discarded(b"data: a\n\n: partial comment"), clean);
        assert_eq!(discarded(b"retry: 5\n"), clean);
        assert_eq!(discarded(b"foo: bar\n"), clean);
        assert_eq!(discarded(b"data: [DONE]\n"), lost("message", "[DONE]"));
        assert_eq!(discarded(b"data: a\ndata: b"), lost("message", "a"));
        assert_eq!(discarded(b"data: a\ndata: b\n"), lost("message", "a\nb"));
        assert_eq!(discarded(b"event: x\n"), lost("x", ""));
        assert_eq!(discarded(b"event: x\nevent: y"), lost("x", ""));
        assert_eq!(discarded(b"id: 1\n"), lost("message", ""));
        assert_eq!(discarded(b"data"), lost("message", ""));
        assert_eq!(discarded(b"foo"), lost("message", ""));
        assert_eq!(discarded(b"retry: 5"), lost("message", ""));

        // finish keeps the last event ID and the reconnection time; reset clears them.
        let mut parser = Parser::new();
        assert_feed!(parser, b"id: 7\nretry: 9\ndata: a\n\ndata: b", Event, 24);
        assert_feed!(parser, b"data: b", NeedMoreInput, 7);
        assert_eq!(parser.finish(), Eof::DiscardedIncompleteEvent);
        assert_eq!(parser.discarded().map(|e| e.last_event_id()), Some("7"));
        assert_eq!(
            (parser.last_event_id(), parser.reconnection_time()),
            ("7", Some(9))
        );
        assert_eq!(parser.finish(), Eof::Clean);
        assert_eq!(parser.discarded(), None);
        parser.reset();
        assert_eq!(
            (parser.last_event_id(), parser.reconnection_time()),
            ("", None)
        );
        assert_event(&parser, "message", "", "");
        assert_feed!(parser, b"\xEF\xBB\xBFdata: c\n\n", Event, 12);
        assert_event(&parser, "message", "c", "");
    }

    #[test]
    fn event_size_limit() {
        let mut parser = Parser::with_max_event_size(8);
        assert_eq!(parser.max_event_size(), 8);
        // The data buffer holds "1234567\n": exactly 8 bytes.
        assert_feed!(parser, b"data: 1234567\n\n", Event, 15);
        assert_eq!(
            parser.feed(b"data: 12345678\n"),
            Err(Error::EventTooLarge { limit: 8 })
        );
        // Failed for good, even for empty input, until reset.
        assert_eq!(parser.feed(b""), Err(Error::EventTooLarge { limit: 8 }));
        assert_eq!(parser.feed(b"\n"), Err(Error::EventTooLarge { limit: 8 }));
        parser.reset();
        // Type and id count too; comments do not.
        assert_feed!(parser, b": a very long comment indeed\n", NeedMoreInput, 29);
        assert_feed!(parser, b"event: abc\nid: 12\n", NeedMoreInput, 18);
        assert_eq!(
            parser.feed(b"data: 123\n"),
            Err(Error::EventTooLarge { limit: 8 })
        );
        parser.reset();
        // Memory stays bounded when the line never ends.
        let mut parser = Parser::with_max_event_size(1000);
        assert_feed!(parser, b"data: ", NeedMoreInput, 6);
        let mut failed = false;
        for _ in 0..10_000 {
            if parser.feed(b"xxxxxxxxxx").is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
        assert!(parser.data.capacity() <= 2048);
    }

    #[test]
    fn limit_counts_a_value_split_over_feeds() {
        // The value of the line in progress counts as it grows, not only the piece in hand:
        // five bytes per feed stay under the limit of 8, the second piece takes it over.
        for name in ["data", "event", "id"] {
            let mut parser = Parser::with_max_event_size(8);
            let line = format!("{name}: ");
            assert_feed!(parser, line.as_bytes(), NeedMoreInput, line.len());
            assert_feed!(parser, b"abcde", NeedMoreInput, 5);
            assert_eq!(
                parser.feed(b"fghij"),
                Err(Error::EventTooLarge { limit: 8 }),
                "{name}"
            );
        }
        // A new `event` or `id` value replaces the old one: the old one no longer counts.
        let mut parser = Parser::with_max_event_size(8);
        assert_feed!(parser, b"event: abcdefgh\nevent: ab\n", NeedMoreInput, 26);
        assert_feed!(parser, b"id: abcdef\nid: a\n", NeedMoreInput, 17);
        // 5 bytes of data (LF included) + 2 of type + 1 of id: exactly the limit.
        assert_feed!(parser, b"data: abcd\n\n", Event, 12);
        assert_event(&parser, "ab", "abcd", "a");
    }

    #[test]
    fn debug_shows_the_state_and_sizes_but_not_the_data() {
        let mut parser = Parser::with_max_event_size(64);
        assert_feed!(parser, b"id: 7\ndata: secret", NeedMoreInput, 18);
        let debug = format!("{parser:?}");
        for part in [
            "Parser {",
            "state: Value(Data)",
            "data_len: 6",
            "last_event_id: \"\"",
            "max_event_size: 64",
            "failed: None",
        ] {
            assert!(debug.contains(part), "{part:?} missing from {debug}");
        }
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn one_line_over_many_feeds() {
        let mut parser = Parser::new();
        assert_feed!(parser, b"data: ", NeedMoreInput, 6);
        for _ in 0..100_000 {
            assert_feed!(parser, b"x", NeedMoreInput, 1);
        }
        assert_feed!(parser, b"\n\n", Event, 2);
        assert_eq!(parser.event().data().len(), 100_000);
    }

    #[test]
    fn feed_all_stops_on_break() {
        let mut parser = Parser::new();
        let mut seen = Vec::new();
        let flow = parser.feed_all(b"data: 1\n\ndata: 2\n\ndata: 3\n\n", |event| {
            seen.push(event.data().to_owned());
            if event.data() == "2" {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(flow, Ok(ControlFlow::Break(())));
        assert_eq!(seen, ["1", "2"]);
    }

    /// A reader that hands out scripted chunks and panics if it is read once more after them.
    #[derive(Debug)]
    struct Script {
        chunks: Vec<io::Result<&'static [u8]>>,
    }

    impl io::Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            assert!(
                !self.chunks.is_empty(),
                "read called after the scripted chunks"
            );
            let chunk = self.chunks.remove(0)?;
            assert!(chunk.len() <= buf.len());
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn event_reader_returns_an_event_as_soon_as_its_blank_line_is_read() {
        let chunks = vec![Ok(&b"data: a\n"[..]), Ok(&b"\ndata: b\n\ndata: c\n"[..])];
        let mut reader = EventReader::new(Script { chunks });
        assert_eq!(reader.next_event().unwrap().map(|e| e.data()), Some("a"));
        // "data: b" is in the buffer already: no read needed (the script would panic).
        assert_eq!(reader.next_event().unwrap().map(|e| e.data()), Some("b"));
        assert_eq!(reader.get_ref().chunks.len(), 0);
        assert_eq!(reader.eof(), None);
    }

    #[test]
    fn event_reader_errors_and_eof() {
        let chunks = vec![
            Err(io::ErrorKind::Interrupted.into()),
            Ok(&b"data: a\n\n"[..]),
            Err(io::Error::other("boom")),
            Ok(&b"data: b\n\ndata: c"[..]),
            Ok(&b""[..]),
        ];
        let mut reader = EventReader::with_capacity(64, Script { chunks }, Parser::new());
        assert_eq!(reader.next_event().unwrap().map(|e| e.data()), Some("a"));
        assert!(matches!(reader.next_event(), Err(ReadError::Io(_))));
        assert_eq!(reader.next_event().unwrap().map(|e| e.data()), Some("b"));
        assert!(reader.next_event().unwrap().is_none());
        assert_eq!(reader.eof(), Some(Eof::DiscardedIncompleteEvent));
        assert_eq!(reader.parser().discarded().map(|e| e.data()), Some(""));
        // No read after the end (the script would panic).
        assert!(reader.next_event().unwrap().is_none());

        let chunks = vec![Ok(&b"data: 123456789\n\n"[..])];
        let mut reader =
            EventReader::with_parser(Script { chunks }, Parser::with_max_event_size(4));
        assert!(matches!(
            reader.next_event(),
            Err(ReadError::Parse(Error::EventTooLarge { limit: 4 }))
        ));
    }

    #[test]
    fn event_reader_with_one_byte_buffer() {
        let body = "retry: 5\nid: x\ndata: é\r\n\r\ndata: 2\r\r".as_bytes();
        let mut reader = EventReader::with_capacity(1, body, Parser::new());
        assert_eq!(reader.next_event().unwrap().map(|e| e.data()), Some("é"));
        assert_eq!(
            reader.next_event().unwrap().map(|e| e.last_event_id()),
            Some("x")
        );
        assert!(reader.next_event().unwrap().is_none());
        assert_eq!(reader.eof(), Some(Eof::Clean));
        assert_eq!(reader.parser().reconnection_time(), Some(5));
    }

    #[test]
    fn event_reader_hands_out_its_parser_after_a_failed_read() {
        // A reset connection: the caller asks the reader's own parser what was pending.
        let chunks = vec![
            Ok(&b"data: a\n\ndata: b\n"[..]),
            Err(io::ErrorKind::ConnectionReset.into()),
        ];
        let mut reader = EventReader::with_capacity(64, Script { chunks }, Parser::new());
        assert_eq!(reader.next_event().unwrap().map(|e| e.data()), Some("a"));
        assert!(matches!(reader.next_event(), Err(ReadError::Io(_))));
        let debug = format!("{reader:?}");
        for part in [
            "EventReader {",
            "parser: Parser {",
            "buffered: 0",
            "eof: None",
        ] {
            assert!(debug.contains(part), "{part:?} missing from {debug}");
        }
        let parser = reader.parser_mut();
        assert_eq!(parser.finish(), Eof::DiscardedIncompleteEvent);
        assert_eq!(parser.discarded().map(|e| e.data()), Some("b"));
    }
}
