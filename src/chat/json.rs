//! The decoding and encoding helpers every chat type (and every Responses type) uses: [`Fields`] takes known fields out of
//! a JSON object (what is left becomes `extra`), [`Out`] writes them back with `extra` merged
//! last. They implement the leniency rules of the [module docs](super).

use serde_json::{Map, Value};

use crate::Error;

/// A decode failure before it becomes an [`Error`]: the message and the offending JSON text.
///
/// Kept separate so that `from_json_str` can attach the whole input text instead.
pub(crate) struct Bad {
    pub(crate) message: String,
    pub(crate) raw: String,
}

impl Bad {
    pub(crate) fn into_error(self) -> Error {
        Error::decode(self.message, self.raw)
    }
}

pub(crate) type Res<T> = Result<T, Bad>;

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn not_an_object(what: &str, value: &Value) -> Bad {
    Bad {
        message: format!("{what}: expected a JSON object, found {}", type_name(value)),
        raw: value.to_string(),
    }
}

fn wrong_type(what: &str, key: &str, expected: &str, found: &Value) -> Bad {
    Bad {
        message: format!(
            "{what}: `{key}` must be {expected}, found {}",
            type_name(found)
        ),
        raw: found.to_string(),
    }
}

pub(crate) fn object_of(value: Value, what: &str) -> Res<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(not_an_object(what, &other)),
    }
}

/// Parses text as JSON and decodes it; any failure carries the whole text as its raw value.
pub(crate) fn decode_str<T>(
    text: &str,
    what: &str,
    decode: impl FnOnce(Value) -> Res<T>,
) -> Result<T, Error> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::decode(format!("{what}: invalid JSON: {e}"), text.to_owned()))?;
    decode(value).map_err(|bad| Error::decode(bad.message, text.to_owned()))
}

/// A non-negative integer, also when written as an integral float (`3.0`, `1e12`).
pub(super) fn as_u64(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // 2^64 is exactly representable; every integral float below it fits.
    (f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0).then_some(f as u64)
}

/// A JSON number for `f`: integral values are written as integers (`100`, not `100.0`),
/// because some servers validate integer-typed parameters strictly.
pub(crate) fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// Takes known fields out of a JSON object; whatever is left becomes `extra`.
pub(crate) struct Fields {
    map: Map<String, Value>,
    what: &'static str,
}

impl Fields {
    pub(crate) fn new(value: Value, what: &'static str) -> Res<Self> {
        Ok(Self {
            map: object_of(value, what)?,
            what,
        })
    }

    pub(crate) fn of(map: Map<String, Value>, what: &'static str) -> Self {
        Self { map, what }
    }

    /// Removes and returns `key` if `accept` likes its value. A `null` is removed and treated
    /// as absent; any other value is left in place so that it ends up in `extra`.
    pub(crate) fn take_if(&mut self, key: &str, accept: impl Fn(&Value) -> bool) -> Option<Value> {
        let value = self.map.get(key)?;
        if value.is_null() {
            self.map.remove(key);
            None
        } else if accept(value) {
            self.map.remove(key)
        } else {
            None
        }
    }

    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        match self.take_if(key, Value::is_string)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn u64(&mut self, key: &str) -> Option<u64> {
        as_u64(&self.take_if(key, |v| as_u64(v).is_some())?)
    }

    pub(crate) fn f64(&mut self, key: &str) -> Option<f64> {
        self.take_if(key, Value::is_number)?.as_f64()
    }

    /// An optional object whose wrong type can be ignored (it stays in `extra`).
    pub(crate) fn loose_object(&mut self, key: &str) -> Option<Map<String, Value>> {
        match self.take_if(key, Value::is_object)? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// An object that carries model output: a wrong type is an error.
    pub(crate) fn object(&mut self, key: &str) -> Res<Option<Map<String, Value>>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(wrong_type(self.what, key, "an object", &other)),
        }
    }

    /// An array that carries model output: a wrong type is an error.
    pub(crate) fn array(&mut self, key: &str) -> Res<Option<Vec<Value>>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(wrong_type(self.what, key, "an array", &other)),
        }
    }

    /// An array of objects that can be ignored when it has another shape.
    pub(crate) fn loose_objects(&mut self, key: &str) -> Option<Vec<Map<String, Value>>> {
        let items = self.take_if(key, |v| {
            v.as_array()
                .is_some_and(|items| items.iter().all(Value::is_object))
        })?;
        let Value::Array(items) = items else {
            return None;
        };
        Some(
            items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(map) => Some(map),
                    _ => None,
                })
                .collect(),
        )
    }

    pub(crate) fn rest(self) -> Map<String, Value> {
        self.map
    }
}

/// Builds a JSON object field by field; `finish` merges `extra` last.
#[derive(Default)]
pub(crate) struct Out(Map<String, Value>);

impl Out {
    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// Sets `key` to `value`, or to `default` when `value` is empty (a field the server left
    /// out, or a value built in code, is written in the API's shape).
    pub(crate) fn set_or(&mut self, key: &str, value: &str, default: &str) {
        self.set(key, if value.is_empty() { default } else { value });
    }

    pub(crate) fn opt(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            self.set(key, value);
        }
    }

    pub(crate) fn opt_number(&mut self, key: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.set(key, number(value));
        }
    }

    pub(crate) fn finish(mut self, extra: &Map<String, Value>) -> Value {
        for (key, value) in extra {
            self.0.insert(key.clone(), value.clone());
        }
        Value::Object(self.0)
    }
}

/// A choice's `finish_reason`; `""` (sent on every delta by some proxies) counts as none.
pub(crate) fn decode_finish_reason(f: &mut Fields) -> Option<String> {
    f.string("finish_reason")
        .filter(|reason| !reason.is_empty())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// Decodes `input` with `decode`, checks `to_json` gives `expected` back.
    #[track_caller]
    #[allow(clippy::needless_pass_by_value)] // callers pass `json!(..)` literals
    pub(in crate::chat) fn check_round_trip<T: std::fmt::Debug + PartialEq>(
        input: Value,
        decode: fn(Value) -> Result<T, Error>,
        encode: fn(&T) -> Value,
    ) -> T {
        let decoded = decode(input.clone()).expect("decodes");
        assert_eq!(encode(&decoded), input, "to_json differs from the input");
        assert_eq!(decode(encode(&decoded)).expect("re-decodes"), decoded);
        decoded
    }

    #[track_caller]
    pub(in crate::chat) fn decode_error(
        result: Result<impl std::fmt::Debug, Error>,
        message_part: &str,
        raw_part: &str,
    ) {
        let error = result.expect_err("must fail");
        let shown = format!("{error} {error:?}");
        assert!(
            shown.contains(message_part),
            "{shown:?} lacks {message_part:?}"
        );
        // The raw text shows up in the Debug output, possibly escaped.
        let escaped = format!("{raw_part:?}");
        let escaped = &escaped[1..escaped.len() - 1];
        assert!(
            shown.contains(raw_part) || shown.contains(escaped),
            "{shown:?} lacks raw {raw_part:?}"
        );
    }

    fn fields_of(value: Value) -> Fields {
        let Value::Object(map) = value else {
            panic!("test input is an object");
        };
        Fields::of(map, "thing")
    }

    #[test]
    fn integers_may_arrive_as_floats() {
        assert_eq!(as_u64(&json!(3)), Some(3));
        assert_eq!(as_u64(&json!(3.0)), Some(3));
        assert_eq!(as_u64(&json!(1e12)), Some(1_000_000_000_000));
        for not_a_count in [json!(1.5), json!(-1), json!(-0.5), json!(1e20), json!("3")] {
            assert_eq!(as_u64(&not_a_count), None, "{not_a_count}");
        }
        // Integral values are written as integers: some servers check integer parameters strictly.
        assert_eq!(number(100.0).to_string(), "100");
        assert_eq!(number(-1.0).to_string(), "-1");
        assert_eq!(number(0.2).to_string(), "0.2");
    }

    #[test]
    fn fields_leave_what_they_do_not_take_in_extra() {
        let mut f = fields_of(json!({"a": null, "b": 5, "c": "x", "d": [1], "e": {}}));
        assert_eq!(f.string("a"), None, "null is absent");
        assert_eq!(f.string("b"), None, "a wrong type is not taken");
        assert_eq!(f.string("c").as_deref(), Some("x"));
        let Err(bad) = f.object("d") else {
            panic!("an array where model output needs an object is an error");
        };
        assert_eq!(bad.message, "thing: `d` must be an object, found an array");
        assert_eq!(bad.raw, "[1]");
        assert_eq!(f.loose_object("e"), Some(Map::new()));
        assert_eq!(Value::Object(f.rest()), json!({"b": 5}));
    }

    #[test]
    fn an_empty_finish_reason_is_none() {
        let mut f = fields_of(json!({"finish_reason": ""}));
        assert_eq!(decode_finish_reason(&mut f), None);
        assert!(f.rest().is_empty());
        let mut f = fields_of(json!({"finish_reason": "stop"}));
        assert_eq!(decode_finish_reason(&mut f).as_deref(), Some("stop"));
    }
}
