//! [`ResponseStream`]: a live Responses stream, driven through the client's HTTP stream
//! machinery (deadlines, draining) into a [`ResponsesDecoder`].

use super::decoder::ResponsesDecoder;
use super::event::ResponseEvent;
use super::response::Response;
use crate::error::Error;
use crate::http;
use crate::response_info::ResponseInfo;
use crate::stream::{Events, Next, StreamLimits};

/// A live Responses API stream: an iterator over its events that also rebuilds the response.
/// Returned by [`Client::response_events`](crate::Client::response_events).
///
/// The iterator ends (`None`) after `response.completed` or `response.incomplete`. Any
/// failure (`response.failed` and `error` events, which are yielded first; a stream cut off
/// before its terminal event; a timeout) is yielded once as `Some(Err(e))` with
/// [`Error::partial_response`] holding the response so far; the iterator then ends. Dropping
/// the stream before its end closes the connection.
pub struct ResponseStream {
    events: Option<Events>,
    decoder: ResponsesDecoder,
    info: ResponseInfo,
    finished: bool,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream")
            .field("finished", &self.finished)
            .field("status", &self.info.status())
            .finish_non_exhaustive()
    }
}

impl ResponseStream {
    pub(crate) fn new(response: http::Response, limits: StreamLimits) -> ResponseStream {
        let (info, events) = Events::new(response, limits);
        let mut decoder = ResponsesDecoder::new();
        decoder.set_http(info.status(), info.request_id());
        ResponseStream {
            events: Some(events),
            decoder,
            info,
            finished: false,
        }
    }

    /// The response's status and headers (request id, rate limits).
    pub fn response_info(&self) -> &ResponseInfo {
        &self.info
    }

    /// The response so far: the terminal event's, or rebuilt from the events.
    pub fn response(&self) -> Response {
        let mut response = self.decoder.response();
        response.info = Some(self.info.clone());
        response
    }

    /// The response (the final one once the iterator has ended without an error).
    pub fn into_response(self) -> Response {
        let mut response = self.decoder.response();
        response.info = Some(self.info);
        response
    }

    fn step(&mut self) -> Result<Option<ResponseEvent>, Error> {
        loop {
            if let Some(error) = self.decoder.failure() {
                return Err(error);
            }
            if self.decoder.is_done() {
                // A clean end: read the rest so the connection can be reused.
                if let Some(events) = self.events.take() {
                    events.drain();
                }
                return Ok(None);
            }
            let Some(events) = self.events.as_mut() else {
                return Ok(None);
            };
            match events.next()? {
                Next::Event(event) => {
                    if let Some(event) = self
                        .decoder
                        .decode_event(event.event_type(), event.data())?
                    {
                        return Ok(Some(event));
                    }
                }
                Next::End { cause, .. } => {
                    let discarded = events
                        .discarded()
                        .map(|e| (e.event_type().to_owned(), e.data().to_owned()));
                    let last = self.decoder.close(
                        discarded.as_ref().map(|(t, d)| (t.as_str(), d.as_str())),
                        cause,
                    );
                    self.events = None;
                    if last.is_some() {
                        return Ok(last);
                    }
                }
            }
        }
    }
}

impl Iterator for ResponseStream {
    type Item = Result<ResponseEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.step() {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                // Closing the connection: a failed stream is never drained.
                self.events = None;
                Some(Err(e.with_partial_response(self.response())))
            }
        }
    }
}

impl std::iter::FusedIterator for ResponseStream {}
