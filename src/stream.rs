//! Streaming chat completions: [`ChatStream`] drives a live event stream
//! (deadlines, `[DONE]`, in-stream errors, truncation), and the
//! [`Accumulator`] rebuilds a full completion from its chunks.
//!
//! This is the only module that knows OpenAI's `data: [DONE]` marker; the
//! SSE parser below it knows nothing of it.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::chat::{
    self, ChatChunk, ChatCompletion, Choice, ChunkChoice, Content, FunctionCall, Logprobs, Message,
    Role, StreamData, ToolCall, ToolCallDelta, Usage, merge_metadata_fields, merge_streamed_fields,
    settle_streamed_choice,
};
use crate::error::{Error, ErrorKind, Timeout};
use crate::http::{Response, ResponseInfo, StreamBody, api_error_from_body};
use crate::sse::{self, EventReader};

/// Rebuilds the full [`ChatCompletion`] from the chunks of a stream, like the official SDKs'
/// final-completion helpers.
///
/// Feed every chunk to [`push`](Self::push), then take the result with
/// [`completion`](Self::completion) (a snapshot, usable mid-stream) or
/// [`into_completion`](Self::into_completion). The result has the shape of a non-streaming
/// response: `object` is `"chat.completion"` and each choice has a `message`.
///
/// ```
/// use chatstream::ChatChunk;
/// use chatstream::Accumulator;
///
/// let stream = [
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"}}]}"#,
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":"stop"}]}"#,
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
/// ];
/// let mut acc = Accumulator::new();
/// for data in stream {
///     acc.push(&ChatChunk::from_json_str(data)?);
/// }
/// assert!(acc.all_choices_finished());
/// let completion = acc.into_completion();
/// assert_eq!(completion.content(), "Hello world");
/// assert_eq!(completion.finish_reason(), Some("stop"));
/// assert_eq!(completion.usage.and_then(|u| u.total_tokens), Some(7));
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    id: String,
    created: u64,
    model: String,
    system_fingerprint: Option<String>,
    service_tier: Option<String>,
    /// Choices sorted by index. Never indexed by position, so a huge index from a broken
    /// server costs one entry, not a giant allocation.
    choices: Vec<ChoiceState>,
    usage: Option<Usage>,
    extra: Map<String, Value>,
}

/// What has been accumulated for one choice.
#[derive(Debug, Clone, Default)]
struct ChoiceState {
    index: u64,
    role: Option<Role>,
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    /// Tool calls in the order their first fragment arrived.
    tool_calls: Vec<ToolCallState>,
    finish_reason: Option<String>,
    logprobs: Option<Logprobs>,
    /// Unknown fields of the deltas (become the message's `extra`).
    message_extra: Map<String, Value>,
    /// Unknown fields of the chunk choices (become the choice's `extra`).
    choice_extra: Map<String, Value>,
}

/// One tool call being assembled.
#[derive(Debug, Clone, Default)]
struct ToolCallState {
    /// The `index` of its fragments (`None` for servers that send no index).
    index: Option<u64>,
    id: String,
    kind: Option<String>,
    name: String,
    arguments: String,
    extra: Map<String, Value>,
    function_extra: Map<String, Value>,
}

impl Accumulator {
    /// An empty accumulator.
    pub fn new() -> Accumulator {
        Accumulator::default()
    }

    /// Merges one chunk. Never fails and never panics, whatever the chunk holds.
    ///
    /// Rules:
    ///
    /// - `id`, `model`, `created` and `system_fingerprint` (and `service_tier`) come from the
    ///   first chunk that has a non-empty value (Azure's leading prompt-filter chunk has empty
    ///   ones).
    /// - Choices are kept by `index`, sorted by index (n > 1 streams interleave them).
    /// - Per choice: the first `role` wins (default `assistant`); `content`, `refusal`,
    ///   `reasoning_content` and `reasoning` pieces are concatenated (each kept separately);
    ///   the last non-null `finish_reason` wins; `logprobs.content` and `logprobs.refusal`
    ///   entries are appended.
    /// - Tool call fragments are merged by `index` (several fragments of one index in one
    ///   chunk are fine): `id`, `type` and `function.name` come from the first fragment that
    ///   has them, `function.arguments` pieces are concatenated. Without an `index`, a
    ///   fragment with a non-empty `id` not seen before starts a new call, one with a known
    ///   `id` continues that call, and one without `id` continues the last call. A fragment
    ///   whose `index` matches a call that already has a different non-empty `id` starts a new
    ///   call (servers that send `index: 0` for every parallel call). Calls are listed in the
    ///   order their first fragment arrived.
    /// - **Usage: the last non-empty `usage` received wins** (from any chunk, including the
    ///   final one with empty `choices`; `usage: {}` only counts if nothing else came). Usage
    ///   is never summed: with `n` > 1, llama.cpp sends one usage chunk per choice, each
    ///   counting that choice's completion tokens, and its non-streamed `n` > 1 response
    ///   reports one choice's tokens too, so "last wins" makes streamed and plain results
    ///   agree. OpenAI sends a single usage chunk, which this rule keeps as is.
    /// - Unknown fields: top-level and choice-level ones are metadata; for each key the last
    ///   non-empty value wins (so Azure's `prompt_filter_results` from the first chunk and
    ///   llama.cpp's final `timings` are both kept), and OpenAI's `obfuscation` padding is
    ///   dropped. Unknown delta fields are treated as streamed, like the official SDKs do:
    ///   strings are concatenated (except `id`, `type`, `index`, `name`, `tool_call_id`),
    ///   arrays appended, array elements with a matching integer `index` merged (so
    ///   OpenRouter's `reasoning_details` fragments become one entry per index), objects
    ///   merged by key. A top-level `null` is not recorded.
    /// - Building the completion, unknown fields never override accumulated ones: a `message`
    ///   inside a chunk choice is dropped, a delta's `name` / `tool_call_id` fill the
    ///   message's typed fields, and a known field that arrived with an unexpected type only
    ///   stays in `extra` when there is no typed value. `content` sent as an array of parts
    ///   (Mistral's thinking parts) becomes [`Content::Parts`],
    ///   followed by the streamed text.
    /// - The snapshot's `object` is `"chat.completion"`; the chunk `object` is not kept.
    pub fn push(&mut self, chunk: &ChatChunk) {
        first_non_empty(&mut self.id, &chunk.id);
        first_non_empty(&mut self.model, &chunk.model);
        if self.created == 0 {
            self.created = chunk.created;
        }
        first_non_empty_opt(
            &mut self.system_fingerprint,
            chunk.system_fingerprint.as_deref(),
        );
        first_non_empty_opt(&mut self.service_tier, chunk.service_tier.as_deref());
        merge_metadata_fields(&mut self.extra, &chunk.extra);
        for choice in &chunk.choices {
            self.choice_mut(choice.index).apply(choice);
        }
        let had_usage = self.usage.is_some();
        if let Some(usage) = chunk.usage.as_ref().filter(|u| !u.is_empty() || !had_usage) {
            self.usage = Some(usage.clone());
        }
    }

    fn choice_mut(&mut self, index: u64) -> &mut ChoiceState {
        let position = match self.choices.binary_search_by_key(&index, |c| c.index) {
            Ok(position) => position,
            Err(position) => {
                let state = ChoiceState {
                    index,
                    ..ChoiceState::default()
                };
                self.choices.insert(position, state);
                position
            }
        };
        &mut self.choices[position]
    }

    /// A snapshot of what has been accumulated so far, as a completion.
    pub fn completion(&self) -> ChatCompletion {
        self.clone().into_completion()
    }

    /// The accumulated completion.
    pub fn into_completion(self) -> ChatCompletion {
        ChatCompletion {
            id: self.id,
            object: "chat.completion".to_owned(),
            created: self.created,
            model: self.model,
            system_fingerprint: self.system_fingerprint,
            service_tier: self.service_tier,
            choices: self
                .choices
                .into_iter()
                .map(ChoiceState::into_choice)
                .collect(),
            usage: self.usage,
            response: None,
            extra: self.extra,
        }
    }

    /// True when at least one choice has been seen and every choice has a finish reason.
    /// A stream that ends while this is false was cut off.
    pub fn all_choices_finished(&self) -> bool {
        !self.choices.is_empty() && self.choices.iter().all(|c| c.finish_reason.is_some())
    }

    /// True until a chunk with at least one choice or a usage object has been pushed
    /// (chunks without either, such as Azure's prompt-filter chunk, do not count).
    pub fn is_empty(&self) -> bool {
        self.choices.is_empty() && self.usage.is_none()
    }
}

fn first_non_empty(acc: &mut String, new: &str) {
    if acc.is_empty() && !new.is_empty() {
        new.clone_into(acc);
    }
}

fn first_non_empty_opt(acc: &mut Option<String>, new: Option<&str>) {
    if acc.as_deref().is_none_or(str::is_empty) {
        if let Some(new) = new.filter(|new| !new.is_empty()) {
            *acc = Some(new.to_owned());
        }
    }
}

fn append(acc: &mut Option<String>, piece: Option<&str>) {
    if let Some(piece) = piece {
        acc.get_or_insert_default().push_str(piece);
    }
}

impl ChoiceState {
    fn apply(&mut self, choice: &ChunkChoice) {
        let delta = &choice.delta;
        if self.role.is_none() {
            self.role.clone_from(&delta.role);
        }
        append(&mut self.content, delta.content.as_deref());
        append(&mut self.refusal, delta.refusal.as_deref());
        append(
            &mut self.reasoning_content,
            delta.reasoning_content.as_deref(),
        );
        append(&mut self.reasoning, delta.reasoning.as_deref());
        for fragment in &delta.tool_calls {
            self.merge_tool_call(fragment);
        }
        merge_streamed_fields(&mut self.message_extra, &delta.extra);
        if choice.finish_reason.is_some() {
            self.finish_reason.clone_from(&choice.finish_reason);
        }
        if let Some(new) = &choice.logprobs {
            let acc = self.logprobs.get_or_insert_default();
            for (acc, new) in [
                (&mut acc.content, &new.content),
                (&mut acc.refusal, &new.refusal),
            ] {
                if let Some(new) = new {
                    acc.get_or_insert_default().extend(new.iter().cloned());
                }
            }
            merge_metadata_fields(&mut acc.extra, &new.extra);
        }
        merge_metadata_fields(&mut self.choice_extra, &choice.extra);
    }

    fn merge_tool_call(&mut self, fragment: &ToolCallDelta) {
        let id = fragment.id.as_deref().filter(|id| !id.is_empty());
        let calls = &self.tool_calls;
        let target = match (fragment.index, id) {
            (Some(index), id) => calls
                .iter()
                .rposition(|call| call.index == Some(index))
                .filter(|&p| id.is_none_or(|id| calls[p].id.is_empty() || calls[p].id == id)),
            (None, Some(id)) => calls.iter().rposition(|call| call.id == id),
            (None, None) => calls.len().checked_sub(1),
        };
        let position = target.unwrap_or_else(|| {
            let state = ToolCallState {
                index: fragment.index,
                ..ToolCallState::default()
            };
            self.tool_calls.push(state);
            self.tool_calls.len() - 1
        });
        let call = &mut self.tool_calls[position];
        if let Some(id) = id.filter(|_| call.id.is_empty()) {
            id.clone_into(&mut call.id);
        }
        if call.kind.is_none() {
            call.kind = fragment.kind.clone().filter(|kind| !kind.is_empty());
        }
        if let Some(function) = &fragment.function {
            first_non_empty(&mut call.name, function.name.as_deref().unwrap_or(""));
            if let Some(arguments) = &function.arguments {
                call.arguments.push_str(arguments);
            }
            merge_streamed_fields(&mut call.function_extra, &function.extra);
        }
        merge_streamed_fields(&mut call.extra, &fragment.extra);
    }

    fn into_choice(self) -> Choice {
        let message = Message {
            role: self.role.unwrap_or(Role::Assistant),
            content: self.content.map(Content::Text),
            name: None,
            tool_calls: self
                .tool_calls
                .into_iter()
                .map(ToolCallState::into_tool_call)
                .collect(),
            tool_call_id: None,
            refusal: self.refusal,
            reasoning_content: self.reasoning_content,
            reasoning: self.reasoning,
            extra: self.message_extra,
        };
        let mut choice = Choice {
            index: self.index,
            message,
            finish_reason: self.finish_reason,
            logprobs: self.logprobs,
            extra: self.choice_extra,
        };
        settle_streamed_choice(&mut choice);
        choice
    }
}

impl ToolCallState {
    fn into_tool_call(self) -> ToolCall {
        ToolCall {
            id: self.id,
            kind: self.kind.unwrap_or_else(|| "function".to_owned()),
            function: FunctionCall {
                name: self.name,
                arguments: self.arguments,
                extra: self.function_extra,
            },
            extra: self.extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Pushes every chunk (one JSON text per line) and returns the accumulator.
    #[track_caller]
    fn accumulate(lines: &str) -> Accumulator {
        let mut acc = Accumulator::new();
        for line in lines.lines().map(str::trim).filter(|line| !line.is_empty()) {
            acc.push(&ChatChunk::from_json_str(line).expect("test chunk decodes"));
        }
        acc
    }

    /// Accumulates `lines` and compares the completion's JSON with `expected`.
    #[track_caller]
    #[allow(clippy::needless_pass_by_value)] // callers pass `json!(..)` literals
    fn check(lines: &str, expected: Value) -> ChatCompletion {
        let acc = accumulate(lines);
        let completion = acc.completion();
        assert_eq!(completion.to_json(), expected);
        assert_eq!(
            acc.into_completion(),
            completion,
            "snapshot and final result agree"
        );
        completion
    }

    #[test]
    fn smoke() {
        check(
            r#"{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#,
            json!({"id": "c", "object": "chat.completion", "created": 7, "model": "m", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop", "logprobs": null}
            ]}),
        );
    }

    #[test]
    fn openai_text_with_usage_chunk() {
        let completion = check(
            r#"
            {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Qx"}
            {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a"}
            {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!\n\nBye"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"bb"}
            {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"c"}
            {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"d"}
            "#,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                "service_tier": "default", "system_fingerprint": "fp_1",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!\n\nBye"},
                             "finish_reason": "stop", "logprobs": null}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
            }),
        );
        assert_eq!(completion.content(), "Hello!\n\nBye");
    }

    #[test]
    fn azure_prompt_filter_first_chunk() {
        let first = r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}"#;
        let mut acc = accumulate(first);
        assert!(acc.is_empty(), "a prompt-filter chunk is not content");
        assert!(!acc.all_choices_finished());
        let rest = r#"
            {"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1762317021,"id":"chatcmpl-CY","model":"gpt-5-nano","obfuscation":"D3","object":"chat.completion.chunk","system_fingerprint":null,"usage":null}
            {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"delta":{"content":"Capital"},"finish_reason":null,"index":0,"logprobs":null}],"created":1762317021,"id":"chatcmpl-CY","model":"gpt-5-nano","obfuscation":"NN","object":"chat.completion.chunk","system_fingerprint":null,"usage":null}
            {"choices":[{"index":0,"finish_reason":null,"content_filter_results":{"violence":{"filtered":false,"severity":"safe"}}}],"created":1762317021,"id":"chatcmpl-CY","model":"gpt-5-nano","object":"chat.completion.chunk"}
            {"choices":[{"content_filter_results":{},"delta":{"content":" of Denmark."},"finish_reason":null,"index":0,"logprobs":null}],"created":1762317021,"id":"chatcmpl-CY","model":"gpt-5-nano","obfuscation":"et","object":"chat.completion.chunk","system_fingerprint":null,"usage":null}
            {"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1762317021,"id":"chatcmpl-CY","model":"gpt-5-nano","obfuscation":"Za","object":"chat.completion.chunk","system_fingerprint":null,"usage":null}
            {"choices":[],"created":1762317021,"id":"chatcmpl-CY","model":"gpt-5-nano","obfuscation":"Dj","object":"chat.completion.chunk","system_fingerprint":null,"usage":{"completion_tokens":78,"completion_tokens_details":{"reasoning_tokens":64},"prompt_tokens":15,"total_tokens":93}}
        "#;
        for line in rest.lines().map(str::trim).filter(|l| !l.is_empty()) {
            acc.push(&ChatChunk::from_json_str(line).unwrap());
        }
        assert!(!acc.is_empty());
        assert!(acc.all_choices_finished());
        assert_eq!(
            acc.into_completion().to_json(),
            json!({
                "id": "chatcmpl-CY", "object": "chat.completion", "created": 1762317021, "model": "gpt-5-nano",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}}],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Capital of Denmark."},
                             "finish_reason": "stop", "logprobs": null,
                             "content_filter_results": {"violence": {"filtered": false, "severity": "safe"}}}],
                "usage": {"completion_tokens": 78, "completion_tokens_details": {"reasoning_tokens": 64},
                          "prompt_tokens": 15, "total_tokens": 93}
            })
        );
    }

    #[test]
    fn llama_cpp_two_choices_two_usage_chunks() {
        let acc = accumulate(
            r#"
            {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk"}
            {"choices":[{"finish_reason":null,"index":1,"delta":{"role":"assistant","content":null}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk"}
            {"choices":[{"finish_reason":null,"index":1,"delta":{"content":" about"}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk"}
            {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" server"}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk"}
            {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" time"}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk"}
            {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk","timings":{"predicted_n":2}}
            {"choices":[],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":11,"total_tokens":13},"timings":{"predicted_n":2}}
            {"choices":[{"finish_reason":null,"index":1,"delta":{"content":" first"}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk"}
            {"choices":[{"finish_reason":"length","index":1,"delta":{}}],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk","timings":{"predicted_n":3}}
            {"choices":[],"created":5,"id":"chatcmpl-L","model":"tiny","system_fingerprint":"b1-x","object":"chat.completion.chunk","usage":{"completion_tokens":3,"prompt_tokens":11,"total_tokens":14},"timings":{"predicted_n":3}}
            "#,
        );
        assert!(acc.all_choices_finished());
        let completion = acc.into_completion();
        assert_eq!(
            completion.to_json(),
            json!({
                "id": "chatcmpl-L", "object": "chat.completion", "created": 5, "model": "tiny",
                "system_fingerprint": "b1-x", "timings": {"predicted_n": 3},
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": " server time"}, "finish_reason": "length", "logprobs": null},
                    {"index": 1, "message": {"role": "assistant", "content": " about first"}, "finish_reason": "length", "logprobs": null}
                ],
                // The last usage chunk wins; usage is never summed.
                "usage": {"completion_tokens": 3, "prompt_tokens": 11, "total_tokens": 14}
            })
        );
    }

    #[test]
    fn usage_rules() {
        // `usage: {}` counts only when nothing better came; null never counts.
        let acc = accumulate(
            r#"
            {"choices":[],"usage":{}}
            {"choices":[],"usage":null}
            "#,
        );
        assert!(!acc.is_empty());
        assert_eq!(acc.completion().usage, Some(Usage::default()));
        let acc = accumulate(
            r#"
            {"choices":[],"usage":{"total_tokens":5}}
            {"choices":[],"usage":{}}
            {"choices":[],"usage":null}
            "#,
        );
        assert_eq!(acc.completion().usage.unwrap().total_tokens, Some(5));
        // Usage riding on the finish chunk (some servers) and LiteLLM's usage chunk with an empty delta.
        let acc = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"total_tokens":2}}
            {"choices":[{"index":0,"delta":{}}],"usage":{"total_tokens":3}}
            "#,
        );
        assert!(acc.all_choices_finished());
        assert_eq!(acc.completion().usage.unwrap().total_tokens, Some(3));
        assert_eq!(acc.completion().content(), "x");
    }

    const CITY_FRAGMENTS: &str = r#"
        {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"city"}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":\""}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"Paris"}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}
    "#;

    #[test]
    fn tool_call_fragments() {
        let completion = check(
            CITY_FRAGMENTS,
            json!({
                "id": "c", "object": "chat.completion", "created": 0, "model": "",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
                    "role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_abc", "type": "function",
                                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}]
            }),
        );
        assert_eq!(
            completion.tool_calls()[0].arguments_json().unwrap(),
            json!({"city": "Paris"})
        );
    }

    #[test]
    fn tool_call_fragments_in_one_chunk_and_parallel_calls() {
        // Several fragments of one index in one chunk (openai-python #3201), two calls, and
        // vLLM repeating id and name on a later fragment (vllm #31438).
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\""}},{"index":0,"function":{"arguments":":1}"}},{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":""}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}},{"index":0,"id":"a","function":{"name":"f"}}]}}]}
            {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}
            "#,
        )
        .into_completion();
        let calls = completion.tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].function.name.as_str()),
            ("a", "f")
        );
        assert_eq!(calls[0].arguments_json().unwrap(), json!({"x": 1}));
        assert_eq!(
            (calls[1].id.as_str(), calls[1].function.name.as_str()),
            ("b", "g")
        );
        assert_eq!(calls[1].arguments_json().unwrap(), json!({}));
    }

    #[test]
    fn tool_calls_without_index() {
        // Gemini-style: whole calls without index, each with its own id; then a proxy that
        // sends id-less continuation fragments without index.
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"id":"g1","type":"function","function":{"name":"a","arguments":"{\"n\":1}"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"g2","type":"function","function":{"name":"b","arguments":"{\"n\":"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"2}"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"g1","function":{"arguments":""}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"","type":"","function":{"arguments":""}}]},"finish_reason":"tool_calls"}]}
            "#,
        )
        .into_completion();
        let calls = completion.tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments_json().unwrap(), json!({"n": 1}));
        assert_eq!(calls[1].id, "g2");
        assert_eq!(calls[1].kind, "function");
        assert_eq!(calls[1].arguments_json().unwrap(), json!({"n": 2}));

        // A first fragment without index or id starts a call; no type means "function".
        let completion = accumulate(r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]}"#)
            .into_completion();
        assert_eq!(completion.tool_calls().len(), 1);
        assert_eq!(completion.tool_calls()[0].kind, "function");
        assert_eq!(completion.tool_calls()[0].id, "");
    }

    #[test]
    fn same_index_different_ids_are_different_calls() {
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"x1","function":{"name":"f","arguments":"{\"a\":"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"x2","function":{"name":"f","arguments":"{\"a\":"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2}"}}]}}]}
            "#,
        )
        .into_completion();
        let args: Vec<Value> = completion
            .tool_calls()
            .iter()
            .map(|c| c.arguments_json().unwrap())
            .collect();
        assert_eq!(args, [json!({"a": 1}), json!({"a": 2})]);
    }

    #[test]
    fn refusal() {
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""}}]}
            {"choices":[{"index":0,"delta":{"refusal":"I'm sorry, "}}]}
            {"choices":[{"index":0,"delta":{"refusal":"I can't help."}}]}
            {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}
            "#,
        )
        .into_completion();
        let message = completion.message().unwrap();
        assert_eq!(message.refusal.as_deref(), Some("I'm sorry, I can't help."));
        assert_eq!(message.content, None);
        assert_eq!(
            completion.to_json()["choices"][0]["message"]["content"],
            Value::Null
        );
    }

    #[test]
    fn logprobs_appended() {
        let completion = check(
            r#"
            {"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.5,"bytes":[72,105]}]}],"refusal":null}}]}
            {"choices":[{"index":0,"delta":{"content":"!"},"logprobs":null}]}
            {"choices":[{"index":0,"delta":{"content":" x"},"logprobs":{"content":[{"id":5,"token":" x","logprob":-1.25,"bytes":[32,120],"top_logprobs":[]}]}}]}
            {"choices":[{"index":0,"delta":{"refusal":"no"},"logprobs":{"refusal":[{"token":"no","logprob":-0.125,"bytes":null,"top_logprobs":[]}]}}]}
            "#,
            json!({
                "id": "", "object": "chat.completion", "created": 0, "model": "",
                "choices": [{"index": 0, "finish_reason": null,
                    "message": {"role": "assistant", "content": "Hi! x", "refusal": "no"},
                    "logprobs": {
                        "content": [
                            {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}]},
                            {"id": 5, "token": " x", "logprob": -1.25, "bytes": [32, 120], "top_logprobs": []}
                        ],
                        "refusal": [{"token": "no", "logprob": -0.125, "bytes": null, "top_logprobs": []}]
                    }}]
            }),
        );
        assert_eq!(completion.content(), "Hi! x");
    }

    #[test]
    fn reasoning_deltas() {
        // DeepSeek / llama.cpp style, then OpenRouter style with reasoning_details fragments.
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Let me"}}]}
            {"choices":[{"index":0,"delta":{"reasoning_content":" think."}}]}
            {"choices":[{"index":0,"delta":{"content":"42"},"finish_reason":"stop"}]}
            "#,
        )
        .into_completion();
        let message = completion.message().unwrap();
        assert_eq!(message.reasoning_content.as_deref(), Some("Let me think."));
        assert_eq!(message.reasoning, None);
        assert_eq!(message.reasoning_text(), Some("Let me think."));
        assert_eq!(completion.content(), "42");

        let completion = accumulate(
            r#"
            {"id":"gen-1","provider":"Minimax","model":"minimax/minimax-m2:free","object":"chat.completion.chunk","created":1762179802,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"We need","reasoning_details":[{"type":"reasoning.text","text":"We need","index":0,"format":null}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}
            {"id":"gen-1","provider":"Minimax","model":"minimax/minimax-m2:free","object":"chat.completion.chunk","created":1762179802,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":" to respond.","reasoning_details":[{"type":"reasoning.text","text":" to respond.","index":0,"format":null}]},"finish_reason":"length","native_finish_reason":"length","logprobs":null}]}
            {"id":"gen-1","provider":"Minimax","model":"minimax/minimax-m2:free","object":"chat.completion.chunk","created":1762179802,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]},"finish_reason":"length","native_finish_reason":"length","logprobs":null}]}
            "#,
        )
        .into_completion();
        assert_eq!(
            completion.to_json(),
            json!({
                "id": "gen-1", "object": "chat.completion", "created": 1762179802, "model": "minimax/minimax-m2:free",
                "provider": "Minimax",
                "choices": [{"index": 0, "finish_reason": "length", "native_finish_reason": "length", "logprobs": null,
                    "message": {"role": "assistant", "content": "", "reasoning": "We need to respond.",
                        "reasoning_details": [{"type": "reasoning.text", "text": "We need to respond.", "index": 0, "format": null}]}}]
            })
        );
    }

    #[test]
    fn huge_indices_do_not_allocate() {
        let mut acc = accumulate(
            r#"
            {"choices":[{"index":4294967295,"delta":{"content":"a","tool_calls":[{"index":1e12,"id":"t","function":{"name":"f","arguments":"{}"}}]}}]}
            {"choices":[{"index":1e12,"delta":{"content":"b"}}]}
            {"choices":[{"index":0,"delta":{"content":"c","tool_calls":[{"index":18446744073709551615,"function":{"arguments":"x"}}]}}]}
            {"choices":[{"index":4294967295,"delta":{"tool_calls":[{"index":1e12,"function":{"arguments":"[]"}}]},"finish_reason":"stop"}]}
            "#,
        );
        let completion = acc.completion();
        let indices: Vec<u64> = completion.choices.iter().map(|c| c.index).collect();
        assert_eq!(indices, [0, 4294967295, 1_000_000_000_000]);
        assert_eq!(
            completion.choices[1].message.tool_calls[0]
                .function
                .arguments,
            "{}[]"
        );
        assert_eq!(
            completion.choices[0].message.tool_calls[0]
                .function
                .arguments,
            "x"
        );
        assert!(!acc.all_choices_finished());
        for index in [0u64, 1_000_000_000_000] {
            acc.push(
                &ChatChunk::from_json(
                    json!({"choices": [{"index": index, "finish_reason": "stop"}]}),
                )
                .unwrap(),
            );
        }
        assert!(acc.all_choices_finished());
    }

    #[test]
    fn choices_sorted_and_states() {
        let mut acc = Accumulator::new();
        assert!(acc.is_empty());
        assert!(!acc.all_choices_finished());
        assert_eq!(acc.completion().to_json()["choices"], json!([]));
        for (index, text) in [(2, "c"), (0, "a"), (1, "b"), (0, "A")] {
            acc.push(
                &ChatChunk::from_json(
                    json!({"choices": [{"index": index, "delta": {"content": text}}]}),
                )
                .unwrap(),
            );
        }
        assert!(!acc.is_empty());
        let texts: Vec<String> = acc
            .completion()
            .choices
            .iter()
            .map(|c| c.message.text().into_owned())
            .collect();
        assert_eq!(texts, ["aA", "b", "c"]);
        // An empty finish reason (some proxies send "" on every delta) is no finish reason.
        for index in 0..3 {
            acc.push(
                &ChatChunk::from_json(
                    json!({"choices": [{"index": index, "delta": {}, "finish_reason": ""}]}),
                )
                .unwrap(),
            );
        }
        assert!(!acc.all_choices_finished());
        for index in 0..3 {
            acc.push(
                &ChatChunk::from_json(
                    json!({"choices": [{"index": index, "finish_reason": "stop"}]}),
                )
                .unwrap(),
            );
            assert_eq!(acc.all_choices_finished(), index == 2);
        }
        // A later null does not clear a finish reason; a later non-null one replaces it.
        acc.push(
            &ChatChunk::from_json(json!({"choices": [{"index": 1, "finish_reason": null}]}))
                .unwrap(),
        );
        acc.push(
            &ChatChunk::from_json(json!({"choices": [{"index": 2, "finish_reason": "length"}]}))
                .unwrap(),
        );
        let completion = acc.into_completion();
        assert_eq!(completion.choices[1].finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            completion.choices[2].finish_reason.as_deref(),
            Some("length")
        );
    }

    #[test]
    fn first_non_empty_metadata_wins() {
        let completion = accumulate(
            r#"
            {"id":"","model":"","created":0,"system_fingerprint":"","choices":[]}
            {"id":"a","model":"m1","created":10,"system_fingerprint":"fp_a","service_tier":"flex","choices":[{"index":0,"delta":{"role":"assistant"}}]}
            {"id":"b","model":"m2","created":11,"system_fingerprint":"fp_b","service_tier":"default","choices":[{"index":0,"delta":{"role":"user","content":"x"}}]}
            "#,
        )
        .into_completion();
        assert_eq!(completion.id, "a");
        assert_eq!(completion.model, "m1");
        assert_eq!(completion.created, 10);
        assert_eq!(completion.system_fingerprint.as_deref(), Some("fp_a"));
        assert_eq!(completion.service_tier.as_deref(), Some("flex"));
        assert_eq!(
            completion.message().unwrap().role,
            Role::Assistant,
            "the first role wins"
        );
    }

    #[test]
    fn chunk_fields_known_only_to_completions() {
        // A `message` inside a chunk choice must not override the accumulated message, and a
        // delta's `name` / `tool_call_id` land in the message's typed fields.
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"content":"Hel","name":"bot"},"message":{"role":"assistant","content":"stale"}}]}
            {"choices":[{"index":0,"delta":{"content":"lo","name":"bot","tool_call_id":"t1"},"message":null,"finish_reason":"stop"}]}
            "#,
        )
        .into_completion();
        let choice = &completion.choices[0];
        assert!(choice.extra.is_empty(), "{:?}", choice.extra);
        assert_eq!(choice.message.name.as_deref(), Some("bot"));
        assert_eq!(choice.message.tool_call_id.as_deref(), Some("t1"));
        assert!(choice.message.extra.is_empty());
        let json = completion.to_json();
        assert_eq!(json["choices"][0]["message"]["content"], "Hello");
        assert_eq!(ChatCompletion::from_json(json).unwrap(), completion);
    }

    #[test]
    fn content_parts_in_deltas() {
        // Mistral-style thinking parts as array content, then plain text.
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"Hmm"}]}]}}]}
            {"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":" ok"}]}]}}]}
            {"choices":[{"index":0,"delta":{"content":"Answer"}}]}
            {"choices":[{"index":0,"delta":{"content":"!","refusal":7},"finish_reason":"stop"}]}
            "#,
        )
        .into_completion();
        assert_eq!(completion.content(), "Answer!");
        let message = completion.message().unwrap();
        assert_eq!(
            message.extra["refusal"], 7,
            "no typed refusal: the raw value stays"
        );
        assert_eq!(
            message.to_json()["content"],
            json!([
                {"type": "thinking", "thinking": [{"type": "text", "text": "Hmm"}]},
                {"type": "thinking", "thinking": [{"type": "text", "text": " ok"}]},
                {"type": "text", "text": "Answer!"}
            ])
        );
        assert_eq!(
            ChatCompletion::from_json(completion.to_json()).unwrap(),
            completion
        );

        // A wrongly typed piece never hides the accumulated text.
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"content":"a","reasoning":"r"}}]}
            {"choices":[{"index":0,"delta":{"content":5,"role":false,"reasoning":{"x":1}}}]}
            "#,
        )
        .into_completion();
        assert_eq!(
            completion.to_json()["choices"][0]["message"],
            json!({"role": "assistant", "content": "a", "reasoning": "r"})
        );
    }

    #[test]
    fn every_chunk_shape_is_accepted() {
        // Chunks with odd but decodable shapes never panic the accumulator.
        let mut acc = Accumulator::new();
        for chunk in [
            json!({}),
            json!({"choices": [{}]}),
            json!({"choices": [{"delta": {"tool_calls": [{}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"function": {}}, {"index": 0}]}}]}),
            json!({"choices": [{"delta": {"role": "critic", "content": 5, "extra_text": "a"}}]}),
            json!({"choices": [{"delta": {"extra_text": "b", "audio": {"data": "QU"}}, "logprobs": {"content": "bad"}}]}),
            json!({"choices": [{"delta": {"audio": {"data": "JD"}}, "logprobs": {}}], "usage": {"total_tokens": "x"}}),
        ] {
            acc.push(&ChatChunk::from_json(chunk).unwrap());
        }
        let completion = acc.into_completion();
        let message = completion.message().unwrap();
        assert_eq!(message.role, Role::Other("critic".into()));
        assert_eq!(message.extra["extra_text"], "ab");
        assert_eq!(message.extra["audio"], json!({"data": "QUJD"}));
        // `{}` and `{"function": {}}` (no index, no id) are one call; `{"index": 0}` is another.
        assert_eq!(message.tool_calls.len(), 2);
        assert_eq!(completion.usage.unwrap().extra["total_tokens"], "x");
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
        let _ = crate::chat::parse_error_body(&value.to_string());
    }

    #[test]
    fn random_chunks_never_panic_and_normalise_once() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut decoded = 0;
        for round in 0..300 {
            let mut acc = Accumulator::new();
            for _ in 0..20 {
                let mut value = random_value(&mut rng, 6);
                if rng.below(2) == 0 {
                    // Force the top level into a chunk-like object more often.
                    let choice = json!({"index": random_value(&mut rng, 1), "delta": random_value(&mut rng, 4)});
                    value = json!({"choices": [choice], "usage": random_value(&mut rng, 2)});
                }
                check_other_decoders(&value);
                let Ok(chunk) = ChatChunk::from_json(value) else {
                    continue;
                };
                decoded += 1;
                // Decoding normalises once: what `to_json` writes decodes and re-encodes identically.
                let json = chunk.to_json();
                let again = ChatChunk::from_json(json.clone()).expect("to_json output decodes");
                assert_eq!(again.to_json(), json, "round {round}: {chunk:?}");
                acc.push(&chunk);
                let _ = acc.all_choices_finished();
            }
            let completion = acc.completion();
            assert_eq!(acc.into_completion(), completion);
            let json = completion.to_json();
            let again = ChatCompletion::from_json(json.clone()).expect("a completion decodes");
            assert_eq!(again.to_json(), json, "round {round}");
            let _ = crate::chat::parse_stream_data(&completion.to_json().to_string());
        }
        assert!(
            decoded > 1000,
            "the generator should produce decodable chunks ({decoded})"
        );
    }
}

// ---------------------------------------------------------------------------
// Driving a live response: events with deadlines, `[DONE]`, chunks, errors.
// ---------------------------------------------------------------------------

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
            let (info, bytes) = response.read_body(limit.min(1024 * 1024))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if chat::parse_error_body(&text).is_some() {
                return Err(Error::api_error(api_error_from_body(
                    info.status(),
                    &text,
                    &info,
                    false,
                )));
            }
            Err(Error::new(
                ErrorKind::Protocol,
                format!("expected an event stream (text/event-stream), got `{other}`"),
            )
            .with_raw(text))
        }
    }
}

/// SSE events from a response body, with the first-event, idle and total
/// deadlines.
struct Events {
    reader: EventReader<StreamBody>,
    limits: StreamLimits,
    /// When the request was sent.
    sent_at: Instant,
    /// When the response headers arrived.
    started: Instant,
    /// Whether an event has arrived: until then the first-event limit
    /// applies instead of the idle limit.
    seen_event: bool,
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
    fn new(response: Response, limits: StreamLimits) -> (ResponseInfo, Events) {
        let sent_at = response.sent_at;
        let (info, body) = response.into_stream();
        let parser = sse::Parser::with_max_event_size(limits.max_event_size);
        let events = Events {
            reader: EventReader::with_capacity(16 * 1024, body, parser),
            limits,
            sent_at,
            started: Instant::now(),
            seen_event: false,
        };
        (info, events)
    }

    fn is_cancelled(&mut self) -> bool {
        self.reader.get_mut().is_cancelled()
    }

    fn next(&mut self) -> Result<Next<'_>, Error> {
        // Events the reader already holds are not handed out once cancelled.
        if self.is_cancelled() {
            return Err(Error::cancelled());
        }
        // Idle time is time spent waiting for the server: it starts when the caller asks for
        // the next event, so the caller's own time (its callback) does not count. The first
        // event has its own limit, counted from the request, since a server may think long
        // before it and never pause long after.
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
        self.reader.get_mut().set_deadline(deadline);
        match self.reader.next_event() {
            Ok(Some(_)) => {
                self.seen_event = true;
                // Re-borrow: the event is read again through the parser so
                // the borrow checker sees one borrow per path.
                Ok(Next::Event(self.reader.parser().event()))
            }
            Ok(None) => Ok(self.end(None)),
            Err(sse::ReadError::Parse(e)) => {
                Err(Error::new(ErrorKind::EventTooLarge, e.to_string()))
            }
            Err(sse::ReadError::Io(io)) => {
                let typed = self.reader.get_mut().take_error().unwrap_or_else(|| {
                    Error::new(ErrorKind::Io, "reading the stream failed").with_source(io)
                });
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
            done_line: discarded.is_some_and(|e| e.data() == "[DONE]"),
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
    let e = Error::new(ErrorKind::Truncated, what.to_string());
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
    /// The first item, read ahead by [`ChatStream::first_event_error`].
    pending: Option<Option<Result<ChatChunk, Error>>>,
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
    pub(crate) fn new(response: Response, limits: StreamLimits) -> ChatStream {
        let (info, events) = Events::new(response, limits);
        ChatStream {
            events: Some(events),
            accumulator: Accumulator::new(),
            info,
            pending: None,
        }
    }

    /// Reads ahead to the first chunk (which the iterator still yields
    /// first). When the stream failed before it with an error the server sent
    /// in the stream, returns a copy of that error, for the retry rules: the
    /// caller has seen nothing yet, so the request may be sent again.
    pub(crate) fn first_event_error(&mut self) -> Option<Error> {
        let first = self.next();
        let failed = match &first {
            Some(Err(e)) => e
                .api()
                .filter(|api| api.in_stream)
                .map(|api| Error::api_error(api.clone())),
            _ => None,
        };
        self.pending = Some(first);
        failed
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
                    if data == "[DONE]" {
                        if let Some(events) = self.events.take() {
                            events.drain();
                        }
                        return Ok(None);
                    }
                    if event.event_type() == "error" {
                        return Err(stream_api_error(&self.info, data));
                    }
                    if data.trim().is_empty() {
                        continue;
                    }
                    match chat::parse_stream_data(data)? {
                        StreamData::Chunk(chunk) => chunk,
                        StreamData::Error { chunk, .. } => {
                            // Keep whatever the chunk carried besides the error.
                            if let Some(chunk) = chunk {
                                self.accumulator.push(&chunk);
                            }
                            return Err(stream_api_error(&self.info, data));
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
/// payload with an `error` object).
fn stream_api_error(info: &ResponseInfo, data: &str) -> Error {
    Error::api_error(api_error_from_body(info.status(), data, info, true))
}

impl Iterator for ChatStream {
    type Item = Result<ChatChunk, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let error = match self.pending.take() {
            // A chunk read ahead is not handed out once cancelled.
            Some(Some(Ok(_))) if self.events.as_mut().is_some_and(Events::is_cancelled) => {
                Error::cancelled()
            }
            Some(first) => return first,
            None => {
                self.events.as_ref()?;
                match self.step() {
                    Ok(Some(chunk)) => return Some(Ok(chunk)),
                    Ok(None) => return None,
                    Err(e) => e,
                }
            }
        };
        // Closing the connection: a failed stream is never drained.
        self.events = None;
        Some(Err(error.with_partial(self.completion())))
    }
}

impl std::iter::FusedIterator for ChatStream {}
