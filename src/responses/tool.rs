//! The tools of a Responses API request and the choice among them: [`ResponseTool`],
//! [`FunctionTool`], [`ResponseToolChoice`].

use serde_json::{Map, Value};

use crate::chat::json::Out;

/// A tool of a [`ResponseRequest`](super::ResponseRequest). The Responses API writes function
/// tools flat (`{"type": "function", "name": ..., "parameters": ...}`), unlike chat completions.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseTool {
    /// A function the model may call.
    Function(FunctionTool),
    /// Any other tool (`web_search`, `file_search`, `mcp`, ...), sent as is.
    Other(Value),
}

/// A function tool.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionTool {
    /// The function's name.
    pub name: String,
    /// What it does, for the model.
    pub description: Option<String>,
    /// Its parameters, as a JSON schema.
    pub parameters: Option<Value>,
    /// Whether the arguments must follow the schema exactly.
    pub strict: Option<bool>,
    /// Other fields of the tool.
    pub extra: Map<String, Value>,
}

impl ResponseTool {
    /// A function tool with a description and a JSON schema for its parameters.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> ResponseTool {
        ResponseTool::Function(FunctionTool {
            name: name.into(),
            description: Some(description.into()),
            parameters: Some(parameters),
            ..FunctionTool::default()
        })
    }

    /// The tool as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            ResponseTool::Function(f) => {
                let mut out = Out::default();
                out.set("type", "function");
                out.set("name", f.name.as_str());
                out.opt("description", f.description.as_deref());
                out.opt("parameters", f.parameters.clone());
                out.opt("strict", f.strict);
                out.finish(&f.extra)
            }
            ResponseTool::Other(value) => value.clone(),
        }
    }
}

/// The `tool_choice` of a [`ResponseRequest`](super::ResponseRequest).
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseToolChoice {
    /// `"none"`: never call a tool.
    None,
    /// `"auto"`: the model decides.
    Auto,
    /// `"required"`: call at least one tool.
    Required,
    /// Call this function: `{"type": "function", "name": ...}`.
    Function(String),
    /// Any other choice, sent as is.
    Other(Value),
}

impl ResponseToolChoice {
    /// The choice as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            ResponseToolChoice::None => Value::from("none"),
            ResponseToolChoice::Auto => Value::from("auto"),
            ResponseToolChoice::Required => Value::from("required"),
            ResponseToolChoice::Function(name) => {
                let mut out = Out::default();
                out.set("type", "function");
                out.set("name", name.as_str());
                out.finish(&Map::new())
            }
            ResponseToolChoice::Other(value) => value.clone(),
        }
    }
}
