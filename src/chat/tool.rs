//! [`Tool`] definitions and the [`ToolChoice`] parameter of a request.

use serde_json::{Map, Value};

use super::json::Out;

/// A tool the model may call (`tools[]`).
///
/// ```
/// use chatstream::Tool;
/// use serde_json::json;
///
/// let tool = Tool::function(
///     "get_weather",
///     "Current weather for a city",
///     json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
/// );
/// assert_eq!(tool.to_json()["function"]["name"], "get_weather");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The tool type (`"type"` in JSON), `"function"`.
    pub kind: String,
    /// The function definition.
    pub function: FunctionDef,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The function definition of a [`Tool`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionDef {
    /// The function name.
    pub name: String,
    /// What the function does, for the model.
    pub description: Option<String>,
    /// The parameters as a JSON Schema object.
    pub parameters: Option<Value>,
    /// OpenAI structured outputs: enforce the schema exactly.
    pub strict: Option<bool>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl Tool {
    /// A function tool. An empty `description` is left out.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        let description = description.into();
        Self {
            kind: "function".to_owned(),
            function: FunctionDef {
                name: name.into(),
                description: (!description.is_empty()).then_some(description),
                parameters: Some(parameters),
                strict: None,
                extra: Map::new(),
            },
            extra: Map::new(),
        }
    }

    /// Sets `function.strict`.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.function.strict = Some(strict);
        self
    }

    /// The tool as JSON.
    pub fn to_json(&self) -> Value {
        let function = &self.function;
        let mut inner = Out::default();
        inner.set("name", function.name.as_str());
        inner.opt("description", function.description.as_deref());
        inner.opt("parameters", function.parameters.clone());
        inner.opt("strict", function.strict);
        let mut out = Out::default();
        out.set("type", self.kind.as_str());
        out.set("function", inner.finish(&function.extra));
        out.finish(&self.extra)
    }
}

/// The `tool_choice` parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    /// `"auto"`: the model decides.
    Auto,
    /// `"none"`: no tool calls.
    None,
    /// `"required"`: at least one tool call.
    Required,
    /// Call this function: `{"type": "function", "function": {"name": ...}}`.
    Function(String),
    /// Any other value, sent as is.
    Other(Value),
}

impl ToolChoice {
    /// Forces a call of the function `name`.
    pub fn function(name: impl Into<String>) -> Self {
        Self::Function(name.into())
    }

    /// The parameter as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Auto => Value::from("auto"),
            Self::None => Value::from("none"),
            Self::Required => Value::from("required"),
            Self::Function(name) => {
                let mut function = Map::new();
                function.insert("name".to_owned(), Value::from(name.as_str()));
                let mut out = Out::default();
                out.set("type", "function");
                out.set("function", function);
                out.finish(&Map::new())
            }
            Self::Other(value) => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_choice_and_tool_json() {
        assert_eq!(ToolChoice::Auto.to_json(), json!("auto"));
        assert_eq!(ToolChoice::None.to_json(), json!("none"));
        assert_eq!(
            ToolChoice::function("f").to_json(),
            json!({"type": "function", "function": {"name": "f"}})
        );
        let other = json!({"type": "allowed_tools", "mode": "auto"});
        assert_eq!(ToolChoice::Other(other.clone()).to_json(), other);
        // An empty description is left out.
        assert_eq!(
            Tool::function("f", "", json!({"type": "object"})).to_json(),
            json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}})
        );
    }
}
