//! The error half of the expected-result files (`fixtures/chat/*.completion.json` and
//! `fixtures/responses-api/*.response.json`), which show an error the same way whatever the
//! stream rebuilt.

use chatstream::Error;
use serde_json::{Value, json};

/// `e` as the expected-result files write it: its kind, its timeout, and the API error's
/// fields.
pub fn error_json(e: &Error) -> Value {
    let mut error = json!({"kind": format!("{:?}", e.kind())});
    if let Some(t) = e.timeout() {
        error["timeout"] = json!(format!("{t:?}"));
    }
    if let Some(api) = e.api() {
        error["status"] = json!(api.status);
        error["message"] = json!(api.message);
        error["type"] = json!(api.error_type);
        error["code"] = json!(api.code);
        error["param"] = json!(api.param);
        error["in_stream"] = json!(api.in_stream);
    }
    error
}
