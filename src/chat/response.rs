//! [`ChatCompletion`]: the response of a non-streaming request, and its [`Choice`]s.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::json::{Bad, Fields, Out, Res, decode_finish_reason, decode_str};
use super::usage::decode_usage;
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

    fn decode(value: Value) -> Res<Self> {
        let mut f = Fields::new(value, "chat completion")?;
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
            .map(|(position, choice)| Choice::decode(choice, position))
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
            response: None,
        })
    }

    /// The message of the first choice.
    pub fn message(&self) -> Option<&Message> {
        self.choices.first().map(|choice| &choice.message)
    }

    /// The text of the first choice's message, `""` if there is none.
    pub fn content(&self) -> Cow<'_, str> {
        self.message().map_or(Cow::Borrowed(""), Message::text)
    }

    /// The tool calls of the first choice's message.
    pub fn tool_calls(&self) -> &[ToolCall] {
        self.message().map_or(&[], |message| &message.tool_calls)
    }

    /// The finish reason of the first choice.
    pub fn finish_reason(&self) -> Option<&str> {
        self.choices.first()?.finish_reason.as_deref()
    }

    /// The completion as a non-streaming response body (`"object": "chat.completion"`,
    /// `message` in each choice).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("id", self.id.as_str());
        out.set(
            "object",
            if self.object.is_empty() {
                "chat.completion"
            } else {
                &self.object
            },
        );
        out.set("created", self.created);
        out.set("model", self.model.as_str());
        out.set(
            "choices",
            Value::Array(self.choices.iter().map(Choice::to_json).collect()),
        );
        out.opt("system_fingerprint", self.system_fingerprint.as_deref());
        out.opt("service_tier", self.service_tier.as_deref());
        out.opt("usage", self.usage.as_ref().map(Usage::to_json));
        out.finish(&self.extra)
    }
}

impl Choice {
    fn decode(value: Value, position: usize) -> Res<Self> {
        let mut f = Fields::new(value, "choice")?;
        let index = f.u64("index").unwrap_or(position as u64);
        let message = match f.object("message")? {
            Some(map) => Message::decode(map)?,
            None => Message {
                role: Role::Assistant,
                ..Message::default()
            },
        };
        let finish_reason = decode_finish_reason(&mut f);
        let logprobs = f.loose_object("logprobs").map(Logprobs::from_map);
        Ok(Self {
            index,
            message,
            finish_reason,
            logprobs,
            extra: f.rest(),
        })
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
