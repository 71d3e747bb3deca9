//! Typed parses of model output: a structured answer ([`ChatCompletion::parse_json`]) and
//! tool-call arguments ([`ToolCall::parse_arguments`]), into any `T: DeserializeOwned`.
//!
//! They use serde's traits through `serde_core` (already in the tree through serde_json), so
//! any type with `#[derive(Deserialize)]` in the caller's crate fits, and this crate needs no
//! derive.

use serde_core::de::DeserializeOwned;
use serde_json::error::Category;

use super::{ChatCompletion, FunctionCall, ToolCall};
use crate::Error;

impl ChatCompletion {
    /// Parses choice 0's answer as JSON into `T`: the last step of structured output
    /// ([`ResponseFormat::json_schema`](crate::ResponseFormat::json_schema)).
    ///
    /// Each way it can fail has its own [`ErrorKind`](crate::ErrorKind), so a caller can tell
    /// a refusal from a cut-off answer from a schema mismatch:
    ///
    /// * [`Refused`](crate::ErrorKind::Refused): the model refused (its message has a
    ///   `refusal`; [`Error::raw`] is the refusal text);
    /// * [`Incomplete`](crate::ErrorKind::Incomplete): `finish_reason` is `"length"` (the JSON
    ///   is cut) or `"content_filter"`; [`Error::raw`] is the text so far;
    /// * [`Decode`](crate::ErrorKind::Decode): no choice 0, no text, text that is not JSON, or
    ///   JSON that does not fit `T`; [`Error::raw`] is the text.
    ///
    /// ```
    /// use chatstream::{ChatCompletion, ErrorKind};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Mood { mood: String }
    ///
    /// let answer = |message: &str, finish: &str| {
    ///     ChatCompletion::from_json_str(&format!(
    ///         r#"{{"choices":[{{"index":0,"message":{message},"finish_reason":"{finish}"}}]}}"#
    ///     ))
    /// };
    /// let ok = answer(r#"{"content":"{\"mood\":\"calm\"}"}"#, "stop")?;
    /// assert_eq!(ok.parse_json::<Mood>()?.mood, "calm");
    ///
    /// let refused = answer(r#"{"content":null,"refusal":"I can't."}"#, "stop")?;
    /// assert_eq!(refused.parse_json::<Mood>().unwrap_err().kind(), ErrorKind::Refused);
    ///
    /// let cut = answer(r#"{"content":"{\"mo"}"#, "length")?;
    /// assert_eq!(cut.parse_json::<Mood>().unwrap_err().kind(), ErrorKind::Incomplete);
    ///
    /// let other = answer(r#"{"content":"{\"colour\":\"red\"}"}"#, "stop")?;
    /// let err = other.parse_json::<Mood>().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Decode);
    /// assert_eq!(err.raw(), Some(r#"{"colour":"red"}"#));
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    pub fn parse_json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.parse_json_of(0)
    }

    /// Parses choice `index`'s answer as JSON into `T`; see [`parse_json`](Self::parse_json).
    pub fn parse_json_of<T: DeserializeOwned>(&self, index: u64) -> Result<T, Error> {
        let Some(choice) = self.choice(index) else {
            return Err(Error::decode(
                format!("no choice {index} to parse as JSON"),
                String::new(),
            ));
        };
        let message = &choice.message;
        if let Some(refusal) = message.refusal.as_deref().filter(|r| !r.is_empty()) {
            return Err(Error::refused(refusal));
        }
        let text = message.text();
        let finish_reason = choice.finish_reason.as_deref();
        if let Some(reason @ ("length" | "content_filter")) = finish_reason {
            return Err(Error::incomplete(reason, text));
        }
        if text.trim().is_empty() {
            let why = finish_reason.map_or_else(String::new, |r| format!(" (finish_reason `{r}`)"));
            return Err(Error::decode(
                format!("choice {index} has no text to parse as JSON{why}"),
                text.into_owned(),
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            let what = match e.classify() {
                Category::Data => "does not match the expected type",
                _ => "is not valid JSON",
            };
            Error::decode(
                format!("the answer of choice {index} {what}: {e}"),
                text.into_owned(),
            )
        })
    }
}

impl FunctionCall {
    /// Parses [`arguments`](Self::arguments) into `T`. Empty (or all-whitespace) arguments,
    /// which several servers send for functions without parameters, parse as `{}`.
    ///
    /// # Errors
    ///
    /// [`Decode`](crate::ErrorKind::Decode), naming the function, when the model wrote
    /// invalid JSON or JSON that does not fit `T`; [`Error::raw`] is the arguments text.
    pub fn parse_arguments<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let text = if self.arguments.trim().is_empty() {
            "{}"
        } else {
            &self.arguments
        };
        serde_json::from_str(text).map_err(|e| {
            let what = match e.classify() {
                Category::Data => "do not match the expected type",
                _ => "are not valid JSON",
            };
            Error::decode(
                format!("tool call `{}`: arguments {what}: {e}", self.name),
                self.arguments.clone(),
            )
        })
    }
}

impl ToolCall {
    /// Parses the function arguments into `T`; see [`FunctionCall::parse_arguments`].
    ///
    /// ```
    /// use chatstream::{ErrorKind, ToolCall};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Weather { city: String }
    ///
    /// let call = ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#);
    /// assert_eq!(call.parse_arguments::<Weather>()?.city, "Paris");
    ///
    /// let broken = ToolCall::function("call_2", "get_weather", r#"{"city":"#);
    /// let err = broken.parse_arguments::<Weather>().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Decode);
    /// assert!(err.to_string().contains("get_weather"));
    /// assert_eq!(err.raw(), Some(r#"{"city":"#));
    /// # Ok::<(), chatstream::Error>(())
    /// ```
    pub fn parse_arguments<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.function.parse_arguments()
    }
}
