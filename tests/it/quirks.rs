//! Behaviours of servers other than OpenAI that the client handles: error bodies in other
//! shapes, a server that rejects `stream_options`, a stream that ends with `[DONE]` before a
//! finish reason.

use crate::support;

use std::ops::ControlFlow;

use chatstream::{Client, ClientBuilder, Error, ErrorKind};
use support::bodies::request;
use support::{Script, TestServer};

/// A client for `server` that never retries.
fn builder(server: &TestServer) -> ClientBuilder {
    Client::builder().base_url(server.base_url()).max_retries(0)
}

/// The error of a plain call and of a streamed call to a server answering `status` + `body`.
fn errors_for(status: u16, body: &'static str) -> [Error; 2] {
    let server = TestServer::scripted(Script::new().json(status, body).repeat_last());
    let client = builder(&server).build().unwrap();
    let plain = client.chat(&request()).expect_err("an error status");
    let streamed = client
        .chat_stream(&request(), |_| ControlFlow::Continue(()))
        .expect_err("an error status");
    [plain, streamed]
}

// Proves: FastAPI's `{"detail": ..}` (a string, or validation errors) and a string `error`
// beside a `message` show the server's text, not the raw JSON or the word in `error`.
#[test]
fn error_bodies_in_other_shapes_show_the_servers_text() {
    let cases: [(u16, &str, &str, Option<&str>); 3] = [
        (
            401,
            r#"{"detail":"Invalid API key"}"#,
            "Invalid API key",
            None,
        ),
        (
            422,
            r#"{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"],"msg":"Extra inputs are not permitted","input":{"include_usage":true}}]}"#,
            "body.stream_options: Extra inputs are not permitted",
            None,
        ),
        (
            500,
            r#"{"error":"TypeError","message":"Cannot read properties of undefined (reading 'content')"}"#,
            "Cannot read properties of undefined (reading 'content')",
            Some("TypeError"),
        ),
    ];
    for (status, body, message, error_type) in cases {
        for err in errors_for(status, body) {
            assert_eq!(err.kind(), ErrorKind::Api, "{err}");
            let api = err.api().unwrap();
            assert_eq!(api.status, status);
            assert_eq!(api.message, message, "{body}");
            assert_eq!(api.error_type.as_deref(), error_type);
            assert_eq!(api.body, body, "the raw body is kept");
            let shown = err.to_string();
            assert!(shown.contains(message), "{shown}");
            assert!(!shown.contains('{'), "no raw JSON in {shown}");
        }
    }
}
