//! The response object: what `POST /responses` returns, what a stream's terminal event
//! carries, and what a stream without one is rebuilt into.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::output::{FunctionCallItem, OutputItem, join};
use crate::chat::json::{Bad, Fields, Out, Res, decode_str, not_an_object};
use crate::error::Error;

/// A Responses API response (`"object": "response"`).
///
/// ```
/// use chatstream::Response;
///
/// let body = r#"{"id":"resp_1","object":"response","created_at":1700000000,"status":"completed",
///   "model":"gpt-4.1-mini","output":[
///     {"type":"message","id":"msg_1","role":"assistant","status":"completed",
///      "content":[{"type":"output_text","text":"Hello","annotations":[]}]},
///     {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather",
///      "arguments":"{\"city\":\"Paris\"}","status":"completed"}],
///   "usage":{"input_tokens":9,"output_tokens":20,"total_tokens":29},
///   "x_vendor":{"region":"eu"}}"#;
/// let response = Response::from_json_str(body)?;
/// assert_eq!(response.output_text(), "Hello");
/// assert_eq!(response.function_calls().next().map(|c| c.name.as_str()), Some("get_weather"));
/// assert_eq!(response.usage.as_ref().and_then(|u| u.total_tokens), Some(29));
/// assert_eq!(response.extra["x_vendor"]["region"], "eu"); // unknown fields are kept
/// assert_eq!(Response::from_json(response.to_json())?, response);
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    /// The response id (`resp_...`; `""` if the server sent none).
    pub id: String,
    /// `"response"` (as sent; `to_json` writes it when empty).
    pub object: String,
    /// Creation time, Unix seconds.
    pub created_at: Option<u64>,
    /// `"completed"`, `"incomplete"`, `"failed"`, `"in_progress"`, `"queued"`,
    /// `"cancelled"`, or any other string a server sends.
    pub status: Option<String>,
    /// The model that answered.
    pub model: String,
    /// The output items, in order.
    pub output: Vec<OutputItem>,
    /// Token counts.
    pub usage: Option<ResponseUsage>,
    /// Why the response failed (status `failed`).
    pub error: Option<ResponseError>,
    /// Why the response is incomplete (status `incomplete`), e.g. `max_output_tokens`.
    pub incomplete_details: Option<IncompleteDetails>,
    /// Unknown fields (`instructions`, `tools`, `text`, `reasoning`, `metadata`, ... as the
    /// server echoes them, and anything server-specific).
    pub extra: Map<String, Value>,
    /// The HTTP response this came from (status, request id, rate-limit headers), when it came
    /// from a [`Client`](crate::Client) call. Not part of the JSON.
    pub info: Option<crate::ResponseInfo>,
}

/// Token counts of a [`Response`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseUsage {
    /// Tokens in the input (instructions, conversation, tools).
    pub input_tokens: Option<u64>,
    /// Tokens generated, reasoning included.
    pub output_tokens: Option<u64>,
    /// Their sum.
    pub total_tokens: Option<u64>,
    /// Input tokens served from the prompt cache (`input_tokens_details.cached_tokens`).
    pub cached_tokens: Option<u64>,
    /// Output tokens spent on reasoning (`output_tokens_details.reasoning_tokens`).
    pub reasoning_tokens: Option<u64>,
    /// Unknown fields, and unknown fields of the two `*_details` objects under their own key.
    pub extra: Map<String, Value>,
}

/// The `error` of a failed [`Response`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseError {
    /// The error code, e.g. `server_error` or `rate_limit_exceeded`.
    pub code: Option<String>,
    /// The human-readable message.
    pub message: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The `incomplete_details` of an incomplete [`Response`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncompleteDetails {
    /// Why: `max_output_tokens`, `content_filter`, or another string.
    pub reason: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl Response {
    /// Decodes a response object that was already parsed as JSON (unknown fields are moved
    /// into `extra`).
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object, or `output` or an item's content is not of
    /// the shape the API promises (ignoring them would silently lose model output); its raw
    /// text is the offending JSON.
    pub fn from_json(value: Value) -> Result<Response, Error> {
        Response::decode(value).map_err(Bad::into_error)
    }

    /// Parses and decodes a response body. Errors carry the whole text as raw text.
    ///
    /// # Errors
    ///
    /// A decode error if `text` is not JSON or [`from_json`](Self::from_json) fails.
    pub fn from_json_str(text: &str) -> Result<Response, Error> {
        decode_str(text, "response", Response::decode)
    }

    pub(crate) fn decode(value: Value) -> Res<Response> {
        let mut f = Fields::new(value, "response")?;
        let id = f.string("id").unwrap_or_default();
        let object = f.string("object").unwrap_or_default();
        let created_at = f.u64("created_at");
        let status = f.string("status");
        let model = f.string("model").unwrap_or_default();
        let output = f
            .array("output")?
            .unwrap_or_default()
            .into_iter()
            .map(OutputItem::decode)
            .collect::<Res<_>>()?;
        let usage = f.loose_object("usage").map(ResponseUsage::from_map);
        let error = f.loose_object("error").map(|map| {
            let mut f = Fields::of(map, "response error");
            ResponseError {
                code: f.string("code"),
                message: f.string("message"),
                extra: f.rest(),
            }
        });
        let incomplete_details = f.loose_object("incomplete_details").map(|map| {
            let mut f = Fields::of(map, "incomplete details");
            IncompleteDetails {
                reason: f.string("reason"),
                extra: f.rest(),
            }
        });
        Ok(Response {
            id,
            object,
            created_at,
            status,
            model,
            output,
            usage,
            error,
            incomplete_details,
            extra: f.rest(),
            info: None,
        })
    }

    /// The text of every message item's `output_text` parts, joined in order (`""` if there
    /// is none), like the official SDKs' `output_text`.
    pub fn output_text(&self) -> Cow<'_, str> {
        join(self.messages().flat_map(|m| {
            m.content.iter().filter_map(|part| match part {
                super::OutputContent::Text(text) => Some(text.text.as_str()),
                _ => None,
            })
        }))
    }

    /// The refusals of the message items, joined, if the model refused.
    pub fn refusal(&self) -> Option<Cow<'_, str>> {
        let mut refusals = self
            .messages()
            .flat_map(|m| {
                m.content.iter().filter_map(|part| match part {
                    super::OutputContent::Refusal(refusal) => Some(refusal.refusal.as_str()),
                    _ => None,
                })
            })
            .peekable();
        refusals.peek()?;
        Some(join(refusals))
    }

    fn messages(&self) -> impl Iterator<Item = &super::OutputMessage> {
        self.output.iter().filter_map(|item| match item {
            OutputItem::Message(m) => Some(m),
            _ => None,
        })
    }

    /// The function call items, in order.
    pub fn function_calls(&self) -> impl Iterator<Item = &FunctionCallItem> {
        self.output.iter().filter_map(|item| match item {
            OutputItem::FunctionCall(call) => Some(call),
            _ => None,
        })
    }

    /// The reasoning summaries of every reasoning item, separated by blank lines (`""` if
    /// there are none).
    pub fn reasoning_summary(&self) -> String {
        let texts: Vec<&str> = self
            .output
            .iter()
            .filter_map(|item| match item {
                OutputItem::Reasoning(r) => Some(r.summary.iter().map(|s| s.text.as_str())),
                _ => None,
            })
            .flatten()
            .collect();
        texts.join("\n\n")
    }

    /// Why the response is incomplete (`incomplete_details.reason`), e.g.
    /// `"max_output_tokens"`.
    pub fn incomplete_reason(&self) -> Option<&str> {
        self.incomplete_details.as_ref()?.reason.as_deref()
    }

    /// The response as JSON, in the server's shape (`"object": "response"`). Known fields
    /// that were `null` or absent are not written (`id`, `object`, `model` and `output`
    /// always are).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("id", self.id.as_str());
        out.set_or("object", &self.object, "response");
        out.opt("created_at", self.created_at);
        out.opt("status", self.status.as_deref());
        out.set("model", self.model.as_str());
        out.set(
            "output",
            Value::Array(self.output.iter().map(OutputItem::to_json).collect()),
        );
        out.opt("usage", self.usage.as_ref().map(ResponseUsage::to_json));
        if let Some(error) = &self.error {
            let mut e = Out::default();
            e.opt("code", error.code.as_deref());
            e.opt("message", error.message.as_deref());
            out.set("error", e.finish(&error.extra));
        }
        if let Some(details) = &self.incomplete_details {
            let mut d = Out::default();
            d.opt("reason", details.reason.as_deref());
            out.set("incomplete_details", d.finish(&details.extra));
        }
        out.finish(&self.extra)
    }
}

impl ResponseUsage {
    fn from_map(map: Map<String, Value>) -> ResponseUsage {
        let mut f = Fields::of(map, "usage");
        let input_tokens = f.u64("input_tokens");
        let output_tokens = f.u64("output_tokens");
        let total_tokens = f.u64("total_tokens");
        let mut details = |key: &str, count: &str| -> (Option<u64>, Option<Map<String, Value>>) {
            let Some(map) = f.loose_object(key) else {
                return (None, None);
            };
            let mut d = Fields::of(map, "usage details");
            let n = d.u64(count);
            let rest = d.rest();
            (n, (!rest.is_empty() || n.is_none()).then_some(rest))
        };
        let (cached_tokens, input_rest) = details("input_tokens_details", "cached_tokens");
        let (reasoning_tokens, output_rest) = details("output_tokens_details", "reasoning_tokens");
        let mut extra = f.rest();
        // What the details objects held besides the modelled count is kept under their key.
        for (key, rest) in [
            ("input_tokens_details", input_rest),
            ("output_tokens_details", output_rest),
        ] {
            if let Some(rest) = rest {
                extra.insert(key.to_owned(), Value::Object(rest));
            }
        }
        ResponseUsage {
            input_tokens,
            output_tokens,
            total_tokens,
            cached_tokens,
            reasoning_tokens,
            extra,
        }
    }

    /// Decodes a usage object; fields of an unexpected type stay in `extra`.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object.
    pub fn from_json(value: Value) -> Result<ResponseUsage, Error> {
        match value {
            Value::Object(map) => Ok(ResponseUsage::from_map(map)),
            other => Err(not_an_object("usage", &other).into_error()),
        }
    }

    /// The usage as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.opt("input_tokens", self.input_tokens);
        out.opt("output_tokens", self.output_tokens);
        out.opt("total_tokens", self.total_tokens);
        let mut value = out.finish(&self.extra);
        for (key, count, n) in [
            ("input_tokens_details", "cached_tokens", self.cached_tokens),
            (
                "output_tokens_details",
                "reasoning_tokens",
                self.reasoning_tokens,
            ),
        ] {
            if let (Some(n), Some(map)) = (n, value.as_object_mut()) {
                let details = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if let Some(details) = details.as_object_mut() {
                    details.insert(count.to_owned(), Value::from(n));
                }
            }
        }
        value
    }
}
