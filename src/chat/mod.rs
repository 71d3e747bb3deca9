//! Chat completion requests, responses, stream chunks and the models list,
//! mapped by hand to and from [`serde_json::Value`].
//!
//! This is the only module of the crate that knows JSON field names.
//!
//! # Example
//!
//! ```
//! use chatstream::{ChatCompletion, ChatRequest, Message};
//! use serde_json::json;
//!
//! let request = ChatRequest::new("gpt-4o-mini", vec![Message::system("Be brief."), Message::user("Hello")])
//!     .temperature(0.2)
//!     .max_tokens(100);
//! assert_eq!(request.to_json()["messages"][1]["content"], "Hello");
//!
//! let response = ChatCompletion::from_json(json!({
//!     "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
//!     "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
//!     "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
//! }))?;
//! assert_eq!(response.content(), "Hi!");
//! assert_eq!(response.usage.as_ref().and_then(|u| u.total_tokens), Some(11));
//! # Ok::<(), chatstream::Error>(())
//! ```
//!
//! # Leniency
//!
//! OpenAI-compatible servers differ in small ways, so decoding follows one set of rules for
//! every type:
//!
//! - **Unknown fields are kept** in the value's `extra` map and written back by `to_json`.
//! - **`null` in a known field is the same as an absent field** (unknown fields keep their
//!   `null`).
//! - **A known scalar field with an unexpected type is not an error**: `"content": 42` or
//!   `"created": "yesterday"` leave the typed field empty and keep the raw value in `extra`,
//!   so nothing is lost and `to_json` writes it back.
//! - **Integers may arrive as floats** with an integral value (`3.0`, `1e12`).
//! - **Unknown roles** become [`Role::Other`]; `finish_reason` is an open `String`, and an
//!   empty `finish_reason` (`""`, sent on every delta by some proxies) counts as no finish
//!   reason.
//! - `choices` may be empty or missing, a choice may lack `delta`/`message`, and `usage` may be
//!   `{}` or `null`.
//! - **Only the shape of model output is checked**: `choices`, `message`, `delta`,
//!   `tool_calls` and `function` must be objects or arrays where expected, because ignoring
//!   them would silently lose output. Such a mismatch, or a top-level value that is not a JSON
//!   object, is a decode error ([`Error`](crate::Error)) that names the field and carries the raw JSON.
//!
//! # Round trips
//!
//! `to_json` writes every field that was read plus `extra` (merged last). Fields that were
//! `null` are omitted, except the ones OpenAI always sends (`content` of a message,
//! `finish_reason` and `logprobs` of a choice). A tool call's `arguments` sent as a JSON object
//! instead of a string is converted to its string form, and `finish_reason: ""` to `null`.

// One file per noun, named after the type it holds (ARCHITECTURE.md has the map).
mod accumulate;
mod chunk;
mod content;
mod decoder;
mod envelope;
mod error_body;
// The decoding helpers are shared with the Responses types.
pub(crate) mod json;
mod logprobs;
mod message;
mod model;
mod parse;
mod request;
mod response;
mod role;
#[cfg(feature = "client")]
mod stream_options;
mod think;
mod tool;
mod tool_call;
mod usage;
mod visit;

pub use self::accumulate::Accumulator;
pub use self::chunk::{ChatChunk, ChunkChoice, Delta};
pub use self::content::{Content, ContentPart, FileRef, ImageUrl, InputAudio};
pub use self::decoder::{ChatDecoder, Decoded};
#[cfg(feature = "client")]
pub(crate) use self::decoder::{DONE, Defer};
pub(crate) use self::error_body::ApiErrorFields;
#[cfg(feature = "client")]
pub(crate) use self::error_body::parse_error_body;
pub(crate) use self::error_body::parse_error_event;
pub use self::logprobs::{Logprobs, TokenLogprob, TopLogprob};
pub use self::message::Message;
pub use self::model::{Model, ModelList};
pub use self::request::{ChatRequest, ResponseFormat, Stop};
pub use self::response::{ChatCompletion, Choice};
pub use self::role::Role;
#[cfg(feature = "client")]
pub(crate) use self::stream_options::rejects_stream_options;
pub use self::think::ThinkSplitter;
pub use self::tool::{FunctionDef, Tool, ToolChoice};
pub use self::tool_call::{FunctionCall, FunctionCallDelta, ToolCall, ToolCallDelta};
pub use self::usage::{CompletionTokensDetails, PromptTokensDetails, Usage};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::json::tests::decode_error;
    use serde_json::{Value, json};

    #[test]
    fn wrong_shapes_are_decode_errors() {
        decode_error(
            ChatCompletion::from_json(json!([1, 2])),
            "expected a JSON object",
            "[1,2]",
        );
        decode_error(
            ChatChunk::from_json(json!("hi")),
            "expected a JSON object",
            "\"hi\"",
        );
        decode_error(
            ChatChunk::from_json_str("null"),
            "expected a JSON object",
            "null",
        );
        decode_error(
            ChatChunk::from_json_str("{\"id\": "),
            "invalid JSON",
            "{\"id\": ",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": 5})),
            "`choices` must be an array",
            "5",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": ["x"]})),
            "expected a JSON object",
            "\"x\"",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": [{"delta": "text"}]})),
            "`delta` must be an object",
            "\"text\"",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": [{"delta": {"tool_calls": {"index": 0}}}]})),
            "`tool_calls` must be an array",
            r#"{"index":0}"#,
        );
        decode_error(
            ChatChunk::from_json(
                json!({"choices": [{"delta": {"tool_calls": [{"function": "f"}]}}]}),
            ),
            "`function` must be an object",
            "\"f\"",
        );
        decode_error(
            ChatCompletion::from_json(json!({"choices": [{"message": [1]}]})),
            "`message` must be an object",
            "[1]",
        );
        // from_json_str carries the whole text.
        let text = r#"{"id":"c","choices":[{"delta":7}]}"#;
        decode_error(
            ChatChunk::from_json_str(text),
            "`delta` must be an object",
            r#"{"id":"c","#,
        );
        decode_error(
            ModelList::from_json(json!({"data": {}})),
            "`data` must be an array",
            "{}",
        );
        decode_error(Usage::from_json(json!(3)), "expected a JSON object", "3");
        decode_error(
            Message::from_json(json!(null)),
            "expected a JSON object",
            "null",
        );
    }

    /// A tiny deterministic PRNG (xorshift64*), so the property test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const KEYS: &[&str] = &[
        "choices",
        "delta",
        "message",
        "index",
        "tool_calls",
        "function",
        "arguments",
        "name",
        "id",
        "type",
        "content",
        "role",
        "refusal",
        "reasoning",
        "reasoning_content",
        "finish_reason",
        "usage",
        "total_tokens",
        "prompt_tokens_details",
        "logprobs",
        "token",
        "logprob",
        "bytes",
        "top_logprobs",
        "model",
        "created",
        "error",
        "obfuscation",
        "x",
    ];

    /// A random JSON value biased towards chunk-like shapes.
    fn random_value(rng: &mut Rng, depth: u32) -> Value {
        let numbers = [
            json!(0),
            json!(1),
            json!(4294967295u64),
            json!(u64::MAX),
            json!(-1),
            json!(1.5),
            json!(1e12),
            json!(1e300),
            json!(-0.0),
        ];
        let strings = [
            "",
            "a",
            "{\"",
            "stop",
            "assistant",
            "function",
            "call_1",
            "None",
            "é",
        ];
        let leaf = depth == 0 || rng.below(3) == 0;
        match if leaf { rng.below(6) } else { 6 + rng.below(2) } {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => numbers[rng.below(numbers.len())].clone(),
            3 | 4 => Value::from(strings[rng.below(strings.len())]),
            5 => Value::Array(vec![]),
            6 => Value::Array(
                (0..rng.below(4))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.below(5))
                    .map(|_| {
                        (
                            KEYS[rng.below(KEYS.len())].to_owned(),
                            random_value(rng, depth - 1),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// The other decoders on the same random values: no panic, and `to_json` output decodes
    /// and re-encodes identically.
    fn check_other_decoders(value: &Value) {
        use crate::chat::{Message, ModelList};
        if let Ok(completion) = ChatCompletion::from_json(value.clone()) {
            let json = completion.to_json();
            assert_eq!(
                ChatCompletion::from_json(json.clone()).unwrap().to_json(),
                json
            );
        }
        if let Ok(list) = ModelList::from_json(value.clone()) {
            let json = list.to_json();
            assert_eq!(ModelList::from_json(json.clone()).unwrap().to_json(), json);
        }
        if let Ok(message) = Message::from_json(value.clone()) {
            let json = message.to_json();
            assert_eq!(Message::from_json(json.clone()).unwrap().to_json(), json);
        }
        // An error event reads a wrapped error exactly as a body does.
        let text = value.to_string();
        let event = crate::chat::error_body::parse_error_event(&text);
        if let Some(body) = crate::chat::error_body::parse_error_body(&text) {
            assert_eq!(event, Some(body), "{text}");
        }
    }

    #[test]
    fn random_chunks_never_panic_and_normalise_once() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut decoded, mut visited) = (0, 0);
        for round in 0..300 {
            let mut acc = Accumulator::new();
            let mut owned = Accumulator::new();
            for _ in 0..20 {
                let mut value = random_value(&mut rng, 6);
                if rng.below(2) == 0 {
                    // Force the top level into a chunk-like object more often.
                    let choice = json!({"index": random_value(&mut rng, 1), "delta": random_value(&mut rng, 4)});
                    value = json!({"choices": [choice], "usage": random_value(&mut rng, 2)});
                }
                check_other_decoders(&value);
                let text = value.to_string();
                let fast = ChatChunk::visit_str(&text);
                let Ok(chunk) = ChatChunk::from_json(value) else {
                    assert_eq!(fast, None, "{text}");
                    continue;
                };
                if let Some(fast) = fast {
                    visited += 1;
                    assert_eq!(fast, chunk, "{text}");
                }
                decoded += 1;
                // Decoding normalises once: what `to_json` writes decodes and re-encodes identically.
                let json = chunk.to_json();
                let again = ChatChunk::from_json(json.clone()).expect("to_json output decodes");
                assert_eq!(again.to_json(), json, "round {round}: {chunk:?}");
                acc.push(&chunk);
                owned.push_owned(chunk);
                let _ = acc.all_choices_finished();
            }
            let completion = acc.completion();
            assert_eq!(
                owned.into_completion(),
                completion,
                "round {round}: push_owned"
            );
            assert_eq!(acc.into_completion(), completion);
            let json = completion.to_json();
            let again = ChatCompletion::from_json(json.clone()).expect("a completion decodes");
            assert_eq!(again.to_json(), json, "round {round}");
            let _ = crate::chat::error_body::parse_stream_data(&completion.to_json().to_string());
        }
        assert!(
            decoded > 1000 && visited > 500,
            "the generator should produce decodable chunks ({decoded}, {visited} by the visitors)"
        );
    }
}
