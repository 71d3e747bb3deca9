//! Chat completion requests, responses, stream chunks and the models list,
//! mapped by hand to and from [`serde_json::Value`].
//!
//! This is the only module of the crate that knows JSON field names.
//!
//! # Example
//!
//! ```
//! use chatstream::{ChatCompletion, ChatRequest, Message};
//! use serde_json::json;
//!
//! let request = ChatRequest::new("gpt-4o-mini", vec![Message::system("Be brief."), Message::user("Hello")])
//!     .temperature(0.2)
//!     .max_tokens(100);
//! assert_eq!(request.to_json()["messages"][1]["content"], "Hello");
//!
//! let response = ChatCompletion::from_json(json!({
//!     "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
//!     "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
//!     "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
//! }))?;
//! assert_eq!(response.content(), "Hi!");
//! assert_eq!(response.usage.as_ref().and_then(|u| u.total_tokens), Some(11));
//! # Ok::<(), chatstream::Error>(())
//! ```
//!
//! # Leniency
//!
//! OpenAI-compatible servers differ in small ways, so decoding follows one set of rules for
//! every type:
//!
//! - **Unknown fields are kept** in the value's `extra` map and written back by `to_json`.
//! - **`null` in a known field is the same as an absent field** (unknown fields keep their
//!   `null`).
//! - **A known scalar field with an unexpected type is not an error**: `"content": 42` or
//!   `"created": "yesterday"` leave the typed field empty and keep the raw value in `extra`,
//!   so nothing is lost and `to_json` writes it back.
//! - **Integers may arrive as floats** with an integral value (`3.0`, `1e12`).
//! - **Unknown roles** become [`Role::Other`]; `finish_reason` is an open `String`, and an
//!   empty `finish_reason` (`""`, sent on every delta by some proxies) counts as no finish
//!   reason.
//! - `choices` may be empty or missing, a choice may lack `delta`/`message`, and `usage` may be
//!   `{}` or `null`.
//! - **Only the shape of model output is checked**: `choices`, `message`, `delta`,
//!   `tool_calls` and `function` must be objects or arrays where expected, because ignoring
//!   them would silently lose output. Such a mismatch, or a top-level value that is not a JSON
//!   object, is a decode error ([`Error`]) that names the field and carries the raw JSON.
//!
//! # Round trips
//!
//! `to_json` writes every field that was read plus `extra` (merged last). Fields that were
//! `null` are omitted, except the ones OpenAI always sends (`content` of a message,
//! `finish_reason` and `logprobs` of a choice). A tool call's `arguments` sent as a JSON object
//! instead of a string is converted to its string form, and `finish_reason: ""` to `null`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::Error;

// ---------------------------------------------------------------------------
// Decoding and encoding helpers (private)
// ---------------------------------------------------------------------------

/// A decode failure before it becomes an [`Error`]: the message and the offending JSON text.
///
/// Kept separate so that `from_json_str` can attach the whole input text instead.
pub(crate) struct Bad {
    pub(crate) message: String,
    pub(crate) raw: String,
}

impl Bad {
    pub(crate) fn into_error(self) -> Error {
        Error::decode(self.message, Some(self.raw))
    }
}

pub(crate) type Res<T> = Result<T, Bad>;

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn not_an_object(what: &str, value: &Value) -> Bad {
    Bad {
        message: format!("{what}: expected a JSON object, found {}", type_name(value)),
        raw: value.to_string(),
    }
}

pub(crate) fn wrong_type(what: &str, key: &str, expected: &str, found: &Value) -> Bad {
    Bad {
        message: format!(
            "{what}: `{key}` must be {expected}, found {}",
            type_name(found)
        ),
        raw: found.to_string(),
    }
}

fn object_of(value: Value, what: &str) -> Res<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(not_an_object(what, &other)),
    }
}

/// Parses text as JSON and decodes it; any failure carries the whole text as its raw value.
pub(crate) fn decode_str<T>(
    text: &str,
    what: &str,
    decode: impl FnOnce(Value) -> Res<T>,
) -> Result<T, Error> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::decode(format!("{what}: invalid JSON: {e}"), Some(text.to_owned())))?;
    decode(value).map_err(|bad| Error::decode(bad.message, Some(text.to_owned())))
}

/// A non-negative integer, also when written as an integral float (`3.0`, `1e12`).
pub(crate) fn as_u64(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // 2^64 is exactly representable; every integral float below it fits.
    (f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0).then_some(f as u64)
}

/// A JSON number for `f`: integral values are written as integers (`100`, not `100.0`),
/// because some servers validate integer-typed parameters strictly.
pub(crate) fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// Takes known fields out of a JSON object; whatever is left becomes `extra`.
pub(crate) struct Fields {
    map: Map<String, Value>,
    what: &'static str,
}

impl Fields {
    pub(crate) fn new(value: Value, what: &'static str) -> Res<Fields> {
        Ok(Fields {
            map: object_of(value, what)?,
            what,
        })
    }

    pub(crate) fn of(map: Map<String, Value>, what: &'static str) -> Fields {
        Fields { map, what }
    }

    /// Removes and returns `key` if `accept` likes its value. A `null` is removed and treated
    /// as absent; any other value is left in place so that it ends up in `extra`.
    pub(crate) fn take_if(&mut self, key: &str, accept: impl Fn(&Value) -> bool) -> Option<Value> {
        let value = self.map.get(key)?;
        if value.is_null() {
            self.map.remove(key);
            None
        } else if accept(value) {
            self.map.remove(key)
        } else {
            None
        }
    }

    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        match self.take_if(key, Value::is_string)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn u64(&mut self, key: &str) -> Option<u64> {
        as_u64(&self.take_if(key, |v| as_u64(v).is_some())?)
    }

    pub(crate) fn f64(&mut self, key: &str) -> Option<f64> {
        self.take_if(key, Value::is_number)?.as_f64()
    }

    /// An optional object whose wrong type can be ignored (it stays in `extra`).
    pub(crate) fn loose_object(&mut self, key: &str) -> Option<Map<String, Value>> {
        match self.take_if(key, Value::is_object)? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// An object that carries model output: a wrong type is an error.
    pub(crate) fn object(&mut self, key: &str) -> Res<Option<Map<String, Value>>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(wrong_type(self.what, key, "an object", &other)),
        }
    }

    /// An array that carries model output: a wrong type is an error.
    pub(crate) fn array(&mut self, key: &str) -> Res<Option<Vec<Value>>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(wrong_type(self.what, key, "an array", &other)),
        }
    }

    /// An array of objects that can be ignored when it has another shape.
    fn loose_objects(&mut self, key: &str) -> Option<Vec<Map<String, Value>>> {
        let items = self.take_if(key, |v| {
            v.as_array()
                .is_some_and(|items| items.iter().all(Value::is_object))
        })?;
        let Value::Array(items) = items else {
            return None;
        };
        Some(
            items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(map) => Some(map),
                    _ => None,
                })
                .collect(),
        )
    }

    pub(crate) fn rest(self) -> Map<String, Value> {
        self.map
    }
}

/// Builds a JSON object field by field; `finish` merges `extra` last.
#[derive(Default)]
pub(crate) struct Out(Map<String, Value>);

impl Out {
    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_owned(), value.into());
    }

    pub(crate) fn opt(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            self.set(key, value);
        }
    }

    pub(crate) fn opt_number(&mut self, key: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.set(key, number(value));
        }
    }

    pub(crate) fn finish(mut self, extra: &Map<String, Value>) -> Value {
        for (key, value) in extra {
            self.0.insert(key.clone(), value.clone());
        }
        Value::Object(self.0)
    }
}

/// The decoding helpers, shared with the Responses types.
pub(crate) mod json {
    pub(crate) use super::{Bad, Fields, Out, Res, decode_str, not_an_object};
}

// ---------------------------------------------------------------------------
// Roles and message content
// ---------------------------------------------------------------------------

/// The author of a [`Message`].
///
/// Roles the crate does not know (`"function"`, `"ipython"`, ...) are kept as
/// [`Role::Other`] and written back unchanged.
///
/// ```
/// use chatstream::Role;
///
/// assert_eq!(Role::from("tool"), Role::Tool);
/// assert_eq!(Role::from("ipython"), Role::Other("ipython".into()));
/// assert_eq!(Role::Developer.as_str(), "developer");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// `"system"`: instructions for the model.
    System,
    /// `"developer"`: instructions for the model (OpenAI's newer name for `system`).
    Developer,
    /// `"user"`: the end user. The default role.
    #[default]
    User,
    /// `"assistant"`: the model.
    Assistant,
    /// `"tool"`: the result of a tool call.
    Tool,
    /// Any other role, spelled as it was received.
    Other(String),
}

impl Role {
    /// The role as it is spelled in JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Other(other) => other,
        }
    }
}

impl From<&str> for Role {
    fn from(role: &str) -> Role {
        match role {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => Role::Other(other.to_owned()),
        }
    }
}

impl From<String> for Role {
    fn from(role: String) -> Role {
        match Role::from(role.as_str()) {
            Role::Other(_) => Role::Other(role),
            known => known,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The content of a [`Message`]: a plain string or a list of typed parts.
///
/// ```
/// use chatstream::{Content, ContentPart};
///
/// let plain = Content::from("Hello");
/// let parts = Content::from(vec![
///     ContentPart::text("What is in this image?"),
///     ContentPart::image_url("https://example.com/cat.png"),
/// ]);
/// assert_eq!(plain.as_text(), "Hello");
/// assert_eq!(parts.as_text(), "What is in this image?");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// `"content": "..."`.
    Text(String),
    /// `"content": [{"type": ...}, ...]`.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text of the content: the string itself, or the text parts joined together (other
    /// parts are skipped).
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(text) => Cow::Borrowed(text),
            Content::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|part| match part {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                });
                let Some(first) = texts.next() else {
                    return Cow::Borrowed("");
                };
                match texts.next() {
                    None => Cow::Borrowed(first),
                    Some(second) => {
                        let mut joined = format!("{first}{second}");
                        texts.for_each(|text| joined.push_str(text));
                        Cow::Owned(joined)
                    }
                }
            }
        }
    }

    /// The content as JSON: a string or an array of parts.
    pub fn to_json(&self) -> Value {
        match self {
            Content::Text(text) => Value::from(text.as_str()),
            Content::Parts(parts) => Value::Array(parts.iter().map(ContentPart::to_json).collect()),
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Content {
        Content::Text(text.to_owned())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Content {
        Content::Text(text)
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Content {
        Content::Parts(parts)
    }
}

/// One part of a multi-part message content.
///
/// Part types the crate does not model (or known types with an unexpected shape) are kept
/// whole as [`ContentPart::Other`]. Each typed variant keeps the part's unknown fields (such
/// as OpenRouter's `cache_control`) in `extra`.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type": "text", "text": ...}`.
    Text {
        /// The text.
        text: String,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// `{"type": "image_url", "image_url": {"url": ..., "detail": ...}}`.
    ImageUrl {
        /// The image reference.
        image_url: ImageUrl,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// `{"type": "input_audio", "input_audio": {"data": ..., "format": ...}}`.
    InputAudio {
        /// The audio data.
        input_audio: InputAudio,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// `{"type": "file", "file": {"file_id" | "file_data" | "filename": ...}}`.
    File {
        /// The file reference.
        file: FileRef,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// Any other part, kept as raw JSON.
    Other(Value),
}

/// The `image_url` object of an image content part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageUrl {
    /// An `https:` URL or a `data:` URL with base64 image data.
    pub url: String,
    /// `"auto"`, `"low"` or `"high"`.
    pub detail: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The `input_audio` object of an audio content part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputAudio {
    /// Base64-encoded audio.
    pub data: String,
    /// `"wav"`, `"mp3"`, ...
    pub format: String,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The `file` object of a file content part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileRef {
    /// The id of an uploaded file.
    pub file_id: Option<String>,
    /// Base64-encoded file data (a `data:` URL).
    pub file_data: Option<String>,
    /// The file name, used with `file_data`.
    pub filename: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> ContentPart {
        ContentPart::Text {
            text: text.into(),
            extra: Map::new(),
        }
    }

    /// An image part from an `https:` or `data:` URL.
    pub fn image_url(url: impl Into<String>) -> ContentPart {
        ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                ..ImageUrl::default()
            },
            extra: Map::new(),
        }
    }

    /// An image part with a `detail` level (`"auto"`, `"low"`, `"high"`).
    pub fn image_url_with_detail(url: impl Into<String>, detail: impl Into<String>) -> ContentPart {
        ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: Some(detail.into()),
                extra: Map::new(),
            },
            extra: Map::new(),
        }
    }

    /// An audio part from base64 data and its format (`"wav"`, `"mp3"`).
    pub fn input_audio(data_base64: impl Into<String>, format: impl Into<String>) -> ContentPart {
        ContentPart::InputAudio {
            input_audio: InputAudio {
                data: data_base64.into(),
                format: format.into(),
                extra: Map::new(),
            },
            extra: Map::new(),
        }
    }

    /// A file part referring to an uploaded file.
    pub fn file_id(file_id: impl Into<String>) -> ContentPart {
        ContentPart::File {
            file: FileRef {
                file_id: Some(file_id.into()),
                ..FileRef::default()
            },
            extra: Map::new(),
        }
    }

    /// A file part with inline data (a base64 `data:` URL) and a file name.
    pub fn file_data(filename: impl Into<String>, data_url: impl Into<String>) -> ContentPart {
        ContentPart::File {
            file: FileRef {
                filename: Some(filename.into()),
                file_data: Some(data_url.into()),
                ..FileRef::default()
            },
            extra: Map::new(),
        }
    }

    /// Decodes a part. Never fails: anything unrecognised becomes [`ContentPart::Other`].
    pub fn from_json(value: Value) -> ContentPart {
        let Value::Object(mut map) = value else {
            return ContentPart::Other(value);
        };
        let Some(kind) = map.get("type").and_then(Value::as_str).map(str::to_owned) else {
            return ContentPart::Other(Value::Object(map));
        };
        map.remove("type");
        // The payload sits under a key named like the type.
        match (kind.as_str(), map.remove(&kind)) {
            ("text", Some(Value::String(text))) => ContentPart::Text { text, extra: map },
            ("image_url", Some(Value::Object(inner)))
                if inner.get("url").is_some_and(Value::is_string) =>
            {
                let mut f = Fields::of(inner, "image_url");
                let image_url = ImageUrl {
                    url: f.string("url").unwrap_or_default(),
                    detail: f.string("detail"),
                    extra: f.rest(),
                };
                ContentPart::ImageUrl {
                    image_url,
                    extra: map,
                }
            }
            ("input_audio", Some(Value::Object(inner))) => {
                let mut f = Fields::of(inner, "input_audio");
                let input_audio = InputAudio {
                    data: f.string("data").unwrap_or_default(),
                    format: f.string("format").unwrap_or_default(),
                    extra: f.rest(),
                };
                ContentPart::InputAudio {
                    input_audio,
                    extra: map,
                }
            }
            ("file", Some(Value::Object(inner))) => {
                let mut f = Fields::of(inner, "file");
                let file = FileRef {
                    file_id: f.string("file_id"),
                    file_data: f.string("file_data"),
                    filename: f.string("filename"),
                    extra: f.rest(),
                };
                ContentPart::File { file, extra: map }
            }
            (_, payload) => {
                // Unknown type or unexpected shape: put everything back, keep it raw.
                if let Some(payload) = payload {
                    map.insert(kind.clone(), payload);
                }
                map.insert("type".to_owned(), Value::String(kind));
                ContentPart::Other(Value::Object(map))
            }
        }
    }

    /// The part as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        match self {
            ContentPart::Text { text, extra } => {
                out.set("type", "text");
                out.set("text", text.as_str());
                out.finish(extra)
            }
            ContentPart::ImageUrl { image_url, extra } => {
                let mut inner = Out::default();
                inner.set("url", image_url.url.as_str());
                inner.opt("detail", image_url.detail.as_deref());
                out.set("type", "image_url");
                out.set("image_url", inner.finish(&image_url.extra));
                out.finish(extra)
            }
            ContentPart::InputAudio { input_audio, extra } => {
                let mut inner = Out::default();
                inner.set("data", input_audio.data.as_str());
                inner.set("format", input_audio.format.as_str());
                out.set("type", "input_audio");
                out.set("input_audio", inner.finish(&input_audio.extra));
                out.finish(extra)
            }
            ContentPart::File { file, extra } => {
                let mut inner = Out::default();
                inner.opt("file_id", file.file_id.as_deref());
                inner.opt("file_data", file.file_data.as_deref());
                inner.opt("filename", file.filename.as_deref());
                out.set("type", "file");
                out.set("file", inner.finish(&file.extra));
                out.finish(extra)
            }
            ContentPart::Other(value) => value.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Tool calls
// ---------------------------------------------------------------------------

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
    fn default() -> ToolCall {
        ToolCall {
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
                Some(self.arguments.clone()),
            )
        })
    }

    fn from_map(map: Map<String, Value>) -> FunctionCall {
        let mut f = Fields::of(map, "tool call function");
        let name = f.string("name").unwrap_or_default();
        let arguments = arguments_text(&mut f).unwrap_or_default();
        FunctionCall {
            name,
            arguments,
            extra: f.rest(),
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
    match f.take_if("arguments", |v| {
        v.is_string() || v.is_object() || v.is_array()
    })? {
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

impl ToolCall {
    /// A function tool call.
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> ToolCall {
        ToolCall {
            id: id.into(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
                extra: Map::new(),
            },
            ..ToolCall::default()
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
    pub fn from_json(value: Value) -> Result<ToolCall, Error> {
        ToolCall::decode(value).map_err(Bad::into_error)
    }

    fn decode(value: Value) -> Res<ToolCall> {
        let mut f = Fields::new(value, "tool call")?;
        let id = f.string("id").unwrap_or_default();
        let kind = f.string("type").unwrap_or_else(|| "function".to_owned());
        let function = f
            .object("function")?
            .map(FunctionCall::from_map)
            .unwrap_or_default();
        Ok(ToolCall {
            id,
            kind,
            function,
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

fn decode_tool_calls(f: &mut Fields) -> Res<Vec<ToolCall>> {
    f.array("tool_calls")?
        .unwrap_or_default()
        .into_iter()
        .map(ToolCall::decode)
        .collect()
}

fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(calls.iter().map(ToolCall::to_json).collect())
}

/// One fragment of a streamed tool call (`delta.tool_calls[]`).
///
/// Usually only the first fragment of a call has `id`, `type` and `function.name`; the
/// following ones carry pieces of `function.arguments`. Fragments of one call share an
/// `index`, which some servers (Gemini, some proxies) leave out. The
/// [`Accumulator`](crate::stream::Accumulator) merges them.
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
    fn decode(value: Value) -> Res<ToolCallDelta> {
        let mut f = Fields::new(value, "tool call delta")?;
        let index = f.u64("index");
        let id = f.string("id");
        let kind = f.string("type");
        let function = f.object("function")?.map(|map| {
            let mut f = Fields::of(map, "tool call delta function");
            let name = f.string("name");
            let arguments = arguments_text(&mut f);
            FunctionCallDelta {
                name,
                arguments,
                extra: f.rest(),
            }
        });
        Ok(ToolCallDelta {
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

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

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
    pub fn new(role: impl Into<Role>, content: impl Into<Content>) -> Message {
        Message {
            role: role.into(),
            content: Some(content.into()),
            ..Message::default()
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<Content>) -> Message {
        Message::new(Role::System, content)
    }

    /// A `developer` message.
    pub fn developer(content: impl Into<Content>) -> Message {
        Message::new(Role::Developer, content)
    }

    /// A `user` message: text, or a `Vec` of [`ContentPart`]s.
    pub fn user(content: impl Into<Content>) -> Message {
        Message::new(Role::User, content)
    }

    /// An `assistant` message (a previous answer of the model).
    pub fn assistant(content: impl Into<Content>) -> Message {
        Message::new(Role::Assistant, content)
    }

    /// An `assistant` message that only calls tools (`"content": null`).
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Message {
        Message {
            role: Role::Assistant,
            tool_calls,
            ..Message::default()
        }
    }

    /// A `tool` message: the result of the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> Message {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Message::new(Role::Tool, content)
        }
    }

    /// Sets the participant `name`.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Message {
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
    pub fn from_json(value: Value) -> Result<Message, Error> {
        object_of(value, "message")
            .and_then(Message::decode)
            .map_err(Bad::into_error)
    }

    fn decode(map: Map<String, Value>) -> Res<Message> {
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
        let tool_calls = decode_tool_calls(&mut f)?;
        let tool_call_id = f.string("tool_call_id");
        let refusal = f.string("refusal");
        let reasoning_content = f.string("reasoning_content");
        let reasoning = f.string("reasoning");
        Ok(Message {
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
            out.set("tool_calls", tool_calls_json(&self.tool_calls));
        }
        out.opt("tool_call_id", self.tool_call_id.as_deref());
        out.opt("refusal", self.refusal.as_deref());
        out.opt("reasoning_content", self.reasoning_content.as_deref());
        out.opt("reasoning", self.reasoning.as_deref());
        out.finish(&self.extra)
    }
}

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

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
            Stop::One(stop) => Value::from(stop.as_str()),
            Stop::Many(stops) => Value::from(stops.clone()),
        }
    }
}

impl From<&str> for Stop {
    fn from(stop: &str) -> Stop {
        Stop::One(stop.to_owned())
    }
}

impl From<String> for Stop {
    fn from(stop: String) -> Stop {
        Stop::One(stop)
    }
}

impl From<Vec<String>> for Stop {
    fn from(stops: Vec<String>) -> Stop {
        Stop::Many(stops)
    }
}

impl From<Vec<&str>> for Stop {
    fn from(stops: Vec<&str>) -> Stop {
        Stop::Many(stops.into_iter().map(str::to_owned).collect())
    }
}

impl<const N: usize> From<[&str; N]> for Stop {
    fn from(stops: [&str; N]) -> Stop {
        Stop::Many(stops.into_iter().map(str::to_owned).collect())
    }
}

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
    ) -> Tool {
        let description = description.into();
        Tool {
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
    pub fn strict(mut self, strict: bool) -> Tool {
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
    pub fn function(name: impl Into<String>) -> ToolChoice {
        ToolChoice::Function(name.into())
    }

    /// The parameter as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            ToolChoice::Auto => Value::from("auto"),
            ToolChoice::None => Value::from("none"),
            ToolChoice::Required => Value::from("required"),
            ToolChoice::Function(name) => {
                let mut function = Map::new();
                function.insert("name".to_owned(), Value::from(name.as_str()));
                let mut out = Out::default();
                out.set("type", "function");
                out.set("function", function);
                out.finish(&Map::new())
            }
            ToolChoice::Other(value) => value.clone(),
        }
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
    pub fn json_schema(name: impl Into<String>, schema: Value) -> ResponseFormat {
        ResponseFormat::JsonSchema {
            name: name.into(),
            schema,
            strict: None,
        }
    }

    /// The parameter as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        match self {
            ResponseFormat::Text => out.set("type", "text"),
            ResponseFormat::JsonObject => out.set("type", "json_object"),
            ResponseFormat::JsonSchema {
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
            ResponseFormat::Other(value) => return value.clone(),
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
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            model: model.into(),
            messages,
            ..ChatRequest::default()
        }
    }

    /// Sets `temperature`.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> ChatRequest {
        self.temperature = Some(temperature);
        self
    }

    /// Sets `top_p`.
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> ChatRequest {
        self.top_p = Some(top_p);
        self
    }

    /// Sets `n`, the number of choices.
    #[must_use]
    pub fn n(mut self, n: u32) -> ChatRequest {
        self.n = Some(n);
        self
    }

    /// Sets `stop`: a string, a `Vec` or an array of strings.
    #[must_use]
    pub fn stop(mut self, stop: impl Into<Stop>) -> ChatRequest {
        self.stop = Some(stop.into());
        self
    }

    /// Sets `max_tokens`.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> ChatRequest {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `max_completion_tokens`.
    #[must_use]
    pub fn max_completion_tokens(mut self, max_completion_tokens: u32) -> ChatRequest {
        self.max_completion_tokens = Some(max_completion_tokens);
        self
    }

    /// Sets `presence_penalty`.
    #[must_use]
    pub fn presence_penalty(mut self, penalty: f64) -> ChatRequest {
        self.presence_penalty = Some(penalty);
        self
    }

    /// Sets `frequency_penalty`.
    #[must_use]
    pub fn frequency_penalty(mut self, penalty: f64) -> ChatRequest {
        self.frequency_penalty = Some(penalty);
        self
    }

    /// Adds one `logit_bias` entry for a token id.
    #[must_use]
    pub fn logit_bias(mut self, token_id: u64, bias: f64) -> ChatRequest {
        self.logit_bias.insert(token_id.to_string(), bias);
        self
    }

    /// Sets `logprobs`.
    #[must_use]
    pub fn logprobs(mut self, logprobs: bool) -> ChatRequest {
        self.logprobs = Some(logprobs);
        self
    }

    /// Sets `top_logprobs` (and `logprobs: true`, which it requires).
    #[must_use]
    pub fn top_logprobs(mut self, top_logprobs: u32) -> ChatRequest {
        self.logprobs = Some(true);
        self.top_logprobs = Some(top_logprobs);
        self
    }

    /// Sets `seed`.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> ChatRequest {
        self.seed = Some(seed);
        self
    }

    /// Sets `user`.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> ChatRequest {
        self.user = Some(user.into());
        self
    }

    /// Adds one tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> ChatRequest {
        self.tools.push(tool);
        self
    }

    /// Replaces the tools.
    #[must_use]
    pub fn tools(mut self, tools: Vec<Tool>) -> ChatRequest {
        self.tools = tools;
        self
    }

    /// Sets `tool_choice`.
    #[must_use]
    pub fn tool_choice(mut self, tool_choice: ToolChoice) -> ChatRequest {
        self.tool_choice = Some(tool_choice);
        self
    }

    /// Sets `parallel_tool_calls`.
    #[must_use]
    pub fn parallel_tool_calls(mut self, parallel: bool) -> ChatRequest {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// Sets `response_format`.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> ChatRequest {
        self.response_format = Some(format);
        self
    }

    /// Sets `reasoning_effort`.
    #[must_use]
    pub fn reasoning_effort(mut self, effort: impl Into<String>) -> ChatRequest {
        self.reasoning_effort = Some(effort.into());
        self
    }

    /// Sets one extra body field (overriding a typed field of the same name).
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> ChatRequest {
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

// ---------------------------------------------------------------------------
// Usage and log probabilities
// ---------------------------------------------------------------------------

/// Token counts (`usage`). Every count is optional because servers send partial objects
/// (`"usage": {}` included).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: Option<u64>,
    /// Tokens generated.
    pub completion_tokens: Option<u64>,
    /// Prompt plus completion tokens.
    pub total_tokens: Option<u64>,
    /// Breakdown of the prompt tokens.
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Breakdown of the completion tokens.
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Unknown fields (OpenRouter's `cost`, ...).
    pub extra: Map<String, Value>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from the prompt cache.
    pub cached_tokens: Option<u64>,
    /// Audio input tokens.
    pub audio_tokens: Option<u64>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompletionTokensDetails {
    /// Tokens spent on reasoning.
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    pub audio_tokens: Option<u64>,
    /// Predicted-output tokens that appeared in the completion.
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted-output tokens that did not.
    pub rejected_prediction_tokens: Option<u64>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl Usage {
    /// Decodes a usage object. Fields of the wrong type are kept in `extra`.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object.
    pub fn from_json(value: Value) -> Result<Usage, Error> {
        object_of(value, "usage")
            .map(Usage::from_map)
            .map_err(Bad::into_error)
    }

    fn from_map(map: Map<String, Value>) -> Usage {
        let mut f = Fields::of(map, "usage");
        Usage {
            prompt_tokens: f.u64("prompt_tokens"),
            completion_tokens: f.u64("completion_tokens"),
            total_tokens: f.u64("total_tokens"),
            prompt_tokens_details: f.loose_object("prompt_tokens_details").map(|map| {
                let mut f = Fields::of(map, "prompt_tokens_details");
                PromptTokensDetails {
                    cached_tokens: f.u64("cached_tokens"),
                    audio_tokens: f.u64("audio_tokens"),
                    extra: f.rest(),
                }
            }),
            completion_tokens_details: f.loose_object("completion_tokens_details").map(|map| {
                let mut f = Fields::of(map, "completion_tokens_details");
                CompletionTokensDetails {
                    reasoning_tokens: f.u64("reasoning_tokens"),
                    audio_tokens: f.u64("audio_tokens"),
                    accepted_prediction_tokens: f.u64("accepted_prediction_tokens"),
                    rejected_prediction_tokens: f.u64("rejected_prediction_tokens"),
                    extra: f.rest(),
                }
            }),
            extra: f.rest(),
        }
    }

    /// True for a usage object without any field (`"usage": {}`).
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// The usage as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.opt("prompt_tokens", self.prompt_tokens);
        out.opt("completion_tokens", self.completion_tokens);
        out.opt("total_tokens", self.total_tokens);
        if let Some(details) = &self.prompt_tokens_details {
            let mut inner = Out::default();
            inner.opt("cached_tokens", details.cached_tokens);
            inner.opt("audio_tokens", details.audio_tokens);
            out.set("prompt_tokens_details", inner.finish(&details.extra));
        }
        if let Some(details) = &self.completion_tokens_details {
            let mut inner = Out::default();
            inner.opt("reasoning_tokens", details.reasoning_tokens);
            inner.opt("audio_tokens", details.audio_tokens);
            inner.opt(
                "accepted_prediction_tokens",
                details.accepted_prediction_tokens,
            );
            inner.opt(
                "rejected_prediction_tokens",
                details.rejected_prediction_tokens,
            );
            out.set("completion_tokens_details", inner.finish(&details.extra));
        }
        out.finish(&self.extra)
    }
}

/// Log probabilities of a choice (`choices[].logprobs`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Logprobs {
    /// One entry per content token.
    pub content: Option<Vec<TokenLogprob>>,
    /// One entry per refusal token.
    pub refusal: Option<Vec<TokenLogprob>>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The log probability of one output token.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenLogprob {
    /// The token text.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes (a token may hold part of a character).
    pub bytes: Option<Vec<u8>>,
    /// The most likely alternatives at this position.
    pub top_logprobs: Vec<TopLogprob>,
    /// Unknown fields (llama.cpp's token `id`, ...).
    pub extra: Map<String, Value>,
}

/// One alternative in [`TokenLogprob::top_logprobs`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopLogprob {
    /// The token text.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes.
    pub bytes: Option<Vec<u8>>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

fn take_bytes(f: &mut Fields) -> Option<Vec<u8>> {
    let byte = |v: &Value| v.as_u64().and_then(|b| u8::try_from(b).ok());
    let value = f.take_if("bytes", |v| {
        v.as_array()
            .is_some_and(|items| items.iter().all(|b| byte(b).is_some()))
    })?;
    value
        .as_array()
        .map(|items| items.iter().filter_map(byte).collect())
}

fn bytes_json(bytes: &[u8]) -> Value {
    Value::Array(bytes.iter().map(|&b| Value::from(b)).collect())
}

impl Logprobs {
    fn from_map(map: Map<String, Value>) -> Logprobs {
        let mut f = Fields::of(map, "logprobs");
        let list = |f: &mut Fields, key: &str| {
            f.loose_objects(key)
                .map(|items| items.into_iter().map(TokenLogprob::from_map).collect())
        };
        Logprobs {
            content: list(&mut f, "content"),
            refusal: list(&mut f, "refusal"),
            extra: f.rest(),
        }
    }

    /// The log probabilities as JSON.
    pub fn to_json(&self) -> Value {
        let list = |items: &Option<Vec<TokenLogprob>>| {
            items
                .as_ref()
                .map(|items| Value::Array(items.iter().map(TokenLogprob::to_json).collect()))
        };
        let mut out = Out::default();
        out.opt("content", list(&self.content));
        out.opt("refusal", list(&self.refusal));
        out.finish(&self.extra)
    }
}

impl TokenLogprob {
    fn from_map(map: Map<String, Value>) -> TokenLogprob {
        let mut f = Fields::of(map, "token logprob");
        TokenLogprob {
            token: f.string("token").unwrap_or_default(),
            logprob: f.f64("logprob").unwrap_or_default(),
            bytes: take_bytes(&mut f),
            top_logprobs: f
                .loose_objects("top_logprobs")
                .unwrap_or_default()
                .into_iter()
                .map(|map| {
                    let mut f = Fields::of(map, "top logprob");
                    TopLogprob {
                        token: f.string("token").unwrap_or_default(),
                        logprob: f.f64("logprob").unwrap_or_default(),
                        bytes: take_bytes(&mut f),
                        extra: f.rest(),
                    }
                })
                .collect(),
            extra: f.rest(),
        }
    }

    /// The entry as JSON (`bytes` is written as `null` when unknown, as OpenAI does).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("token", self.token.as_str());
        out.set("logprob", self.logprob);
        out.set(
            "bytes",
            self.bytes.as_deref().map_or(Value::Null, bytes_json),
        );
        out.set(
            "top_logprobs",
            Value::Array(self.top_logprobs.iter().map(TopLogprob::to_json).collect()),
        );
        out.finish(&self.extra)
    }
}

impl TopLogprob {
    /// The entry as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("token", self.token.as_str());
        out.set("logprob", self.logprob);
        out.set(
            "bytes",
            self.bytes.as_deref().map_or(Value::Null, bytes_json),
        );
        out.finish(&self.extra)
    }
}

fn decode_usage(f: &mut Fields) -> Option<Usage> {
    f.loose_object("usage").map(Usage::from_map)
}

fn decode_finish_reason(f: &mut Fields) -> Option<String> {
    f.string("finish_reason")
        .filter(|reason| !reason.is_empty())
}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

/// A chat completion response (the body of a non-streaming request), or the completion an
/// [`Accumulator`](crate::stream::Accumulator) rebuilt from a stream.
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
    /// [module docs](self)); its raw text is the offending JSON.
    pub fn from_json(value: Value) -> Result<ChatCompletion, Error> {
        ChatCompletion::decode(value).map_err(Bad::into_error)
    }

    /// Parses and decodes a response body. Errors carry the whole text as raw text.
    ///
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<ChatCompletion, Error> {
        decode_str(text, "chat completion", ChatCompletion::decode)
    }

    fn decode(value: Value) -> Res<ChatCompletion> {
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
        Ok(ChatCompletion {
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
    fn decode(value: Value, position: usize) -> Res<Choice> {
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
        Ok(Choice {
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

// ---------------------------------------------------------------------------
// Stream chunks
// ---------------------------------------------------------------------------

/// One chunk of a streamed chat completion (the JSON of one SSE `data:` line).
///
/// ```
/// use chatstream::ChatChunk;
///
/// let chunk = ChatChunk::from_json_str(
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",
///        "choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
/// )?;
/// assert_eq!(chunk.content(), "Hel");
///
/// // Azure's first chunk: no choices, empty id and model, prompt filter results.
/// let azure = ChatChunk::from_json_str(
///     r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}"#,
/// )?;
/// assert!(azure.choices.is_empty());
/// assert!(azure.extra.contains_key("prompt_filter_results"));
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatChunk {
    /// The completion id (the same on every chunk; `""` on Azure's first chunk).
    pub id: String,
    /// `"chat.completion.chunk"` (as sent; `to_json` writes it when empty).
    pub object: String,
    /// Creation time, Unix seconds (0 if unknown).
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// Backend configuration fingerprint.
    pub system_fingerprint: Option<String>,
    /// The service tier used.
    pub service_tier: Option<String>,
    /// The choice deltas of this chunk; empty on usage-only and Azure filter chunks.
    pub choices: Vec<ChunkChoice>,
    /// Token counts (usually only on the last chunk, with `stream_options.include_usage`).
    pub usage: Option<Usage>,
    /// Unknown fields (`obfuscation`, `prompt_filter_results`, `timings`, ...).
    pub extra: Map<String, Value>,
}

/// One choice delta of a [`ChatChunk`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkChoice {
    /// The choice index (its position in `choices` when the server sent none).
    pub index: u64,
    /// What this chunk adds to the choice's message; empty when the server sent no `delta`.
    pub delta: Delta,
    /// Set on the last chunk of the choice; `None` before (and for `""`).
    pub finish_reason: Option<String>,
    /// Log probabilities of this chunk's tokens.
    pub logprobs: Option<Logprobs>,
    /// Unknown fields (Azure's `content_filter_results`, OpenRouter's `native_finish_reason`, ...).
    pub extra: Map<String, Value>,
}

/// The part of a message carried by one [`ChunkChoice`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    /// The role, usually on the first chunk only.
    pub role: Option<Role>,
    /// A piece of content text.
    pub content: Option<String>,
    /// A piece of refusal text.
    pub refusal: Option<String>,
    /// A piece of reasoning text (`reasoning_content`: DeepSeek, llama.cpp, Qwen, vLLM).
    pub reasoning_content: Option<String>,
    /// A piece of reasoning text (`reasoning`: OpenRouter, newer vLLM).
    pub reasoning: Option<String>,
    /// Tool call fragments.
    pub tool_calls: Vec<ToolCallDelta>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl ChatChunk {
    /// Decodes a chunk that was already parsed as JSON, taking its fields out of `value`.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object or a choice has the wrong shape (see the
    /// [module docs](self)); its raw text is the offending JSON.
    pub fn from_json(value: Value) -> Result<ChatChunk, Error> {
        ChatChunk::decode(value).map_err(Bad::into_error)
    }

    /// Parses and decodes the data of one SSE event. Errors carry the whole text as raw text.
    ///
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<ChatChunk, Error> {
        decode_str(text, "chat completion chunk", ChatChunk::decode)
    }

    fn decode(value: Value) -> Res<ChatChunk> {
        let mut f = Fields::new(value, "chat completion chunk")?;
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
            .map(|(position, choice)| ChunkChoice::decode(choice, position))
            .collect::<Res<_>>()?;
        let usage = decode_usage(&mut f);
        Ok(ChatChunk {
            id,
            object,
            created,
            model,
            system_fingerprint,
            service_tier,
            choices,
            usage,
            extra: f.rest(),
        })
    }

    /// The delta of the first choice.
    pub fn delta(&self) -> Option<&Delta> {
        self.choices.first().map(|choice| &choice.delta)
    }

    /// The content piece of the first choice (`""` when it has none), ready to print.
    pub fn content(&self) -> &str {
        self.delta()
            .and_then(|delta| delta.content.as_deref())
            .unwrap_or_default()
    }

    /// The chunk as JSON (`"object": "chat.completion.chunk"` when empty).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("id", self.id.as_str());
        let object = if self.object.is_empty() {
            "chat.completion.chunk"
        } else {
            &self.object
        };
        out.set("object", object);
        out.set("created", self.created);
        out.set("model", self.model.as_str());
        out.set(
            "choices",
            Value::Array(self.choices.iter().map(ChunkChoice::to_json).collect()),
        );
        out.opt("system_fingerprint", self.system_fingerprint.as_deref());
        out.opt("service_tier", self.service_tier.as_deref());
        out.opt("usage", self.usage.as_ref().map(Usage::to_json));
        out.finish(&self.extra)
    }
}

impl ChunkChoice {
    fn decode(value: Value, position: usize) -> Res<ChunkChoice> {
        let mut f = Fields::new(value, "chunk choice")?;
        let index = f.u64("index").unwrap_or(position as u64);
        let delta = match f.object("delta")? {
            Some(map) => Delta::decode(map)?,
            None => Delta::default(),
        };
        let finish_reason = decode_finish_reason(&mut f);
        let logprobs = f.loose_object("logprobs").map(Logprobs::from_map);
        Ok(ChunkChoice {
            index,
            delta,
            finish_reason,
            logprobs,
            extra: f.rest(),
        })
    }

    /// The choice as JSON (`finish_reason` is always written, `null` until the end).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("index", self.index);
        out.set("delta", self.delta.to_json());
        out.set("finish_reason", self.finish_reason.as_deref());
        out.opt("logprobs", self.logprobs.as_ref().map(Logprobs::to_json));
        out.finish(&self.extra)
    }
}

impl Delta {
    fn decode(map: Map<String, Value>) -> Res<Delta> {
        let mut f = Fields::of(map, "delta");
        let role = f.string("role").map(Role::from);
        let content = f.string("content");
        let refusal = f.string("refusal");
        let reasoning_content = f.string("reasoning_content");
        let reasoning = f.string("reasoning");
        let tool_calls = f
            .array("tool_calls")?
            .unwrap_or_default()
            .into_iter()
            .map(ToolCallDelta::decode)
            .collect::<Res<_>>()?;
        Ok(Delta {
            role,
            content,
            refusal,
            reasoning_content,
            reasoning,
            tool_calls,
            extra: f.rest(),
        })
    }

    /// The delta as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.opt("role", self.role.as_ref().map(Role::as_str));
        out.opt("content", self.content.as_deref());
        out.opt("refusal", self.refusal.as_deref());
        out.opt("reasoning_content", self.reasoning_content.as_deref());
        out.opt("reasoning", self.reasoning.as_deref());
        if !self.tool_calls.is_empty() {
            out.set(
                "tool_calls",
                Value::Array(self.tool_calls.iter().map(ToolCallDelta::to_json).collect()),
            );
        }
        out.finish(&self.extra)
    }
}

// ---------------------------------------------------------------------------
// Merging unknown fields across chunks (used by the Accumulator)
// ---------------------------------------------------------------------------

/// Fields that are pure transport noise and are not kept in an accumulated completion:
/// `obfuscation` is random padding OpenAI adds to every chunk.
const NOISE_FIELDS: &[&str] = &["obfuscation"];

/// Keys that identify rather than stream: their string values are never concatenated.
const IDENTITY_FIELDS: &[&str] = &["id", "type", "index", "name", "tool_call_id"];

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Merges the unknown fields of a chunk or a chunk choice (metadata such as `timings`,
/// `provider`, `prompt_filter_results`, `content_filter_results`) into `acc`: for each field,
/// the last non-empty value wins. `null`, `""`, `[]` and `{}` never replace a value, and
/// noise fields (`obfuscation`) are dropped.
pub(crate) fn merge_metadata_fields(acc: &mut Map<String, Value>, new: &Map<String, Value>) {
    for (key, value) in new {
        if NOISE_FIELDS.contains(&key.as_str()) {
            continue;
        }
        match acc.get_mut(key) {
            // The same value as before (Azure's `content_filter_results` and OpenRouter's
            // `provider` arrive on every chunk): nothing changes, so nothing is cloned.
            Some(existing) if existing == value => {}
            Some(existing) => {
                if !is_empty_value(value) {
                    existing.clone_from(value);
                }
            }
            None => {
                acc.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Merges the unknown fields of a delta (or of a tool call fragment) into `acc`, treating them
/// as streamed, the way the official SDKs do: strings are concatenated (except identity keys
/// `id`, `type`, `index`, `name` and `tool_call_id`, where the first non-empty value stays), arrays are
/// appended (elements with a matching integer `index` are merged instead), objects are merged
/// key by key, and any other value replaces the previous one. `null` never replaces a value,
/// and a top-level `null` is not recorded at all.
pub(crate) fn merge_streamed_fields(acc: &mut Map<String, Value>, new: &Map<String, Value>) {
    // A top-level `null` in a delta means "nothing new"; nested nulls are kept as data.
    merge_object(acc, new, false);
}

fn merge_object(acc: &mut Map<String, Value>, new: &Map<String, Value>, keep_nulls: bool) {
    for (key, value) in new {
        match acc.get_mut(key) {
            Some(existing) => merge_streamed_value(key, existing, value),
            None if value.is_null() && !keep_nulls => {}
            None => {
                acc.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Settles a choice assembled from chunk choices, so that its `extra` maps never override
/// accumulated values in `to_json`.
///
/// - A `message` sent inside a stream chunk is dropped: the message is the accumulated one.
/// - `name` and `tool_call_id` strings from deltas move to their typed fields.
/// - Known delta fields that arrived with an unexpected type (kept in `extra`) give way to
///   the typed value when there is one; except that `content` sent as an array of parts
///   (Mistral's thinking parts) becomes [`Content::Parts`], followed by the streamed text.
pub(crate) fn settle_streamed_choice(choice: &mut Choice) {
    choice.extra.remove("message");
    let message = &mut choice.message;
    let mut f = Fields::of(std::mem::take(&mut message.extra), "message");
    if message.name.is_none() {
        message.name = f.string("name");
    }
    if message.tool_call_id.is_none() {
        message.tool_call_id = f.string("tool_call_id");
    }
    let mut extra = f.rest();
    if let Some(Value::Array(parts)) = extra.get("content") {
        let mut parts: Vec<ContentPart> =
            parts.iter().cloned().map(ContentPart::from_json).collect();
        match message.content.take() {
            Some(Content::Text(text)) => parts.push(ContentPart::text(text)),
            Some(Content::Parts(more)) => parts.extend(more),
            None => {}
        }
        message.content = Some(Content::Parts(parts));
    }
    let typed = [
        ("content", message.content.is_some()),
        ("role", true),
        ("refusal", message.refusal.is_some()),
        ("reasoning_content", message.reasoning_content.is_some()),
        ("reasoning", message.reasoning.is_some()),
    ];
    for (key, present) in typed {
        if present {
            extra.remove(key);
        }
    }
    message.extra = extra;
}

/// Appends `new` to `acc`, except that an object element with an integer `index` that matches
/// an element already in `acc` is merged into it (OpenRouter's `reasoning_details` fragments).
fn merge_streamed_array(acc: &mut Vec<Value>, new: &[Value]) {
    let index_of = |value: &Value| value.get("index").and_then(Value::as_u64);
    for item in new {
        let target = index_of(item).and_then(|index| {
            acc.iter_mut()
                .rev()
                .find(|existing| index_of(existing) == Some(index))
        });
        match (target, item) {
            (Some(Value::Object(existing)), Value::Object(item)) => {
                merge_object(existing, item, true);
            }
            _ => acc.push(item.clone()),
        }
    }
}

fn merge_streamed_value(key: &str, acc: &mut Value, new: &Value) {
    match (acc, new) {
        (_, Value::Null) => {}
        (Value::String(acc), Value::String(new)) => {
            if !IDENTITY_FIELDS.contains(&key) {
                acc.push_str(new);
            } else if acc.is_empty() {
                acc.clone_from(new);
            }
        }
        (Value::Array(acc), Value::Array(new)) => merge_streamed_array(acc, new),
        (Value::Object(acc), Value::Object(new)) => merge_object(acc, new, true),
        (acc, new) => *acc = new.clone(),
    }
}

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/// A model entry of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    /// The model name to put in [`ChatRequest::model`].
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
    pub fn from_json(value: Value) -> Result<Model, Error> {
        Model::decode(value).map_err(Bad::into_error)
    }

    fn decode(value: Value) -> Res<Model> {
        let mut f = Fields::new(value, "model")?;
        Ok(Model {
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
        out.set(
            "object",
            if self.object.is_empty() {
                "model"
            } else {
                &self.object
            },
        );
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
    pub fn from_json(value: Value) -> Result<ModelList, Error> {
        ModelList::decode(value).map_err(Bad::into_error)
    }

    /// Parses and decodes a models list body. Errors carry the whole text as raw text.
    ///
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<ModelList, Error> {
        decode_str(text, "model list", ModelList::decode)
    }

    fn decode(value: Value) -> Res<ModelList> {
        let mut f = Fields::new(value, "model list")?;
        let object = f.string("object").unwrap_or_default();
        let data = f
            .array("data")?
            .unwrap_or_default()
            .into_iter()
            .map(Model::decode)
            .collect::<Res<_>>()?;
        Ok(ModelList {
            object,
            data,
            extra: f.rest(),
        })
    }

    /// The list as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set(
            "object",
            if self.object.is_empty() {
                "list"
            } else {
                &self.object
            },
        );
        out.set(
            "data",
            Value::Array(self.data.iter().map(Model::to_json).collect()),
        );
        out.finish(&self.extra)
    }
}

// ---------------------------------------------------------------------------
// API error bodies
// ---------------------------------------------------------------------------

/// The fields of an API error body `{"error": {"message", "type", "code", "param"}}`.
///
/// Normalised: `code` is text whether it came as a string (OpenAI, LiteLLM) or an integer
/// (llama.cpp, OpenRouter); the placeholder string `"None"` (LiteLLM), `""` and `null` all
/// become `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ApiErrorFields {
    /// The human-readable message.
    pub(crate) message: Option<String>,
    /// The error type (`"invalid_request_error"`, ...).
    pub(crate) kind: Option<String>,
    /// The error code (`"rate_limit_exceeded"`, `"400"`, ...).
    pub(crate) code: Option<String>,
    /// The parameter at fault.
    pub(crate) param: Option<String>,
}

/// A string field of an error object; numbers and booleans become text; `"None"`, `""`
/// and anything else become `None`.
fn error_text(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty() && text != "None").then_some(text)
}

impl ApiErrorFields {
    fn from_error_value(error: &Value) -> Option<ApiErrorFields> {
        match error {
            Value::Object(map) => Some(ApiErrorFields {
                message: error_text(map.get("message")),
                kind: error_text(map.get("type")),
                code: error_text(map.get("code")),
                param: error_text(map.get("param")),
            }),
            Value::String(message) if !message.is_empty() => Some(ApiErrorFields {
                message: Some(message.clone()),
                ..ApiErrorFields::default()
            }),
            _ => None,
        }
    }
}

/// Parses an error response body: `{"error": {...}}`, `{"error": "message"}`, or the same
/// wrapped in a one-element array (Gemini's OpenAI endpoint). `None` for any other body
/// (including FastAPI's `{"detail": ...}`), so the caller can fall back to the raw text.
pub(crate) fn parse_error_body(body: &str) -> Option<ApiErrorFields> {
    let value: Value = serde_json::from_str(body).ok()?;
    match &value {
        Value::Array(items) => items.first().and_then(stream_error),
        _ => stream_error(&value),
    }
}

/// The error of an `event: error` whose data is the error object itself, as the Responses API
/// sends it (`{"type": "error", "code": .., "message": .., "param": ..}`); `None` without a
/// message. Its `type` is the event's type (`"error"`), not an error type, so it is dropped.
pub(crate) fn parse_flat_error(body: &str) -> Option<ApiErrorFields> {
    let value: Value = serde_json::from_str(body).ok()?;
    let mut fields = ApiErrorFields::from_error_value(&value)?;
    if fields.kind.as_deref() == Some("error") {
        fields.kind = None;
    }
    fields.message.is_some().then_some(fields)
}

/// Detects an error in a parsed stream payload: an object with an `"error"` key holding an
/// object or a non-empty string. This covers both `data: {"error": {...}}` and an error inside
/// an otherwise normal chunk (OpenRouter: `{"id": .., "choices": [..], "error": {...}}`).
pub(crate) fn stream_error(payload: &Value) -> Option<ApiErrorFields> {
    ApiErrorFields::from_error_value(payload.as_object()?.get("error")?)
}

/// What the data of one chat stream event holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamData {
    /// A normal chunk.
    Chunk(ChatChunk),
    /// An error payload. `chunk` is the rest of the payload decoded as a chunk when the error
    /// came inside an otherwise normal chunk (it has fields besides `error` and decodes).
    Error {
        /// The error fields.
        error: ApiErrorFields,
        /// The chunk around the error, if any.
        chunk: Option<ChatChunk>,
    },
}

/// Parses the data of one stream event (not `[DONE]`) into a chunk or an error.
///
/// Errors (invalid JSON, a chunk of the wrong shape) carry the whole data text as raw text.
pub(crate) fn parse_stream_data(data: &str) -> Result<StreamData, Error> {
    decode_str(data, "chat completion chunk", |value| {
        let Some(error) = stream_error(&value) else {
            return ChatChunk::decode(value).map(StreamData::Chunk);
        };
        let has_more = value.as_object().is_some_and(|map| map.len() > 1);
        let chunk = if has_more {
            ChatChunk::decode(value).ok()
        } else {
            None
        };
        Ok(StreamData::Error { error, chunk })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Decodes `input` with `decode`, checks `to_json` gives `expected` back.
    #[track_caller]
    #[allow(clippy::needless_pass_by_value)] // callers pass `json!(..)` literals
    fn check_round_trip<T: std::fmt::Debug + PartialEq>(
        input: Value,
        decode: fn(Value) -> Result<T, Error>,
        encode: fn(&T) -> Value,
    ) -> T {
        let decoded = decode(input.clone()).expect("decodes");
        assert_eq!(encode(&decoded), input, "to_json differs from the input");
        assert_eq!(decode(encode(&decoded)).expect("re-decodes"), decoded);
        decoded
    }

    #[track_caller]
    fn decode_error(
        result: Result<impl std::fmt::Debug, Error>,
        message_part: &str,
        raw_part: &str,
    ) {
        let error = result.expect_err("must fail");
        let shown = format!("{error} {error:?}");
        assert!(
            shown.contains(message_part),
            "{shown:?} lacks {message_part:?}"
        );
        // The raw text shows up in the Debug output, possibly escaped.
        let escaped = format!("{raw_part:?}");
        let escaped = &escaped[1..escaped.len() - 1];
        assert!(
            shown.contains(raw_part) || shown.contains(escaped),
            "{shown:?} lacks raw {raw_part:?}"
        );
    }

    // --- requests ------------------------------------------------------------------------

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

    #[test]
    fn content_parts_round_trip() {
        let parts = json!([
            {"type": "text", "text": "Describe", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"}},
            {"type": "file", "file": {"file_id": "file-1"}},
            {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
            {"type": "image_url", "image_url": "https://x/not-an-object.png"},
            {"type": 5, "text": "odd type"},
            {"text": "no type"},
            "a bare string"
        ]);
        let message = check_round_trip(
            json!({"role": "user", "content": parts}),
            Message::from_json,
            Message::to_json,
        );
        let Some(Content::Parts(parts)) = &message.content else {
            panic!("parts expected: {message:?}");
        };
        assert!(
            matches!(&parts[0], ContentPart::Text { text, extra } if text == "Describe" && extra.contains_key("cache_control"))
        );
        assert!(
            matches!(&parts[1], ContentPart::ImageUrl { image_url, .. } if image_url.detail.as_deref() == Some("low"))
        );
        assert!(
            matches!(&parts[2], ContentPart::InputAudio { input_audio, .. } if input_audio.format == "wav")
        );
        assert!(
            matches!(&parts[3], ContentPart::File { file, .. } if file.filename.as_deref() == Some("a.pdf"))
        );
        assert!(
            matches!(&parts[4], ContentPart::File { file, .. } if file.file_id.as_deref() == Some("file-1"))
        );
        assert!(matches!(&parts[5], ContentPart::Other(_)));
        assert!(matches!(&parts[6], ContentPart::Other(_)));
        assert!(matches!(&parts[7], ContentPart::Other(_)));
        assert!(matches!(&parts[8], ContentPart::Other(_)));
        assert!(matches!(&parts[9], ContentPart::Other(Value::String(_))));
        assert_eq!(message.text(), "Describe");

        let built = Message::user(vec![
            ContentPart::text("a"),
            ContentPart::image_url_with_detail("https://x/cat.png", "low"),
            ContentPart::input_audio("UklGRg==", "wav"),
            ContentPart::file_data("a.pdf", "data:application/pdf;base64,JVBER"),
            ContentPart::file_id("file-1"),
            ContentPart::image_url("https://x/dog.png"),
            ContentPart::text("b"),
        ]);
        assert_eq!(built.text(), "ab");
        assert_eq!(
            built.to_json()["content"][5],
            json!({"type": "image_url", "image_url": {"url": "https://x/dog.png"}})
        );
        assert_eq!(Message::from_json(built.to_json()).unwrap(), built);
    }

    #[test]
    fn roles() {
        for name in [
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
            "",
        ] {
            assert_eq!(Role::from(name).as_str(), name);
            assert_eq!(Role::from(name.to_owned()), Role::from(name));
        }
        assert_eq!(Role::from("ipython"), Role::Other("ipython".into()));
        assert_eq!(Role::Assistant.to_string(), "assistant");
        let message = check_round_trip(
            json!({"role": "ipython", "content": "x"}),
            Message::from_json,
            Message::to_json,
        );
        assert_eq!(message.role, Role::Other("ipython".into()));
    }

    // --- responses -------------------------------------------------------------------------

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

    #[test]
    fn wrong_shapes_are_decode_errors() {
        decode_error(
            ChatCompletion::from_json(json!([1, 2])),
            "expected a JSON object",
            "[1,2]",
        );
        decode_error(
            ChatChunk::from_json(json!("hi")),
            "expected a JSON object",
            "\"hi\"",
        );
        decode_error(
            ChatChunk::from_json_str("null"),
            "expected a JSON object",
            "null",
        );
        decode_error(
            ChatChunk::from_json_str("{\"id\": "),
            "invalid JSON",
            "{\"id\": ",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": 5})),
            "`choices` must be an array",
            "5",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": ["x"]})),
            "expected a JSON object",
            "\"x\"",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": [{"delta": "text"}]})),
            "`delta` must be an object",
            "\"text\"",
        );
        decode_error(
            ChatChunk::from_json(json!({"choices": [{"delta": {"tool_calls": {"index": 0}}}]})),
            "`tool_calls` must be an array",
            r#"{"index":0}"#,
        );
        decode_error(
            ChatChunk::from_json(
                json!({"choices": [{"delta": {"tool_calls": [{"function": "f"}]}}]}),
            ),
            "`function` must be an object",
            "\"f\"",
        );
        decode_error(
            ChatCompletion::from_json(json!({"choices": [{"message": [1]}]})),
            "`message` must be an object",
            "[1]",
        );
        // from_json_str carries the whole text.
        let text = r#"{"id":"c","choices":[{"delta":7}]}"#;
        decode_error(
            ChatChunk::from_json_str(text),
            "`delta` must be an object",
            r#"{"id":"c","#,
        );
        decode_error(
            ModelList::from_json(json!({"data": {}})),
            "`data` must be an array",
            "{}",
        );
        decode_error(Usage::from_json(json!(3)), "expected a JSON object", "3");
        decode_error(
            Message::from_json(json!(null)),
            "expected a JSON object",
            "null",
        );
    }

    // --- chunks --------------------------------------------------------------------------

    #[test]
    fn chunk_round_trip() {
        let input = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "service_tier": "default", "system_fingerprint": "fp_1", "obfuscation": "a1b2",
            "choices": [{"index": 0, "finish_reason": null, "logprobs": {"content": [], "refusal": []},
                "delta": {"role": "assistant", "content": "", "refusal": "No", "reasoning_content": "r", "reasoning": "q",
                    "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]
        });
        let chunk = check_round_trip(input, ChatChunk::from_json, ChatChunk::to_json);
        assert_eq!(chunk.content(), "");
        let delta = chunk.delta().unwrap();
        assert_eq!(delta.role, Some(Role::Assistant));
        assert_eq!(
            delta.tool_calls[0]
                .function
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("f")
        );
        assert_eq!(chunk.extra["obfuscation"], "a1b2");
    }

    #[test]
    fn lenient_chunks() {
        // No delta at all (Azure content filter chunk), usage null, finish_reason "".
        let chunk = ChatChunk::from_json_str(
            r#"{"id":"c","choices":[{"index":0,"finish_reason":"","content_filter_results":{"hate":{"filtered":false}}}],"usage":null}"#,
        )
        .unwrap();
        assert_eq!(chunk.choices[0].delta, Delta::default());
        assert_eq!(chunk.choices[0].finish_reason, None);
        assert_eq!(chunk.usage, None);
        assert_eq!(chunk.content(), "");

        // Usage-only final chunk (OpenAI) and LiteLLM's variant with an empty delta.
        let usage_only = ChatChunk::from_json_str(
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
        )
        .unwrap();
        assert!(usage_only.choices.is_empty());
        assert_eq!(usage_only.usage.unwrap().total_tokens, Some(5));
        let litellm = ChatChunk::from_json_str(
            r#"{"id":"c","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(litellm.delta(), Some(&Delta::default()));

        // Null where strings are expected; a huge index; an index as a float.
        let chunk = ChatChunk::from_json(json!({
            "id": null, "model": null, "object": null, "created": null,
            "choices": [{"index": 4294967295u64, "delta": {"role": null, "content": null,
                "tool_calls": [{"index": 1e12, "id": null, "function": {"arguments": "{"}}]}}]
        }))
        .unwrap();
        assert_eq!(chunk.id, "");
        assert_eq!(chunk.choices[0].index, 4294967295);
        let call = &chunk.choices[0].delta.tool_calls[0];
        assert_eq!(call.index, Some(1_000_000_000_000));
        assert_eq!(call.id, None);
        assert!(chunk.extra.is_empty());

        // Missing `choices` entirely.
        assert!(
            ChatChunk::from_json(json!({"id": "c"}))
                .unwrap()
                .choices
                .is_empty()
        );
    }

    // --- models ------------------------------------------------------------------------------

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

    // --- errors ------------------------------------------------------------------------------

    fn fields(
        message: &str,
        kind: Option<&str>,
        code: Option<&str>,
        param: Option<&str>,
    ) -> ApiErrorFields {
        ApiErrorFields {
            message: Some(message.to_owned()),
            kind: kind.map(str::to_owned),
            code: code.map(str::to_owned),
            param: param.map(str::to_owned),
        }
    }

    #[test]
    fn error_bodies() {
        let openai = r#"{"error":{"message":"Bad temp","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#;
        assert_eq!(
            parse_error_body(openai),
            Some(fields(
                "Bad temp",
                Some("invalid_request_error"),
                Some("invalid_value"),
                Some("temperature")
            ))
        );
        let llama = r#"{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}"#;
        assert_eq!(
            parse_error_body(llama),
            Some(fields(
                "the request exceeds the available context size",
                Some("exceed_context_size_error"),
                Some("400"),
                None
            ))
        );
        let litellm =
            r#"{"error":{"message":"Invalid model name","type":"None","param":null,"code":"400"}}"#;
        assert_eq!(
            parse_error_body(litellm),
            Some(fields("Invalid model name", None, Some("400"), None))
        );
        let litellm_none_param =
            r#"{"error":{"message":"m","type":null,"param":"None","code":"429"}}"#;
        assert_eq!(
            parse_error_body(litellm_none_param),
            Some(fields("m", None, Some("429"), None))
        );
        assert_eq!(
            parse_error_body(r#"{"error":"model not found"}"#),
            Some(fields("model not found", None, None, None))
        );
        let gemini =
            r#"[{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(
            parse_error_body(gemini),
            Some(fields("API key not valid", None, Some("400"), None))
        );
        assert_eq!(
            parse_error_body(r#"{"error":{}}"#),
            Some(ApiErrorFields::default()),
            "an error object without fields is still an error"
        );
        for not_an_error in [
            r#"{"detail":"Not Found"}"#,
            "<html>502</html>",
            "",
            r#"{"error":null}"#,
            r#"{"error":""}"#,
            "[]",
            "42",
        ] {
            assert_eq!(parse_error_body(not_an_error), None, "{not_an_error}");
        }
    }

    #[test]
    fn stream_errors() {
        let plain = parse_stream_data(
            r#"{"error":{"message":"overloaded","type":"server_error","code":null}}"#,
        )
        .unwrap();
        assert_eq!(
            plain,
            StreamData::Error {
                error: fields("overloaded", Some("server_error"), None, None),
                chunk: None
            }
        );

        // OpenRouter: an error inside an otherwise normal chunk.
        let openrouter = r#"{"id":"gen-1","provider":"Minimax","error":{"code":400,"message":"Token limit reached"},
            "model":"minimax/minimax-m2:free","object":"chat.completion.chunk","created":1762179802,
            "choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],
            "usage":{"prompt_tokens":43,"completion_tokens":10,"total_tokens":53,"cost":0}}"#;
        let StreamData::Error {
            error,
            chunk: Some(chunk),
        } = parse_stream_data(openrouter).unwrap()
        else {
            panic!("error with chunk expected");
        };
        assert_eq!(
            error,
            fields("Token limit reached", None, Some("400"), None)
        );
        assert_eq!(chunk.id, "gen-1");
        assert_eq!(chunk.usage.unwrap().extra["cost"], 0);
        assert!(stream_error(&serde_json::from_str(openrouter).unwrap()).is_some());

        let normal =
            parse_stream_data(r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}]}"#)
                .unwrap();
        assert!(matches!(normal, StreamData::Chunk(chunk) if chunk.content() == "x"));
        assert!(matches!(
            parse_stream_data(r#"{"id":"c","choices":[],"error":null}"#),
            Ok(StreamData::Chunk(_))
        ));
        decode_error(parse_stream_data("[DONE"), "invalid JSON", "[DONE");
        decode_error(
            parse_stream_data(r#"{"choices":{"a":1}}"#),
            "`choices` must be an array",
            r#"{"choices":{"#,
        );
    }

    // --- merging helpers -----------------------------------------------------------------------

    #[test]
    fn streamed_field_merge() {
        let mut acc = Map::new();
        let pieces = [
            json!({"reasoning_details": [{"type": "reasoning.text", "text": "We need", "index": 0, "format": null}],
                   "audio": {"id": "a1", "transcript": "Hel"}}),
            json!({"reasoning_details": [{"type": "reasoning.text", "text": " to respond", "index": 0, "format": "x"},
                                          {"type": "reasoning.encrypted", "data": "zz", "index": 1}],
                   "audio": {"id": "a1", "transcript": "lo", "expires_at": 5}}),
            json!({"reasoning_details": [], "audio": null, "plain": [1]}),
            json!({"plain": [2]}),
        ];
        for piece in pieces {
            let Value::Object(piece) = piece else {
                unreachable!()
            };
            merge_streamed_fields(&mut acc, &piece);
        }
        assert_eq!(
            Value::Object(acc),
            json!({
                "reasoning_details": [
                    {"type": "reasoning.text", "text": "We need to respond", "index": 0, "format": "x"},
                    {"type": "reasoning.encrypted", "data": "zz", "index": 1}
                ],
                "audio": {"id": "a1", "transcript": "Hello", "expires_at": 5},
                "plain": [1, 2]
            })
        );
    }

    #[test]
    fn metadata_field_merge() {
        let mut acc = Map::new();
        for piece in [
            json!({"prompt_filter_results": [{"prompt_index": 0}], "obfuscation": "x", "timings": {"n": 1}}),
            json!({"content_filter_results": {"hate": {}}, "timings": {"n": 2}, "obfuscation": "y"}),
            json!({"content_filter_results": {}, "prompt_filter_results": null, "flag": false}),
        ] {
            let Value::Object(piece) = piece else {
                unreachable!()
            };
            merge_metadata_fields(&mut acc, &piece);
        }
        assert_eq!(
            Value::Object(acc),
            json!({"prompt_filter_results": [{"prompt_index": 0}], "timings": {"n": 2},
                   "content_filter_results": {"hate": {}}, "flag": false})
        );
    }
}
