//! The events of a Responses stream, typed.

use serde_json::{Map, Value};

use super::output::{OutputContent, OutputItem, SummaryText};
use super::response::Response;
use crate::chat::json::{Bad, Fields, Out, Res, decode_str, not_an_object};
use crate::error::Error;

/// One event of a Responses API stream.
///
/// Each documented event type has its variant; an event of any other type (a new server
/// feature, a vendor's extension) is [`Other`](ResponseEvent::Other), with its name and raw
/// JSON, so it never breaks a stream. The event's type is the `type` of its JSON (which
/// OpenAI repeats as the SSE `event:` name), or the SSE event name when the JSON has none.
///
/// Every variant keeps `sequence_number` (when sent) and unknown fields.
///
/// ```
/// use chatstream::ResponseEvent;
///
/// let event = ResponseEvent::from_json_str(
///     r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}"#,
/// )?;
/// assert_eq!(event.event_type(), "response.output_text.delta");
/// assert_eq!(event.text_delta(), Some("Hi"));
/// assert_eq!(event.sequence_number(), Some(4));
/// assert_eq!(ResponseEvent::from_json(event.to_json())?, event);
///
/// let new = ResponseEvent::from_json_str(r#"{"type":"response.glow.delta","delta":{"level":3}}"#)?;
/// let ResponseEvent::Other(other) = &new else { panic!("an unknown type") };
/// assert_eq!(other.name, "response.glow.delta");
/// assert_eq!(other.data["delta"]["level"], 3);
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResponseEvent {
    /// `response.created`: the response object as it starts.
    Created(ResponseSnapshot),
    /// `response.in_progress`: the response object while it runs.
    InProgress(ResponseSnapshot),
    /// `response.output_item.added`: a new output item begins.
    OutputItemAdded(OutputItemEvent),
    /// `response.output_item.done`: an output item is complete (it replaces what was
    /// rebuilt for it).
    OutputItemDone(OutputItemEvent),
    /// `response.content_part.added`: a new content part of a message begins.
    ContentPartAdded(ContentPartEvent),
    /// `response.content_part.done`: a content part is complete.
    ContentPartDone(ContentPartEvent),
    /// `response.output_text.delta`: a piece of text (`index` is the `content_index`).
    OutputTextDelta(DeltaEvent),
    /// `response.output_text.done`: the whole text of a part (`text`).
    OutputTextDone(DoneEvent),
    /// `response.refusal.delta`: a piece of a refusal.
    RefusalDelta(DeltaEvent),
    /// `response.refusal.done`: the whole refusal (from the `refusal` field).
    RefusalDone(DoneEvent),
    /// `response.function_call_arguments.delta`: a piece of a function call's arguments
    /// (`index` is `None`).
    FunctionCallArgumentsDelta(DeltaEvent),
    /// `response.function_call_arguments.done`: the whole arguments (from the `arguments`
    /// field).
    FunctionCallArgumentsDone(DoneEvent),
    /// `response.reasoning_summary_part.added`: a new reasoning summary part begins.
    ReasoningSummaryPartAdded(SummaryPartEvent),
    /// `response.reasoning_summary_part.done`: a reasoning summary part is complete.
    ReasoningSummaryPartDone(SummaryPartEvent),
    /// `response.reasoning_summary_text.delta`: a piece of a reasoning summary (`index` is
    /// the `summary_index`).
    ReasoningSummaryTextDelta(DeltaEvent),
    /// `response.reasoning_summary_text.done`: the whole text of a summary part.
    ReasoningSummaryTextDone(DoneEvent),
    /// `response.completed`: the final response. The stream ends here.
    Completed(ResponseSnapshot),
    /// `response.incomplete`: the final response, cut short (see its
    /// `incomplete_details`). A success; the stream ends here.
    Incomplete(ResponseSnapshot),
    /// `response.failed`: the response failed (see its `error`). The stream ends with an
    /// [`ErrorKind::Api`](crate::ErrorKind::Api) error.
    Failed(ResponseSnapshot),
    /// `error`: the server reports an error. The stream ends with an
    /// [`ErrorKind::Api`](crate::ErrorKind::Api) error.
    Error(ErrorEvent),
    /// An event type this crate does not model, kept whole.
    Other(OtherEvent),
}

/// An event that carries the whole response object (`created`, `in_progress`, and the
/// terminal `completed`, `incomplete` and `failed`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseSnapshot {
    /// The response object.
    pub response: Response,
    /// The event's position in the stream, when sent.
    pub sequence_number: Option<u64>,
    /// Unknown fields of the event (llama.cpp's `timings`, ...).
    pub extra: Map<String, Value>,
}

/// `response.output_item.added` / `.done`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputItemEvent {
    /// The item's position in `output`, when sent.
    pub output_index: Option<u64>,
    /// The item.
    pub item: OutputItem,
    /// The event's position in the stream, when sent.
    pub sequence_number: Option<u64>,
    /// Unknown fields of the event.
    pub extra: Map<String, Value>,
}

/// `response.content_part.added` / `.done`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentPartEvent {
    /// The message item's id.
    pub item_id: String,
    /// The item's position in `output`, when sent.
    pub output_index: Option<u64>,
    /// The part's position in the message's `content`, when sent.
    pub content_index: Option<u64>,
    /// The part.
    pub part: OutputContent,
    /// The event's position in the stream, when sent.
    pub sequence_number: Option<u64>,
    /// Unknown fields of the event.
    pub extra: Map<String, Value>,
}

/// `response.reasoning_summary_part.added` / `.done`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SummaryPartEvent {
    /// The reasoning item's id.
    pub item_id: String,
    /// The item's position in `output`, when sent.
    pub output_index: Option<u64>,
    /// The part's position in the item's `summary`, when sent.
    pub summary_index: Option<u64>,
    /// The part.
    pub part: SummaryText,
    /// The event's position in the stream, when sent.
    pub sequence_number: Option<u64>,
    /// Unknown fields of the event.
    pub extra: Map<String, Value>,
}

/// A piece of streamed text: output text, a refusal, function call arguments or a reasoning
/// summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeltaEvent {
    /// The item's id.
    pub item_id: String,
    /// The item's position in `output`, when sent.
    pub output_index: Option<u64>,
    /// The part's position: `content_index` for text and refusals, `summary_index` for
    /// reasoning summaries, `None` for function call arguments.
    pub index: Option<u64>,
    /// The piece.
    pub delta: String,
    /// The event's position in the stream, when sent.
    pub sequence_number: Option<u64>,
    /// Unknown fields of the event (`logprobs`, `obfuscation`, ...).
    pub extra: Map<String, Value>,
}

/// The whole text of a streamed part, at its end.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DoneEvent {
    /// The item's id.
    pub item_id: String,
    /// The item's position in `output`, when sent.
    pub output_index: Option<u64>,
    /// The part's position, as for [`DeltaEvent::index`].
    pub index: Option<u64>,
    /// The whole text (the `text`, `refusal` or `arguments` field).
    pub text: String,
    /// The event's position in the stream, when sent.
    pub sequence_number: Option<u64>,
    /// Unknown fields of the event.
    pub extra: Map<String, Value>,
}

/// An `error` event. OpenAI sends the error's fields at the top level; an `error` object
/// (the shape of error bodies) stays in `extra`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorEvent {
    /// The error code.
    pub code: Option<String>,
    /// The human-readable message.
    pub message: Option<String>,
    /// The request parameter at fault.
    pub param: Option<String>,
    /// The event's position in the stream, when sent.
    pub sequence_number: Option<u64>,
    /// Unknown fields of the event.
    pub extra: Map<String, Value>,
}

/// An event of a type this crate does not model.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherEvent {
    /// The event's type.
    pub name: String,
    /// The event's JSON, whole.
    pub data: Value,
}

/// Which field holds a part index, and which the whole text, for each kind of delta/done
/// event.
const TEXT: (Option<&str>, &str) = (Some("content_index"), "text");
const REFUSAL: (Option<&str>, &str) = (Some("content_index"), "refusal");
const ARGUMENTS: (Option<&str>, &str) = (None, "arguments");
const SUMMARY: (Option<&str>, &str) = (Some("summary_index"), "text");

impl ResponseEvent {
    /// Decodes an event's JSON; its type is its `type` field.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object, or an event of a known type does not have
    /// the shape the API promises (its response, item or part is not an object, ...).
    pub fn from_json(value: Value) -> Result<ResponseEvent, Error> {
        ResponseEvent::decode(value, "").map_err(Bad::into_error)
    }

    /// Parses and decodes an event's JSON text. Errors carry the whole text as raw text.
    ///
    /// # Errors
    ///
    /// As for [`from_json`](Self::from_json), and when `text` is not JSON.
    pub fn from_json_str(text: &str) -> Result<ResponseEvent, Error> {
        decode_str(text, "response event", |value| {
            ResponseEvent::decode(value, "")
        })
    }

    /// Decodes the data of an SSE event named `sse_name` (used when the JSON has no `type`;
    /// `"message"`, the name of an unnamed SSE event, is not used).
    pub(crate) fn from_sse(sse_name: &str, data: &str) -> Result<ResponseEvent, Error> {
        let fallback = if sse_name == "message" { "" } else { sse_name };
        decode_str(data, "response event", |value| {
            ResponseEvent::decode(value, fallback)
        })
    }

    fn decode(value: Value, fallback_name: &str) -> Res<ResponseEvent> {
        let Value::Object(map) = value else {
            return Err(not_an_object("response event", &value));
        };
        let name = match map.get("type") {
            Some(Value::String(name)) => name.clone(),
            _ => fallback_name.to_owned(),
        };
        let mut f = Fields::of(map, "response event");
        // A `type` that is not a string stays in `extra`; the name then came from the SSE
        // event, and `to_json` writes it as `type` before `extra` is merged.
        f.string("type");
        let event = match name.as_str() {
            "response.created" => ResponseEvent::Created(ResponseSnapshot::decode(f)?),
            "response.in_progress" => ResponseEvent::InProgress(ResponseSnapshot::decode(f)?),
            "response.completed" => ResponseEvent::Completed(ResponseSnapshot::decode(f)?),
            "response.incomplete" => ResponseEvent::Incomplete(ResponseSnapshot::decode(f)?),
            "response.failed" => ResponseEvent::Failed(ResponseSnapshot::decode(f)?),
            "response.output_item.added" => {
                ResponseEvent::OutputItemAdded(OutputItemEvent::decode(f)?)
            }
            "response.output_item.done" => {
                ResponseEvent::OutputItemDone(OutputItemEvent::decode(f)?)
            }
            "response.content_part.added" => {
                ResponseEvent::ContentPartAdded(ContentPartEvent::decode(f)?)
            }
            "response.content_part.done" => {
                ResponseEvent::ContentPartDone(ContentPartEvent::decode(f)?)
            }
            "response.output_text.delta" => {
                ResponseEvent::OutputTextDelta(DeltaEvent::decode(f, TEXT.0))
            }
            "response.output_text.done" => {
                ResponseEvent::OutputTextDone(DoneEvent::decode(f, TEXT))
            }
            "response.refusal.delta" => {
                ResponseEvent::RefusalDelta(DeltaEvent::decode(f, REFUSAL.0))
            }
            "response.refusal.done" => ResponseEvent::RefusalDone(DoneEvent::decode(f, REFUSAL)),
            "response.function_call_arguments.delta" => {
                ResponseEvent::FunctionCallArgumentsDelta(DeltaEvent::decode(f, ARGUMENTS.0))
            }
            "response.function_call_arguments.done" => {
                ResponseEvent::FunctionCallArgumentsDone(DoneEvent::decode(f, ARGUMENTS))
            }
            "response.reasoning_summary_part.added" => {
                ResponseEvent::ReasoningSummaryPartAdded(SummaryPartEvent::decode(f)?)
            }
            "response.reasoning_summary_part.done" => {
                ResponseEvent::ReasoningSummaryPartDone(SummaryPartEvent::decode(f)?)
            }
            "response.reasoning_summary_text.delta" => {
                ResponseEvent::ReasoningSummaryTextDelta(DeltaEvent::decode(f, SUMMARY.0))
            }
            "response.reasoning_summary_text.done" => {
                ResponseEvent::ReasoningSummaryTextDone(DoneEvent::decode(f, SUMMARY))
            }
            "error" => ResponseEvent::Error(ErrorEvent::decode(f)),
            _ => {
                let mut data = f.rest();
                if !name.is_empty() {
                    data.insert("type".to_owned(), Value::String(name.clone()));
                }
                ResponseEvent::Other(OtherEvent {
                    name,
                    data: Value::Object(data),
                })
            }
        };
        Ok(event)
    }

    /// The event's type, e.g. `"response.output_text.delta"` (for
    /// [`Other`](ResponseEvent::Other), its name as received).
    pub fn event_type(&self) -> &str {
        match self {
            ResponseEvent::Created(_) => "response.created",
            ResponseEvent::InProgress(_) => "response.in_progress",
            ResponseEvent::OutputItemAdded(_) => "response.output_item.added",
            ResponseEvent::OutputItemDone(_) => "response.output_item.done",
            ResponseEvent::ContentPartAdded(_) => "response.content_part.added",
            ResponseEvent::ContentPartDone(_) => "response.content_part.done",
            ResponseEvent::OutputTextDelta(_) => "response.output_text.delta",
            ResponseEvent::OutputTextDone(_) => "response.output_text.done",
            ResponseEvent::RefusalDelta(_) => "response.refusal.delta",
            ResponseEvent::RefusalDone(_) => "response.refusal.done",
            ResponseEvent::FunctionCallArgumentsDelta(_) => {
                "response.function_call_arguments.delta"
            }
            ResponseEvent::FunctionCallArgumentsDone(_) => "response.function_call_arguments.done",
            ResponseEvent::ReasoningSummaryPartAdded(_) => "response.reasoning_summary_part.added",
            ResponseEvent::ReasoningSummaryPartDone(_) => "response.reasoning_summary_part.done",
            ResponseEvent::ReasoningSummaryTextDelta(_) => "response.reasoning_summary_text.delta",
            ResponseEvent::ReasoningSummaryTextDone(_) => "response.reasoning_summary_text.done",
            ResponseEvent::Completed(_) => "response.completed",
            ResponseEvent::Incomplete(_) => "response.incomplete",
            ResponseEvent::Failed(_) => "response.failed",
            ResponseEvent::Error(_) => "error",
            ResponseEvent::Other(other) => &other.name,
        }
    }

    /// The piece of output text of an `output_text` or `refusal` delta: what a chat UI prints
    /// as it arrives.
    pub fn text_delta(&self) -> Option<&str> {
        match self {
            ResponseEvent::OutputTextDelta(d) | ResponseEvent::RefusalDelta(d) => Some(&d.delta),
            _ => None,
        }
    }

    /// The event's `sequence_number`, when the server sent one.
    pub fn sequence_number(&self) -> Option<u64> {
        match self {
            ResponseEvent::Created(e)
            | ResponseEvent::InProgress(e)
            | ResponseEvent::Completed(e)
            | ResponseEvent::Incomplete(e)
            | ResponseEvent::Failed(e) => e.sequence_number,
            ResponseEvent::OutputItemAdded(e) | ResponseEvent::OutputItemDone(e) => {
                e.sequence_number
            }
            ResponseEvent::ContentPartAdded(e) | ResponseEvent::ContentPartDone(e) => {
                e.sequence_number
            }
            ResponseEvent::OutputTextDelta(e)
            | ResponseEvent::RefusalDelta(e)
            | ResponseEvent::FunctionCallArgumentsDelta(e)
            | ResponseEvent::ReasoningSummaryTextDelta(e) => e.sequence_number,
            ResponseEvent::OutputTextDone(e)
            | ResponseEvent::RefusalDone(e)
            | ResponseEvent::FunctionCallArgumentsDone(e)
            | ResponseEvent::ReasoningSummaryTextDone(e) => e.sequence_number,
            ResponseEvent::ReasoningSummaryPartAdded(e)
            | ResponseEvent::ReasoningSummaryPartDone(e) => e.sequence_number,
            ResponseEvent::Error(e) => e.sequence_number,
            ResponseEvent::Other(e) => e.data.get("sequence_number").and_then(Value::as_u64),
        }
    }

    /// True for the events that end a stream: `response.completed`, `response.incomplete`,
    /// `response.failed` and `error`.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ResponseEvent::Completed(_)
                | ResponseEvent::Incomplete(_)
                | ResponseEvent::Failed(_)
                | ResponseEvent::Error(_)
        )
    }

    /// The event as JSON, in the server's shape (with its `type`).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("type", self.event_type());
        match self {
            ResponseEvent::Created(e)
            | ResponseEvent::InProgress(e)
            | ResponseEvent::Completed(e)
            | ResponseEvent::Incomplete(e)
            | ResponseEvent::Failed(e) => {
                out.opt("sequence_number", e.sequence_number);
                out.set("response", e.response.to_json());
                out.finish(&e.extra)
            }
            ResponseEvent::OutputItemAdded(e) | ResponseEvent::OutputItemDone(e) => {
                out.opt("sequence_number", e.sequence_number);
                out.opt("output_index", e.output_index);
                out.set("item", e.item.to_json());
                out.finish(&e.extra)
            }
            ResponseEvent::ContentPartAdded(e) | ResponseEvent::ContentPartDone(e) => {
                out.opt("sequence_number", e.sequence_number);
                out.set("item_id", e.item_id.as_str());
                out.opt("output_index", e.output_index);
                out.opt("content_index", e.content_index);
                out.set("part", e.part.to_json());
                out.finish(&e.extra)
            }
            ResponseEvent::ReasoningSummaryPartAdded(e)
            | ResponseEvent::ReasoningSummaryPartDone(e) => {
                out.opt("sequence_number", e.sequence_number);
                out.set("item_id", e.item_id.as_str());
                out.opt("output_index", e.output_index);
                out.opt("summary_index", e.summary_index);
                out.set("part", e.part.to_json());
                out.finish(&e.extra)
            }
            ResponseEvent::OutputTextDelta(e) => e.write(out, TEXT.0),
            ResponseEvent::RefusalDelta(e) => e.write(out, REFUSAL.0),
            ResponseEvent::FunctionCallArgumentsDelta(e) => e.write(out, ARGUMENTS.0),
            ResponseEvent::ReasoningSummaryTextDelta(e) => e.write(out, SUMMARY.0),
            ResponseEvent::OutputTextDone(e) => e.write(out, TEXT),
            ResponseEvent::RefusalDone(e) => e.write(out, REFUSAL),
            ResponseEvent::FunctionCallArgumentsDone(e) => e.write(out, ARGUMENTS),
            ResponseEvent::ReasoningSummaryTextDone(e) => e.write(out, SUMMARY),
            ResponseEvent::Error(e) => {
                out.opt("sequence_number", e.sequence_number);
                out.opt("code", e.code.as_deref());
                out.opt("message", e.message.as_deref());
                out.opt("param", e.param.as_deref());
                out.finish(&e.extra)
            }
            ResponseEvent::Other(e) => e.data.clone(),
        }
    }
}

impl ResponseSnapshot {
    fn decode(mut f: Fields) -> Res<ResponseSnapshot> {
        let sequence_number = f.u64("sequence_number");
        // The response is the event's payload: without it (or of another shape) there is
        // nothing to report, so it is an error rather than an empty response.
        let response = match f.object("response")? {
            Some(map) => Response::decode(Value::Object(map))?,
            None => {
                return Err(Bad {
                    message: "response event: `response` is missing".to_owned(),
                    raw: Value::Object(f.rest()).to_string(),
                });
            }
        };
        Ok(ResponseSnapshot {
            response,
            sequence_number,
            extra: f.rest(),
        })
    }
}

impl OutputItemEvent {
    fn decode(mut f: Fields) -> Res<OutputItemEvent> {
        let sequence_number = f.u64("sequence_number");
        let output_index = f.u64("output_index");
        let item = match f.object("item")? {
            Some(map) => OutputItem::decode(Value::Object(map))?,
            None => {
                return Err(Bad {
                    message: "output item event: `item` is missing".to_owned(),
                    raw: Value::Object(f.rest()).to_string(),
                });
            }
        };
        Ok(OutputItemEvent {
            output_index,
            item,
            sequence_number,
            extra: f.rest(),
        })
    }
}

impl ContentPartEvent {
    fn decode(mut f: Fields) -> Res<ContentPartEvent> {
        let sequence_number = f.u64("sequence_number");
        let item_id = f.string("item_id").unwrap_or_default();
        let output_index = f.u64("output_index");
        let content_index = f.u64("content_index");
        let part = OutputContent::decode(f.object("part")?.unwrap_or_default());
        Ok(ContentPartEvent {
            item_id,
            output_index,
            content_index,
            part,
            sequence_number,
            extra: f.rest(),
        })
    }
}

impl SummaryPartEvent {
    fn decode(mut f: Fields) -> Res<SummaryPartEvent> {
        let sequence_number = f.u64("sequence_number");
        let item_id = f.string("item_id").unwrap_or_default();
        let output_index = f.u64("output_index");
        let summary_index = f.u64("summary_index");
        let part = SummaryText::decode(f.object("part")?.unwrap_or_default());
        Ok(SummaryPartEvent {
            item_id,
            output_index,
            summary_index,
            part,
            sequence_number,
            extra: f.rest(),
        })
    }
}

impl DeltaEvent {
    fn decode(mut f: Fields, index_key: Option<&str>) -> DeltaEvent {
        DeltaEvent {
            sequence_number: f.u64("sequence_number"),
            item_id: f.string("item_id").unwrap_or_default(),
            output_index: f.u64("output_index"),
            index: index_key.and_then(|key| f.u64(key)),
            delta: f.string("delta").unwrap_or_default(),
            extra: f.rest(),
        }
    }

    fn write(&self, mut out: Out, index_key: Option<&str>) -> Value {
        out.opt("sequence_number", self.sequence_number);
        out.set("item_id", self.item_id.as_str());
        out.opt("output_index", self.output_index);
        if let Some(key) = index_key {
            out.opt(key, self.index);
        }
        out.set("delta", self.delta.as_str());
        out.finish(&self.extra)
    }
}

impl DoneEvent {
    fn decode(mut f: Fields, (index_key, text_key): (Option<&str>, &str)) -> DoneEvent {
        DoneEvent {
            sequence_number: f.u64("sequence_number"),
            item_id: f.string("item_id").unwrap_or_default(),
            output_index: f.u64("output_index"),
            index: index_key.and_then(|key| f.u64(key)),
            text: f.string(text_key).unwrap_or_default(),
            extra: f.rest(),
        }
    }

    fn write(&self, mut out: Out, (index_key, text_key): (Option<&str>, &str)) -> Value {
        out.opt("sequence_number", self.sequence_number);
        out.set("item_id", self.item_id.as_str());
        out.opt("output_index", self.output_index);
        if let Some(key) = index_key {
            out.opt(key, self.index);
        }
        out.set(text_key, self.text.as_str());
        out.finish(&self.extra)
    }
}

impl ErrorEvent {
    fn decode(mut f: Fields) -> ErrorEvent {
        ErrorEvent {
            sequence_number: f.u64("sequence_number"),
            code: f.string("code"),
            message: f.string("message"),
            param: f.string("param"),
            extra: f.rest(),
        }
    }
}
