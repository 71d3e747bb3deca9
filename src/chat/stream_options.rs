//! Servers that reject `stream_options`: how their refusal is recognised.
//!
//! OpenAI's streamed requests may carry `"stream_options": {"include_usage": true}`, and the
//! client adds it by default so that a stream ends with its usage. Some servers refuse any
//! field they do not know: a FastAPI server with strict validation answers 422
//! (`body.stream_options: Extra inputs are not permitted`), some gateways 400 (`Extra
//! parameters ['stream_options'] are not allowed`). The client then retries once without it.

use crate::Error;

/// The request field this module is about.
const FIELD: &str = "stream_options";

/// True when `error` is a 400 or 422 whose message or `param` names `stream_options`: the
/// server refused the option, not the request. The raw body is not searched, since some
/// servers echo the whole request in their errors, `stream_options` included, whatever
/// went wrong.
pub(crate) fn rejects_stream_options(error: &Error) -> bool {
    let Some(api) = error.api() else {
        return false;
    };
    matches!(api.status, 400 | 422)
        && !api.in_stream
        && (api.param.as_deref() == Some(FIELD) || api.message.contains(FIELD))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;
    use crate::chat::parse_error_body;

    fn api_error(status: u16, body: &str) -> Error {
        let fields = parse_error_body(body);
        Error::api_error(ApiError::new(status, None, body.to_owned(), fields, false))
    }

    #[test]
    fn refusals_of_stream_options_are_recognised() {
        for (status, body) in [
            (
                400,
                r#"{"error":{"message":"Extra parameters ['stream_options'] are not allowed","type":"invalid_request_error"}}"#,
            ),
            (
                422,
                r#"{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"],"msg":"Extra inputs are not permitted"}]}"#,
            ),
            (
                400,
                r#"{"error":{"message":"Unrecognized request argument supplied","param":"stream_options"}}"#,
            ),
            (400, "unknown field `stream_options`"),
        ] {
            assert!(rejects_stream_options(&api_error(status, body)), "{body}");
        }
    }

    #[test]
    fn other_errors_are_not_refusals_of_stream_options() {
        let named = r#"{"error":{"message":"stream_options is not supported"}}"#;
        for (status, body) in [
            // Another status naming it: not a refusal of the field.
            (500, named),
            (401, named),
            // A 422 about another field, which echoes the request (stream_options included).
            (
                422,
                r#"{"detail":[{"loc":["body","model"],"msg":"Field required","input":{"stream_options":{"include_usage":true}}}]}"#,
            ),
            (
                400,
                r#"{"error":{"message":"Bad temperature","param":"temperature"}}"#,
            ),
        ] {
            assert!(
                !rejects_stream_options(&api_error(status, body)),
                "{status} {body}"
            );
        }
        assert!(!rejects_stream_options(&Error::config("stream_options")));
        let in_stream = ApiError::new(400, None, named.to_owned(), parse_error_body(named), true);
        assert!(!rejects_stream_options(&Error::api_error(in_stream)));
    }
}
