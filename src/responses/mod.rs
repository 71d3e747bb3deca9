//! The Responses API (`POST /responses`): requests, the response object, its output items,
//! the typed events of a stream, and the sans-IO [`ResponsesDecoder`] that turns a stream's
//! bytes into events and rebuilds the final [`Response`].
//!
//! The types follow the same rules as the [chat types](crate::chat#leniency): unknown fields
//! are kept in `extra` and written back by `to_json`, `null` is the same as an absent field, a
//! scalar of an unexpected type stays in `extra`, and only the shape of model output
//! (`output`, a message's `content`, a reasoning item's `summary`, an event's `response` or
//! `item`) is checked. Output items and content parts of types the crate does not model are
//! kept whole as `Other`, and so are events of unknown types.
//!
//! With a [`Client`](crate::Client): [`Client::response`](crate::Client::response) (plain),
//! [`Client::response_stream`](crate::Client::response_stream) (a callback per event, then
//! the final response), [`Client::response_events`](crate::Client::response_events) (a pull
//! iterator) and [`Client::retrieve_response`](crate::Client::retrieve_response).
//!
//! ```
//! use chatstream::responses::{Response, ResponseRequest};
//! use serde_json::json;
//!
//! let request = ResponseRequest::new("gpt-4.1-mini", "Say hi").instructions("Be brief.");
//! assert_eq!(request.to_json()["input"], "Say hi");
//!
//! let response = Response::from_json(json!({
//!     "id": "resp_1", "object": "response", "status": "incomplete", "model": "gpt-4.1-mini",
//!     "incomplete_details": {"reason": "max_output_tokens"},
//!     "output": [{"type": "message", "id": "msg_1", "role": "assistant",
//!                 "content": [{"type": "output_text", "text": "Hi th"}]}]
//! }))?;
//! assert_eq!(response.output_text(), "Hi th");
//! assert_eq!(response.incomplete_reason(), Some("max_output_tokens"));
//! # Ok::<(), chatstream::Error>(())
//! ```

mod accumulate;
mod decoder;
mod event;
mod input;
mod output;
mod request;
mod response;
#[cfg(feature = "client")]
mod stream;
mod text_format;
mod tool;

pub use accumulate::ResponseAccumulator;
pub use decoder::ResponsesDecoder;
pub use event::{
    ContentPartEvent, DeltaEvent, DoneEvent, ErrorEvent, OtherEvent, OutputItemEvent,
    ResponseEvent, ResponseSnapshot, SummaryPartEvent,
};
pub use input::{Input, InputContent, InputItem, InputMessage, InputPart};
pub use output::{
    FunctionCallItem, OutputContent, OutputItem, OutputMessage, OutputText, ReasoningItem,
    RefusalContent, SummaryText,
};
pub use request::{ReasoningOptions, ResponseRequest};
pub use response::{IncompleteDetails, Response, ResponseError, ResponseUsage};
#[cfg(feature = "client")]
pub use stream::ResponseStream;
pub use text_format::{TextFormat, TextOptions};
pub use tool::{FunctionTool, ResponseTool, ResponseToolChoice};
