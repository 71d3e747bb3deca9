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

/// This path gave up on the input (see the module docs); the reason does not matter, since
/// the `Value` decoder reads it again.
#[derive(Debug)]
pub(super) struct GiveUp;

/// A chat type that a visitor fills field by field.
///
/// The visitors work through `dyn` references, so the serde_json parser is instantiated once
/// for all the types instead of once per type (binary size).
pub(super) trait Visit {
    /// The value an element at `position` of an array starts from.
    fn at(position: usize) -> Self
    where
        Self: Sized + Default,
    {
        let _ = position;
        Self::default()
    }

    /// Reads the value of `key` into `self` if it is a known field and returns the field's
    /// bit (one per field, to notice a repeated key); returns 0 without reading the value when
    /// the key is unknown.
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp>;

    /// Where unknown fields go.
    fn extra(&mut self) -> &mut Map<String, Value>;
}

/// The value of the field being read, read the way the field needs it.
pub(super) trait Read {
    /// Any JSON value (a scalar field, then sorted by the leniency rules).
    fn value(&mut self) -> Result<Value, GiveUp>;
    /// An object decoded into `into`; `false` for `null`.
    fn object(&mut self, into: &mut dyn Visit) -> Result<bool, GiveUp>;
    /// An array of objects decoded into new elements of `into`; `false` for `null`.
    fn array(&mut self, into: &mut dyn Elements) -> Result<bool, GiveUp>;
}

/// A growable array of decoded objects.
pub(super) trait Elements {
    /// Appends a new element and returns it, to be filled.
    fn push_new(&mut self) -> &mut dyn Visit;
}

impl<T: Visit + Default> Elements for Vec<T> {
    fn push_new(&mut self) -> &mut dyn Visit {
        let position = self.len();
        self.push(T::at(position));
        &mut self[position]
    }
}

/// An optional object field: a new value filled from it, `None` for `null`.
pub(super) fn object<T: Visit + Default>(value: &mut dyn Read) -> Result<Option<T>, GiveUp> {
    let mut into = T::default();
    Ok(value.object(&mut into)?.then_some(into))
}

/// An optional array field: its objects decoded into a new `Vec`, `None` for `null`.
pub(super) fn array<T: Visit + Default>(value: &mut dyn Read) -> Result<Option<Vec<T>>, GiveUp> {
    let mut into = Vec::new();
    Ok(value.array(&mut into)?.then_some(into))
}

/// Decodes `text` into `into` (a default value). An error only means this path gave up.
pub(super) fn decode_text(text: &str, into: &mut dyn Visit) -> Result<(), GiveUp> {
    let mut de = serde_json::Deserializer::from_str(text);
    match Object(into).deserialize(&mut de) {
        Ok(true) => de.end().map_err(|_| GiveUp),
        _ => Err(GiveUp),
    }
}

fn give_up<E: de::Error>() -> E {
    // `fmt::Arguments`, the message type serde_json's own errors use, shares their code.
    E::custom(format_args!("gave up"))
}

/// An object decoded into the value it points at (`false` for `null`; any other type gives
/// up).
struct Object<'a>(&'a mut dyn Visit);

impl<'de> DeserializeSeed<'de> for Object<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_any(self)
    }
}

/// The `visit_*` methods for booleans, numbers and strings of a visitor (of `Value = bool`)
/// that reads only an object or an array: each gives up. They are written out, in both
/// visitors, to give up without formatting the value: serde's defaults would describe it,
/// which links the float formatting code in.
macro_rules! give_up_on_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
            Err(give_up())
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
            Err(give_up())
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
            Err(give_up())
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
            Err(give_up())
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
            Err(give_up())
        }
    };
}

// Every `visit_*` of a type it does not read gives up (see `give_up_on_scalars`).
impl<'de> Visitor<'de> for Object<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = 0;
        while let Some(key) = map.next_key_seed(Key)? {
            let bit = self
                .0
                .field(&key, &mut Field(&mut map))
                .map_err(|_| give_up::<A::Error>())?;
            if bit == 0 {
                let unknown: Value = map.next_value()?;
                self.0.extra().insert(key.into_owned(), unknown);
            } else if seen & bit != 0 {
                // The `Value` decoder keeps the last one; leave the case to it.
                return Err(give_up());
            } else {
                seen |= bit;
            }
        }
        Ok(true)
    }

    give_up_on_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<bool, A::Error> {
        Err(give_up())
    }
}

/// An array of objects (`false` for `null`; any other type, or an element that is not an
/// object, gives up).
struct Array<'a>(&'a mut dyn Elements);

impl<'de> DeserializeSeed<'de> for Array<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Array<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(present) = seq.next_element_seed(Element(&mut *self.0))? {
            if !present {
                return Err(give_up());
            }
        }
        Ok(true)
    }

    give_up_on_scalars!();

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<bool, A::Error> {
        Err(give_up())
    }
}

/// The next element of an array: a new object in the `Elements`.
struct Element<'a>(&'a mut dyn Elements);

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        Object(self.0.push_new()).deserialize(de)
    }
}

/// Token bytes: an array of integers from 0 to 255, or `null`; anything else gives up (the
/// `Value` decoder then keeps it in `extra`).
pub(super) fn bytes(value: Value) -> Result<Option<Vec<u8>>, GiveUp> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|b| as_byte(b).ok_or(GiveUp))
            .collect::<Result<_, _>>()
            .map(Some),
        _ => Err(GiveUp),
    }
}

/// A token byte: an integer from 0 to 255.
pub(super) fn as_byte(value: &Value) -> Option<u8> {
    value.as_u64().and_then(|b| u8::try_from(b).ok())
}

/// The value of the current key of a map, read for a [`Visit::field`].
struct Field<'m, A>(&'m mut A);

impl<'de, A: MapAccess<'de>> Read for Field<'_, A> {
    fn value(&mut self) -> Result<Value, GiveUp> {
        self.0.next_value().map_err(|_| GiveUp)
    }

    fn object(&mut self, into: &mut dyn Visit) -> Result<bool, GiveUp> {
        self.0.next_value_seed(Object(into)).map_err(|_| GiveUp)
    }

    fn array(&mut self, into: &mut dyn Elements) -> Result<bool, GiveUp> {
        self.0.next_value_seed(Array(into)).map_err(|_| GiveUp)
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
}

// The leniency rules for a known field read as a `Value`, the same as `Fields` applies.

/// The value if `accept` likes it; `null` is absent, anything else goes to `extra`.
#[inline(never)]
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

#[inline(never)]
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
            let chunk = ChatChunk::visit_str(&text)
                .unwrap_or_else(|| panic!("the visitors gave up on {text}"));
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
            assert_eq!(ChatChunk::visit_str(text), None, "{text}");
        }
        // Wrong scalar types, escaped keys and nulls stay on the visitor path.
        let chunk = ChatChunk::visit_str(
            r#"{"i\u0064":"c","created":"soon","usage":null,"choices":[{"delta":{"content":5},"finish_reason":""}]}"#,
        )
        .unwrap();
        assert_eq!(chunk.id, "c");
        assert_eq!(chunk.extra["created"], "soon");
        assert_eq!(chunk.choices[0].delta.extra["content"], 5);
        assert_eq!(chunk.choices[0].finish_reason, None);
    }
}
