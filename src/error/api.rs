//! [`ApiError`]: an error the API server reported, with everything it said.

use crate::chat::ApiErrorFields;

/// An error reported by the API server, with everything it said.
///
/// Servers differ: OpenAI sends `code` as a string, llama.cpp as a number
/// (kept here as its decimal text); LiteLLM sometimes sends the string
/// `"None"`. A body that is not JSON at all (an HTML page from a proxy, say)
/// is kept as text in [`ApiError::body`] and its first line becomes the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status of the response that carried the error (200 for an error
    /// that arrived inside a stream).
    pub status: u16,
    /// The error's `message`, or a summary of the body when it had none.
    pub message: String,
    /// The error's `type`, e.g. `invalid_request_error`.
    pub error_type: Option<String>,
    /// The error's `code`, e.g. `insufficient_quota` or `"401"`.
    pub code: Option<String>,
    /// The error's `param`: the request field it is about.
    pub param: Option<String>,
    /// The `x-request-id` response header, to quote to the provider.
    pub request_id: Option<String>,
    /// The raw body (or stream event data), untouched.
    pub body: String,
    /// True when the error arrived inside an event stream.
    pub in_stream: bool,
}

impl ApiError {
    /// The one place an `ApiError` is built, for every way a server reports
    /// one: an error status's body, an `error` event in a stream, a stream
    /// payload with an `error` object. `fields` are what `chat` parsed out of
    /// `body` (`None` when it holds no error object); without a message the
    /// body's first line (or the status, for an empty body) stands in.
    pub(crate) fn new(
        status: u16,
        request_id: Option<&str>,
        body: String,
        fields: Option<ApiErrorFields>,
        in_stream: bool,
    ) -> Self {
        let ApiErrorFields {
            message,
            error_type,
            code,
            param,
        } = fields.unwrap_or_default();
        let message = message.unwrap_or_else(|| body_summary(status, &body));
        Self {
            status,
            message,
            error_type,
            code,
            param,
            request_id: request_id.map(str::to_owned),
            body,
            in_stream,
        }
    }
}

/// The message of an error body without one: its first line, at most 200
/// characters.
fn body_summary(status: u16, body: &str) -> String {
    let first = body.trim().lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return format!("HTTP {status} with an empty body");
    }
    let mut summary: String = first.chars().take(200).collect();
    if summary.len() < first.len() {
        summary.push('…');
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parsed fields are taken as they are; the body is kept untouched.
    #[test]
    fn an_api_error_is_built_from_parsed_fields() {
        let fields = ApiErrorFields {
            message: Some("Bad temp".to_owned()),
            error_type: Some("invalid_request_error".to_owned()),
            code: Some("invalid_value".to_owned()),
            param: Some("temperature".to_owned()),
        };
        let body = r#"{"error":{"message":"Bad temp"}}"#.to_owned();
        let api = ApiError::new(400, Some("req_9"), body.clone(), Some(fields), false);
        assert_eq!(
            api,
            ApiError {
                status: 400,
                message: "Bad temp".to_owned(),
                error_type: Some("invalid_request_error".to_owned()),
                code: Some("invalid_value".to_owned()),
                param: Some("temperature".to_owned()),
                request_id: Some("req_9".to_owned()),
                body,
                in_stream: false,
            }
        );
    }

    /// Without a message, the body's first line stands in (at most 200
    /// characters), or the status for an empty body.
    #[test]
    fn an_api_error_without_a_message_summarises_its_body() {
        let page = "\n  <html>502 Bad Gateway</html>  \nmore\n".to_owned();
        let api = ApiError::new(502, None, page.clone(), None, false);
        assert_eq!(api.message, "<html>502 Bad Gateway</html>");
        assert_eq!(
            (api.body, api.error_type, api.request_id),
            (page, None, None)
        );

        let long = "é".repeat(250);
        let api = ApiError::new(500, None, long, None, false);
        assert_eq!(api.message, format!("{}…", "é".repeat(200)));

        let api = ApiError::new(503, None, " \n ".to_owned(), None, false);
        assert_eq!(api.message, "HTTP 503 with an empty body");

        let object_without_message = ApiErrorFields {
            code: Some("429".to_owned()),
            ..ApiErrorFields::default()
        };
        let api = ApiError::new(
            200,
            None,
            "{}".to_owned(),
            Some(object_without_message),
            true,
        );
        assert_eq!(
            (api.message.as_str(), api.code.as_deref()),
            ("{}", Some("429"))
        );
        assert!(api.in_stream);
    }
}
