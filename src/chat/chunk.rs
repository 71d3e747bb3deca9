//! [`ChatChunk`]: one chunk of a streamed completion, its [`ChunkChoice`]s and [`Delta`]s.

use serde_json::{Map, Value};

use super::envelope::{envelope, envelope_choice};
use super::json::{Bad, Fields, Out, Res, decode_str};
use super::usage::usage_of;
use super::visit::{self, GiveUp, Read, Visit, string, u64};
use super::{Logprobs, Role, ToolCallDelta, Usage};
use crate::Error;

/// One chunk of a streamed chat completion (the JSON of one SSE `data:` line).
///
/// ```
/// use chatstream::ChatChunk;
///
/// let chunk = ChatChunk::from_json_str(
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",
///        "choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
/// )?;
/// assert_eq!(chunk.content(), "Hel");
///
/// // Azure's first chunk: no choices, empty id and model, prompt filter results.
/// let azure = ChatChunk::from_json_str(
///     r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}"#,
/// )?;
/// assert!(azure.choices.is_empty());
/// assert!(azure.extra.contains_key("prompt_filter_results"));
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatChunk {
    /// The completion id (the same on every chunk; `""` on Azure's first chunk).
    pub id: String,
    /// `"chat.completion.chunk"` (as sent; `to_json` writes it when empty).
    pub object: String,
    /// Creation time, Unix seconds (0 if unknown).
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// Backend configuration fingerprint.
    pub system_fingerprint: Option<String>,
    /// The service tier used.
    pub service_tier: Option<String>,
    /// The choice deltas of this chunk; empty on usage-only and Azure filter chunks.
    pub choices: Vec<ChunkChoice>,
    /// Token counts (usually only on the last chunk, with `stream_options.include_usage`).
    pub usage: Option<Usage>,
    /// Unknown fields (`obfuscation`, `prompt_filter_results`, `timings`, ...).
    pub extra: Map<String, Value>,
}

/// One choice delta of a [`ChatChunk`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkChoice {
    /// The choice index (its position in `choices` when the server sent none).
    pub index: u64,
    /// What this chunk adds to the choice's message; empty when the server sent no `delta`.
    pub delta: Delta,
    /// Set on the last chunk of the choice; `None` before (and for `""`).
    pub finish_reason: Option<String>,
    /// Log probabilities of this chunk's tokens.
    pub logprobs: Option<Logprobs>,
    /// Unknown fields (Azure's `content_filter_results`, OpenRouter's `native_finish_reason`, ...).
    pub extra: Map<String, Value>,
}

/// The part of a message carried by one [`ChunkChoice`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    /// The role, usually on the first chunk only.
    pub role: Option<Role>,
    /// A piece of content text.
    pub content: Option<String>,
    /// A piece of refusal text.
    pub refusal: Option<String>,
    /// A piece of reasoning text (`reasoning_content`: DeepSeek, llama.cpp, Qwen, vLLM).
    pub reasoning_content: Option<String>,
    /// A piece of reasoning text (`reasoning`: OpenRouter, newer vLLM).
    pub reasoning: Option<String>,
    /// Tool call fragments.
    pub tool_calls: Vec<ToolCallDelta>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// Reading one choice of a chunk.
///
/// A chunk carries pieces of the choices it has news for, so with `n > 1` its first entry may
/// belong to any choice. The plain accessors read choice **index 0** (the only one unless `n`
/// is set); the `_of(index)` ones read any choice. A choice the chunk does not carry reads as
/// empty.
///
/// ```
/// use chatstream::ChatChunk;
///
/// // A chunk of an `n = 2` stream with news for choice 1 only.
/// let chunk = ChatChunk::from_json_str(
///     r#"{"id":"c","choices":[{"index":1,"delta":{"content":"B"},"finish_reason":"stop"}]}"#,
/// )?;
/// assert_eq!(chunk.content(), "");
/// assert_eq!(chunk.content_of(1), "B");
/// assert_eq!(chunk.finish_reason_of(1), Some("stop"));
/// assert_eq!(chunk.finish_reason(), None);
/// # Ok::<(), chatstream::Error>(())
/// ```
impl ChatChunk {
    /// The choice with this `index`, if the chunk carries it.
    pub fn choice(&self, index: u64) -> Option<&ChunkChoice> {
        self.choices.iter().find(|choice| choice.index == index)
    }

    /// The delta of choice 0.
    pub fn delta(&self) -> Option<&Delta> {
        self.delta_of(0)
    }

    /// The delta of choice `index`.
    pub fn delta_of(&self, index: u64) -> Option<&Delta> {
        self.choice(index).map(|choice| &choice.delta)
    }

    /// The content piece of choice 0 (`""` when it has none), ready to print.
    pub fn content(&self) -> &str {
        self.content_of(0)
    }

    /// The content piece of choice `index` (`""` when it has none).
    pub fn content_of(&self, index: u64) -> &str {
        self.delta_of(index)
            .and_then(|delta| delta.content.as_deref())
            .unwrap_or_default()
    }

    /// The refusal piece of choice 0 (`""` when it has none).
    pub fn refusal(&self) -> &str {
        self.refusal_of(0)
    }

    /// The refusal piece of choice `index` (`""` when it has none).
    pub fn refusal_of(&self, index: u64) -> &str {
        self.delta_of(index)
            .and_then(|delta| delta.refusal.as_deref())
            .unwrap_or_default()
    }

    /// The reasoning piece of choice 0 (`""` when it has none); see [`Delta::reasoning_text`].
    pub fn reasoning(&self) -> &str {
        self.reasoning_of(0)
    }

    /// The reasoning piece of choice `index` (`""` when it has none).
    pub fn reasoning_of(&self, index: u64) -> &str {
        self.delta_of(index)
            .and_then(Delta::reasoning_text)
            .unwrap_or_default()
    }

    /// The tool-call fragments of choice 0 (the [`Accumulator`](crate::Accumulator) merges
    /// them into whole calls).
    pub fn tool_call_deltas(&self) -> &[ToolCallDelta] {
        self.tool_call_deltas_of(0)
    }

    /// The tool-call fragments of choice `index`.
    pub fn tool_call_deltas_of(&self, index: u64) -> &[ToolCallDelta] {
        self.delta_of(index)
            .map_or(&[], |delta| delta.tool_calls.as_slice())
    }

    /// The finish reason of choice 0, on the chunk that ends it.
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason_of(0)
    }

    /// The finish reason of choice `index`, on the chunk that ends it.
    pub fn finish_reason_of(&self, index: u64) -> Option<&str> {
        self.choice(index)?.finish_reason.as_deref()
    }
}

impl Delta {
    /// The reasoning piece: `reasoning_content`, or else `reasoning` (servers use one or the
    /// other).
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

impl ChatChunk {
    /// Decodes a chunk that was already parsed as JSON, taking its fields out of `value`.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object or a choice has the wrong shape (see the
    /// [module docs](crate::chat)); its raw text is the offending JSON.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        Self::decode(value).map_err(Bad::into_error)
    }

    /// Parses and decodes the data of one SSE event. Errors carry the whole text as raw text.
    ///
    /// This reads one chunk's shape and nothing more: the rules of a stream are
    /// [`ChatDecoder`](crate::ChatDecoder)'s. So an `error` member, which servers send in place
    /// of a chunk or inside one, decodes like any unknown field (into `extra["error"]`), and
    /// `[DONE]`, which is not JSON, is a decode error. For the data of a stream's events use
    /// [`ChatDecoder::decode_event`](crate::ChatDecoder::decode_event), which turns the first
    /// into an [`ErrorKind::Api`](crate::ErrorKind::Api) error and the second into the end of
    /// the stream.
    ///
    /// ```
    /// use chatstream::{ChatChunk, ChatDecoder, ErrorKind};
    ///
    /// let data = r#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#;
    /// let chunk = ChatChunk::from_json_str(data)?;
    /// assert!(chunk.choices.is_empty() && chunk.extra.contains_key("error"));
    /// assert_eq!(ChatChunk::from_json_str("[DONE]").unwrap_err().kind(), ErrorKind::Decode);
    ///
    /// let mut decoder = ChatDecoder::new();
    /// let error = decoder.decode_event("message", data).unwrap_err();
    /// assert_eq!(error.api().map(|api| api.message.as_str()), Some("Rate limit reached"));
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<Self, Error> {
        Self::visit_str(text).map_or_else(|| Self::from_json_str_via_value(text), Ok)
    }

    /// Decodes with the visitors; `None` when they gave up on the input.
    pub(super) fn visit_str(text: &str) -> Option<Self> {
        let mut chunk = Self::default();
        visit::decode_text(text, &mut chunk).ok()?;
        Some(chunk)
    }

    /// The `Value`-based decoder, which the visitors fall back to for unusual input.
    pub(super) fn from_json_str_via_value(text: &str) -> Result<Self, Error> {
        decode_str(text, "chat completion chunk", Self::decode)
    }

    envelope! {
        what: "chat completion chunk",
        object: "chat.completion.chunk",
        choice: ChunkChoice,
    }

    /// The chunk as JSON (`"object": "chat.completion.chunk"` when empty).
    pub fn to_json(&self) -> Value {
        self.envelope_to_json()
    }
}

impl ChunkChoice {
    envelope_choice! {
        what: "chunk choice",
        delta: Delta::decode,
        or Delta::default(),
    }

    /// The choice as JSON (`finish_reason` is always written, `null` until the end).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("index", self.index);
        out.set("delta", self.delta.to_json());
        out.set("finish_reason", self.finish_reason.as_deref());
        out.opt("logprobs", self.logprobs.as_ref().map(Logprobs::to_json));
        out.finish(&self.extra)
    }
}

impl Delta {
    fn decode(map: Map<String, Value>) -> Res<Self> {
        let mut f = Fields::of(map, "delta");
        let role = f.string("role").map(Role::from);
        let content = f.string("content");
        let refusal = f.string("refusal");
        let reasoning_content = f.string("reasoning_content");
        let reasoning = f.string("reasoning");
        let tool_calls = f
            .array("tool_calls")?
            .unwrap_or_default()
            .into_iter()
            .map(ToolCallDelta::decode)
            .collect::<Res<_>>()?;
        Ok(Self {
            role,
            content,
            refusal,
            reasoning_content,
            reasoning,
            tool_calls,
            extra: f.rest(),
        })
    }

    /// The delta as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.opt("role", self.role.as_ref().map(Role::as_str));
        out.opt("content", self.content.as_deref());
        out.opt("refusal", self.refusal.as_deref());
        out.opt("reasoning_content", self.reasoning_content.as_deref());
        out.opt("reasoning", self.reasoning.as_deref());
        if !self.tool_calls.is_empty() {
            out.set(
                "tool_calls",
                Value::Array(self.tool_calls.iter().map(ToolCallDelta::to_json).collect()),
            );
        }
        out.finish(&self.extra)
    }
}

impl Visit for ChatChunk {
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        let extra = &mut self.extra;
        let bit = match key {
            "id" => {
                self.id = string(key, value.value()?, extra).unwrap_or_default();
                1
            }
            "object" => {
                self.object = string(key, value.value()?, extra).unwrap_or_default();
                2
            }
            "created" => {
                self.created = u64(key, value.value()?, extra).unwrap_or_default();
                4
            }
            "model" => {
                self.model = string(key, value.value()?, extra).unwrap_or_default();
                8
            }
            "system_fingerprint" => {
                self.system_fingerprint = string(key, value.value()?, extra);
                16
            }
            "service_tier" => {
                self.service_tier = string(key, value.value()?, extra);
                32
            }
            "choices" => {
                value.array(&mut self.choices)?;
                64
            }
            "usage" => {
                self.usage = usage_of(key, value.value()?, extra);
                128
            }
            _ => 0,
        };
        Ok(bit)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

impl Visit for ChunkChoice {
    fn at(position: usize) -> Self {
        Self {
            index: position as u64,
            ..Self::default()
        }
    }

    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        let extra = &mut self.extra;
        let bit = match key {
            "index" => {
                if let Some(index) = u64(key, value.value()?, extra) {
                    self.index = index;
                }
                1
            }
            "delta" => {
                value.object(&mut self.delta)?;
                2
            }
            "finish_reason" => {
                self.finish_reason =
                    string(key, value.value()?, extra).filter(|reason| !reason.is_empty());
                4
            }
            "logprobs" => {
                self.logprobs = visit::object(value)?;
                8
            }
            _ => 0,
        };
        Ok(bit)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

impl Visit for Delta {
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        let extra = &mut self.extra;
        let bit = match key {
            "role" => {
                self.role = string(key, value.value()?, extra).map(Role::from);
                1
            }
            "content" => {
                self.content = string(key, value.value()?, extra);
                2
            }
            "refusal" => {
                self.refusal = string(key, value.value()?, extra);
                4
            }
            "reasoning_content" => {
                self.reasoning_content = string(key, value.value()?, extra);
                8
            }
            "reasoning" => {
                self.reasoning = string(key, value.value()?, extra);
                16
            }
            "tool_calls" => {
                value.array(&mut self.tool_calls)?;
                32
            }
            _ => 0,
        };
        Ok(bit)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::json::tests::check_round_trip;
    use serde_json::json;

    #[test]
    fn chunk_round_trip() {
        let input = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "service_tier": "default", "system_fingerprint": "fp_1", "obfuscation": "a1b2",
            "choices": [{"index": 0, "finish_reason": null, "logprobs": {"content": [], "refusal": []},
                "delta": {"role": "assistant", "content": "", "refusal": "No", "reasoning_content": "r", "reasoning": "q",
                    "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]
        });
        let chunk = check_round_trip(input, ChatChunk::from_json, ChatChunk::to_json);
        assert_eq!(chunk.content(), "");
        let delta = chunk.delta().unwrap();
        assert_eq!(delta.role, Some(Role::Assistant));
        assert_eq!(
            delta.tool_calls[0]
                .function
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("f")
        );
        assert_eq!(chunk.extra["obfuscation"], "a1b2");
    }

    #[test]
    fn lenient_chunks() {
        // No delta at all (Azure content filter chunk), usage null, finish_reason "".
        let chunk = ChatChunk::from_json_str(
            r#"{"id":"c","choices":[{"index":0,"finish_reason":"","content_filter_results":{"hate":{"filtered":false}}}],"usage":null}"#,
        )
        .unwrap();
        assert_eq!(chunk.choices[0].delta, Delta::default());
        assert_eq!(chunk.choices[0].finish_reason, None);
        assert_eq!(chunk.usage, None);
        assert_eq!(chunk.content(), "");

        // Usage-only final chunk (OpenAI) and LiteLLM's variant with an empty delta.
        let usage_only = ChatChunk::from_json_str(
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
        )
        .unwrap();
        assert!(usage_only.choices.is_empty());
        assert_eq!(usage_only.usage.unwrap().total_tokens, Some(5));
        let litellm = ChatChunk::from_json_str(
            r#"{"id":"c","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(litellm.delta(), Some(&Delta::default()));

        // Null where strings are expected; a huge index; an index as a float.
        let chunk = ChatChunk::from_json(json!({
            "id": null, "model": null, "object": null, "created": null,
            "choices": [{"index": 4294967295u64, "delta": {"role": null, "content": null,
                "tool_calls": [{"index": 1e12, "id": null, "function": {"arguments": "{"}}]}}]
        }))
        .unwrap();
        assert_eq!(chunk.id, "");
        assert_eq!(chunk.choices[0].index, 4294967295);
        let call = &chunk.choices[0].delta.tool_calls[0];
        assert_eq!(call.index, Some(1_000_000_000_000));
        assert_eq!(call.id, None);
        assert!(chunk.extra.is_empty());

        // Missing `choices` entirely.
        assert!(
            ChatChunk::from_json(json!({"id": "c"}))
                .unwrap()
                .choices
                .is_empty()
        );
    }
}
