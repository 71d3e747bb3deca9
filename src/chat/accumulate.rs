//! The [`Accumulator`]: a stream's chunks in, the full [`ChatCompletion`] out.
//!
//! Pure data: it never does I/O and never fails. The live stream that feeds it is
//! `crate::stream`.

use serde_json::{Map, Value};

mod choice;
mod merge;
mod tool_calls;

use self::choice::ChoiceState;
use self::merge::{first_non_empty, merge_metadata_fields};
use super::{ChatChunk, ChatCompletion, Usage};

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

impl Accumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
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
    ///   (Mistral's thinking parts) becomes [`Content::Parts`](crate::Content::Parts),
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
                self.choices.insert(position, ChoiceState::new(index));
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

fn first_non_empty_opt(acc: &mut Option<String>, new: Option<&str>) {
    if acc.as_deref().is_none_or(str::is_empty) {
        if let Some(new) = new.filter(|new| !new.is_empty()) {
            *acc = Some(new.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Role;
    use serde_json::json;

    /// Pushes every chunk (one JSON text per line) and returns the accumulator.
    #[track_caller]
    pub(super) fn accumulate(lines: &str) -> Accumulator {
        let mut acc = Accumulator::new();
        for line in lines.lines().map(str::trim).filter(|line| !line.is_empty()) {
            acc.push(&ChatChunk::from_json_str(line).expect("test chunk decodes"));
        }
        acc
    }

    /// Accumulates `lines` and compares the completion's JSON with `expected`.
    #[track_caller]
    #[allow(clippy::needless_pass_by_value)] // callers pass `json!(..)` literals
    pub(super) fn check(lines: &str, expected: Value) -> ChatCompletion {
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
}
