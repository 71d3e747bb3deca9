//! [`ChatChunk`]: one chunk of a streamed completion, its [`ChunkChoice`]s and [`Delta`]s.

use serde_json::{Map, Value};

use super::json::{Bad, Fields, Out, Res, decode_finish_reason, decode_str};
use super::usage::decode_usage;
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
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<Self, Error> {
        decode_str(text, "chat completion chunk", Self::decode)
    }

    pub(super) fn decode(value: Value) -> Res<Self> {
        let mut f = Fields::new(value, "chat completion chunk")?;
        let id = f.string("id").unwrap_or_default();
        let object = f.string("object").unwrap_or_default();
        let created = f.u64("created").unwrap_or_default();
        let model = f.string("model").unwrap_or_default();
        let system_fingerprint = f.string("system_fingerprint");
        let service_tier = f.string("service_tier");
        let choices = f
            .array("choices")?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(position, choice)| ChunkChoice::decode(choice, position))
            .collect::<Res<_>>()?;
        let usage = decode_usage(&mut f);
        Ok(Self {
            id,
            object,
            created,
            model,
            system_fingerprint,
            service_tier,
            choices,
            usage,
            extra: f.rest(),
        })
    }

    /// The delta of the first choice.
    pub fn delta(&self) -> Option<&Delta> {
        self.choices.first().map(|choice| &choice.delta)
    }

    /// The content piece of the first choice (`""` when it has none), ready to print.
    pub fn content(&self) -> &str {
        self.delta()
            .and_then(|delta| delta.content.as_deref())
            .unwrap_or_default()
    }

    /// The chunk as JSON (`"object": "chat.completion.chunk"` when empty).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("id", self.id.as_str());
        let object = if self.object.is_empty() {
            "chat.completion.chunk"
        } else {
            &self.object
        };
        out.set("object", object);
        out.set("created", self.created);
        out.set("model", self.model.as_str());
        out.set(
            "choices",
            Value::Array(self.choices.iter().map(ChunkChoice::to_json).collect()),
        );
        out.opt("system_fingerprint", self.system_fingerprint.as_deref());
        out.opt("service_tier", self.service_tier.as_deref());
        out.opt("usage", self.usage.as_ref().map(Usage::to_json));
        out.finish(&self.extra)
    }
}

impl ChunkChoice {
    fn decode(value: Value, position: usize) -> Res<Self> {
        let mut f = Fields::new(value, "chunk choice")?;
        let index = f.u64("index").unwrap_or(position as u64);
        let delta = match f.object("delta")? {
            Some(map) => Delta::decode(map)?,
            None => Delta::default(),
        };
        let finish_reason = decode_finish_reason(&mut f);
        let logprobs = f.loose_object("logprobs").map(Logprobs::from_map);
        Ok(Self {
            index,
            delta,
            finish_reason,
            logprobs,
            extra: f.rest(),
        })
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
