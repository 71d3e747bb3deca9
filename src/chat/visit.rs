//! Decoding stream chunks straight from JSON text with hand-written serde visitors, without the
//! intermediate [`serde_json::Value`] tree that [`Fields`](super::json::Fields) works on.
//!
//! Keys are compared as borrowed `&str` (escaped keys arrive owned) and only unknown keys are
//! allocated, into `extra`. A known scalar field is read as a `Value` (a string or a number
//! costs no more that way) and then sorted by the same leniency rules as
//! [`Fields`](super::json::Fields): `null` is absent, a wrong type goes to `extra`.
//!
//! This path only decodes the common shapes. Anything unusual makes it give up: invalid JSON,
//! a top level or nested object of the wrong shape (including a loosely typed one such as
//! `"logprobs": 5`), a known key that appears twice. The caller then decodes the same text
//! with the `Value`-based decoder, which applies every rule and words the error, so the result
//! is always the one that decoder gives; the rare inputs just take the slower path.

use std::borrow::Cow;
use std::fmt;

use serde_core::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::json::as_u64;

/// A chat type that a visitor fills field by field.
pub(super) trait Visit: Default {
    /// The value an element at `position` of an array starts from.
    fn at(position: usize) -> Self {
        let _ = position;
        Self::default()
    }

    /// Reads the value of `key` into `self` if it is a known field and returns the field's
    /// bit (one per field, to notice a repeated key); returns 0 without reading the value when
    /// the key is unknown.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<u32, A::Error>;

    /// Where unknown fields go.
    fn extra(&mut self) -> &mut Map<String, Value>;
}

/// Decodes `text` as a `T`. An error only means this path gave up (see the module docs).
pub(super) fn decode_text<T: Visit>(text: &str) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Object(T::default()).deserialize(&mut de)?;
    de.end()?;
    value.ok_or_else(|| de::Error::custom("not an object"))
}

/// An object decoded into the `T` it holds (`None` for `null`; any other type is an error).
pub(super) struct Object<T>(pub(super) T);

impl<'de, T: Visit> DeserializeSeed<'de> for Object<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<T>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de, T: Visit> Visitor<'de> for Object<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or null")
    }

    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut value = self.0;
        let mut seen = 0;
        while let Some(key) = map.next_key_seed(Key)? {
            let bit = value.field(&key, &mut map)?;
            if bit == 0 {
                let unknown: Value = map.next_value()?;
                value.extra().insert(key.into_owned(), unknown);
            } else if seen & bit != 0 {
                // The `Value` decoder keeps the last one; leave the case to it.
                return Err(de::Error::custom("repeated field"));
            } else {
                seen |= bit;
            }
        }
        Ok(Some(value))
    }
}

/// An array of objects, each decoded into a `T` (`None` for `null`; an element that is not an
/// object, or any other type, is an error).
pub(super) struct Array<T>(std::marker::PhantomData<T>);

impl<T> Array<T> {
    pub(super) fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<'de, T: Visit> DeserializeSeed<'de> for Array<T> {
    type Value = Option<Vec<T>>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<Vec<T>>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de, T: Visit> Visitor<'de> for Array<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects or null")
    }

    fn visit_unit<E>(self) -> Result<Option<Vec<T>>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Vec<T>>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(item) = seq.next_element_seed(Object(T::at(items.len())))? {
            items.push(item.ok_or_else(|| de::Error::custom("null element"))?);
        }
        Ok(Some(items))
    }
}

/// An object key, borrowed from the text unless it had escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Cow<'de, str>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(key.to_owned()))
    }

    fn visit_string<E>(self, key: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(key))
    }
}

// The leniency rules for a known field read as a `Value`, the same as `Fields` applies.

/// The value if `accept` likes it; `null` is absent, anything else goes to `extra`.
pub(super) fn accept(
    key: &str,
    value: Value,
    extra: &mut Map<String, Value>,
    accept: fn(&Value) -> bool,
) -> Option<Value> {
    if value.is_null() {
        None
    } else if accept(&value) {
        Some(value)
    } else {
        extra.insert(key.to_owned(), value);
        None
    }
}

pub(super) fn string(key: &str, value: Value, extra: &mut Map<String, Value>) -> Option<String> {
    match accept(key, value, extra, Value::is_string)? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

pub(super) fn u64(key: &str, value: Value, extra: &mut Map<String, Value>) -> Option<u64> {
    as_u64(&accept(key, value, extra, |v| as_u64(v).is_some())?)
}

pub(super) fn f64(key: &str, value: Value, extra: &mut Map<String, Value>) -> Option<f64> {
    accept(key, value, extra, Value::is_number)?.as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatChunk;
    use crate::sse::{Parser, Status};

    /// The data of every event in the recorded streams.
    fn recorded_payloads() -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sse/recorded");
        let mut payloads = Vec::new();
        for entry in std::fs::read_dir(dir).expect("recorded fixtures") {
            let path = entry.expect("read_dir entry").path();
            if path.extension().is_none_or(|e| e != "sse") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("fixture");
            let mut parser = Parser::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (status, consumed) = parser.feed(rest).expect("fixture parses");
                if status == Status::Event {
                    payloads.push(parser.event().data().to_owned());
                }
                rest = &rest[consumed..];
            }
        }
        payloads
    }

    #[test]
    fn recorded_chunks_take_the_visitor_path() {
        let mut decoded = 0;
        for text in recorded_payloads() {
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue; // `[DONE]`, the pings of a keep-alive fixture
            };
            if value.get("error").is_some() {
                continue;
            }
            let expected = ChatChunk::from_json(value).expect("recorded chunks decode");
            let chunk = decode_text::<ChatChunk>(&text)
                .unwrap_or_else(|e| panic!("the visitors gave up ({e}) on {text}"));
            assert_eq!(chunk, expected, "{text}");
            decoded += 1;
        }
        assert!(decoded > 200, "only {decoded} recorded chunks");
    }

    #[test]
    fn unusual_input_is_left_to_the_value_decoder() {
        for text in [
            r#"{"id":"a","id":"b"}"#,
            r#"{"choices":5}"#,
            r#"{"choices":[1]}"#,
            r#"{"choices":[null]}"#,
            r#"{"choices":[{"logprobs":3}]}"#,
            r#"{"choices":[{"logprobs":{"content":[{"bytes":[256]}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":"f"}]}}]}"#,
            "null",
            "{} x",
        ] {
            assert!(decode_text::<ChatChunk>(text).is_err(), "{text}");
        }
        // Wrong scalar types, escaped keys and nulls stay on the visitor path.
        let chunk = decode_text::<ChatChunk>(
            r#"{"i\u0064":"c","created":"soon","usage":null,"choices":[{"delta":{"content":5},"finish_reason":""}]}"#,
        )
        .unwrap();
        assert_eq!(chunk.id, "c");
        assert_eq!(chunk.extra["created"], "soon");
        assert_eq!(chunk.choices[0].delta.extra["content"], 5);
        assert_eq!(chunk.choices[0].finish_reason, None);
    }
}
