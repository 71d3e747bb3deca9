//! Header values that can be sent, and credentials that must not go in clear text.

use super::Settings;
use crate::error::Error;

/// Header values are checked when the client is built, so a key pasted
/// with its line break is a clear configuration error (which never echoes
/// the value) instead of a protocol error on every request.
pub(super) fn check_header_values(s: &Settings) -> Result<(), Error> {
    let named = [
        ("the API key", s.api_key.as_deref()),
        ("the organization", s.organization.as_deref()),
        ("the project", s.project.as_deref()),
    ]
    .into_iter()
    .map(|(what, value)| (what.to_string(), value));
    let headers = s
        .headers
        .iter()
        .map(|(name, value)| (format!("the `{name}` header"), Some(value.as_str())));
    for (what, value) in named.chain(headers) {
        if value.is_some_and(|v| !is_valid_header_value(v)) {
            return Err(control_character_error(&what));
        }
    }
    Ok(())
}

/// Whether `value` may be sent as an HTTP field value: no control characters
/// but tab (RFC 9110, 5.5).
pub(super) fn is_valid_header_value(value: &str) -> bool {
    !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// The error for a header value that cannot be sent; it never echoes the value.
pub(super) fn control_character_error(what: &str) -> Error {
    Error::config(format!(
        "{what} contains a control character (a line break?), which cannot be sent in an \
         HTTP header"
    ))
}

/// Headers that carry a credential as surely as `api_key` does: Azure's
/// `api-key`, a hand-made `Authorization`, and `x-api-key`.
pub(super) fn is_credential_header(name: &str) -> bool {
    ["authorization", "api-key", "x-api-key"]
        .iter()
        .any(|c| name.trim().eq_ignore_ascii_case(c))
}

/// The refusal to send `what` in clear text, naming both ways to opt in.
pub(super) fn insecure_http_error(what: &str, host: &str) -> Error {
    Error::config(format!(
        "refusing to send {what} in clear text over http:// to `{host}`, which is not \
         loopback; use https, or opt in with ClientBuilder::allow_insecure_http(true) or \
         CHATSTREAM_ALLOW_INSECURE_HTTP=1"
    ))
}
