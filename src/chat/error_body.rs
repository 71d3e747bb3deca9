//! API error bodies: `{"error": {...}}` in a response body or a stream event.

use serde_json::Value;

use super::ChatChunk;
use super::json::decode_str;
use crate::Error;

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
    pub(crate) error_type: Option<String>,
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
    fn from_error_value(error: &Value) -> Option<Self> {
        match error {
            Value::Object(map) => Some(Self {
                message: error_text(map.get("message")),
                error_type: error_text(map.get("type")),
                code: error_text(map.get("code")),
                param: error_text(map.get("param")),
            }),
            Value::String(message) if !message.is_empty() => Some(Self {
                message: Some(message.clone()),
                ..Self::default()
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
    wrapped_error(&value)
}

/// Parses the data of an `event: error`: an error body as [`parse_error_body`] reads it, or
/// else the error object itself, as the Responses API sends it
/// (`{"type": "error", "code": .., "message": .., "param": ..}`, taken only with a message).
/// The flat object's `type` is the event's type (`"error"`), not an error type, so it is
/// dropped. The data is parsed once for both shapes.
pub(crate) fn parse_error_event(data: &str) -> Option<ApiErrorFields> {
    let value: Value = serde_json::from_str(data).ok()?;
    wrapped_error(&value).or_else(|| flat_error(&value))
}

/// The error of a parsed error body, bare or in a one-element array.
fn wrapped_error(value: &Value) -> Option<ApiErrorFields> {
    match value {
        Value::Array(items) => items.first().and_then(stream_error),
        _ => stream_error(value),
    }
}

/// A flat error object (the Responses API's error event); `None` without a message.
fn flat_error(value: &Value) -> Option<ApiErrorFields> {
    let mut fields = ApiErrorFields::from_error_value(value)?;
    if fields.error_type.as_deref() == Some("error") {
        fields.error_type = None;
    }
    fields.message.is_some().then_some(fields)
}

/// Detects an error in a parsed stream payload: an object with an `"error"` key holding an
/// object or a non-empty string. This covers both `data: {"error": {...}}` and an error inside
/// an otherwise normal chunk (OpenRouter: `{"id": .., "choices": [..], "error": {...}}`).
fn stream_error(payload: &Value) -> Option<ApiErrorFields> {
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
    use crate::chat::json::tests::decode_error;

    fn fields(
        message: &str,
        error_type: Option<&str>,
        code: Option<&str>,
        param: Option<&str>,
    ) -> ApiErrorFields {
        ApiErrorFields {
            message: Some(message.to_owned()),
            error_type: error_type.map(str::to_owned),
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
    fn error_events() {
        // Wrapped as a body is, in an object or an array.
        let wrapped = r#"{"error":{"message":"overloaded","type":"server_error","code":503}}"#;
        assert_eq!(
            parse_error_event(wrapped),
            Some(fields(
                "overloaded",
                Some("server_error"),
                Some("503"),
                None
            ))
        );
        assert_eq!(parse_error_event(wrapped), parse_error_body(wrapped));
        assert_eq!(
            parse_error_event(r#"[{"error":"gone"}]"#),
            Some(fields("gone", None, None, None))
        );
        // Flat, as the Responses API sends it: the event's own `type` is not an error type.
        assert_eq!(
            parse_error_event(
                r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null}"#
            ),
            Some(fields("slow down", None, Some("rate_limit_exceeded"), None))
        );
        assert_eq!(
            parse_error_event(r#"{"type":"server_error","message":"m","param":"input"}"#),
            Some(fields("m", Some("server_error"), None, Some("input")))
        );
        // A flat object counts only with a message; a wrapped one always does.
        assert_eq!(parse_error_event(r#"{"type":"error","code":"x"}"#), None);
        assert_eq!(
            parse_error_event(r#"{"error":{}}"#),
            Some(ApiErrorFields::default())
        );
        // A bare JSON string is the message itself.
        assert_eq!(
            parse_error_event(r#""overloaded""#),
            Some(fields("overloaded", None, None, None))
        );
        for not_an_error in ["", "overloaded", "[]", "42", r#""""#, "null"] {
            assert_eq!(parse_error_event(not_an_error), None, "{not_an_error}");
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
}
