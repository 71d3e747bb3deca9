//! The body of `POST /responses`: [`ResponseRequest`] and its options. The input items, tools
//! and text formats have files of their own.

use serde_json::{Map, Value};

use super::input::Input;
use super::text_format::{TextFormat, TextOptions};
use super::tool::{ResponseTool, ResponseToolChoice};
use crate::chat::json::Out;

/// A Responses API request.
///
/// Unset fields are not sent. [`extra`](Self::extra) holds any other body field (it is merged
/// last, so it also overrides a typed field of the same name).
///
/// ```
/// use chatstream::responses::{InputItem, ResponseRequest, ResponseTool, ResponseToolChoice};
/// use serde_json::json;
///
/// let request = ResponseRequest::new("gpt-4.1-mini", "Why is the sky blue?")
///     .instructions("Be brief.")
///     .max_output_tokens(200)
///     .temperature(0.2);
/// let body = request.to_json();
/// assert_eq!(body["input"], "Why is the sky blue?");
/// assert_eq!(body["instructions"], "Be brief.");
/// assert!(body.get("stream").is_none());
/// assert_eq!(request.to_json_streaming()["stream"], true);
///
/// // A conversation with a tool, forcing the call.
/// let weather = ResponseTool::function("get_weather", "Current weather", json!({
///     "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
/// }));
/// let request = ResponseRequest::new("gpt-4.1-mini", vec![
///     InputItem::developer("Answer with tools."),
///     InputItem::user("Weather in Paris?"),
/// ])
/// .tool(weather)
/// .tool_choice(ResponseToolChoice::Function("get_weather".into()));
/// let body = request.to_json();
/// assert_eq!(body["input"][1], json!({"type": "message", "role": "user", "content": "Weather in Paris?"}));
/// assert_eq!(body["tools"][0]["name"], "get_weather");
/// assert_eq!(body["tool_choice"], json!({"type": "function", "name": "get_weather"}));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseRequest {
    /// The model name.
    pub model: String,
    /// The input: a string or a list of items.
    pub input: Input,
    /// System (developer) instructions, in place of a system message.
    pub instructions: Option<String>,
    /// Sampling temperature (0 to 2).
    pub temperature: Option<f64>,
    /// Nucleus sampling probability mass.
    pub top_p: Option<f64>,
    /// Maximum tokens to generate, reasoning included. When reached, the response's status
    /// is `incomplete` with the reason `max_output_tokens`.
    pub max_output_tokens: Option<u32>,
    /// Tools the model may call. Empty: not sent.
    pub tools: Vec<ResponseTool>,
    /// Whether and which tool to call.
    pub tool_choice: Option<ResponseToolChoice>,
    /// Allow several tool calls in one answer.
    pub parallel_tool_calls: Option<bool>,
    /// Text output options (`text.format`: plain text, JSON, or a JSON schema).
    pub text: Option<TextOptions>,
    /// Reasoning options (`reasoning.effort`, `reasoning.summary`).
    pub reasoning: Option<ReasoningOptions>,
    /// Continue the conversation of a stored response.
    pub previous_response_id: Option<String>,
    /// Whether the server stores the response (for retrieval and `previous_response_id`).
    pub store: Option<bool>,
    /// Key-value metadata stored with the response. Empty: not sent.
    pub metadata: Map<String, Value>,
    /// Stream options (e.g. `include_obfuscation`), sent only with streamed requests. Empty:
    /// not sent.
    pub stream_options: Map<String, Value>,
    /// Any other body fields, merged last (they override the fields above).
    pub extra: Map<String, Value>,
}

/// The `reasoning` options of a [`ResponseRequest`], for reasoning models.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReasoningOptions {
    /// `"minimal"`, `"low"`, `"medium"`, `"high"`, ...
    pub effort: Option<String>,
    /// Ask for reasoning summaries: `"auto"`, `"concise"` or `"detailed"`.
    pub summary: Option<String>,
    /// Other reasoning options.
    pub extra: Map<String, Value>,
}

impl ResponseRequest {
    /// A request for `model` with this input (a string or a list of items) and nothing else
    /// set.
    pub fn new(model: impl Into<String>, input: impl Into<Input>) -> ResponseRequest {
        ResponseRequest {
            model: model.into(),
            input: input.into(),
            ..ResponseRequest::default()
        }
    }

    /// Sets `instructions`.
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> ResponseRequest {
        self.instructions = Some(instructions.into());
        self
    }

    /// Sets `temperature`.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> ResponseRequest {
        self.temperature = Some(temperature);
        self
    }

    /// Sets `top_p`.
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> ResponseRequest {
        self.top_p = Some(top_p);
        self
    }

    /// Sets `max_output_tokens`.
    #[must_use]
    pub fn max_output_tokens(mut self, max: u32) -> ResponseRequest {
        self.max_output_tokens = Some(max);
        self
    }

    /// Adds one tool.
    #[must_use]
    pub fn tool(mut self, tool: ResponseTool) -> ResponseRequest {
        self.tools.push(tool);
        self
    }

    /// Sets `tool_choice`.
    #[must_use]
    pub fn tool_choice(mut self, choice: ResponseToolChoice) -> ResponseRequest {
        self.tool_choice = Some(choice);
        self
    }

    /// Sets `parallel_tool_calls`.
    #[must_use]
    pub fn parallel_tool_calls(mut self, parallel: bool) -> ResponseRequest {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// Sets `text.format`, keeping other text options.
    #[must_use]
    pub fn text_format(mut self, format: TextFormat) -> ResponseRequest {
        self.text.get_or_insert_default().format = Some(format);
        self
    }

    /// Sets `reasoning.effort`, keeping other reasoning options.
    #[must_use]
    pub fn reasoning_effort(mut self, effort: impl Into<String>) -> ResponseRequest {
        self.reasoning.get_or_insert_default().effort = Some(effort.into());
        self
    }

    /// Sets `reasoning.summary` (`"auto"`, `"concise"`, `"detailed"`), keeping other reasoning
    /// options.
    #[must_use]
    pub fn reasoning_summary(mut self, summary: impl Into<String>) -> ResponseRequest {
        self.reasoning.get_or_insert_default().summary = Some(summary.into());
        self
    }

    /// Sets `previous_response_id`.
    #[must_use]
    pub fn previous_response_id(mut self, id: impl Into<String>) -> ResponseRequest {
        self.previous_response_id = Some(id.into());
        self
    }

    /// Sets `store`.
    #[must_use]
    pub fn store(mut self, store: bool) -> ResponseRequest {
        self.store = Some(store);
        self
    }

    /// Adds one `metadata` entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> ResponseRequest {
        self.metadata
            .insert(key.into(), Value::String(value.into()));
        self
    }

    /// Sets one extra body field (overriding a typed field of the same name).
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> ResponseRequest {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The body of a non-streaming request (no `stream` field, no `stream_options`).
    pub fn to_json(&self) -> Value {
        self.body().finish(&self.extra)
    }

    /// The body of a streaming request: `"stream": true`, and `stream_options` when set.
    pub fn to_json_streaming(&self) -> Value {
        let mut out = self.body();
        out.set("stream", true);
        if !self.stream_options.is_empty() {
            out.set("stream_options", self.stream_options.clone());
        }
        out.finish(&self.extra)
    }

    fn body(&self) -> Out {
        let mut out = Out::default();
        out.set("model", self.model.as_str());
        out.set("input", self.input.to_json());
        out.opt("instructions", self.instructions.as_deref());
        out.opt_number("temperature", self.temperature);
        out.opt_number("top_p", self.top_p);
        out.opt("max_output_tokens", self.max_output_tokens);
        if !self.tools.is_empty() {
            out.set(
                "tools",
                Value::Array(self.tools.iter().map(ResponseTool::to_json).collect()),
            );
        }
        out.opt(
            "tool_choice",
            self.tool_choice.as_ref().map(ResponseToolChoice::to_json),
        );
        out.opt("parallel_tool_calls", self.parallel_tool_calls);
        if let Some(text) = &self.text {
            let mut t = Out::default();
            t.opt("format", text.format.as_ref().map(TextFormat::to_json));
            out.set("text", t.finish(&text.extra));
        }
        if let Some(reasoning) = &self.reasoning {
            let mut r = Out::default();
            r.opt("effort", reasoning.effort.as_deref());
            r.opt("summary", reasoning.summary.as_deref());
            out.set("reasoning", r.finish(&reasoning.extra));
        }
        out.opt("previous_response_id", self.previous_response_id.as_deref());
        out.opt("store", self.store);
        if !self.metadata.is_empty() {
            out.set("metadata", self.metadata.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responses::{FunctionCallItem, InputItem, InputPart};
    use serde_json::json;

    #[test]
    fn every_field_is_written_and_extra_wins() {
        let mut request = ResponseRequest::new(
            "m",
            vec![
                InputItem::system("s"),
                InputItem::assistant("a"),
                FunctionCallItem::new("call_1", "f", "{}").into(),
                InputItem::function_call_output("call_1", "42"),
                InputItem::Other(json!({"type": "item_reference", "id": "x"})),
            ],
        )
        .instructions("i")
        .temperature(1.0)
        .top_p(0.5)
        .max_output_tokens(10)
        .tool(ResponseTool::Other(json!({"type": "web_search"})))
        .tool_choice(ResponseToolChoice::Required)
        .parallel_tool_calls(false)
        .text_format(TextFormat::JsonObject)
        .reasoning_effort("low")
        .reasoning_summary("auto")
        .previous_response_id("resp_0")
        .store(false)
        .metadata("k", "v")
        .extra("top_logprobs", 2);
        request
            .stream_options
            .insert("include_obfuscation".into(), json!(false));
        let body = request.to_json();
        assert_eq!(
            body,
            json!({
                "model": "m",
                "input": [
                    {"type": "message", "role": "system", "content": "s"},
                    {"type": "message", "role": "assistant", "content": "a"},
                    {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "42"},
                    {"type": "item_reference", "id": "x"}
                ],
                "instructions": "i", "temperature": 1, "top_p": 0.5, "max_output_tokens": 10,
                "tools": [{"type": "web_search"}], "tool_choice": "required",
                "parallel_tool_calls": false, "text": {"format": {"type": "json_object"}},
                "reasoning": {"effort": "low", "summary": "auto"},
                "previous_response_id": "resp_0", "store": false, "metadata": {"k": "v"},
                "top_logprobs": 2
            })
        );
        let streaming = request.to_json_streaming();
        assert_eq!(streaming["stream"], true);
        assert_eq!(
            streaming["stream_options"],
            json!({"include_obfuscation": false})
        );
        let overridden = request.extra("stream", false).to_json_streaming();
        assert_eq!(overridden["stream"], false);
    }

    #[test]
    fn choices_and_formats() {
        for (choice, json) in [
            (ResponseToolChoice::None, json!("none")),
            (ResponseToolChoice::Auto, json!("auto")),
            (
                ResponseToolChoice::Other(json!({"type": "web_search"})),
                json!({"type": "web_search"}),
            ),
        ] {
            assert_eq!(choice.to_json(), json);
        }
        assert_eq!(TextFormat::Text.to_json(), json!({"type": "text"}));
        assert_eq!(TextFormat::Other(json!(1)).to_json(), json!(1));
        assert_eq!(
            InputPart::Other(json!({"type": "input_file", "file_id": "f"})).to_json()["file_id"],
            "f"
        );
    }
}
