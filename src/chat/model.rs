//! [`Model`] and [`ModelList`]: the bodies of `GET /v1/models`.

use serde_json::{Map, Value};

use super::json::{Bad, Fields, Out, Res, decode_str};
use crate::Error;

/// A model entry of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    /// The model name to put in [`ChatRequest::model`](crate::ChatRequest::model).
    pub id: String,
    /// `"model"`.
    pub object: String,
    /// Creation time, Unix seconds.
    pub created: Option<u64>,
    /// The owner (`"openai"`, `"llamacpp"`, ...).
    pub owned_by: Option<String>,
    /// Unknown fields (llama.cpp's `aliases` and `meta`, ...).
    pub extra: Map<String, Value>,
}

/// The body of `GET /v1/models`.
///
/// ```
/// use chatstream::ModelList;
///
/// let body = r#"{"object":"list","data":[{"id":"tiny","object":"model","created":1,"owned_by":"llamacpp",
///   "meta":{"n_ctx":4096}}],"models":[{"name":"tiny","model":"tiny"}]}"#;
/// let list = ModelList::from_json_str(body)?;
/// assert_eq!(list.data[0].id, "tiny");
/// assert_eq!(list.data[0].extra["meta"]["n_ctx"], 4096);
/// assert!(list.extra.contains_key("models")); // llama.cpp's Ollama-style list, kept as is
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelList {
    /// `"list"`.
    pub object: String,
    /// The models (empty if the server sent no `data`).
    pub data: Vec<Model>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl Model {
    /// Decodes a model entry (also the body of `GET /v1/models/{id}`).
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        Self::decode(value).map_err(Bad::into_error)
    }

    fn decode(value: Value) -> Res<Self> {
        let mut f = Fields::new(value, "model")?;
        Ok(Self {
            id: f.string("id").unwrap_or_default(),
            object: f.string("object").unwrap_or_default(),
            created: f.u64("created"),
            owned_by: f.string("owned_by"),
            extra: f.rest(),
        })
    }

    /// The model as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("id", self.id.as_str());
        out.set_or("object", &self.object, "model");
        out.opt("created", self.created);
        out.opt("owned_by", self.owned_by.as_deref());
        out.finish(&self.extra)
    }
}

impl ModelList {
    /// Decodes a models list that was already parsed as JSON.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object, `data` is not an array, or an entry is
    /// not an object.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        Self::decode(value).map_err(Bad::into_error)
    }

    /// Parses and decodes a models list body. Errors carry the whole text as raw text.
    ///
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<Self, Error> {
        decode_str(text, "model list", Self::decode)
    }

    fn decode(value: Value) -> Res<Self> {
        let mut f = Fields::new(value, "model list")?;
        let object = f.string("object").unwrap_or_default();
        let data = f
            .array("data")?
            .unwrap_or_default()
            .into_iter()
            .map(Model::decode)
            .collect::<Res<_>>()?;
        Ok(Self {
            object,
            data,
            extra: f.rest(),
        })
    }

    /// The list as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set_or("object", &self.object, "list");
        out.set(
            "data",
            Value::Array(self.data.iter().map(Model::to_json).collect()),
        );
        out.finish(&self.extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::json::tests::{check_round_trip, decode_error};
    use serde_json::json;

    #[test]
    fn llama_cpp_models() {
        let input = json!({
            "models": [{"name": "tiny-random-llama", "model": "tiny-random-llama", "modified_at": "", "size": "",
                        "digest": "", "type": "model", "description": "", "tags": [""], "capabilities": ["completion"],
                        "parameters": "", "details": {"parent_model": "", "format": "gguf", "family": "", "families": [""],
                        "parameter_size": "", "quantization_level": ""}}],
            "object": "list",
            "data": [{"id": "tiny-random-llama", "aliases": ["tiny-random-llama"], "tags": [], "object": "model",
                      "created": 1764439380, "owned_by": "llamacpp",
                      "meta": {"vocab_type": 1, "n_vocab": 588, "n_ctx_train": 4096, "n_embd": 64, "n_params": 157248, "size": 629760}}]
        });
        let list = check_round_trip(input, ModelList::from_json, ModelList::to_json);
        assert_eq!(list.data.len(), 1);
        let model = &list.data[0];
        assert_eq!(model.id, "tiny-random-llama");
        assert_eq!(model.owned_by.as_deref(), Some("llamacpp"));
        assert_eq!(model.created, Some(1764439380));
        assert_eq!(model.extra["meta"]["n_vocab"], 588);
    }

    #[test]
    fn litellm_and_odd_models() {
        let list = ModelList::from_json_str(
            r#"{"data":[{"id":"mock-gpt","object":"model","created":1677610602,"owned_by":"openai"}],"object":"list"}"#,
        )
        .unwrap();
        assert_eq!(list.data[0].id, "mock-gpt");
        let odd = ModelList::from_json(
            json!({"data": [{"id": "a"}, {"created": 1.0, "owned_by": null}]}),
        )
        .unwrap();
        assert_eq!(odd.data[0].created, None);
        assert_eq!(odd.data[1].id, "");
        assert_eq!(odd.data[1].created, Some(1));
        assert_eq!(
            odd.to_json()["data"][0],
            json!({"id": "a", "object": "model"})
        );
        assert!(ModelList::from_json(json!({})).unwrap().data.is_empty());
        decode_error(
            ModelList::from_json_str("[]"),
            "expected a JSON object",
            "[]",
        );
        assert_eq!(Model::from_json(json!({"id": "x"})).unwrap().id, "x");
    }
}
