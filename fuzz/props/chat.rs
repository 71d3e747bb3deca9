//! The chat-layer properties, shared by the `chat_stream` and `chat_http` fuzz targets and the
//! stable test suite (`tests/it/main.rs` includes this file with `#[path]`).
//!
//! A stream is split into SSE events with the public parser. Every `data` payload goes through
//! the public decoders (`ChatChunk`, `ChatCompletion`, `Message`, `Usage`, `ToolCall`,
//! `ModelList`): each must return a result or a typed [`ErrorKind::Decode`] error that carries
//! the payload, never panic, and whatever decodes must survive `to_json` → `from_json` →
//! `to_json` unchanged. The decoded chunks go through an [`Accumulator`], whose result is
//! checked field by field against an independent reading of its documented rules.
//!
//! [`expected_stream`] is a reference model of what `ChatStream` (`Client::chat_chunks`) must
//! yield for a stream; the `chat_http` target compares the real client against it.

#![allow(dead_code)] // each includer uses part of it

use std::collections::BTreeMap;

use chatstream::sse::{Parser, Status};
use chatstream::{
    Accumulator, ChatChunk, ChatCompletion, Content, ContentPart, Error, ErrorKind, Message,
    ModelList, Role, ToolCall, Usage,
};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------
// Input layout
// ---------------------------------------------------------------------------------------

/// Turns one fuzz input into an event stream.
///
/// The first byte is the mode: even means the rest is the stream as it is (seeds are the
/// fixtures with a `\0` prefix); odd means the rest drives [`generate`], which builds a stream
/// of chunk-shaped JSON events (decodable most of the time, so the accumulator is reached
/// often even from short inputs).
pub fn stream_of(input: &[u8]) -> Vec<u8> {
    match input.split_first() {
        None => Vec::new(),
        Some((mode, rest)) if mode % 2 == 0 => rest.to_vec(),
        Some((_, rest)) => generate(rest),
    }
}

/// The `chat_stream` target: every property of this module on one fuzz input.
pub fn check_input(input: &[u8]) {
    check_stream(&stream_of(input));
}

// ---------------------------------------------------------------------------------------
// SSE events
// ---------------------------------------------------------------------------------------

/// One dispatched SSE event, as the chat layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type (`"message"` by default).
    pub event_type: String,
    /// The data, lines joined by LF.
    pub data: String,
}

/// The events of a whole stream and the event discarded at EOF, if any.
pub fn events(stream: &[u8]) -> (Vec<Event>, Option<Event>) {
    let mut parser = Parser::new();
    let mut events = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (status, consumed) = parser.feed(rest).expect("no error below the 16 MiB limit");
        if status == Status::Event {
            let event = parser.event();
            events.push(Event {
                event_type: event.event_type().to_owned(),
                data: event.data().to_owned(),
            });
        }
        rest = &rest[consumed..];
    }
    parser.finish();
    let discarded = parser.discarded().map(|event| Event {
        event_type: event.event_type().to_owned(),
        data: event.data().to_owned(),
    });
    (events, discarded)
}

// ---------------------------------------------------------------------------------------
// Decoders on one payload
// ---------------------------------------------------------------------------------------

/// A decode failure must be typed, carry the offending text and print without panicking.
#[track_caller]
pub fn check_decode_error(error: &Error, raw: Option<&str>) {
    assert_eq!(error.kind(), ErrorKind::Decode, "{error:?}");
    if let Some(raw) = raw {
        assert_eq!(
            error.raw(),
            Some(raw),
            "the error must carry the whole text"
        );
    }
    assert!(!error.to_string().is_empty());
    let _ = format!("{error:?}");
    assert!(error.partial().is_none() && error.api().is_none() && !error.is_timeout());
}

/// `to_json` output decodes again and re-encodes to the same JSON.
#[track_caller]
fn round_trip<T>(
    json: &Value,
    decode: impl Fn(Value) -> Result<T, Error>,
    encode: impl Fn(&T) -> Value,
) {
    let again = decode(json.clone())
        .unwrap_or_else(|e| panic!("to_json output does not decode: {e:?}\n{json}"));
    assert_eq!(
        &encode(&again),
        json,
        "to_json is not stable across a decode"
    );
}

/// Every public decoder on one `data` payload; returns the chunk it decodes to, if any.
pub fn check_payload(data: &str) -> Option<ChatChunk> {
    let chunk = match ChatChunk::from_json_str(data) {
        Ok(chunk) => {
            round_trip(&chunk.to_json(), ChatChunk::from_json, ChatChunk::to_json);
            let _ = (chunk.content(), chunk.delta());
            Some(chunk)
        }
        Err(e) => {
            check_decode_error(&e, Some(data));
            None
        }
    };
    match ChatCompletion::from_json_str(data) {
        Ok(completion) => check_completion_accessors(&completion),
        Err(e) => check_decode_error(&e, Some(data)),
    }
    match ModelList::from_json_str(data) {
        Ok(list) => round_trip(&list.to_json(), ModelList::from_json, ModelList::to_json),
        Err(e) => check_decode_error(&e, Some(data)),
    }
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        assert!(chunk.is_none());
        return None;
    };
    // The `_str` and the `Value` decoders agree.
    assert_eq!(ChatChunk::from_json(value.clone()).ok(), chunk);
    match Message::from_json(value.clone()) {
        Ok(message) => {
            round_trip(&message.to_json(), Message::from_json, Message::to_json);
            let _ = (message.text(), message.reasoning_text());
        }
        Err(e) => check_decode_error(&e, None),
    }
    match Usage::from_json(value.clone()) {
        Ok(usage) => round_trip(&usage.to_json(), Usage::from_json, Usage::to_json),
        Err(e) => check_decode_error(&e, None),
    }
    match ToolCall::from_json(value) {
        Ok(call) => {
            round_trip(&call.to_json(), ToolCall::from_json, ToolCall::to_json);
            if let Err(e) = call.arguments_json() {
                check_decode_error(&e, Some(&call.function.arguments));
            }
        }
        Err(e) => check_decode_error(&e, None),
    }
    chunk
}

/// A decoded or accumulated completion: accessors never panic, and it round-trips.
pub fn check_completion_accessors(completion: &ChatCompletion) {
    round_trip(
        &completion.to_json(),
        ChatCompletion::from_json,
        ChatCompletion::to_json,
    );
    let _ = (
        completion.content(),
        completion.finish_reason(),
        completion.message().map(Message::text),
    );
    for call in completion.tool_calls() {
        if let Err(e) = call.arguments_json() {
            check_decode_error(&e, Some(&call.function.arguments));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The accumulator against its documented rules
// ---------------------------------------------------------------------------------------

/// What the accumulator's rules say one choice must become.
#[derive(Default)]
struct ExpectedChoice {
    role: Option<Role>,
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    finish_reason: Option<String>,
    /// Total length of every `function.arguments` fragment.
    arguments_len: usize,
    /// Number of tool call fragments.
    fragments: usize,
    /// The tool calls, merged fragment by fragment by the reference model below.
    calls: Vec<ExpectedCall>,
}

/// One tool call as the documented merge rules build it.
#[derive(Debug)]
struct ExpectedCall {
    index: Option<u64>,
    id: String,
    kind: String,
    name: String,
    arguments: String,
}

/// The reference model of tool-call merging, written from the rules on `Accumulator::push`:
/// a fragment with an `index` continues the latest call of that index unless both have
/// different non-empty ids; without an index, a known non-empty id continues its call, an
/// unknown one starts a call, and no id continues the last call. `id`, `type` and
/// `function.name` are the first non-empty ones; `arguments` pieces are concatenated.
fn merge_expected_call(calls: &mut Vec<ExpectedCall>, fragment: &chatstream::ToolCallDelta) {
    let id = fragment.id.clone().filter(|id| !id.is_empty());
    let mut continued = None;
    for (position, call) in calls.iter().enumerate().rev() {
        let matches = match (fragment.index, &id) {
            (Some(index), _) => call.index == Some(index),
            (None, Some(id)) => call.id == *id,
            (None, None) => true,
        };
        if matches {
            continued = Some(position);
            break;
        }
    }
    if let (Some(position), Some(_), Some(id)) = (continued, fragment.index, &id) {
        let known = &calls[position].id;
        if !known.is_empty() && known != id {
            continued = None; // the same index with another id: a new call
        }
    }
    let position = continued.unwrap_or_else(|| {
        calls.push(ExpectedCall {
            index: fragment.index,
            id: String::new(),
            kind: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
        calls.len() - 1
    });
    let call = &mut calls[position];
    let first = |slot: &mut String, value: Option<&String>| {
        if let Some(value) = value {
            if slot.is_empty() {
                slot.clone_from(value);
            }
        }
    };
    first(&mut call.id, id.as_ref());
    first(&mut call.kind, fragment.kind.as_ref());
    if let Some(function) = &fragment.function {
        first(&mut call.name, function.name.as_ref());
        if let Some(arguments) = &function.arguments {
            call.arguments.push_str(arguments);
        }
    }
}

fn append(acc: &mut Option<String>, piece: Option<&String>) {
    if let Some(piece) = piece {
        acc.get_or_insert_default().push_str(piece);
    }
}

/// Pushes `chunks` into an accumulator and checks the result against the rules documented on
/// `Accumulator::push`, computed here independently. Returns the completion.
pub fn check_accumulator(chunks: &[ChatChunk]) -> ChatCompletion {
    let mut acc = Accumulator::new();
    // The same chunks after a `to_json` → `from_json` trip must accumulate to the same JSON.
    let mut acc_again = Accumulator::new();
    let mut id = String::new();
    let mut model = String::new();
    let mut created = 0;
    let mut usage: Option<Usage> = None;
    let mut choices: BTreeMap<u64, ExpectedChoice> = BTreeMap::new();

    for (n, chunk) in chunks.iter().enumerate() {
        acc.push(chunk);
        let again = ChatChunk::from_json(chunk.to_json()).expect("to_json output decodes");
        acc_again.push(&again);

        if id.is_empty() {
            id.clone_from(&chunk.id);
        }
        if model.is_empty() {
            model.clone_from(&chunk.model);
        }
        if created == 0 {
            created = chunk.created;
        }
        if let Some(new) = &chunk.usage {
            if !new.is_empty() || usage.is_none() {
                usage = Some(new.clone());
            }
        }
        for choice in &chunk.choices {
            let state = choices.entry(choice.index).or_default();
            let delta = &choice.delta;
            if state.role.is_none() {
                state.role.clone_from(&delta.role);
            }
            append(&mut state.content, delta.content.as_ref());
            append(&mut state.refusal, delta.refusal.as_ref());
            append(
                &mut state.reasoning_content,
                delta.reasoning_content.as_ref(),
            );
            append(&mut state.reasoning, delta.reasoning.as_ref());
            if choice.finish_reason.is_some() {
                state.finish_reason.clone_from(&choice.finish_reason);
            }
            for fragment in &delta.tool_calls {
                merge_expected_call(&mut state.calls, fragment);
                state.fragments += 1;
                state.arguments_len += fragment
                    .function
                    .as_ref()
                    .and_then(|f| f.arguments.as_ref())
                    .map_or(0, String::len);
            }
        }

        // A snapshot in the middle must be a valid completion too.
        if n == chunks.len() / 2 {
            check_completion_accessors(&acc.completion());
        }
        assert_eq!(
            acc.is_empty(),
            choices.is_empty() && usage.is_none(),
            "is_empty after chunk {n}"
        );
        assert_eq!(
            acc.all_choices_finished(),
            !choices.is_empty() && choices.values().all(|c| c.finish_reason.is_some()),
            "all_choices_finished after chunk {n}"
        );
    }

    let completion = acc.completion();
    assert_eq!(acc.clone().into_completion(), completion);
    check_completion_accessors(&completion);
    assert_eq!(
        acc_again.completion().to_json(),
        completion.to_json(),
        "re-encoded chunks accumulate differently"
    );

    assert_eq!(completion.object, "chat.completion");
    assert_eq!(completion.id, id, "id: the first non-empty one");
    assert_eq!(completion.model, model, "model: the first non-empty one");
    assert_eq!(
        completion.created, created,
        "created: the first non-zero one"
    );
    assert_eq!(completion.usage, usage, "usage: the last non-empty one");
    assert!(completion.response.is_none());
    let indices: Vec<u64> = completion.choices.iter().map(|c| c.index).collect();
    assert_eq!(
        indices,
        choices.keys().copied().collect::<Vec<_>>(),
        "one choice per index, sorted"
    );
    for (choice, expected) in completion.choices.iter().zip(choices.values()) {
        let message = &choice.message;
        let index = choice.index;
        assert_eq!(
            message.role,
            expected.role.clone().unwrap_or(Role::Assistant),
            "choice {index}: role: the first one, else assistant"
        );
        assert_eq!(
            choice.finish_reason, expected.finish_reason,
            "choice {index}: finish_reason"
        );
        assert_eq!(message.refusal, expected.refusal, "choice {index}: refusal");
        assert_eq!(
            message.reasoning_content, expected.reasoning_content,
            "choice {index}: reasoning_content"
        );
        assert_eq!(
            message.reasoning, expected.reasoning,
            "choice {index}: reasoning"
        );
        match (&message.content, &expected.content) {
            (Some(Content::Text(text)), Some(expected)) => {
                assert_eq!(text, expected, "choice {index}: content");
            }
            (None, None) => {}
            // Content parts that came in an array: the streamed text is the last part.
            (Some(Content::Parts(parts)), Some(expected)) => assert_eq!(
                parts.last(),
                Some(&ContentPart::text(expected.as_str())),
                "choice {index}: content parts end with the streamed text"
            ),
            (Some(Content::Parts(_)), None) => {}
            (content, expected) => {
                panic!("choice {index}: content {content:?}, expected text {expected:?}")
            }
        }
        let arguments: usize = message
            .tool_calls
            .iter()
            .map(|call| call.function.arguments.len())
            .sum();
        assert_eq!(
            arguments, expected.arguments_len,
            "choice {index}: every arguments fragment lands in exactly one call"
        );
        assert!(message.tool_calls.len() <= expected.fragments);
        let got: Vec<(&str, &str, &str, &str)> = message
            .tool_calls
            .iter()
            .map(|call| {
                let function = &call.function;
                (
                    call.id.as_str(),
                    call.kind.as_str(),
                    function.name.as_str(),
                    function.arguments.as_str(),
                )
            })
            .collect();
        let want: Vec<(&str, &str, &str, &str)> = expected
            .calls
            .iter()
            .map(|call| {
                let kind = if call.kind.is_empty() {
                    "function"
                } else {
                    call.kind.as_str()
                };
                (
                    call.id.as_str(),
                    kind,
                    call.name.as_str(),
                    call.arguments.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "choice {index}: tool calls (id, type, name, arguments) merged by index, in the \
             order their first fragment came: {:?}",
            expected.calls
        );
    }
    completion
}

// ---------------------------------------------------------------------------------------
// The reference model of `ChatStream`
// ---------------------------------------------------------------------------------------

/// How a chat stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Success: `data: [DONE]`, or EOF with every choice finished (or a `[DONE]` line
    /// without its blank line).
    Ok,
    /// An error of this kind, yielded once after the chunks.
    Err(ErrorKind),
}

/// What `ChatStream` must yield for a stream.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The chunks yielded, in order.
    pub yielded: Vec<ChatChunk>,
    /// Every chunk that went into the accumulator (yielded or not).
    pub pushed: Vec<ChatChunk>,
    /// How the stream ends.
    pub end: End,
}

/// An `error` value the client treats as an error: an object, or a non-empty string.
fn is_stream_error(payload: &Value) -> bool {
    match payload.as_object().and_then(|map| map.get("error")) {
        Some(Value::Object(_)) => true,
        Some(Value::String(message)) => !message.is_empty(),
        _ => false,
    }
}

/// What `ChatStream` must do with these events, from its documentation: it ends at
/// `data: [DONE]`; an `event: error` or a payload with an `error` object is an API error
/// (a chunk around the error is still accumulated); blank data is skipped; invalid JSON or a
/// chunk of the wrong shape is a decode error; chunks without choices and usage are
/// accumulated but not yielded; at EOF the stream succeeds only after a `[DONE]` line or when
/// every choice has a finish reason, and is truncated otherwise.
pub fn expected_stream(events: &[Event], discarded: Option<&Event>) -> Expected {
    let mut yielded = Vec::new();
    let mut pushed = Vec::new();
    let mut acc = Accumulator::new();
    let mut end = None;
    for event in events {
        let data = event.data.as_str();
        if data == "[DONE]" {
            end = Some(End::Ok);
            break;
        }
        if event.event_type == "error" {
            end = Some(End::Err(ErrorKind::Api));
            break;
        }
        if data.trim().is_empty() {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(data) else {
            end = Some(End::Err(ErrorKind::Decode));
            break;
        };
        if is_stream_error(&value) {
            if value.as_object().is_some_and(|map| map.len() > 1) {
                if let Ok(chunk) = ChatChunk::from_json(value) {
                    acc.push(&chunk);
                    pushed.push(chunk);
                }
            }
            end = Some(End::Err(ErrorKind::Api));
            break;
        }
        let chunk = match ChatChunk::from_json(value) {
            Ok(chunk) => chunk,
            Err(e) => {
                check_decode_error(&e, None);
                end = Some(End::Err(ErrorKind::Decode));
                break;
            }
        };
        acc.push(&chunk);
        pushed.push(chunk.clone());
        if !chunk.choices.is_empty() || chunk.usage.is_some() {
            yielded.push(chunk);
        }
    }
    let end = end.unwrap_or_else(|| {
        let done_line = discarded.is_some_and(|e| e.data == "[DONE]");
        if done_line || acc.all_choices_finished() {
            End::Ok
        } else {
            End::Err(ErrorKind::Truncated)
        }
    });
    Expected {
        yielded,
        pushed,
        end,
    }
}

/// Every property on one stream; returns the model's verdict for the HTTP target.
pub fn check_stream(stream: &[u8]) -> Expected {
    let (events, discarded) = events(stream);
    // Every decodable chunk of the stream, past errors and `[DONE]`.
    let all: Vec<ChatChunk> = events
        .iter()
        .filter_map(|event| check_payload(&event.data))
        .collect();
    if let Some(event) = &discarded {
        check_payload(&event.data);
    }
    let expected = expected_stream(&events, discarded.as_ref());
    // The model's chunks are these unless the stream ended early (or an error chunk counted).
    if expected.pushed != all {
        check_accumulator(&expected.pushed);
    }
    check_accumulator(&all);
    expected
}

// ---------------------------------------------------------------------------------------
// The generator: bytes → a stream of chunk-shaped events
// ---------------------------------------------------------------------------------------

/// Reads choices from the fuzz bytes; zeros once they run out.
struct Gen<'a> {
    bytes: &'a [u8],
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    fn done(&self) -> bool {
        self.bytes.is_empty()
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn text(&mut self) -> Value {
        const TEXTS: &[&str] = &[
            "",
            "Hello",
            " world",
            "a",
            "é",
            "😀",
            "{\"city\":",
            "\"Paris\"}",
            "\n",
            "\r\n",
            "[DONE]",
            "data: x",
            "\u{2028}",
            "\0",
            " ",
        ];
        Value::from(self.pick(TEXTS))
    }

    fn number(&mut self) -> Value {
        match self.below(10) {
            0 => json!(0),
            1 => json!(1),
            2 => json!(2),
            3 => json!(1.0),
            4 => json!(-1),
            5 => json!(1.5),
            6 => json!(u64::MAX),
            7 => json!(1e19),
            8 => json!(1e300),
            _ => json!(self.byte()),
        }
    }

    /// Any JSON value, with keys that the decoders know.
    fn value(&mut self, depth: u32) -> Value {
        const KEYS: &[&str] = &[
            "index",
            "id",
            "type",
            "name",
            "content",
            "text",
            "arguments",
            "function",
            "role",
            "error",
            "message",
            "code",
            "x",
            "tool_call_id",
            "data",
            "choices",
            "delta",
        ];
        let limit = if depth == 0 { 5 } else { 8 };
        match self.below(limit) {
            0 => Value::Null,
            1 => Value::Bool(self.byte() % 2 == 0),
            2 => self.number(),
            3 | 4 => self.text(),
            5 | 6 => {
                let n = self.below(4);
                Value::Array((0..n).map(|_| self.value(depth - 1)).collect())
            }
            _ => {
                let n = self.below(4);
                Value::Object(
                    (0..n)
                        .map(|_| (self.pick(KEYS).to_owned(), self.value(depth - 1)))
                        .collect(),
                )
            }
        }
    }

    /// Usually a value of the expected shape `good`, sometimes null or anything else.
    fn mostly(&mut self, good: impl FnOnce(&mut Self) -> Value) -> Option<Value> {
        match self.below(16) {
            0 => None,
            1 => Some(Value::Null),
            2 => Some(self.value(2)),
            _ => Some(good(self)),
        }
    }

    fn tool_call(&mut self) -> Value {
        let mut call = Map::new();
        if let Some(index) = self.mostly(|g| json!(g.below(3))) {
            call.insert("index".into(), index);
        }
        if self.byte() % 2 == 0 {
            let id = self.pick(&["", "call_1", "call_2", "call_3"]);
            call.insert("id".into(), json!(id));
        }
        if self.byte() % 4 == 0 {
            call.insert("type".into(), json!(self.pick(&["function", ""])));
        }
        if let Some(function) = self.mostly(|g| {
            let mut function = Map::new();
            if g.byte() % 3 == 0 {
                function.insert("name".into(), json!(g.pick(&["", "get_weather", "f"])));
            }
            if let Some(arguments) = g.mostly(Gen::text) {
                function.insert("arguments".into(), arguments);
            }
            Value::Object(function)
        }) {
            call.insert("function".into(), function);
        }
        Value::Object(call)
    }

    fn delta(&mut self) -> Value {
        let mut delta = Map::new();
        for _ in 0..self.below(4) {
            let (key, value) = match self.below(10) {
                0 => (
                    "role",
                    json!(self.pick(&["assistant", "tool", "user", "ipython", ""])),
                ),
                1..=3 => ("content", self.mostly(Gen::text).unwrap_or(Value::Null)),
                4 => ("refusal", self.text()),
                5 => (
                    self.pick(&["reasoning_content", "reasoning"]),
                    self.mostly(Gen::text).unwrap_or(Value::Null),
                ),
                6 | 7 => {
                    let calls = self.mostly(|g| {
                        let n = 1 + g.below(2);
                        Value::Array((0..n).map(|_| g.tool_call()).collect())
                    });
                    ("tool_calls", calls.unwrap_or(Value::Null))
                }
                8 => (
                    "content",
                    json!([{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "a"}]),
                ),
                _ => (
                    self.pick(&["reasoning_details", "audio", "name", "tool_call_id", "x"]),
                    self.value(2),
                ),
            };
            delta.insert(key.to_owned(), value);
        }
        Value::Object(delta)
    }

    fn choice(&mut self, position: usize) -> Value {
        let mut choice = Map::new();
        if let Some(index) = self.mostly(|g| json!(g.below(3))) {
            choice.insert("index".into(), index);
        } else if position > 0 && self.byte() % 2 == 0 {
            choice.insert("index".into(), json!(position));
        }
        if let Some(delta) = self.mostly(Gen::delta) {
            choice.insert("delta".into(), delta);
        }
        if self.byte() % 3 == 0 {
            let reason = self.pick(&[
                json!(null),
                json!(""),
                json!("stop"),
                json!("tool_calls"),
                json!(1),
            ]);
            choice.insert("finish_reason".into(), reason);
        }
        if self.byte() % 8 == 0 {
            let logprobs = self.mostly(|g| {
                json!({"content": [{"token": "a", "logprob": g.number(), "bytes": [97], "top_logprobs": []}]})
            });
            choice.insert("logprobs".into(), logprobs.unwrap_or(Value::Null));
        }
        if self.byte() % 8 == 0 {
            let key = self.pick(&["content_filter_results", "native_finish_reason", "message"]);
            choice.insert(key.to_owned(), self.value(2));
        }
        Value::Object(choice)
    }

    fn chunk(&mut self) -> Value {
        let mut chunk = Map::new();
        let flags = self.byte();
        if flags & 1 != 0 {
            chunk.insert("id".into(), json!(self.pick(&["", "c1", "c2"])));
        }
        if flags & 2 != 0 {
            chunk.insert("model".into(), json!(self.pick(&["", "m", "m2"])));
        }
        if flags & 4 != 0 {
            chunk.insert("created".into(), self.number());
        }
        if flags & 8 != 0 {
            chunk.insert("object".into(), json!("chat.completion.chunk"));
        }
        if let Some(choices) = self.mostly(|g| {
            let n = g.below(3);
            Value::Array((0..n).map(|position| g.choice(position)).collect())
        }) {
            chunk.insert("choices".into(), choices);
        }
        if flags & 16 != 0 {
            let usage = self.mostly(|g| {
                let mut usage = Map::new();
                for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
                    if g.byte() % 2 == 0 {
                        usage.insert(key.into(), g.number());
                    }
                }
                Value::Object(usage)
            });
            chunk.insert("usage".into(), usage.unwrap_or(Value::Null));
        }
        if flags & 32 != 0 {
            let key = self.pick(&[
                "obfuscation",
                "system_fingerprint",
                "service_tier",
                "timings",
                "x",
            ]);
            chunk.insert(key.to_owned(), self.value(2));
        }
        if flags & 64 != 0 && self.byte() % 4 == 0 {
            let error = self.pick(&[
                json!({"message": "boom", "code": 500}),
                json!("overloaded"),
                json!(""),
                json!(null),
            ]);
            chunk.insert("error".into(), error);
        }
        Value::Object(chunk)
    }
}

/// A stream of chunk-shaped events driven by `bytes`, with the framing variants real servers
/// use (comments, CRLF, `event:` lines, multi-line data, `[DONE]` with or without its blank
/// line, a cut at the end).
pub fn generate(bytes: &[u8]) -> Vec<u8> {
    let mut g = Gen { bytes };
    let mut out = Vec::new();
    let mut events = 0;
    while !g.done() && events < 64 {
        events += 1;
        match g.below(16) {
            0 => out.extend_from_slice(b": ping\n\n"),
            1 => out.extend_from_slice(b"data: \n\n"),
            2 => out.extend_from_slice(b"data: [DONE]\n\n"),
            3 => {
                out.extend_from_slice(b"event: error\ndata: ");
                out.extend_from_slice(g.chunk().to_string().as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            4 => {
                // Pretty-printed JSON over several data lines, CRLF framed.
                let text = serde_json::to_string_pretty(&g.chunk()).unwrap_or_default();
                for line in text.lines() {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
            _ => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(g.chunk().to_string().as_bytes());
                out.extend_from_slice(b"\n\n");
            }
        }
    }
    // How the stream ends: cleanly, with `[DONE]` without its blank line, or cut mid-event.
    match g.below(4) {
        0 => out.extend_from_slice(b"data: [DONE]\n"),
        1 => out.extend_from_slice(b"data: {\"choices\":[{\"delta\":{\"content\":\"cu"),
        _ => {}
    }
    out
}

// ---------------------------------------------------------------------------------------
// The real `ChatStream` against the model
// ---------------------------------------------------------------------------------------

/// Drains a live `ChatStream` and checks it against [`expected_stream`]'s verdict: the same
/// chunks yielded in order, the same end (success, or one error of the expected kind, after
/// which the iterator stays ended), and the completion (or the error's partial completion)
/// equal to what the accumulator makes of the pushed chunks.
pub fn check_chat_stream(mut stream: chatstream::ChatStream, expected: &Expected) {
    let mut yielded = Vec::new();
    let mut error = None;
    for item in &mut stream {
        match item {
            Ok(chunk) => {
                assert!(error.is_none(), "a chunk after the error");
                yielded.push(chunk);
            }
            Err(e) => {
                assert!(error.is_none(), "two errors");
                error = Some(e);
            }
        }
    }
    assert!(stream.next().is_none(), "the iterator is fused");
    assert_eq!(yielded, expected.yielded, "the chunks yielded");
    let mut accumulator = Accumulator::new();
    for chunk in &expected.pushed {
        accumulator.push(chunk);
    }
    let wanted = accumulator.into_completion();
    let mut got = match (expected.end, error) {
        (End::Ok, None) => stream.into_completion(),
        (End::Err(kind), Some(e)) => {
            assert_eq!(e.kind(), kind, "{e:?}");
            e.into_partial()
                .expect("a stream error holds the partial completion")
        }
        (end, error) => panic!("expected {end:?}, got {error:?}"),
    };
    assert_eq!(got.response.take().map(|r| r.status()), Some(200));
    assert_eq!(got, wanted, "the completion");
}
