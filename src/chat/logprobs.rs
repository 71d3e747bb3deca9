//! [`Logprobs`]: log probabilities of the output tokens.

use serde_json::{Map, Value};

use super::json::{Fields, Out};

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
    let byte = |v: &Value| v.as_u64().and_then(|b| u8::try_from(b).ok());
    let value = f.take_if("bytes", |v| {
        v.as_array()
            .is_some_and(|items| items.iter().all(|b| byte(b).is_some()))
    })?;
    value
        .as_array()
        .map(|items| items.iter().filter_map(byte).collect())
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

impl TokenLogprob {
    fn from_map(map: Map<String, Value>) -> Self {
        let mut f = Fields::of(map, "token logprob");
        Self {
            token: f.string("token").unwrap_or_default(),
            logprob: f.f64("logprob").unwrap_or_default(),
            bytes: take_bytes(&mut f),
            top_logprobs: f
                .loose_objects("top_logprobs")
                .unwrap_or_default()
                .into_iter()
                .map(|map| {
                    let mut f = Fields::of(map, "top logprob");
                    TopLogprob {
                        token: f.string("token").unwrap_or_default(),
                        logprob: f.f64("logprob").unwrap_or_default(),
                        bytes: take_bytes(&mut f),
                        extra: f.rest(),
                    }
                })
                .collect(),
            extra: f.rest(),
        }
    }

    /// The entry as JSON (`bytes` is written as `null` when unknown, as OpenAI does).
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("token", self.token.as_str());
        out.set("logprob", self.logprob);
        out.set(
            "bytes",
            self.bytes.as_deref().map_or(Value::Null, bytes_json),
        );
        out.set(
            "top_logprobs",
            Value::Array(self.top_logprobs.iter().map(TopLogprob::to_json).collect()),
        );
        out.finish(&self.extra)
    }
}

impl TopLogprob {
    /// The entry as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.set("token", self.token.as_str());
        out.set("logprob", self.logprob);
        out.set(
            "bytes",
            self.bytes.as_deref().map_or(Value::Null, bytes_json),
        );
        out.finish(&self.extra)
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
