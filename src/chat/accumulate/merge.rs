//! How the unknown fields of successive chunks combine, and the first-value-wins rule of the
//! identifying fields.

use serde_json::{Map, Value};

/// Sets an identifying string (`id`, `model`, a function name) from the first chunk that has a
/// non-empty one; later values never replace it.
pub(super) fn first_non_empty(acc: &mut String, new: &str) {
    if acc.is_empty() && !new.is_empty() {
        new.clone_into(acc);
    }
}

/// Fields that are pure transport noise and are not kept in an accumulated completion:
/// `obfuscation` is random padding OpenAI adds to every chunk.
const NOISE_FIELDS: &[&str] = &["obfuscation"];

/// Keys that identify rather than stream: their string values are never concatenated.
const IDENTITY_FIELDS: &[&str] = &["id", "type", "index", "name", "tool_call_id"];

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A piece of a chunk that the accumulator keeps: cloned from a borrowed chunk, moved out of
/// an owned one ([`Accumulator::push_owned`](crate::Accumulator::push_owned)).
pub(super) trait Piece<T> {
    fn get(&self) -> &T;
    fn keep(self) -> T;
}

impl<T: Clone> Piece<T> for &T {
    fn get(&self) -> &T {
        self
    }

    fn keep(self) -> T {
        self.clone()
    }
}

impl<T> Piece<T> for T {
    fn get(&self) -> &T {
        self
    }

    fn keep(self) -> T {
        self
    }
}

/// Merges the unknown fields of a chunk or a chunk choice (metadata such as `timings`,
/// `provider`, `prompt_filter_results`, `content_filter_results`) into `acc`: for each field,
/// the last non-empty value wins. `null`, `""`, `[]` and `{}` never replace a value, and
/// noise fields (`obfuscation`) are dropped. `new` is a borrowed or an owned map.
pub(super) fn merge_metadata_fields<K: Piece<String>, V: Piece<Value>>(
    acc: &mut Map<String, Value>,
    new: impl IntoIterator<Item = (K, V)>,
) {
    for (key, value) in new {
        if NOISE_FIELDS.contains(&key.get().as_str()) {
            continue;
        }
        match acc.get_mut(key.get()) {
            // The same value as before (Azure's `content_filter_results` and OpenRouter's
            // `provider` arrive on every chunk): nothing changes, so nothing is cloned.
            Some(existing) if existing == value.get() => {}
            Some(existing) => {
                if !is_empty_value(value.get()) {
                    *existing = value.keep();
                }
            }
            None => {
                acc.insert(key.keep(), value.keep());
            }
        }
    }
}

/// Merges the unknown fields of a delta (or of a tool call fragment) into `acc`, treating them
/// as streamed, the way the official SDKs do: strings are concatenated (except identity keys
/// `id`, `type`, `index`, `name` and `tool_call_id`, where the first non-empty value stays), arrays are
/// appended (elements with a matching integer `index` are merged instead), objects are merged
/// key by key, and any other value replaces the previous one. `null` never replaces a value,
/// and a top-level `null` is not recorded at all.
pub(super) fn merge_streamed_fields(acc: &mut Map<String, Value>, new: &Map<String, Value>) {
    // A top-level `null` in a delta means "nothing new"; nested nulls are kept as data.
    merge_object(acc, new, false);
}

/// Merges the unknown fields of a tool call fragment (and of its `function`) into `acc`. A
/// tool call streams only its `function.arguments`; everything else on it identifies the call
/// or is opaque to the client (Gemini's `extra_content.google.thought_signature`, encrypted
/// content), to be sent back exactly as received. So each value is kept from the first
/// fragment that has a non-empty one and is never concatenated or replaced; objects are
/// merged key by key under the same rule, so a key that first comes in a later fragment is
/// still kept.
pub(super) fn merge_opaque_fields(acc: &mut Map<String, Value>, new: &Map<String, Value>) {
    for (key, value) in new {
        match acc.get_mut(key) {
            Some(Value::Object(existing)) => {
                if let Value::Object(value) = value {
                    merge_opaque_fields(existing, value);
                }
            }
            Some(existing) if is_empty_value(existing) && !is_empty_value(value) => {
                existing.clone_from(value);
            }
            Some(_) => {}
            None if value.is_null() => {}
            None => {
                acc.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge_object(acc: &mut Map<String, Value>, new: &Map<String, Value>, keep_nulls: bool) {
    for (key, value) in new {
        match acc.get_mut(key) {
            Some(existing) => merge_streamed_value(key, existing, value),
            None if value.is_null() && !keep_nulls => {}
            None => {
                acc.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Appends `new` to `acc`, except that an object element with an integer `index` that matches
/// an element already in `acc` is merged into it (OpenRouter's `reasoning_details` fragments).
fn merge_streamed_array(acc: &mut Vec<Value>, new: &[Value]) {
    let index_of = |value: &Value| value.get("index").and_then(Value::as_u64);
    for item in new {
        let target = index_of(item).and_then(|index| {
            acc.iter_mut()
                .rev()
                .find(|existing| index_of(existing) == Some(index))
        });
        match (target, item) {
            (Some(Value::Object(existing)), Value::Object(item)) => {
                merge_object(existing, item, true);
            }
            _ => acc.push(item.clone()),
        }
    }
}

fn merge_streamed_value(key: &str, acc: &mut Value, new: &Value) {
    match (acc, new) {
        (_, Value::Null) => {}
        (Value::String(acc), Value::String(new)) => {
            if !IDENTITY_FIELDS.contains(&key) {
                acc.push_str(new);
            } else if acc.is_empty() {
                acc.clone_from(new);
            }
        }
        (Value::Array(acc), Value::Array(new)) => merge_streamed_array(acc, new),
        (Value::Object(acc), Value::Object(new)) => merge_object(acc, new, true),
        (acc, new) => *acc = new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streamed_field_merge() {
        let mut acc = Map::new();
        let pieces = [
            json!({"reasoning_details": [{"type": "reasoning.text", "text": "We need", "index": 0, "format": null}],
                   "audio": {"id": "a1", "transcript": "Hel"}}),
            json!({"reasoning_details": [{"type": "reasoning.text", "text": " to respond", "index": 0, "format": "x"},
                                          {"type": "reasoning.encrypted", "data": "zz", "index": 1}],
                   "audio": {"id": "a1", "transcript": "lo", "expires_at": 5}}),
            json!({"reasoning_details": [], "audio": null, "plain": [1]}),
            json!({"plain": [2]}),
        ];
        for piece in pieces {
            let Value::Object(piece) = piece else {
                unreachable!()
            };
            merge_streamed_fields(&mut acc, &piece);
        }
        assert_eq!(
            Value::Object(acc),
            json!({
                "reasoning_details": [
                    {"type": "reasoning.text", "text": "We need to respond", "index": 0, "format": "x"},
                    {"type": "reasoning.encrypted", "data": "zz", "index": 1}
                ],
                "audio": {"id": "a1", "transcript": "Hello", "expires_at": 5},
                "plain": [1, 2]
            })
        );
    }

    #[test]
    fn opaque_field_merge() {
        let mut acc = Map::new();
        for piece in [
            json!({"extra_content": {"google": {"thought_signature": "c2ln"}}, "empty": "", "gone": null}),
            json!({"extra_content": {"google": {"thought_signature": "c2ln", "later": "x"}}, "empty": "now", "gone": null}),
            json!({"extra_content": {"google": {"thought_signature": "other"}, "more": [1]}, "empty": "again", "flag": true}),
            json!({"extra_content": "not an object", "flag": false}),
        ] {
            let Value::Object(piece) = piece else {
                unreachable!()
            };
            merge_opaque_fields(&mut acc, &piece);
        }
        assert_eq!(
            Value::Object(acc),
            json!({
                "extra_content": {"google": {"thought_signature": "c2ln", "later": "x"}, "more": [1]},
                "empty": "now",
                "flag": true
            })
        );
    }

    #[test]
    fn metadata_field_merge() {
        let mut acc = Map::new();
        for piece in [
            json!({"prompt_filter_results": [{"prompt_index": 0}], "obfuscation": "x", "timings": {"n": 1}}),
            json!({"content_filter_results": {"hate": {}}, "timings": {"n": 2}, "obfuscation": "y"}),
            json!({"content_filter_results": {}, "prompt_filter_results": null, "flag": false}),
        ] {
            let Value::Object(piece) = piece else {
                unreachable!()
            };
            merge_metadata_fields(&mut acc, &piece);
        }
        assert_eq!(
            Value::Object(acc),
            json!({"prompt_filter_results": [{"prompt_index": 0}], "timings": {"n": 2},
                   "content_filter_results": {"hate": {}}, "flag": false})
        );
    }

    #[test]
    fn top_level_null_is_not_recorded_but_nested_nulls_are() {
        let mut acc = Map::new();
        for piece in [
            json!({"refusal_reason": null, "audio": {"expires_at": null}}),
            json!({"later": null}),
        ] {
            let Value::Object(piece) = piece else {
                unreachable!()
            };
            merge_streamed_fields(&mut acc, &piece);
        }
        assert_eq!(Value::Object(acc), json!({"audio": {"expires_at": null}}));
    }
}
