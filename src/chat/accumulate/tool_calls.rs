//! Tool calls assembled from their streamed fragments.

use serde_json::{Map, Value};

use super::merge::{first_non_empty, merge_streamed_fields};
use crate::chat::{FunctionCall, ToolCall, ToolCallDelta};

/// One tool call being assembled.
#[derive(Debug, Clone, Default)]
pub(super) struct ToolCallState {
    /// The `index` of its fragments (`None` for servers that send no index).
    index: Option<u64>,
    id: String,
    kind: Option<String>,
    name: String,
    arguments: String,
    extra: Map<String, Value>,
    function_extra: Map<String, Value>,
}

/// Merges one fragment into `calls`, the calls of one choice in the order their first fragment
/// arrived; see [`Accumulator::push`](crate::chat::Accumulator::push) for the rules.
pub(super) fn merge_fragment(calls: &mut Vec<ToolCallState>, fragment: &ToolCallDelta) {
    let id = fragment.id.as_deref().filter(|id| !id.is_empty());
    let target = match (fragment.index, id) {
        (Some(index), id) => calls
            .iter()
            .rposition(|call| call.index == Some(index))
            .filter(|&p| id.is_none_or(|id| calls[p].id.is_empty() || calls[p].id == id)),
        (None, Some(id)) => calls.iter().rposition(|call| call.id == id),
        (None, None) => calls.len().checked_sub(1),
    };
    let position = target.unwrap_or_else(|| {
        let state = ToolCallState {
            index: fragment.index,
            ..ToolCallState::default()
        };
        calls.push(state);
        calls.len() - 1
    });
    let call = &mut calls[position];
    if let Some(id) = id.filter(|_| call.id.is_empty()) {
        id.clone_into(&mut call.id);
    }
    if call.kind.is_none() {
        call.kind = fragment.kind.clone().filter(|kind| !kind.is_empty());
    }
    if let Some(function) = &fragment.function {
        first_non_empty(&mut call.name, function.name.as_deref().unwrap_or(""));
        if let Some(arguments) = &function.arguments {
            call.arguments.push_str(arguments);
        }
        merge_streamed_fields(&mut call.function_extra, &function.extra);
    }
    merge_streamed_fields(&mut call.extra, &fragment.extra);
}

impl ToolCallState {
    pub(super) fn into_tool_call(self) -> ToolCall {
        ToolCall {
            id: self.id,
            kind: self.kind.unwrap_or_else(|| "function".to_owned()),
            function: FunctionCall {
                name: self.name,
                arguments: self.arguments,
                extra: self.function_extra,
            },
            extra: self.extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{accumulate, check};
    use serde_json::{Value, json};

    const CITY_FRAGMENTS: &str = r#"
        {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"city"}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":\""}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"Paris"}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]},"finish_reason":null}]}
        {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}
    "#;

    #[test]
    fn tool_call_fragments() {
        let completion = check(
            CITY_FRAGMENTS,
            json!({
                "id": "c", "object": "chat.completion", "created": 0, "model": "",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
                    "role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_abc", "type": "function",
                                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}]
            }),
        );
        assert_eq!(
            completion.tool_calls()[0].arguments_json().unwrap(),
            json!({"city": "Paris"})
        );
    }

    #[test]
    fn tool_call_fragments_in_one_chunk_and_parallel_calls() {
        // Several fragments of one index in one chunk (openai-python #3201), two calls, and
        // vLLM repeating id and name on a later fragment (vllm #31438).
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\""}},{"index":0,"function":{"arguments":":1}"}},{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":""}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}},{"index":0,"id":"a","function":{"name":"f"}}]}}]}
            {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}
            "#,
        )
        .into_completion();
        let calls = completion.tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].function.name.as_str()),
            ("a", "f")
        );
        assert_eq!(calls[0].arguments_json().unwrap(), json!({"x": 1}));
        assert_eq!(
            (calls[1].id.as_str(), calls[1].function.name.as_str()),
            ("b", "g")
        );
        assert_eq!(calls[1].arguments_json().unwrap(), json!({}));
    }

    #[test]
    fn tool_calls_without_index() {
        // Gemini-style: whole calls without index, each with its own id; then a proxy that
        // sends id-less continuation fragments without index.
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"id":"g1","type":"function","function":{"name":"a","arguments":"{\"n\":1}"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"g2","type":"function","function":{"name":"b","arguments":"{\"n\":"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"2}"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"g1","function":{"arguments":""}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"","type":"","function":{"arguments":""}}]},"finish_reason":"tool_calls"}]}
            "#,
        )
        .into_completion();
        let calls = completion.tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments_json().unwrap(), json!({"n": 1}));
        assert_eq!(calls[1].id, "g2");
        assert_eq!(calls[1].kind, "function");
        assert_eq!(calls[1].arguments_json().unwrap(), json!({"n": 2}));

        // A first fragment without index or id starts a call; no type means "function".
        let completion = accumulate(r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]}"#)
            .into_completion();
        assert_eq!(completion.tool_calls().len(), 1);
        assert_eq!(completion.tool_calls()[0].kind, "function");
        assert_eq!(completion.tool_calls()[0].id, "");
    }

    #[test]
    fn same_index_different_ids_are_different_calls() {
        let completion = accumulate(
            r#"
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"x1","function":{"name":"f","arguments":"{\"a\":"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"x2","function":{"name":"f","arguments":"{\"a\":"}}]}}]}
            {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2}"}}]}}]}
            "#,
        )
        .into_completion();
        let args: Vec<Value> = completion
            .tool_calls()
            .iter()
            .map(|c| c.arguments_json().unwrap())
            .collect();
        assert_eq!(args, [json!({"a": 1}), json!({"a": 2})]);
    }
}
