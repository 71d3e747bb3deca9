//! The `text` options of a Responses API request: [`TextOptions`] and its [`TextFormat`].

use serde_json::{Map, Value};

use crate::chat::json::Out;

/// The `text` options of a [`ResponseRequest`](super::ResponseRequest).
///
/// ```
/// use chatstream::responses::{ResponseRequest, TextFormat, TextOptions};
/// use serde_json::json;
///
/// let schema = json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]});
/// let request = ResponseRequest::new("gpt-4.1-mini", "Is water wet?")
///     .text_format(TextFormat::json_schema("answer", schema.clone()));
/// assert_eq!(request.to_json()["text"]["format"], json!({
///     "type": "json_schema", "name": "answer", "schema": schema, "strict": true
/// }));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextOptions {
    /// The output format.
    pub format: Option<TextFormat>,
    /// Other text options (`verbosity`, ...).
    pub extra: Map<String, Value>,
}

/// The `text.format` of a [`ResponseRequest`](super::ResponseRequest).
#[derive(Debug, Clone, PartialEq)]
pub enum TextFormat {
    /// Plain text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON that follows a schema.
    JsonSchema {
        /// The schema's name.
        name: String,
        /// The JSON schema.
        schema: Value,
        /// Whether the output must follow the schema exactly.
        strict: Option<bool>,
        /// What the format is for, for the model.
        description: Option<String>,
    },
    /// Any other format, sent as is.
    Other(Value),
}

impl TextFormat {
    /// A strict JSON schema format.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> TextFormat {
        TextFormat::JsonSchema {
            name: name.into(),
            schema,
            strict: Some(true),
            description: None,
        }
    }

    /// The format as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        match self {
            TextFormat::Text => out.set("type", "text"),
            TextFormat::JsonObject => out.set("type", "json_object"),
            TextFormat::JsonSchema {
                name,
                schema,
                strict,
                description,
            } => {
                out.set("type", "json_schema");
                out.set("name", name.as_str());
                out.set("schema", schema.clone());
                out.opt("strict", *strict);
                out.opt("description", description.as_deref());
            }
            TextFormat::Other(value) => return value.clone(),
        }
        out.finish(&Map::new())
    }
}
