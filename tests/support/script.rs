//! `Script`: answer request `i` (server-wide arrival order) with step `i`.

use std::sync::Arc;

use super::{Handler, Request, Responder};

/// A sequence of canned responses, e.g. for retry tests:
///
/// ```ignore
/// let server = TestServer::scripted(
///     Script::new()
///         .json_with_headers(429, &[("Retry-After", "0")], r#"{"error":{}}"#)
///         .json(500, "{}")
///         .json(200, OK_BODY),
/// );
/// ```
///
/// A request beyond the last step panics in the server (surfaced when the server is
/// dropped) and closes that connection, unless [`repeat_last`](Script::repeat_last).
#[derive(Default)]
pub struct Script {
    steps: Vec<Arc<Handler>>,
    repeat_last: bool,
}

type Headers = Vec<(String, String)>;

fn owned(headers: &[(&str, &str)]) -> Headers {
    headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn borrowed(headers: &Headers) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    /// Any handler as the next step.
    pub fn step(mut self, f: impl Fn(&Request, &mut Responder) + Send + Sync + 'static) -> Script {
        self.steps.push(Arc::new(f));
        self
    }

    /// After the last step, answer every further request with it again.
    pub fn repeat_last(mut self) -> Script {
        self.repeat_last = true;
        self
    }

    pub fn json(self, status: u16, body: &str) -> Script {
        self.json_with_headers(status, &[], body)
    }

    pub fn json_with_headers(self, status: u16, headers: &[(&str, &str)], body: &str) -> Script {
        let (headers, body) = (owned(headers), body.to_string());
        self.step(move |_, r| r.json_with_headers(status, &borrowed(&headers), &body))
    }

    /// 200 `text/event-stream`, whole body in one chunk.
    pub fn sse(self, body: &[u8]) -> Script {
        let body = body.to_vec();
        self.step(move |_, r| r.sse(&body))
    }

    /// 200 `text/event-stream`, body split by `chunk_sizes` (see `Responder::sse_in_chunks`).
    pub fn sse_in_chunks(self, body: &[u8], chunk_sizes: &[usize]) -> Script {
        let (body, sizes) = (body.to_vec(), chunk_sizes.to_vec());
        self.step(move |_, r| r.sse_in_chunks(&body, &sizes))
    }

    /// Close (FIN) before sending the status line.
    pub fn close(self) -> Script {
        self.step(|_, r| r.close())
    }

    /// Reset (RST) before sending the status line.
    pub fn reset(self) -> Script {
        self.step(|_, r| r.reset())
    }

    /// Write these bytes, then close the connection.
    pub fn raw(self, bytes: &[u8]) -> Script {
        let bytes = bytes.to_vec();
        self.step(move |_, r| r.raw(&bytes))
    }

    /// Never answer (until the server is dropped).
    pub fn hold(self) -> Script {
        self.step(|_, r| r.hold())
    }

    /// The handler to pass to `TestServer::start` / `start_tls`.
    pub fn into_handler(self) -> impl Fn(&Request, &mut Responder) + Send + Sync + 'static {
        let Script { steps, repeat_last } = self;
        move |req: &Request, r: &mut Responder| {
            let step = match steps.get(req.index) {
                Some(s) => s,
                None if repeat_last && !steps.is_empty() => steps.last().unwrap(),
                None => panic!(
                    "Script has {} step(s) but got request #{} ({} {})",
                    steps.len(),
                    req.index + 1,
                    req.method,
                    req.path
                ),
            };
            step(req, r);
        }
    }
}
