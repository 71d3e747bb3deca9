//! The items of a response's `output`: messages (with text and refusal parts), function calls
//! and reasoning summaries; any other item is kept as raw JSON.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::chat::Role;
use crate::chat::json::{Bad, Fields, Out, Res, not_an_object};
use crate::error::Error;

/// One item of [`Response::output`](super::Response::output).
///
/// Item types the crate does not model (web search calls, file search calls, images, MCP
/// calls, ...) are kept whole in [`OutputItem::Other`] and written back unchanged.
///
/// ```
/// use chatstream::responses::OutputItem;
/// use serde_json::json;
///
/// let item = OutputItem::from_json(json!({
///     "type": "function_call", "id": "fc_1", "call_id": "call_1",
///     "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"
/// }))?;
/// let OutputItem::FunctionCall(call) = &item else { panic!("a function call") };
/// assert_eq!(call.arguments_json()?["city"], "Paris");
/// assert_eq!(OutputItem::from_json(item.to_json())?, item);
///
/// let other = OutputItem::from_json(json!({"type": "web_search_call", "id": "ws_1"}))?;
/// assert_eq!(other.item_type(), "web_search_call");
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum OutputItem {
    /// `"type": "message"`: text or a refusal from the model.
    Message(OutputMessage),
    /// `"type": "function_call"`: the model calls one of the request's function tools.
    FunctionCall(FunctionCallItem),
    /// `"type": "reasoning"`: a reasoning model's summaries of its reasoning.
    Reasoning(ReasoningItem),
    /// Any other item, as received (an object; its `type` says what it is).
    Other(Value),
}

/// A message item: the model's answer, in content parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputMessage {
    /// The item id (`msg_...`; `""` if the server sent none).
    pub id: String,
    /// The author, `assistant` for model output.
    pub role: Role,
    /// `"in_progress"`, `"completed"` or `"incomplete"`, when sent.
    pub status: Option<String>,
    /// The content parts, in order.
    pub content: Vec<OutputContent>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// One content part of an [`OutputMessage`].
#[derive(Debug, Clone, PartialEq)]
pub enum OutputContent {
    /// `"type": "output_text"`.
    Text(OutputText),
    /// `"type": "refusal"`: the model declined to answer.
    Refusal(RefusalContent),
    /// Any other part, as received.
    Other(Value),
}

/// An `output_text` part. Its `annotations` and `logprobs` stay in `extra`, as sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputText {
    /// The text.
    pub text: String,
    /// Unknown fields (`annotations`, `logprobs`, ...).
    pub extra: Map<String, Value>,
}

/// A `refusal` part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefusalContent {
    /// The refusal message.
    pub refusal: String,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// A `function_call` item: the model asks the caller to run a function.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionCallItem {
    /// The item id (`fc_...`).
    pub id: String,
    /// The id to answer with, in a `function_call_output` input item.
    pub call_id: String,
    /// The function's name.
    pub name: String,
    /// The arguments as JSON text (not checked: a model may write invalid JSON).
    pub arguments: String,
    /// `"in_progress"`, `"completed"` or `"incomplete"`, when sent.
    pub status: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// A `reasoning` item: summaries of a reasoning model's reasoning (when the request asked for
/// them with `reasoning.summary`). Encrypted content and reasoning text stay in `extra`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReasoningItem {
    /// The item id (`rs_...`).
    pub id: String,
    /// The summary parts, in order.
    pub summary: Vec<SummaryText>,
    /// The item status, when sent.
    pub status: Option<String>,
    /// Unknown fields (`encrypted_content`, `content`, ...).
    pub extra: Map<String, Value>,
}

/// One `summary_text` part of a [`ReasoningItem`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SummaryText {
    /// The summary text.
    pub text: String,
    /// Unknown fields (including a `type` other than `summary_text`).
    pub extra: Map<String, Value>,
}

/// The objects of a model-output array: any other element is a decode error naming `what`.
pub(crate) fn objects(items: Vec<Value>, what: &str) -> Res<Vec<Map<String, Value>>> {
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(map) => Ok(map),
            other => Err(not_an_object(what, &other)),
        })
        .collect()
}

impl OutputItem {
    /// Decodes one output item.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object, or a modelled item has content or summary
    /// parts of the wrong shape.
    pub fn from_json(value: Value) -> Result<OutputItem, Error> {
        OutputItem::decode(value).map_err(Bad::into_error)
    }

    pub(crate) fn decode(value: Value) -> Res<OutputItem> {
        let Value::Object(mut map) = value else {
            return Err(not_an_object("output item", &value));
        };
        let item = match map.get("type").and_then(Value::as_str) {
            Some("message") => {
                map.remove("type");
                OutputItem::Message(OutputMessage::decode(map)?)
            }
            Some("function_call") => {
                map.remove("type");
                OutputItem::FunctionCall(FunctionCallItem::decode(map))
            }
            Some("reasoning") => {
                map.remove("type");
                OutputItem::Reasoning(ReasoningItem::decode(map)?)
            }
            _ => OutputItem::Other(Value::Object(map)),
        };
        Ok(item)
    }

    /// The item's `type` (`"message"`, `"function_call"`, `"reasoning"`, or the type of an
    /// [`Other`](OutputItem::Other) item, `""` if it has none).
    pub fn item_type(&self) -> &str {
        match self {
            OutputItem::Message(_) => "message",
            OutputItem::FunctionCall(_) => "function_call",
            OutputItem::Reasoning(_) => "reasoning",
            OutputItem::Other(value) => value.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The item's `id` (`""` if it has none).
    pub fn id(&self) -> &str {
        match self {
            OutputItem::Message(m) => &m.id,
            OutputItem::FunctionCall(c) => &c.id,
            OutputItem::Reasoning(r) => &r.id,
            OutputItem::Other(value) => value.get("id").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The item as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            OutputItem::Message(m) => m.to_json(),
            OutputItem::FunctionCall(c) => c.to_json(),
            OutputItem::Reasoning(r) => r.to_json(),
            OutputItem::Other(value) => value.clone(),
        }
    }
}

impl OutputMessage {
    fn decode(map: Map<String, Value>) -> Res<OutputMessage> {
        let mut f = Fields::of(map, "output message");
        let id = f.string("id").unwrap_or_default();
        let role = f.string("role").map_or(Role::Assistant, Role::from);
        let status = f.string("status");
        let content = objects(
            f.array("content")?.unwrap_or_default(),
            "output message content part",
        )?
        .into_iter()
        .map(OutputContent::decode)
        .collect();
        Ok(OutputMessage {
            id,
            role,
            status,
            content,
            extra: f.rest(),
        })
    }

    /// The text of the message: its `output_text` parts joined.
    pub fn text(&self) -> Cow<'_, str> {
        join(self.content.iter().filter_map(|part| match part {
            OutputContent::Text(text) => Some(text.text.as_str()),
            _ => None,
        }))
    }

    /// The refusal of the message, if it has `refusal` parts (joined).
    pub fn refusal(&self) -> Option<Cow<'_, str>> {
        let mut refusals = self
            .content
            .iter()
            .filter_map(|part| match part {
                OutputContent::Refusal(refusal) => Some(refusal.refusal.as_str()),
                _ => None,
            })
            .peekable();
        refusals.peek()?;
        Some(join(refusals))
    }

    /// The message as JSON (`"type": "message"`).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("type", "message");
        out.set("id", self.id.as_str());
        out.set("role", self.role.as_str());
        out.opt("status", self.status.as_deref());
        out.set(
            "content",
            Value::Array(self.content.iter().map(OutputContent::to_json).collect()),
        );
        out.finish(&self.extra)
    }
}

/// Joins text pieces, borrowing when there is at most one.
pub(crate) fn join<'a>(mut pieces: impl Iterator<Item = &'a str>) -> Cow<'a, str> {
    let Some(first) = pieces.next() else {
        return Cow::Borrowed("");
    };
    match pieces.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let mut joined = format!("{first}{second}");
            pieces.for_each(|piece| joined.push_str(piece));
            Cow::Owned(joined)
        }
    }
}

impl OutputContent {
    pub(crate) fn decode(mut map: Map<String, Value>) -> OutputContent {
        match map.get("type").and_then(Value::as_str) {
            Some("output_text") => {
                map.remove("type");
                let mut f = Fields::of(map, "output_text part");
                OutputContent::Text(OutputText {
                    text: f.string("text").unwrap_or_default(),
                    extra: f.rest(),
                })
            }
            Some("refusal") => {
                map.remove("type");
                let mut f = Fields::of(map, "refusal part");
                OutputContent::Refusal(RefusalContent {
                    refusal: f.string("refusal").unwrap_or_default(),
                    extra: f.rest(),
                })
            }
            _ => OutputContent::Other(Value::Object(map)),
        }
    }

    /// An `output_text` part with this text.
    pub fn text(text: impl Into<String>) -> OutputContent {
        OutputContent::Text(OutputText {
            text: text.into(),
            extra: Map::new(),
        })
    }

    /// The part as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        match self {
            OutputContent::Text(text) => {
                out.set("type", "output_text");
                out.set("text", text.text.as_str());
                out.finish(&text.extra)
            }
            OutputContent::Refusal(refusal) => {
                out.set("type", "refusal");
                out.set("refusal", refusal.refusal.as_str());
                out.finish(&refusal.extra)
            }
            OutputContent::Other(value) => value.clone(),
        }
    }
}

impl FunctionCallItem {
    /// A function call item, as a caller sends it back in the input of the next request.
    pub fn new(
        call_id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> FunctionCallItem {
        FunctionCallItem {
            call_id: call_id.into(),
            name: name.into(),
            arguments: arguments.into(),
            ..FunctionCallItem::default()
        }
    }

    pub(crate) fn decode(map: Map<String, Value>) -> FunctionCallItem {
        let mut f = Fields::of(map, "function call");
        let id = f.string("id").unwrap_or_default();
        let call_id = f.string("call_id").unwrap_or_default();
        let name = f.string("name").unwrap_or_default();
        // Some servers send the arguments as a JSON object rather than its text.
        let arguments = match f.take_if("arguments", |v| v.is_string() || v.is_object()) {
            Some(Value::String(text)) => text,
            Some(object) => object.to_string(),
            None => String::new(),
        };
        let status = f.string("status");
        FunctionCallItem {
            id,
            call_id,
            name,
            arguments,
            status,
            extra: f.rest(),
        }
    }

    /// Parses the arguments.
    ///
    /// # Errors
    ///
    /// A decode error with the arguments as raw text if they are not valid JSON.
    pub fn arguments_json(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.arguments).map_err(|e| {
            Error::decode(
                format!(
                    "function call `{}`: arguments are not valid JSON ({e})",
                    self.name
                ),
                self.arguments.clone(),
            )
        })
    }

    /// The item as JSON (`"type": "function_call"`). An empty `id` is not written, so an item
    /// built with [`new`](Self::new) is a valid input item.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("type", "function_call");
        if !self.id.is_empty() {
            out.set("id", self.id.as_str());
        }
        out.set("call_id", self.call_id.as_str());
        out.set("name", self.name.as_str());
        out.set("arguments", self.arguments.as_str());
        out.opt("status", self.status.as_deref());
        out.finish(&self.extra)
    }
}

impl ReasoningItem {
    fn decode(map: Map<String, Value>) -> Res<ReasoningItem> {
        let mut f = Fields::of(map, "reasoning item");
        let id = f.string("id").unwrap_or_default();
        let summary = objects(
            f.array("summary")?.unwrap_or_default(),
            "reasoning summary part",
        )?
        .into_iter()
        .map(SummaryText::decode)
        .collect();
        let status = f.string("status");
        Ok(ReasoningItem {
            id,
            summary,
            status,
            extra: f.rest(),
        })
    }

    /// The summary parts' texts, separated by blank lines.
    pub fn summary_text(&self) -> String {
        let texts: Vec<&str> = self.summary.iter().map(|s| s.text.as_str()).collect();
        texts.join("\n\n")
    }

    /// The item as JSON (`"type": "reasoning"`).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("type", "reasoning");
        out.set("id", self.id.as_str());
        out.set(
            "summary",
            Value::Array(self.summary.iter().map(SummaryText::to_json).collect()),
        );
        out.opt("status", self.status.as_deref());
        out.finish(&self.extra)
    }
}

impl SummaryText {
    pub(crate) fn decode(mut map: Map<String, Value>) -> SummaryText {
        if map.get("type").and_then(Value::as_str) == Some("summary_text") {
            map.remove("type");
        }
        let mut f = Fields::of(map, "summary part");
        SummaryText {
            text: f.string("text").unwrap_or_default(),
            extra: f.rest(),
        }
    }

    /// The part as JSON (`"type": "summary_text"` unless `extra` says otherwise).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("type", "summary_text");
        out.set("text", self.text.as_str());
        out.finish(&self.extra)
    }
}
