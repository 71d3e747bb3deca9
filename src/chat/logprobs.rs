//! [`Logprobs`]: log probabilities of the output tokens.

use serde_json::{Map, Value};

use super::json::{Fields, Out};
use super::visit::{self, GiveUp, Read, Visit, as_byte, bytes, f64, string};

/// Log probabilities of a choice (`choices[].logprobs`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Logprobs {
    /// One entry per content token.
    pub content: Option<Vec<TokenLogprob>>,
    /// One entry per refusal token.
    pub refusal: Option<Vec<TokenLogprob>>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The log probability of one output token.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenLogprob {
    /// The token text.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes (a token may hold part of a character).
    pub bytes: Option<Vec<u8>>,
    /// The most likely alternatives at this position.
    pub top_logprobs: Vec<TopLogprob>,
    /// Unknown fields (llama.cpp's token `id`, ...).
    pub extra: Map<String, Value>,
}

/// One alternative in [`TokenLogprob::top_logprobs`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopLogprob {
    /// The token text.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes.
    pub bytes: Option<Vec<u8>>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

fn take_bytes(f: &mut Fields) -> Option<Vec<u8>> {
    let value = f.take_if("bytes", |v| {
        v.as_array()
            .is_some_and(|items| items.iter().all(|b| as_byte(b).is_some()))
    })?;
    value
        .as_array()
        .map(|items| items.iter().filter_map(as_byte).collect())
}

fn bytes_json(bytes: &[u8]) -> Value {
    Value::Array(bytes.iter().map(|&b| Value::from(b)).collect())
}

impl Logprobs {
    pub(super) fn from_map(map: Map<String, Value>) -> Self {
        let mut f = Fields::of(map, "logprobs");
        let list = |f: &mut Fields, key: &str| {
            f.loose_objects(key)
                .map(|items| items.into_iter().map(TokenLogprob::from_map).collect())
        };
        Self {
            content: list(&mut f, "content"),
            refusal: list(&mut f, "refusal"),
            extra: f.rest(),
        }
    }

    /// The log probabilities as JSON.
    pub fn to_json(&self) -> Value {
        let list = |items: &Option<Vec<TokenLogprob>>| {
            items
                .as_ref()
                .map(|items| Value::Array(items.iter().map(TokenLogprob::to_json).collect()))
        };
        let mut out = Out::default();
        out.opt("content", list(&self.content));
        out.opt("refusal", list(&self.refusal));
        out.finish(&self.extra)
    }
}

/// Decodes the fields a token and an alternative share: `token`, `logprob` and `bytes`.
fn decode_token(f: &mut Fields) -> (String, f64, Option<Vec<u8>>) {
    let token = f.string("token").unwrap_or_default();
    let logprob = f.f64("logprob").unwrap_or_default();
    (token, logprob, take_bytes(f))
}

/// Starts the JSON of a token or an alternative with the fields they share (`bytes` is written
/// as `null` when unknown, as OpenAI does).
fn token_json(token: &str, logprob: f64, bytes: Option<&[u8]>) -> Out {
    let mut out = Out::default();
    out.set("token", token);
    out.set("logprob", logprob);
    out.set("bytes", bytes.map_or(Value::Null, bytes_json));
    out
}

impl TokenLogprob {
    fn from_map(map: Map<String, Value>) -> Self {
        let mut f = Fields::of(map, "token logprob");
        let (token, logprob, bytes) = decode_token(&mut f);
        let top_logprobs = f
            .loose_objects("top_logprobs")
            .unwrap_or_default()
            .into_iter()
            .map(TopLogprob::from_map)
            .collect();
        Self {
            token,
            logprob,
            bytes,
            top_logprobs,
            extra: f.rest(),
        }
    }

    /// The entry as JSON (`bytes` is written as `null` when unknown, as OpenAI does).
    pub fn to_json(&self) -> Value {
        let mut out = token_json(&self.token, self.logprob, self.bytes.as_deref());
        out.set(
            "top_logprobs",
            Value::Array(self.top_logprobs.iter().map(TopLogprob::to_json).collect()),
        );
        out.finish(&self.extra)
    }
}

impl TopLogprob {
    fn from_map(map: Map<String, Value>) -> Self {
        let mut f = Fields::of(map, "top logprob");
        let (token, logprob, bytes) = decode_token(&mut f);
        Self {
            token,
            logprob,
            bytes,
            extra: f.rest(),
        }
    }

    /// The entry as JSON.
    pub fn to_json(&self) -> Value {
        token_json(&self.token, self.logprob, self.bytes.as_deref()).finish(&self.extra)
    }
}

impl Visit for Logprobs {
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        let bit = match key {
            "content" => {
                self.content = visit::array(value)?;
                1
            }
            "refusal" => {
                self.refusal = visit::array(value)?;
                2
            }
            _ => 0,
        };
        Ok(bit)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

/// The fields a token and an alternative share: `token`, `logprob` and `bytes`.
type TokenParts<'a> = (&'a mut String, &'a mut f64, &'a mut Option<Vec<u8>>);

/// Reads a field a token and an alternative share and returns its bit; 0 for any other key.
fn token_field(
    key: &str,
    value: &mut dyn Read,
    (token, logprob, token_bytes): TokenParts<'_>,
    extra: &mut Map<String, Value>,
) -> Result<u32, GiveUp> {
    let bit = match key {
        "token" => {
            *token = string(key, value.value()?, extra).unwrap_or_default();
            1
        }
        "logprob" => {
            *logprob = f64(key, value.value()?, extra).unwrap_or_default();
            2
        }
        // Anything but bytes (or null) gives up, and the `Value` decoder keeps it in `extra`.
        "bytes" => {
            *token_bytes = bytes(value.value()?)?;
            4
        }
        _ => 0,
    };
    Ok(bit)
}

impl Visit for TokenLogprob {
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        if key == "top_logprobs" {
            value.array(&mut self.top_logprobs)?;
            return Ok(8);
        }
        let parts = (&mut self.token, &mut self.logprob, &mut self.bytes);
        token_field(key, value, parts, &mut self.extra)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

impl Visit for TopLogprob {
    fn field(&mut self, key: &str, value: &mut dyn Read) -> Result<u32, GiveUp> {
        let parts = (&mut self.token, &mut self.logprob, &mut self.bytes);
        token_field(key, value, parts, &mut self.extra)
    }

    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_bytes_must_be_bytes() {
        let Value::Object(map) = json!({"content": [
            {"token": "a", "logprob": -1, "bytes": [97], "top_logprobs": []},
            {"token": "b", "logprob": -2, "bytes": [256], "top_logprobs": [{"token": "c", "logprob": -3}]}
        ]}) else {
            unreachable!()
        };
        let logprobs = Logprobs::from_map(map);
        let tokens = logprobs.content.as_ref().unwrap();
        assert_eq!(tokens[0].bytes.as_deref(), Some(&b"a"[..]));
        assert_eq!(tokens[0].logprob.to_bits(), (-1.0f64).to_bits());
        assert_eq!(tokens[1].bytes, None, "256 is not a byte");
        assert_eq!(tokens[1].extra["bytes"], json!([256]));
        // Unknown bytes are written as `null`, as OpenAI does; a raw value comes back from `extra`.
        assert_eq!(
            tokens[1].top_logprobs[0].to_json(),
            json!({"token": "c", "logprob": -3.0, "bytes": null})
        );
        assert_eq!(tokens[1].to_json()["bytes"], json!([256]));
        assert_eq!(logprobs.refusal, None);
    }
}
