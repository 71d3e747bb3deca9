//! What the accumulator keeps for one choice, and how it becomes a [`Choice`].

use serde_json::{Map, Value};

use super::merge::{merge_metadata_fields, merge_streamed_fields};
use super::tool_calls::{ToolCallState, merge_fragment};
use crate::chat::json::Fields;
use crate::chat::{Choice, ChunkChoice, Content, ContentPart, Logprobs, Message, Role};

/// What has been accumulated for one choice.
#[derive(Debug, Clone, Default)]
pub(super) struct ChoiceState {
    pub(super) index: u64,
    role: Option<Role>,
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    /// Tool calls in the order their first fragment arrived.
    tool_calls: Vec<ToolCallState>,
    pub(super) finish_reason: Option<String>,
    logprobs: Option<Logprobs>,
    /// Unknown fields of the deltas (become the message's `extra`).
    message_extra: Map<String, Value>,
    /// Unknown fields of the chunk choices (become the choice's `extra`).
    choice_extra: Map<String, Value>,
}

fn append(acc: &mut Option<String>, piece: Option<&str>) {
    if let Some(piece) = piece {
        acc.get_or_insert_default().push_str(piece);
    }
}

impl ChoiceState {
    /// Nothing accumulated yet for the choice `index`.
    pub(super) fn new(index: u64) -> Self {
        Self {
            index,
            ..Self::default()
        }
    }

    pub(super) fn apply(&mut self, choice: &ChunkChoice) {
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
            merge_fragment(&mut self.tool_calls, fragment);
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

    pub(super) fn into_choice(self) -> Choice {
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

/// Settles a choice assembled from chunk choices, so that its `extra` maps never override
/// accumulated values in `to_json`.
///
/// - A `message` sent inside a stream chunk is dropped: the message is the accumulated one.
/// - `name` and `tool_call_id` strings from deltas move to their typed fields.
/// - Known delta fields that arrived with an unexpected type (kept in `extra`) give way to
///   the typed value when there is one; except that `content` sent as an array of parts
///   (Mistral's thinking parts) becomes [`Content::Parts`], followed by the streamed text.
fn settle_streamed_choice(choice: &mut Choice) {
    choice.extra.remove("message");
    let message = &mut choice.message;
    let mut f = Fields::of(std::mem::take(&mut message.extra), "message");
    if message.name.is_none() {
        message.name = f.string("name");
    }
    if message.tool_call_id.is_none() {
        message.tool_call_id = f.string("tool_call_id");
    }
    let mut extra = f.rest();
    if let Some(Value::Array(parts)) = extra.get("content") {
        let mut parts: Vec<ContentPart> =
            parts.iter().cloned().map(ContentPart::from_json).collect();
        match message.content.take() {
            Some(Content::Text(text)) => parts.push(ContentPart::text(text)),
            Some(Content::Parts(more)) => parts.extend(more),
            None => {}
        }
        message.content = Some(Content::Parts(parts));
    }
    let typed = [
        ("content", message.content.is_some()),
        ("role", true),
        ("refusal", message.refusal.is_some()),
        ("reasoning_content", message.reasoning_content.is_some()),
        ("reasoning", message.reasoning.is_some()),
    ];
    for (key, present) in typed {
        if present {
            extra.remove(key);
        }
    }
    message.extra = extra;
}

#[cfg(test)]
mod tests {
    use super::super::tests::{accumulate, check};
    use crate::chat::ChatCompletion;
    use serde_json::{Value, json};

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
}
