//! [`Usage`]: token counts.

use serde_json::{Map, Value};

use super::json::{Bad, Fields, Out, object_of};
use crate::Error;

/// Token counts (`usage`). Every count is optional because servers send partial objects
/// (`"usage": {}` included).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: Option<u64>,
    /// Tokens generated.
    pub completion_tokens: Option<u64>,
    /// Prompt plus completion tokens.
    pub total_tokens: Option<u64>,
    /// Breakdown of the prompt tokens.
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Breakdown of the completion tokens.
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Unknown fields (OpenRouter's `cost`, ...).
    pub extra: Map<String, Value>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from the prompt cache.
    pub cached_tokens: Option<u64>,
    /// Audio input tokens.
    pub audio_tokens: Option<u64>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompletionTokensDetails {
    /// Tokens spent on reasoning.
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    pub audio_tokens: Option<u64>,
    /// Predicted-output tokens that appeared in the completion.
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted-output tokens that did not.
    pub rejected_prediction_tokens: Option<u64>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl Usage {
    /// Decodes a usage object. Fields of the wrong type are kept in `extra`.
    ///
    /// # Errors
    ///
    /// A decode error if `value` is not an object.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        object_of(value, "usage")
            .map(Self::from_map)
            .map_err(Bad::into_error)
    }

    pub(super) fn from_map(map: Map<String, Value>) -> Self {
        let mut f = Fields::of(map, "usage");
        Self {
            prompt_tokens: f.u64("prompt_tokens"),
            completion_tokens: f.u64("completion_tokens"),
            total_tokens: f.u64("total_tokens"),
            prompt_tokens_details: f.loose_object("prompt_tokens_details").map(|map| {
                let mut f = Fields::of(map, "prompt_tokens_details");
                PromptTokensDetails {
                    cached_tokens: f.u64("cached_tokens"),
                    audio_tokens: f.u64("audio_tokens"),
                    extra: f.rest(),
                }
            }),
            completion_tokens_details: f.loose_object("completion_tokens_details").map(|map| {
                let mut f = Fields::of(map, "completion_tokens_details");
                CompletionTokensDetails {
                    reasoning_tokens: f.u64("reasoning_tokens"),
                    audio_tokens: f.u64("audio_tokens"),
                    accepted_prediction_tokens: f.u64("accepted_prediction_tokens"),
                    rejected_prediction_tokens: f.u64("rejected_prediction_tokens"),
                    extra: f.rest(),
                }
            }),
            extra: f.rest(),
        }
    }

    /// True for a usage object without any field (`"usage": {}`).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The usage as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        out.opt("prompt_tokens", self.prompt_tokens);
        out.opt("completion_tokens", self.completion_tokens);
        out.opt("total_tokens", self.total_tokens);
        if let Some(details) = &self.prompt_tokens_details {
            let mut inner = Out::default();
            inner.opt("cached_tokens", details.cached_tokens);
            inner.opt("audio_tokens", details.audio_tokens);
            out.set("prompt_tokens_details", inner.finish(&details.extra));
        }
        if let Some(details) = &self.completion_tokens_details {
            let mut inner = Out::default();
            inner.opt("reasoning_tokens", details.reasoning_tokens);
            inner.opt("audio_tokens", details.audio_tokens);
            inner.opt(
                "accepted_prediction_tokens",
                details.accepted_prediction_tokens,
            );
            inner.opt(
                "rejected_prediction_tokens",
                details.rejected_prediction_tokens,
            );
            out.set("completion_tokens_details", inner.finish(&details.extra));
        }
        out.finish(&self.extra)
    }
}

/// The `usage` of a completion or chunk: `{}` counts, `null` is absent, another type stays in
/// `extra`.
pub(super) fn decode_usage(f: &mut Fields) -> Option<Usage> {
    f.loose_object("usage").map(Usage::from_map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::json::tests::check_round_trip;
    use serde_json::json;

    #[test]
    fn usage_round_trip_and_emptiness() {
        let usage = check_round_trip(
            json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
                   "prompt_tokens_details": {"cached_tokens": 1, "x": true},
                   "completion_tokens_details": {"reasoning_tokens": 1, "accepted_prediction_tokens": 0},
                   "cost": 0.5}),
            Usage::from_json,
            Usage::to_json,
        );
        assert_eq!(
            usage.prompt_tokens_details.as_ref().unwrap().extra["x"],
            true
        );
        assert_eq!(usage.extra["cost"], 0.5);
        assert!(!usage.is_empty());
        assert!(Usage::from_json(json!({})).unwrap().is_empty());
        // Details of the wrong type stay in `extra`, and the usage is no longer empty.
        let odd = Usage::from_json(json!({"prompt_tokens_details": 7})).unwrap();
        assert_eq!(odd.prompt_tokens_details, None);
        assert_eq!(odd.extra["prompt_tokens_details"], 7);
        assert!(!odd.is_empty());
    }
}
