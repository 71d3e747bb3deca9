//! Request and response bodies the integration tests build over and over:
//! one-line chat requests, SSE `data:` events, chunks and completions.

use chatstream::{ChatRequest, Message};
use serde_json::json;

/// A one-message chat request for `test-model`.
pub fn request() -> ChatRequest {
    ChatRequest::new("test-model", vec![Message::user("hello")])
}

/// `data: {data}\n\n` as bytes.
pub fn event(data: &str) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

/// One chunk's JSON with a content delta for choice 0.
pub fn delta(content: &str) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    .to_string()
}

/// One chunk's JSON finishing choice `index`.
pub fn finish(index: u64) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]})
    .to_string()
}

/// A complete stream: one delta per piece, a finish chunk, `[DONE]`.
pub fn stream_body(pieces: &[&str]) -> Vec<u8> {
    let mut body: Vec<u8> = pieces.iter().flat_map(|p| event(&delta(p))).collect();
    body.extend(event(&finish(0)));
    body.extend(event("[DONE]"));
    body
}

/// A non-streamed completion saying `content`.
pub fn completion_json(content: &str) -> String {
    json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop"}]})
    .to_string()
}
