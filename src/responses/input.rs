//! The `input` of a Responses API request: [`Input`] and its items, messages and parts.

use serde_json::{Map, Value};

use super::output::{FunctionCallItem, OutputItem};
use crate::chat::Role;
use crate::chat::json::Out;

/// The `input` of a [`ResponseRequest`](super::ResponseRequest).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A single user message as a string.
    Text(String),
    /// A list of input items: messages, earlier output items, function call outputs.
    Items(Vec<InputItem>),
}

impl Default for Input {
    fn default() -> Input {
        Input::Text(String::new())
    }
}

impl From<&str> for Input {
    fn from(text: &str) -> Input {
        Input::Text(text.to_owned())
    }
}

impl From<String> for Input {
    fn from(text: String) -> Input {
        Input::Text(text)
    }
}

impl From<Vec<InputItem>> for Input {
    fn from(items: Vec<InputItem>) -> Input {
        Input::Items(items)
    }
}

impl Input {
    /// The input as JSON: a string or an array of items.
    pub fn to_json(&self) -> Value {
        match self {
            Input::Text(text) => Value::from(text.as_str()),
            Input::Items(items) => Value::Array(items.iter().map(InputItem::to_json).collect()),
        }
    }
}

/// One item of an [`Input::Items`] list.
///
/// ```
/// use chatstream::responses::{InputItem, InputPart};
/// use serde_json::json;
///
/// let item = InputItem::message(chatstream::Role::User, vec![
///     InputPart::text("What is in this image?"),
///     InputPart::image_url("https://example.com/cat.png"),
/// ]);
/// assert_eq!(item.to_json()["content"][1], json!({"type": "input_image", "image_url": "https://example.com/cat.png"}));
///
/// let answer = InputItem::function_call_output("call_1", r#"{"temp": 21}"#);
/// assert_eq!(answer.to_json()["type"], "function_call_output");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    /// A message with a role and content.
    Message(InputMessage),
    /// An item of an earlier response's output (a function call, a message, reasoning), sent
    /// back as context.
    Output(OutputItem),
    /// The result of a function call, answering `call_id`.
    FunctionCallOutput {
        /// The `call_id` of the function call this answers.
        call_id: String,
        /// The result, usually JSON text.
        output: String,
        /// Other fields of the item.
        extra: Map<String, Value>,
    },
    /// Any other item, sent as is.
    Other(Value),
}

/// A message in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputMessage {
    /// `user`, `assistant`, `system` or `developer`.
    pub role: Role,
    /// The content: a string or a list of parts.
    pub content: InputContent,
    /// Other fields of the message.
    pub extra: Map<String, Value>,
}

/// The content of an [`InputMessage`].
#[derive(Debug, Clone, PartialEq)]
pub enum InputContent {
    /// `"content": "..."`.
    Text(String),
    /// `"content": [{"type": "input_text", ...}, ...]`.
    Parts(Vec<InputPart>),
}

/// One part of an [`InputContent::Parts`] list.
#[derive(Debug, Clone, PartialEq)]
pub enum InputPart {
    /// `"type": "input_text"`.
    Text(String),
    /// `"type": "input_image"` with an `image_url` (an https or data URL).
    ImageUrl(String),
    /// Any other part (`input_file`, an image by `file_id`, ...), sent as is.
    Other(Value),
}

impl InputPart {
    /// An `input_text` part.
    pub fn text(text: impl Into<String>) -> InputPart {
        InputPart::Text(text.into())
    }

    /// An `input_image` part with this URL.
    pub fn image_url(url: impl Into<String>) -> InputPart {
        InputPart::ImageUrl(url.into())
    }

    /// The part as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        match self {
            InputPart::Text(text) => {
                out.set("type", "input_text");
                out.set("text", text.as_str());
            }
            InputPart::ImageUrl(url) => {
                out.set("type", "input_image");
                out.set("image_url", url.as_str());
            }
            InputPart::Other(value) => return value.clone(),
        }
        out.finish(&Map::new())
    }
}

impl InputItem {
    /// A message with this role and content (a string or parts).
    pub fn message(role: Role, content: impl Into<InputContent>) -> InputItem {
        InputItem::Message(InputMessage {
            role,
            content: content.into(),
            extra: Map::new(),
        })
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> InputItem {
        InputItem::message(Role::User, InputContent::Text(text.into()))
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> InputItem {
        InputItem::message(Role::System, InputContent::Text(text.into()))
    }

    /// A developer message (OpenAI's newer name for system instructions).
    pub fn developer(text: impl Into<String>) -> InputItem {
        InputItem::message(Role::Developer, InputContent::Text(text.into()))
    }

    /// An assistant message (an earlier answer, as context).
    pub fn assistant(text: impl Into<String>) -> InputItem {
        InputItem::message(Role::Assistant, InputContent::Text(text.into()))
    }

    /// The result of a function call, answering `call_id`.
    pub fn function_call_output(
        call_id: impl Into<String>,
        output: impl Into<String>,
    ) -> InputItem {
        InputItem::FunctionCallOutput {
            call_id: call_id.into(),
            output: output.into(),
            extra: Map::new(),
        }
    }

    /// The item as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            InputItem::Message(message) => {
                let mut out = Out::default();
                out.set("type", "message");
                out.set("role", message.role.as_str());
                out.set(
                    "content",
                    match &message.content {
                        InputContent::Text(text) => Value::from(text.as_str()),
                        InputContent::Parts(parts) => {
                            Value::Array(parts.iter().map(InputPart::to_json).collect())
                        }
                    },
                );
                out.finish(&message.extra)
            }
            InputItem::Output(item) => item.to_json(),
            InputItem::FunctionCallOutput {
                call_id,
                output,
                extra,
            } => {
                let mut out = Out::default();
                out.set("type", "function_call_output");
                out.set("call_id", call_id.as_str());
                out.set("output", output.as_str());
                out.finish(extra)
            }
            InputItem::Other(value) => value.clone(),
        }
    }
}

impl From<OutputItem> for InputItem {
    fn from(item: OutputItem) -> InputItem {
        InputItem::Output(item)
    }
}

impl From<FunctionCallItem> for InputItem {
    fn from(call: FunctionCallItem) -> InputItem {
        InputItem::Output(OutputItem::FunctionCall(call))
    }
}

impl From<&str> for InputContent {
    fn from(text: &str) -> InputContent {
        InputContent::Text(text.to_owned())
    }
}

impl From<String> for InputContent {
    fn from(text: String) -> InputContent {
        InputContent::Text(text)
    }
}

impl From<Vec<InputPart>> for InputContent {
    fn from(parts: Vec<InputPart>) -> InputContent {
        InputContent::Parts(parts)
    }
}
