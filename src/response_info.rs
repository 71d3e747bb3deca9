//! [`ResponseInfo`]: what an HTTP response said besides its body.
//!
//! Pure data, so the completion types can carry it without the HTTP layer: only `http`
//! fills it in.

/// What a successful response said besides its body.
///
/// ```
/// # fn demo(info: &chatstream::ResponseInfo) {
/// if let Some(id) = info.request_id() {
///     eprintln!("request id {id}");
/// }
/// let remaining = info.header("x-ratelimit-remaining-requests");
/// # let _ = remaining; }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseInfo {
    status: u16,
    headers: Vec<(String, String)>,
}

impl ResponseInfo {
    /// The status and the headers (names lower-case) of a response.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn new(status: u16, headers: Vec<(String, String)>) -> Self {
        Self { status, headers }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `x-request-id` header, to quote to the provider.
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-request-id")
    }

    /// A response header by name (case-insensitive), e.g.
    /// `x-ratelimit-remaining-tokens`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `x-ratelimit-*` header, as sent.
    pub fn rate_limits(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.len() > 12 && n[..12].eq_ignore_ascii_case("x-ratelimit-"))
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// All response headers (names lower-case).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}
