//! [`ChatCompletion`]: the response of a non-streaming request, and its [`Choice`]s.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::envelope::{envelope, envelope_choice};
use super::json::{Bad, Out, decode_str};
use super::{Logprobs, Message, Role, ToolCall, Usage};
use crate::Error;

/// A chat completion response (the body of a non-streaming request), or the completion an
/// [`Accumulator`](crate::Accumulator) rebuilt from a stream.
///
/// ```
/// use chatstream::ChatCompletion;
///
/// let body = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m",
///   "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
///     "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}],
///   "x_vendor":{"region":"eu"}}"#;
/// let completion = ChatCompletion::from_json_str(body)?;
/// assert_eq!(completion.content(), "");
/// assert_eq!(completion.finish_reason(), Some("tool_calls"));
/// assert_eq!(completion.tool_calls()[0].arguments_json()?["city"], "Paris");
/// assert_eq!(completion.extra["x_vendor"]["region"], "eu"); // unknown fields are kept
/// assert_eq!(ChatCompletion::from_json(completion.to_json())?, completion);
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatCompletion {
    /// The completion id (`""` if the server sent none).
    pub id: String,
    /// `"chat.completion"` (as sent; `to_json` writes it when empty).
    pub object: String,
    /// Creation time, Unix seconds (0 if unknown).
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// Backend configuration fingerprint.
    pub system_fingerprint: Option<String>,
    /// The service tier used.
    pub service_tier: Option<String>,
    /// The choices, one per `n`.
    pub choices: Vec<Choice>,
    /// Token counts.
    pub usage: Option<Usage>,
    /// Unknown fields (llama.cpp's `timings`, Azure's `prompt_filter_results`, ...).
    pub extra: Map<String, Value>,
    /// The HTTP response this completion came from (status, request id, rate-limit
    /// headers), when it came from a [`Client`](crate::Client) call. Not part of the JSON.
    pub response: Option<crate::ResponseInfo>,
}

/// One choice of a [`ChatCompletion`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Choice {
    /// The choice index (its position when the server sent none).
    pub index: u64,
    /// The generated message.
    pub message: Message,
    /// Why generation stopped (`"stop"`, `"length"`, `"tool_calls"`, `"content_filter"`, or
    /// any other string a server sends). `None` if not given or empty.
    pub finish_reason: Option<String>,
    /// Log probabilities, if requested.
    pub logprobs: Option<Logprobs>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl ChatCompletion {
    /// Decodes a response body that was already parsed as JSON, taking its fields out of
    /// `value` (unknown ones are moved into `extra`, not cloned).
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object or a choice has the wrong shape (see the
    /// [module docs](crate::chat)); its raw text is the offending JSON.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        Self::decode(value).map_err(Bad::into_error)
    }

    /// Parses and decodes a response body. Errors carry the whole text as raw text.
    ///
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<Self, Error> {
        decode_str(text, "chat completion", Self::decode)
    }

    envelope! {
        what: "chat completion",
        object: "chat.completion",
        choice: Choice,
        response: None,
    }

    /// True when there is at least one choice and every choice has a finish reason.
    ///
    /// A streamed completion can be a success without it: a stream that ends with
    /// `data: [DONE]` is complete as far as the protocol goes, even when a choice never got
    /// its finish reason (llama-cpp-python's server does this when a second request
    /// interrupts the first). Such a reply may be cut short; this says so.
    ///
    /// ```
    /// use chatstream::ChatCompletion;
    ///
    /// let done = ChatCompletion::from_json_str(
    ///     r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]}"#,
    /// )?;
    /// assert!(done.all_choices_finished());
    /// let interrupted = ChatCompletion::from_json_str(
    ///     r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":null}]}"#,
    /// )?;
    /// assert!(!interrupted.all_choices_finished());
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    pub fn all_choices_finished(&self) -> bool {
        !self.choices.is_empty() && self.choices.iter().all(|c| c.finish_reason.is_some())
    }

    /// The completion as a non-streaming response body (`"object": "chat.completion"`,
    /// `message` in each choice).
    pub fn to_json(&self) -> Value {
        self.envelope_to_json()
    }
}

/// Reading one choice of a completion.
///
/// The plain accessors read choice **index 0** (the only one unless `n` is set), whatever
/// order the choices arrived in; the `_of(index)` ones read any choice. A missing choice reads
/// as empty.
///
/// ```
/// use chatstream::ChatCompletion;
///
/// let completion = ChatCompletion::from_json_str(
///     r#"{"choices":[{"index":1,"message":{"content":"B"},"finish_reason":"stop"},
///                    {"index":0,"message":{"content":"A"},"finish_reason":"length"}],
///        "usage":{"prompt_tokens":5,"completion_tokens":4}}"#,
/// )?;
/// assert_eq!(completion.content(), "A");
/// assert_eq!(completion.content_of(1), "B");
/// assert_eq!(completion.finish_reason_of(1), Some("stop"));
/// assert_eq!(completion.total_tokens(), Some(9)); // no `total_tokens`: the sum
/// # Ok::<(), chatstream::Error>(())
/// ```
impl ChatCompletion {
    /// The choice with this `index`.
    pub fn choice(&self, index: u64) -> Option<&Choice> {
        self.choices.iter().find(|choice| choice.index == index)
    }

    /// The message of choice 0.
    pub fn message(&self) -> Option<&Message> {
        self.message_of(0)
    }

    /// The message of choice `index`.
    pub fn message_of(&self, index: u64) -> Option<&Message> {
        self.choice(index).map(|choice| &choice.message)
    }

    /// The text of choice 0's message, `""` if there is none.
    pub fn content(&self) -> Cow<'_, str> {
        self.content_of(0)
    }

    /// The text of choice `index`'s message, `""` if there is none.
    pub fn content_of(&self, index: u64) -> Cow<'_, str> {
        self.message_of(index)
            .map_or(Cow::Borrowed(""), Message::text)
    }

    /// The refusal of choice 0, if the model refused.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal_of(0)
    }

    /// The refusal of choice `index`, if the model refused.
    pub fn refusal_of(&self, index: u64) -> Option<&str> {
        self.message_of(index)?.refusal.as_deref()
    }

    /// The reasoning text of choice 0 (`reasoning_content` or `reasoning`, as
    /// [`Message::reasoning_text`] reads it).
    pub fn reasoning(&self) -> Option<&str> {
        self.reasoning_of(0)
    }

    /// The reasoning text of choice `index`.
    pub fn reasoning_of(&self, index: u64) -> Option<&str> {
        self.message_of(index)?.reasoning_text()
    }

    /// The tool calls of choice 0's message.
    pub fn tool_calls(&self) -> &[ToolCall] {
        self.tool_calls_of(0)
    }

    /// The tool calls of choice `index`'s message.
    pub fn tool_calls_of(&self, index: u64) -> &[ToolCall] {
        self.message_of(index)
            .map_or(&[], |message| &message.tool_calls)
    }

    /// The finish reason of choice 0.
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason_of(0)
    }

    /// The finish reason of choice `index`.
    pub fn finish_reason_of(&self, index: u64) -> Option<&str> {
        self.choice(index)?.finish_reason.as_deref()
    }

    /// Takes choice 0's message out of the completion, to push onto the conversation
    /// ([`ChatRequest::push`](crate::ChatRequest::push)) without a clone: its text, tool calls,
    /// reasoning and unknown fields go with it. An empty assistant message when there is no
    /// choice 0.
    pub fn into_message(self) -> Message {
        self.into_message_of(0).unwrap_or_else(|| Message {
            role: Role::Assistant,
            ..Message::default()
        })
    }

    /// Takes choice `index`'s message out of the completion; `None` when there is no such
    /// choice.
    pub fn into_message_of(self, index: u64) -> Option<Message> {
        self.choices
            .into_iter()
            .find(|choice| choice.index == index)
            .map(|choice| choice.message)
    }

    /// Prompt plus completion tokens: `usage.total_tokens`, or the sum of the two counts when
    /// the server sent those but no total. `None` when the server reported no usage (some
    /// servers never do; a stream only does with `stream_options.include_usage`, which
    /// [`Client`](crate::Client) asks for by default).
    pub fn total_tokens(&self) -> Option<u64> {
        self.usage.as_ref()?.total()
    }

    /// Tokens in the prompt, when the server reported them.
    pub fn prompt_tokens(&self) -> Option<u64> {
        self.usage.as_ref()?.prompt_tokens
    }

    /// Tokens generated, when the server reported them.
    pub fn completion_tokens(&self) -> Option<u64> {
        self.usage.as_ref()?.completion_tokens
    }
}

impl Choice {
    envelope_choice! {
        what: "choice",
        message: Message::decode,
        or Message {
            role: Role::Assistant,
            ..Message::default()
        },
    }

    /// The choice as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("index", self.index);
        out.set("message", self.message.to_json());
        out.set("finish_reason", self.finish_reason.as_deref());
        out.set(
            "logprobs",
            self.logprobs
                .as_ref()
                .map_or(Value::Null, Logprobs::to_json),
        );
        out.finish(&self.extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::json::tests::check_round_trip;
    use serde_json::json;

    fn openai_completion() -> Value {
        json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "object": "chat.completion",
            "created": 1741570283,
            "model": "gpt-4o-2024-08-06",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "annotations": []},
                "logprobs": {"content": [
                    {"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101, 108, 108, 111],
                     "top_logprobs": [{"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101, 108, 108, 111]},
                                      {"token": "Hi", "logprob": -1.3190403, "bytes": null}]},
                    {"token": "!", "logprob": -0.02380986, "bytes": [33], "top_logprobs": []}
                ]},
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fc9f1d7035"
        })
    }

    #[test]
    fn completion_round_trip() {
        let completion = check_round_trip(
            openai_completion(),
            ChatCompletion::from_json,
            ChatCompletion::to_json,
        );
        assert_eq!(completion.content(), "Hello!");
        assert_eq!(completion.finish_reason(), Some("stop"));
        assert_eq!(completion.service_tier.as_deref(), Some("default"));
        let usage = completion.usage.as_ref().unwrap();
        assert_eq!(
            usage.prompt_tokens_details.as_ref().unwrap().cached_tokens,
            Some(0)
        );
        assert_eq!(
            usage
                .completion_tokens_details
                .as_ref()
                .unwrap()
                .reasoning_tokens,
            Some(0)
        );
        let logprobs = completion.choices[0].logprobs.as_ref().unwrap();
        let tokens = logprobs.content.as_ref().unwrap();
        assert_eq!(tokens[0].bytes.as_deref(), Some(&b"Hello"[..]));
        assert_eq!(tokens[0].top_logprobs[1].bytes, None);
        assert_eq!(
            completion.message().unwrap().extra["annotations"],
            json!([])
        );
    }

    #[test]
    fn completion_from_str_and_nulls() {
        let text = r#"{"id":"x","object":"chat.completion","created":1,"model":"m",
            "choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that.",
            "tool_calls":null,"audio":null},"logprobs":null,"finish_reason":"stop"}],"usage":null,"system_fingerprint":null}"#;
        let completion = ChatCompletion::from_json_str(text).unwrap();
        let message = completion.message().unwrap();
        assert_eq!(message.refusal.as_deref(), Some("I can't help with that."));
        assert_eq!(message.content, None);
        // Known fields that are null are dropped; unknown ones are kept as they are.
        assert_eq!(Value::Object(message.extra.clone()), json!({"audio": null}));
        assert_eq!(completion.usage, None);
        assert_eq!(completion.content(), "");
        let json = completion.to_json();
        assert_eq!(json["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(json["choices"][0]["logprobs"], Value::Null);
    }

    #[test]
    fn lenient_completion() {
        // Floats for integers, unknown role, empty finish reason, `usage: {}`, missing message,
        // wrongly typed scalars (kept in extra), reasoning under both names.
        let input = json!({
            "id": "x", "object": "chat.completion", "created": 1.7e9, "model": 5,
            "choices": [
                {"index": 1.0, "message": {"role": "bot", "content": 42, "reasoning_content": "think", "reasoning": "think"},
                 "finish_reason": ""},
                {"finish_reason": "eos_token"}
            ],
            "usage": {}
        });
        let completion = ChatCompletion::from_json(input).unwrap();
        assert_eq!(completion.created, 1_700_000_000);
        assert_eq!(completion.model, "");
        assert_eq!(completion.extra["model"], 5);
        let first = &completion.choices[0];
        assert_eq!(first.index, 1);
        assert_eq!(first.finish_reason, None);
        assert_eq!(first.message.role, Role::Other("bot".into()));
        assert_eq!(first.message.content, None);
        assert_eq!(first.message.extra["content"], 42);
        assert_eq!(first.message.reasoning_text(), Some("think"));
        assert_eq!(first.message.reasoning.as_deref(), Some("think"));
        let second = &completion.choices[1];
        assert_eq!(second.index, 1, "a missing index is the position");
        assert_eq!(second.message.role, Role::Assistant);
        assert_eq!(second.finish_reason.as_deref(), Some("eos_token"));
        assert!(completion.usage.as_ref().unwrap().is_empty());
        // Wrongly typed scalars are written back from `extra`.
        let json = completion.to_json();
        assert_eq!(json["model"], 5);
        assert_eq!(json["choices"][0]["message"]["content"], 42);
        assert_eq!(json["usage"], json!({}));

        let bad_numbers = ChatCompletion::from_json(json!({
            "created": -1, "choices": [{"index": 1.5, "message": {}}], "usage": {"prompt_tokens": "12", "total_tokens": 3.0}
        }))
        .unwrap();
        assert_eq!(bad_numbers.created, 0);
        assert_eq!(bad_numbers.extra["created"], -1);
        assert_eq!(bad_numbers.choices[0].index, 0);
        assert_eq!(bad_numbers.choices[0].extra["index"], 1.5);
        let usage = bad_numbers.usage.unwrap();
        assert_eq!(usage.prompt_tokens, None);
        assert_eq!(usage.extra["prompt_tokens"], "12");
        assert_eq!(usage.total_tokens, Some(3));

        let empty = ChatCompletion::from_json(json!({})).unwrap();
        assert_eq!(empty, ChatCompletion::default());
        assert_eq!(empty.content(), "");
        assert!(empty.tool_calls().is_empty());
        assert_eq!(empty.finish_reason(), None);
        assert_eq!(empty.to_json()["object"], "chat.completion");
    }
}
