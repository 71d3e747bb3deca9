//! [`Message`]: one message of a conversation.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::json::{Bad, Fields, Out, Res, object_of};
use super::{Content, ContentPart, Role, ToolCall};
use crate::Error;

/// One message of a conversation, in a request or in a response.
///
/// ```
/// use chatstream::{Message, Role, ToolCall};
///
/// let history = vec![
///     Message::system("You are a weather bot."),
///     Message::user("Weather in Paris?"),
///     Message::assistant_tool_calls(vec![ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#)]),
///     Message::tool("call_1", r#"{"temp_c": 21}"#),
/// ];
/// assert_eq!(history[3].role, Role::Tool);
/// assert_eq!(history[2].to_json()["tool_calls"][0]["function"]["name"], "get_weather");
///
/// // Struct-literal style works too.
/// let named = Message { name: Some("alice".into()), ..Message::user("Hi") };
/// assert_eq!(named.to_json()["name"], "alice");
/// ```
///
/// When a response message is sent back in the next request, its `extra` fields (for
/// example OpenAI's `annotations`) and reasoning travel with it; clear them if a strict server
/// rejects them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    /// Who wrote the message. A decoded message without a role is an assistant message.
    pub role: Role,
    /// The content. `None` is written as `"content": null` (an assistant message that only
    /// calls tools).
    pub content: Option<Content>,
    /// An optional participant name.
    pub name: Option<String>,
    /// Tool calls of an assistant message (an empty list is not written).
    pub tool_calls: Vec<ToolCall>,
    /// The call this message answers (`role: tool`).
    pub tool_call_id: Option<String>,
    /// The model's refusal message, if it refused.
    pub refusal: Option<String>,
    /// Reasoning text as sent by DeepSeek, llama.cpp, Qwen and vLLM (`reasoning_content`).
    pub reasoning_content: Option<String>,
    /// Reasoning text as sent by OpenRouter and newer vLLM (`reasoning`); see
    /// [`reasoning_text`](Self::reasoning_text) to read either.
    pub reasoning: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with any role.
    pub fn new(role: impl Into<Role>, content: impl Into<Content>) -> Self {
        Self {
            role: role.into(),
            content: Some(content.into()),
            ..Self::default()
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<Content>) -> Self {
        Self::new(Role::System, content)
    }

    /// A `developer` message.
    pub fn developer(content: impl Into<Content>) -> Self {
        Self::new(Role::Developer, content)
    }

    /// A `user` message: text, or a `Vec` of [`ContentPart`]s.
    pub fn user(content: impl Into<Content>) -> Self {
        Self::new(Role::User, content)
    }

    /// An `assistant` message (a previous answer of the model).
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// An `assistant` message that only calls tools (`"content": null`).
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            tool_calls,
            ..Self::default()
        }
    }

    /// A `tool` message: the result of the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }

    /// Sets the participant `name`.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The content as text (see [`Content::as_text`]), `""` when there is none.
    pub fn text(&self) -> Cow<'_, str> {
        self.content
            .as_ref()
            .map_or(Cow::Borrowed(""), Content::as_text)
    }

    /// The reasoning text: `reasoning_content`, or else `reasoning`.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }

    /// Decodes a message.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object, or `tool_calls` has the wrong shape.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        object_of(value, "message")
            .and_then(Self::decode)
            .map_err(Bad::into_error)
    }

    pub(super) fn decode(map: Map<String, Value>) -> Res<Self> {
        let mut f = Fields::of(map, "message");
        let role = f.string("role").map_or(Role::Assistant, Role::from);
        let content = match f.take_if("content", |v| v.is_string() || v.is_array()) {
            Some(Value::String(text)) => Some(Content::Text(text)),
            Some(Value::Array(parts)) => Some(Content::Parts(
                parts.into_iter().map(ContentPart::from_json).collect(),
            )),
            _ => None,
        };
        let name = f.string("name");
        let tool_calls = f
            .array("tool_calls")?
            .unwrap_or_default()
            .into_iter()
            .map(ToolCall::decode)
            .collect::<Res<_>>()?;
        let tool_call_id = f.string("tool_call_id");
        let refusal = f.string("refusal");
        let reasoning_content = f.string("reasoning_content");
        let reasoning = f.string("reasoning");
        Ok(Self {
            role,
            content,
            name,
            tool_calls,
            tool_call_id,
            refusal,
            reasoning_content,
            reasoning,
            extra: f.rest(),
        })
    }

    /// The message as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("role", self.role.as_str());
        out.set(
            "content",
            self.content.as_ref().map_or(Value::Null, Content::to_json),
        );
        out.opt("name", self.name.as_deref());
        if !self.tool_calls.is_empty() {
            out.set(
                "tool_calls",
                Value::Array(self.tool_calls.iter().map(ToolCall::to_json).collect()),
            );
        }
        out.opt("tool_call_id", self.tool_call_id.as_deref());
        out.opt("refusal", self.refusal.as_deref());
        out.opt("reasoning_content", self.reasoning_content.as_deref());
        out.opt("reasoning", self.reasoning.as_deref());
        out.finish(&self.extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constructors_and_accessors() {
        assert_eq!(
            Message::tool("call_1", "21 C").to_json(),
            json!({"role": "tool", "content": "21 C", "tool_call_id": "call_1"})
        );
        let calls_only = Message::assistant_tool_calls(vec![]);
        assert_eq!(
            calls_only.to_json(),
            json!({"role": "assistant", "content": null})
        );
        assert_eq!(calls_only.text(), "");
        let message = Message::new("critic", "Hmm").with_name("bob");
        assert_eq!(message.role, Role::Other("critic".into()));
        assert_eq!(message.to_json()["name"], "bob");
        let both = Message {
            reasoning_content: Some("a".into()),
            reasoning: Some("b".into()),
            ..Message::default()
        };
        assert_eq!(both.reasoning_text(), Some("a"));
        let only_reasoning = Message {
            reasoning: Some("b".into()),
            ..Message::default()
        };
        assert_eq!(only_reasoning.reasoning_text(), Some("b"));
    }

    #[test]
    fn decoding_defaults_to_assistant() {
        let message = Message::from_json(json!({"content": "Hi", "tool_calls": null})).unwrap();
        assert_eq!(message.role, Role::Assistant);
        assert!(message.tool_calls.is_empty());
        assert_eq!(
            message.to_json(),
            json!({"role": "assistant", "content": "Hi"})
        );
    }
}
