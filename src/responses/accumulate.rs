//! Rebuilds a [`Response`] from the events of a stream.

use serde_json::Map;

use super::event::{DeltaEvent, DoneEvent, ResponseEvent};
use super::output::{
    FunctionCallItem, OutputContent, OutputItem, OutputMessage, ReasoningItem, RefusalContent,
    SummaryText,
};
use super::response::Response;

/// Rebuilds the [`Response`] of a Responses stream from its events, like the official SDKs'
/// final-response helpers. [`ResponsesDecoder`](super::ResponsesDecoder) uses one; it is
/// public for events that arrive some other way.
///
/// Rules:
///
/// - The response of a terminal event (`response.completed`, `response.incomplete`,
///   `response.failed`) wins: it is the server's own final word. Only when its `output` is
///   empty while items were streamed are the rebuilt items used.
/// - Without a terminal event (a stream cut off, or ended by `event: error`), the response is
///   the last `response.created` / `response.in_progress` snapshot with its `output` rebuilt:
///   items are found by `item_id` (llama.cpp sends no `output_index`), else by
///   `output_index`, and kept in the order they appeared. Text, refusal and reasoning summary
///   deltas are appended to their part (found by `content_index` / `summary_index`, else the
///   item's last part), function call argument deltas to their item; `*.done` events set the
///   whole text, and `content_part.done`, `reasoning_summary_part.done` and
///   `output_item.done` replace what was rebuilt with the server's version. A delta for an
///   item or part that was never announced creates it.
/// - `error` events and events of unknown types change nothing.
///
/// ```
/// use chatstream::{ResponseAccumulator, ResponseEvent};
///
/// let events = [
///     r#"{"type":"response.created","response":{"id":"resp_1","object":"response","status":"in_progress","model":"m","output":[]}}"#,
///     r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"message","id":"msg_1","role":"assistant","content":[]}}"#,
///     r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}"#,
///     r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":" world"}"#,
/// ];
/// let mut acc = ResponseAccumulator::new();
/// for event in events {
///     acc.push(&ResponseEvent::from_json_str(event)?);
/// }
/// let response = acc.response();
/// assert_eq!(response.output_text(), "Hello world");
/// assert_eq!(response.status.as_deref(), Some("in_progress")); // no terminal event yet
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseAccumulator {
    /// The last `created` / `in_progress` response.
    snapshot: Option<Response>,
    /// The output items in the order they appeared.
    items: Vec<ItemState>,
    /// The response of the terminal event.
    terminal: Option<Response>,
}

/// One output item being rebuilt.
#[derive(Debug, Clone)]
struct ItemState {
    output_index: Option<u64>,
    item: OutputItem,
    /// The `content_index` / `summary_index` of each part of the item, by position. Parts are
    /// never placed by index, so a huge index from a broken server costs one entry.
    part_indexes: Vec<Option<u64>>,
}

impl ItemState {
    fn new(output_index: Option<u64>, item: OutputItem) -> ItemState {
        let parts = match &item {
            OutputItem::Message(m) => m.content.len(),
            OutputItem::Reasoning(r) => r.summary.len(),
            _ => 0,
        };
        ItemState {
            output_index,
            item,
            part_indexes: (0..parts as u64).map(Some).collect(),
        }
    }
}

/// The position of the part with this index among `indexes` (the last part for `None`), if
/// there is one.
fn part_position(indexes: &[Option<u64>], index: Option<u64>, len: usize) -> Option<usize> {
    match index {
        Some(index) => indexes.iter().position(|&p| p == Some(index)),
        None => len.checked_sub(1),
    }
}

/// Which text of a message part a delta or done event is about.
#[derive(Clone, Copy)]
enum PartText {
    Output,
    Refusal,
}

impl ResponseAccumulator {
    /// An empty accumulator.
    pub fn new() -> ResponseAccumulator {
        ResponseAccumulator::default()
    }

    /// Merges one event. Never fails and never panics, whatever the event holds.
    pub fn push(&mut self, event: &ResponseEvent) {
        match event {
            ResponseEvent::Created(e) | ResponseEvent::InProgress(e) => {
                self.snapshot = Some(e.response.clone());
            }
            ResponseEvent::Completed(e)
            | ResponseEvent::Incomplete(e)
            | ResponseEvent::Failed(e) => self.terminal = Some(e.response.clone()),
            ResponseEvent::OutputItemAdded(e) | ResponseEvent::OutputItemDone(e) => {
                let state = ItemState::new(e.output_index, e.item.clone());
                match self.find(e.item.id(), e.output_index) {
                    Some(position) => self.items[position] = state,
                    None => self.items.push(state),
                }
            }
            ResponseEvent::ContentPartAdded(e) | ResponseEvent::ContentPartDone(e) => {
                let state = self.message(&e.item_id, e.output_index);
                let OutputItem::Message(message) = &mut state.item else {
                    return;
                };
                let position = e
                    .content_index
                    .and_then(|i| state.part_indexes.iter().position(|&p| p == Some(i)));
                match position {
                    Some(position) => message.content[position] = e.part.clone(),
                    None => {
                        message.content.push(e.part.clone());
                        state.part_indexes.push(e.content_index);
                    }
                }
            }
            ResponseEvent::OutputTextDelta(d) => self.text_delta(d, PartText::Output),
            ResponseEvent::RefusalDelta(d) => self.text_delta(d, PartText::Refusal),
            ResponseEvent::OutputTextDone(d) => self.text_done(d, PartText::Output),
            ResponseEvent::RefusalDone(d) => self.text_done(d, PartText::Refusal),
            ResponseEvent::FunctionCallArgumentsDelta(d) => {
                if let Some(call) = self.function_call(&d.item_id, d.output_index) {
                    call.arguments.push_str(&d.delta);
                }
            }
            ResponseEvent::FunctionCallArgumentsDone(d) => {
                if let Some(call) = self.function_call(&d.item_id, d.output_index) {
                    call.arguments.clone_from(&d.text);
                }
            }
            ResponseEvent::ReasoningSummaryPartAdded(e)
            | ResponseEvent::ReasoningSummaryPartDone(e) => {
                if let Some(part) = self.summary_part(&e.item_id, e.output_index, e.summary_index) {
                    *part = e.part.clone();
                }
            }
            ResponseEvent::ReasoningSummaryTextDelta(d) => {
                if let Some(part) = self.summary_part(&d.item_id, d.output_index, d.index) {
                    part.text.push_str(&d.delta);
                }
            }
            ResponseEvent::ReasoningSummaryTextDone(d) => {
                if let Some(part) = self.summary_part(&d.item_id, d.output_index, d.index) {
                    part.text.clone_from(&d.text);
                }
            }
            ResponseEvent::Error(_) | ResponseEvent::Other(_) => {}
        }
    }

    /// The position of the item with this id, else (when the id is empty or unknown) of an
    /// item at this `output_index` whose own id does not contradict.
    fn find(&self, item_id: &str, output_index: Option<u64>) -> Option<usize> {
        if !item_id.is_empty() {
            if let Some(position) = self.items.iter().position(|s| s.item.id() == item_id) {
                return Some(position);
            }
        }
        let index = output_index?;
        self.items.iter().position(|s| {
            s.output_index == Some(index) && (item_id.is_empty() || s.item.id().is_empty())
        })
    }

    /// The item for an event, created by `create` (with the event's id) when missing.
    fn item(
        &mut self,
        item_id: &str,
        output_index: Option<u64>,
        create: impl FnOnce(String) -> OutputItem,
    ) -> &mut ItemState {
        let position = match self.find(item_id, output_index) {
            Some(position) => position,
            None => {
                let item = create(item_id.to_owned());
                self.items.push(ItemState::new(output_index, item));
                self.items.len() - 1
            }
        };
        &mut self.items[position]
    }

    fn message(&mut self, item_id: &str, output_index: Option<u64>) -> &mut ItemState {
        self.item(item_id, output_index, |id| {
            OutputItem::Message(OutputMessage {
                id,
                role: crate::chat::Role::Assistant,
                ..OutputMessage::default()
            })
        })
    }

    fn function_call(
        &mut self,
        item_id: &str,
        output_index: Option<u64>,
    ) -> Option<&mut FunctionCallItem> {
        let state = self.item(item_id, output_index, |id| {
            OutputItem::FunctionCall(FunctionCallItem {
                id,
                ..FunctionCallItem::default()
            })
        });
        match &mut state.item {
            OutputItem::FunctionCall(call) => Some(call),
            _ => None,
        }
    }

    /// The summary part of a reasoning item, created (empty) when missing.
    fn summary_part(
        &mut self,
        item_id: &str,
        output_index: Option<u64>,
        index: Option<u64>,
    ) -> Option<&mut SummaryText> {
        let state = self.item(item_id, output_index, |id| {
            OutputItem::Reasoning(ReasoningItem {
                id,
                ..ReasoningItem::default()
            })
        });
        let OutputItem::Reasoning(reasoning) = &mut state.item else {
            return None;
        };
        let position = match part_position(&state.part_indexes, index, reasoning.summary.len()) {
            Some(position) => position,
            None => {
                reasoning.summary.push(SummaryText::default());
                state.part_indexes.push(index);
                reasoning.summary.len() - 1
            }
        };
        reasoning.summary.get_mut(position)
    }

    /// The text of a message part that a delta or done event is about: created when missing,
    /// and a new part when the part at that index is of another kind.
    fn part_text(
        &mut self,
        item_id: &str,
        output_index: Option<u64>,
        index: Option<u64>,
        kind: PartText,
    ) -> Option<&mut String> {
        let state = self.message(item_id, output_index);
        let OutputItem::Message(message) = &mut state.item else {
            return None;
        };
        let matches = |part: &OutputContent| {
            matches!(
                (kind, part),
                (PartText::Output, OutputContent::Text(_))
                    | (PartText::Refusal, OutputContent::Refusal(_))
            )
        };
        let position = part_position(&state.part_indexes, index, message.content.len())
            .filter(|&p| matches(&message.content[p]));
        let position = match position {
            Some(position) => position,
            None => {
                message.content.push(match kind {
                    PartText::Output => OutputContent::text(""),
                    PartText::Refusal => OutputContent::Refusal(RefusalContent {
                        refusal: String::new(),
                        extra: Map::new(),
                    }),
                });
                state.part_indexes.push(index);
                message.content.len() - 1
            }
        };
        match &mut message.content[position] {
            OutputContent::Text(text) => Some(&mut text.text),
            OutputContent::Refusal(refusal) => Some(&mut refusal.refusal),
            OutputContent::Other(_) => None,
        }
    }

    fn text_delta(&mut self, d: &DeltaEvent, kind: PartText) {
        if let Some(text) = self.part_text(&d.item_id, d.output_index, d.index, kind) {
            text.push_str(&d.delta);
        }
    }

    fn text_done(&mut self, d: &DoneEvent, kind: PartText) {
        if let Some(text) = self.part_text(&d.item_id, d.output_index, d.index, kind) {
            text.clone_from(&d.text);
        }
    }

    /// True once a terminal event (`completed`, `incomplete` or `failed`) was pushed.
    pub fn has_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// True until an event that carries a response or an item was pushed.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.items.is_empty() && self.terminal.is_none()
    }

    /// The response so far (see the rules above).
    pub fn response(&self) -> Response {
        self.clone().into_response()
    }

    /// The response (see the rules above).
    pub fn into_response(self) -> Response {
        let items: Vec<OutputItem> = self.items.into_iter().map(|s| s.item).collect();
        match self.terminal {
            Some(mut terminal) => {
                if terminal.output.is_empty() {
                    terminal.output = items;
                }
                terminal
            }
            None => {
                let mut response = self.snapshot.unwrap_or_default();
                response.output = items;
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accumulate(events: &[serde_json::Value]) -> Response {
        let mut acc = ResponseAccumulator::new();
        for event in events {
            acc.push(&ResponseEvent::from_json(event.clone()).expect("test event decodes"));
        }
        acc.response()
    }

    #[test]
    fn deltas_without_announcements_create_their_items_and_parts() {
        let response = accumulate(&[
            json!({"type": "response.output_text.delta", "item_id": "m", "delta": "a"}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "f", "delta": "{"}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "r", "summary_index": 3, "delta": "s"}),
            json!({"type": "response.output_text.delta", "item_id": "m", "delta": "b"}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "f", "delta": "}"}),
        ]);
        assert_eq!(response.output_text(), "ab");
        assert_eq!(response.function_calls().next().unwrap().arguments, "{}");
        assert_eq!(response.reasoning_summary(), "s");
        let ids: Vec<&str> = response.output.iter().map(OutputItem::id).collect();
        assert_eq!(ids, ["m", "f", "r"]);
        assert_eq!(response.status, None, "no snapshot, no status");
    }

    #[test]
    fn parts_are_found_by_index_and_kind() {
        let response = accumulate(&[
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m", "content": []}}),
            // A huge index costs one entry.
            json!({"type": "response.output_text.delta", "item_id": "m", "content_index": u64::MAX, "delta": "x"}),
            json!({"type": "response.output_text.delta", "item_id": "m", "content_index": 0, "delta": "a"}),
            json!({"type": "response.refusal.delta", "item_id": "m", "content_index": 0, "delta": "no"}),
            json!({"type": "response.output_text.delta", "item_id": "m", "content_index": u64::MAX, "delta": "y"}),
            json!({"type": "response.output_text.done", "item_id": "m", "content_index": 0, "text": "A"}),
        ]);
        let OutputItem::Message(message) = &response.output[0] else {
            panic!("{response:?}")
        };
        let parts: Vec<serde_json::Value> =
            message.content.iter().map(OutputContent::to_json).collect();
        assert_eq!(
            parts,
            [
                json!({"type": "output_text", "text": "xy"}),
                json!({"type": "output_text", "text": "A"}),
                json!({"type": "refusal", "refusal": "no"}),
            ]
        );
    }

    #[test]
    fn items_without_ids_are_found_by_output_index() {
        let response = accumulate(&[
            json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "name": "f", "arguments": ""}}),
            json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{}"}),
            // Another item's id at the same index does not take it over.
            json!({"type": "response.function_call_arguments.delta", "item_id": "other", "output_index": 7, "delta": "[]"}),
            // A delta for a message id that is a function call changes nothing.
            json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "function_call", "id": "g", "name": "g", "arguments": ""}}),
            json!({"type": "response.output_text.delta", "item_id": "g", "delta": "text"}),
        ]);
        let calls: Vec<(&str, &str)> = response
            .function_calls()
            .map(|c| (c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(calls, [("f", "{}"), ("", "[]"), ("g", "")]);
        assert_eq!(response.output_text(), "");
    }

    #[test]
    fn the_terminal_response_wins_unless_its_output_is_empty() {
        let added = json!({"type": "response.output_item.added", "item": {"type": "message", "id": "m", "content": [{"type": "output_text", "text": "streamed"}]}});
        let completed = |output: serde_json::Value| json!({"type": "response.completed", "response": {"id": "r", "status": "completed", "output": output}});
        let final_text = json!([{"type": "message", "id": "m2", "content": [{"type": "output_text", "text": "final"}]}]);
        assert_eq!(
            accumulate(&[added.clone(), completed(final_text)]).output_text(),
            "final"
        );
        let response = accumulate(&[added, completed(json!([]))]);
        assert_eq!(response.output_text(), "streamed");
        assert_eq!(response.status.as_deref(), Some("completed"));
    }
}
