//! [`ChatRequest`] and its [`Stop`] and [`ResponseFormat`] parameters.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::json::{Out, number};
use super::{Message, Tool, ToolChoice};

/// The `stop` parameter: one stop sequence or several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `"stop": "..."`.
    One(String),
    /// `"stop": ["...", ...]`.
    Many(Vec<String>),
}

impl Stop {
    /// The parameter as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Self::One(stop) => Value::from(stop.as_str()),
            Self::Many(stops) => Value::from(stops.clone()),
        }
    }
}

impl From<&str> for Stop {
    fn from(stop: &str) -> Self {
        Self::One(stop.to_owned())
    }
}

impl From<String> for Stop {
    fn from(stop: String) -> Self {
        Self::One(stop)
    }
}

impl From<Vec<String>> for Stop {
    fn from(stops: Vec<String>) -> Self {
        Self::Many(stops)
    }
}

impl From<Vec<&str>> for Stop {
    fn from(stops: Vec<&str>) -> Self {
        Self::Many(stops.into_iter().map(str::to_owned).collect())
    }
}

impl<const N: usize> From<[&str; N]> for Stop {
    fn from(stops: [&str; N]) -> Self {
        Self::Many(stops.into_iter().map(str::to_owned).collect())
    }
}

/// The `response_format` parameter.
///
/// ```
/// use chatstream::ResponseFormat;
/// use serde_json::json;
///
/// let format = ResponseFormat::json_schema("answer", json!({"type": "object"}));
/// assert_eq!(format.to_json()["json_schema"]["name"], "answer");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// `{"type": "text"}`.
    Text,
    /// `{"type": "json_object"}`: any JSON object.
    JsonObject,
    /// `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`.
    JsonSchema {
        /// A name for the schema.
        name: String,
        /// The JSON Schema.
        schema: Value,
        /// Enforce the schema exactly (OpenAI structured outputs).
        strict: Option<bool>,
    },
    /// Any other value, sent as is.
    Other(Value),
}

impl ResponseFormat {
    /// A JSON Schema response format.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> Self {
        Self::JsonSchema {
            name: name.into(),
            schema,
            strict: None,
        }
    }

    /// The parameter as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        match self {
            Self::Text => out.set("type", "text"),
            Self::JsonObject => out.set("type", "json_object"),
            Self::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut inner = Out::default();
                inner.set("name", name.as_str());
                inner.set("schema", schema.clone());
                inner.opt("strict", *strict);
                out.set("type", "json_schema");
                out.set("json_schema", inner.finish(&Map::new()));
            }
            Self::Other(value) => return value.clone(),
        }
        out.finish(&Map::new())
    }
}

/// A chat completion request (`POST /v1/chat/completions`).
///
/// Build it with [`ChatRequest::new`] and the builder methods, or set the public fields.
/// Fields left `None` (or empty) are not sent. Parameters the type does not cover go into
/// [`extra`](Self::extra), which is merged into the body last and so can override anything.
///
/// ```
/// use chatstream::{ChatRequest, Message, Tool, ToolChoice};
/// use serde_json::json;
///
/// let mut request = ChatRequest::new("gpt-4o-mini", vec![Message::system("Be brief."), Message::user("Hello")])
///     .temperature(0.2)
///     .max_tokens(100)
///     .stop(["\n\n", "END"])
///     .tool(Tool::function("get_time", "The current time", json!({"type": "object"})))
///     .tool_choice(ToolChoice::Auto)
///     .extra("top_k", 40); // a non-OpenAI parameter
/// request.seed = Some(7);
///
/// let body = request.to_json();
/// assert_eq!(body["temperature"], json!(0.2));
/// assert_eq!(body["top_k"], 40);
/// assert!(body.get("stream").is_none());
///
/// let body = request.to_json_streaming(true);
/// assert_eq!(body["stream"], true);
/// assert_eq!(body["stream_options"], json!({"include_usage": true}));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Sampling temperature (0 to 2).
    pub temperature: Option<f64>,
    /// Nucleus sampling probability mass.
    pub top_p: Option<f64>,
    /// Number of choices to generate.
    pub n: Option<u32>,
    /// Stop sequences.
    pub stop: Option<Stop>,
    /// Maximum tokens to generate (the older parameter; most compatible servers know only this one).
    pub max_tokens: Option<u32>,
    /// Maximum tokens to generate, reasoning included (OpenAI's newer parameter).
    pub max_completion_tokens: Option<u32>,
    /// Presence penalty (-2 to 2).
    pub presence_penalty: Option<f64>,
    /// Frequency penalty (-2 to 2).
    pub frequency_penalty: Option<f64>,
    /// Token id (as a string) to bias (-100 to 100). Empty: not sent.
    pub logit_bias: BTreeMap<String, f64>,
    /// Return log probabilities of the output tokens.
    pub logprobs: Option<bool>,
    /// Number of most likely alternatives per token (needs `logprobs`).
    pub top_logprobs: Option<u32>,
    /// Seed for (best effort) deterministic sampling.
    pub seed: Option<i64>,
    /// An end-user identifier.
    pub user: Option<String>,
    /// Tools the model may call. Empty: not sent.
    pub tools: Vec<Tool>,
    /// Whether and which tool to call.
    pub tool_choice: Option<ToolChoice>,
    /// Allow several tool calls in one answer.
    pub parallel_tool_calls: Option<bool>,
    /// The output format.
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort (`"minimal"`, `"low"`, `"medium"`, `"high"`, ...).
    pub reasoning_effort: Option<String>,
    /// Any other body fields, merged last (they override the fields above).
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request for `model` with `messages` and nothing else set.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            ..Self::default()
        }
    }

    /// Sets `temperature`.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets `top_p`.
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets `n`, the number of choices.
    #[must_use]
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }

    /// Sets `stop`: a string, a `Vec` or an array of strings.
    #[must_use]
    pub fn stop(mut self, stop: impl Into<Stop>) -> Self {
        self.stop = Some(stop.into());
        self
    }

    /// Sets `max_tokens`.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `max_completion_tokens`.
    #[must_use]
    pub fn max_completion_tokens(mut self, max_completion_tokens: u32) -> Self {
        self.max_completion_tokens = Some(max_completion_tokens);
        self
    }

    /// Sets `presence_penalty`.
    #[must_use]
    pub fn presence_penalty(mut self, penalty: f64) -> Self {
        self.presence_penalty = Some(penalty);
        self
    }

    /// Sets `frequency_penalty`.
    #[must_use]
    pub fn frequency_penalty(mut self, penalty: f64) -> Self {
        self.frequency_penalty = Some(penalty);
        self
    }

    /// Adds one `logit_bias` entry for a token id.
    #[must_use]
    pub fn logit_bias(mut self, token_id: u64, bias: f64) -> Self {
        self.logit_bias.insert(token_id.to_string(), bias);
        self
    }

    /// Sets `logprobs`.
    #[must_use]
    pub fn logprobs(mut self, logprobs: bool) -> Self {
        self.logprobs = Some(logprobs);
        self
    }

    /// Sets `top_logprobs` (and `logprobs: true`, which it requires).
    #[must_use]
    pub fn top_logprobs(mut self, top_logprobs: u32) -> Self {
        self.logprobs = Some(true);
        self.top_logprobs = Some(top_logprobs);
        self
    }

    /// Sets `seed`.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets `user`.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Adds one tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Replaces the tools.
    #[must_use]
    pub fn tools(mut self, tools: Vec<Tool>) -> Self {
        self.tools = tools;
        self
    }

    /// Sets `tool_choice`.
    #[must_use]
    pub fn tool_choice(mut self, tool_choice: ToolChoice) -> Self {
        self.tool_choice = Some(tool_choice);
        self
    }

    /// Sets `parallel_tool_calls`.
    #[must_use]
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// Sets `response_format`.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Sets `reasoning_effort`.
    #[must_use]
    pub fn reasoning_effort(mut self, effort: impl Into<String>) -> Self {
        self.reasoning_effort = Some(effort.into());
        self
    }

    /// Sets one extra body field (overriding a typed field of the same name).
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The body of a non-streaming request (no `stream` field).
    pub fn to_json(&self) -> Value {
        self.body().finish(&self.extra)
    }

    /// The body of a streaming request: `"stream": true`, plus
    /// `"stream_options": {"include_usage": true}` when `include_usage` is set (the server then
    /// ends the stream with a usage chunk). An `extra` field `stream_options` replaces the one
    /// written here.
    pub fn to_json_streaming(&self, include_usage: bool) -> Value {
        let mut out = self.body();
        out.set("stream", true);
        if include_usage {
            let mut options = Map::new();
            options.insert("include_usage".to_owned(), Value::Bool(true));
            out.set("stream_options", options);
        }
        out.finish(&self.extra)
    }

    fn body(&self) -> Out {
        let mut out = Out::default();
        out.set("model", self.model.as_str());
        out.set(
            "messages",
            Value::Array(self.messages.iter().map(Message::to_json).collect()),
        );
        out.opt_number("temperature", self.temperature);
        out.opt_number("top_p", self.top_p);
        out.opt("n", self.n);
        out.opt("stop", self.stop.as_ref().map(Stop::to_json));
        out.opt("max_tokens", self.max_tokens);
        out.opt("max_completion_tokens", self.max_completion_tokens);
        out.opt_number("presence_penalty", self.presence_penalty);
        out.opt_number("frequency_penalty", self.frequency_penalty);
        if !self.logit_bias.is_empty() {
            let bias: Map<String, Value> = self
                .logit_bias
                .iter()
                .map(|(token, bias)| (token.clone(), number(*bias)))
                .collect();
            out.set("logit_bias", bias);
        }
        out.opt("logprobs", self.logprobs);
        out.opt("top_logprobs", self.top_logprobs);
        out.opt("seed", self.seed);
        out.opt("user", self.user.as_deref());
        if !self.tools.is_empty() {
            out.set(
                "tools",
                Value::Array(self.tools.iter().map(Tool::to_json).collect()),
            );
        }
        out.opt(
            "tool_choice",
            self.tool_choice.as_ref().map(ToolChoice::to_json),
        );
        out.opt("parallel_tool_calls", self.parallel_tool_calls);
        out.opt(
            "response_format",
            self.response_format.as_ref().map(ResponseFormat::to_json),
        );
        out.opt("reasoning_effort", self.reasoning_effort.as_deref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolCall;
    use serde_json::json;

    #[test]
    fn request_minimal() {
        let request = ChatRequest::new("m", vec![Message::user("Hi")]);
        assert_eq!(
            request.to_json(),
            json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
        );
    }

    #[test]
    fn request_every_field() {
        let request = ChatRequest::new(
            "gpt-4o-mini",
            vec![
                Message::system("Be brief."),
                Message::developer("Use metric units."),
                Message::user("Weather?").with_name("alice"),
                Message::assistant_tool_calls(vec![ToolCall::function(
                    "call_1",
                    "get_weather",
                    r#"{"city":"Paris"}"#,
                )]),
                Message::tool("call_1", "21 C"),
                Message::assistant("It is 21 C."),
            ],
        )
        .temperature(0.2)
        .top_p(0.9)
        .n(2)
        .stop("\n")
        .max_tokens(100)
        .max_completion_tokens(200)
        .presence_penalty(0.5)
        .frequency_penalty(-1.0)
        .logit_bias(4, -100.0)
        .logit_bias(5, 2.5)
        .top_logprobs(3)
        .seed(-7)
        .user("u-1")
        .tool(
            Tool::function(
                "get_weather",
                "Weather for a city",
                json!({"type": "object"}),
            )
            .strict(true),
        )
        .tool_choice(ToolChoice::function("get_weather"))
        .parallel_tool_calls(false)
        .response_format(ResponseFormat::JsonObject)
        .reasoning_effort("low");
        let expected = json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Use metric units."},
                {"role": "user", "content": "Weather?", "name": "alice"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "content": "21 C", "tool_call_id": "call_1"},
                {"role": "assistant", "content": "It is 21 C."}
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "n": 2,
            "stop": "\n",
            "max_tokens": 100,
            "max_completion_tokens": 200,
            "presence_penalty": 0.5,
            "frequency_penalty": -1,
            "logit_bias": {"4": -100, "5": 2.5},
            "logprobs": true,
            "top_logprobs": 3,
            "seed": -7,
            "user": "u-1",
            "tools": [{"type": "function", "function": {
                "name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object"}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_object"},
            "reasoning_effort": "low"
        });
        assert_eq!(request.to_json(), expected);
    }

    #[test]
    fn request_streaming_and_extra_override() {
        let request = ChatRequest::new("m", vec![])
            .stop(vec!["a", "b"])
            .temperature(1.0)
            .extra("temperature", 0.5)
            .extra("top_k", 40);
        let body = request.to_json_streaming(true);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(body["stop"], json!(["a", "b"]));
        assert_eq!(
            body["temperature"],
            json!(0.5),
            "extra overrides typed fields"
        );
        assert_eq!(body["top_k"], 40);

        let body = request.to_json_streaming(false);
        assert_eq!(body["stream"], true);
        assert!(body.get("stream_options").is_none());

        let request = request.extra("stream_options", json!({"include_usage": false}));
        assert_eq!(
            request.to_json_streaming(true)["stream_options"],
            json!({"include_usage": false})
        );
        assert!(request.to_json().get("stream").is_none());
    }

    #[test]
    fn request_struct_literal() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![Message {
                name: Some("bob".into()),
                ..Message::user("Hi")
            }],
            tool_choice: Some(ToolChoice::Required),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "answer".into(),
                schema: json!({"type": "object"}),
                strict: Some(true),
            }),
            ..ChatRequest::default()
        };
        let body = request.to_json();
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(body["messages"][0]["name"], "bob");
    }
}
