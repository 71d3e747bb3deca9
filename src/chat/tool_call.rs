//! [`ToolCall`]s the model makes, and the [`ToolCallDelta`] fragments a stream carries.

use serde_json::{Map, Value};

use super::json::{Bad, Fields, Out, Res};
use super::visit::{self, GiveUp, Read, Visit, accept, string, u64};
use crate::Error;

/// A tool call made by the model (`message.tool_calls[]`), or sent back in the history.
///
/// ```
/// use chatstream::ToolCall;
///
/// let call = ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#);
/// assert_eq!(call.arguments_json()?["city"], "Paris");
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The call id, to be echoed as `tool_call_id` in the tool's answer.
    pub id: String,
    /// The tool type (`"type"` in JSON), `"function"` for function calls.
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionCall {
    /// The function name.
    pub name: String,
    /// The arguments as JSON text, exactly as the model wrote them (possibly invalid JSON).
    pub arguments: String,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl Default for ToolCall {
    fn default() -> Self {
        Self {
            id: String::new(),
            kind: "function".to_owned(),
            function: FunctionCall::default(),
            extra: Map::new(),
        }
    }
}

impl FunctionCall {
    /// Parses [`arguments`](Self::arguments) as JSON. Empty (or all-whitespace) arguments,
    /// which several servers send for functions without parameters, give an empty object.
    ///
    /// # Errors
    ///
    /// A decode error carrying the arguments text when it is not valid JSON.
    pub fn arguments_json(&self) -> Result<Value, Error> {
        if self.arguments.trim().is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_str(&self.arguments).map_err(|e| {
            Error::decode(
                format!(
                    "tool call `{}`: arguments are not valid JSON: {e}",
                    self.name
                ),
                self.arguments.clone(),
            )
        })
    }

    /// A whole call's function, read like a fragment's: what is missing is empty.
    fn from_delta(delta: FunctionCallDelta) -> Self {
        Self {
            name: delta.name.unwrap_or_default(),
            arguments: delta.arguments.unwrap_or_default(),
            extra: delta.extra,
        }
    }

    /// The function as JSON (`{"name": ..., "arguments": ...}`).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("name", self.name.as_str());
        out.set("arguments", self.arguments.as_str());
        out.finish(&self.extra)
    }
}

/// `arguments` as text; an object or array (sent by some servers) becomes its JSON text.
fn arguments_text(f: &mut Fields) -> Option<String> {
    f.take_if("arguments", is_arguments).map(into_arguments)
}

fn is_arguments(value: &Value) -> bool {
    value.is_string() || value.is_object() || value.is_array()
}

fn into_arguments(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Takes the fields a whole tool call and a fragment share (`id`, `type`, `function`), as a
/// fragment has them: a whole call is read the same way, with defaults for what is missing.
fn decode_call(f: &mut Fields) -> Res<(Option<String>, Option<String>, Option<FunctionCallDelta>)> {
    let id = f.string("id");
    let kind = f.string("type");
    let function = f.object("function")?.map(FunctionCallDelta::from_map);
    Ok((id, kind, function))
}

impl ToolCall {
    /// A function tool call.
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
                extra: Map::new(),
            },
            ..Self::default()
        }
    }

    /// Parses the function arguments as JSON; see [`FunctionCall::arguments_json`].
    ///
    /// # Errors
    ///
    /// A decode error carrying the arguments text when it is not valid JSON.
    pub fn arguments_json(&self) -> Result<Value, Error> {
        self.function.arguments_json()
    }

    /// Decodes a tool call. A missing `type` means `"function"`.
    ///
    /// # Errors
    ///
    /// A decode error if `value` or its `function` is not an object.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        Self::decode(value).map_err(Bad::into_error)
    }

    pub(super) fn decode(value: Value) -> Res<Self> {
        let mut f = Fields::new(value, "tool call")?;
        let (id, kind, function) = decode_call(&mut f)?;
        Ok(Self {
            id: id.unwrap_or_default(),
            kind: kind.unwrap_or_else(|| "function".to_owned()),
            function: function.map(FunctionCall::from_delta).unwrap_or_default(),
            extra: f.rest(),
        })
    }

    /// The tool call as JSON (`{"id", "type", "function": {"name", "arguments"}}`).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("id", self.id.as_str());
        out.set("type", self.kind.as_str());
        if self.kind == "function" || self.function != FunctionCall::default() {
            out.set("function", self.function.to_json());
        }
        out.finish(&self.extra)
    }
}

/// One fragment of a streamed tool call (`delta.tool_calls[]`).
///
/// Usually only the first fragment of a call has `id`, `type` and `function.name`; the
/// following ones carry pieces of `function.arguments`. Fragments of one call share an
/// `index`, which some servers (Gemini, some proxies) leave out. The
/// [`Accumulator`](crate::Accumulator) merges them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCallDelta {
    /// Which call of the message this fragment belongs to.
    pub index: Option<u64>,
    /// The call id (first fragment only, usually).
    pub id: Option<String>,
    /// The tool type (`"type"` in JSON), usually `"function"`.
    pub kind: Option<String>,
    /// The function name and a piece of its arguments.
    pub function: Option<FunctionCallDelta>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The function part of a [`ToolCallDelta`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionCallDelta {
    /// The function name (first fragment only, usually).
    pub name: Option<String>,
    /// A piece of the arguments' JSON text.
    pub arguments: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl ToolCallDelta {
    pub(super) fn decode(value: Value) -> Res<Self> {
        let mut f = Fields::new(value, "tool call delta")?;
        let index = f.u64("index");
        let (id, kind, function) = decode_call(&mut f)?;
        Ok(Self {
            index,
            id,
            kind,
            function,
            extra: f.rest(),
        })
    }

    /// The fragment as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.opt("index", self.index);
        out.opt("id", self.id.as_deref());
        out.opt("type", self.kind.as_deref());
        if let Some(function) = &self.function {
            let mut inner = Out::default();
            inner.opt("name", function.name.as_deref());
            inner.opt("arguments", function.arguments.as_deref());
            out.set("function", inner.finish(&function.extra));
        }
        out.finish(&self.extra)
    }
}

impl FunctionCallDelta {
    /// Decodes a fragment's `function`; a whole call's is read this way too
    /// ([`FunctionCall::from_delta`]).
    fn from_map(map: Map<String, Value>) -> Self {
        let mut f = Fields::of(map, "tool call function");
        let name = f.string("name");
        let arguments = arguments_text(&mut f);
        Self {
            name,
            arguments,
            extra: f.rest(),
        }
    }
}

impl Visit for ToolCallDelta {
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        let extra = &mut self.extra;
        let bit = match key {
            "index" => {
                self.index = u64(key, value.value()?, extra);
                1
            }
            "id" => {
                self.id = string(key, value.value()?, extra);
                2
            }
            "type" => {
                self.kind = string(key, value.value()?, extra);
                4
            }
            "function" => {
                self.function = visit::object(value)?;
                8
            }
            _ => 0,
        };
        Ok(bit)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

impl Visit for FunctionCallDelta {
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        let extra = &mut self.extra;
        let bit = match key {
            "name" => {
                self.name = string(key, value.value()?, extra);
                1
            }
            "arguments" => {
                self.arguments =
                    accept(key, value.value()?, extra, is_arguments).map(into_arguments);
                2
            }
            _ => 0,
        };
        Ok(bit)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatCompletion;
    use crate::chat::json::tests::{check_round_trip, decode_error};
    use serde_json::json;

    #[test]
    fn completion_tool_calls() {
        let input = json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
                "role": "assistant", "content": "",
                "tool_calls": [
                    {"id": "Zx1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "Zx2", "type": "function", "function": {"name": "noop", "arguments": ""}},
                    {"id": "c3", "type": "custom", "custom": {"name": "grammar", "input": "x"}}
                ]}}]
        });
        let completion =
            check_round_trip(input, ChatCompletion::from_json, ChatCompletion::to_json);
        let calls = completion.tool_calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].arguments_json().unwrap(), json!({"city": "Paris"}));
        assert_eq!(calls[1].arguments_json().unwrap(), json!({}));
        assert_eq!(calls[2].kind, "custom");
        assert_eq!(calls[2].extra["custom"]["input"], "x");
        let bad = ToolCall::function("c", "f", r#"{"city":"#);
        decode_error(bad.arguments_json(), "not valid JSON", r#"{"city":"#);
    }

    #[test]
    fn arguments_as_object_become_text() {
        let call = ToolCall::from_json(
            json!({"id": "1", "function": {"name": "f", "arguments": {"a": 1}}}),
        )
        .unwrap();
        assert_eq!(call.kind, "function");
        assert_eq!(call.function.arguments, r#"{"a":1}"#);
        assert_eq!(call.arguments_json().unwrap(), json!({"a": 1}));
    }
}
