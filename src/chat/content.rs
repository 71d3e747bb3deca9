//! [`Content`] of a message: plain text or typed [`ContentPart`]s.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::json::{Fields, Out};

/// The content of a [`Message`](crate::Message): a plain string or a list of typed parts.
///
/// ```
/// use chatstream::{Content, ContentPart};
///
/// let plain = Content::from("Hello");
/// let parts = Content::from(vec![
///     ContentPart::text("What is in this image?"),
///     ContentPart::image_url("https://example.com/cat.png"),
/// ]);
/// assert_eq!(plain.as_text(), "Hello");
/// assert_eq!(parts.as_text(), "What is in this image?");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// `"content": "..."`.
    Text(String),
    /// `"content": [{"type": ...}, ...]`.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text of the content: the string itself, or the text parts joined together (other
    /// parts are skipped).
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Self::Text(text) => Cow::Borrowed(text),
            Self::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|part| match part {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                });
                let Some(first) = texts.next() else {
                    return Cow::Borrowed("");
                };
                match texts.next() {
                    None => Cow::Borrowed(first),
                    Some(second) => {
                        let mut joined = format!("{first}{second}");
                        texts.for_each(|text| joined.push_str(text));
                        Cow::Owned(joined)
                    }
                }
            }
        }
    }

    /// The content as JSON: a string or an array of parts.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Text(text) => Value::from(text.as_str()),
            Self::Parts(parts) => Value::Array(parts.iter().map(ContentPart::to_json).collect()),
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Self {
        Self::Parts(parts)
    }
}

/// One part of a multi-part message content.
///
/// Part types the crate does not model (or known types with an unexpected shape) are kept
/// whole as [`ContentPart::Other`]. Each typed variant keeps the part's unknown fields (such
/// as OpenRouter's `cache_control`) in `extra`.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type": "text", "text": ...}`.
    Text {
        /// The text.
        text: String,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// `{"type": "image_url", "image_url": {"url": ..., "detail": ...}}`.
    ImageUrl {
        /// The image reference.
        image_url: ImageUrl,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// `{"type": "input_audio", "input_audio": {"data": ..., "format": ...}}`.
    InputAudio {
        /// The audio data.
        input_audio: InputAudio,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// `{"type": "file", "file": {"file_id" | "file_data" | "filename": ...}}`.
    File {
        /// The file reference.
        file: FileRef,
        /// Unknown fields of the part.
        extra: Map<String, Value>,
    },
    /// Any other part, kept as raw JSON.
    Other(Value),
}

/// The `image_url` object of an image content part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageUrl {
    /// An `https:` URL or a `data:` URL with base64 image data.
    pub url: String,
    /// `"auto"`, `"low"` or `"high"`.
    pub detail: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The `input_audio` object of an audio content part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputAudio {
    /// Base64-encoded audio.
    pub data: String,
    /// `"wav"`, `"mp3"`, ...
    pub format: String,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

/// The `file` object of a file content part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileRef {
    /// The id of an uploaded file.
    pub file_id: Option<String>,
    /// Base64-encoded file data (a `data:` URL).
    pub file_data: Option<String>,
    /// The file name, used with `file_data`.
    pub filename: Option<String>,
    /// Unknown fields.
    pub extra: Map<String, Value>,
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            extra: Map::new(),
        }
    }

    /// An image part from an `https:` or `data:` URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                ..ImageUrl::default()
            },
            extra: Map::new(),
        }
    }

    /// An image part with a `detail` level (`"auto"`, `"low"`, `"high"`).
    pub fn image_url_with_detail(url: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: Some(detail.into()),
                extra: Map::new(),
            },
            extra: Map::new(),
        }
    }

    /// An audio part from base64 data and its format (`"wav"`, `"mp3"`).
    pub fn input_audio(data_base64: impl Into<String>, format: impl Into<String>) -> Self {
        Self::InputAudio {
            input_audio: InputAudio {
                data: data_base64.into(),
                format: format.into(),
                extra: Map::new(),
            },
            extra: Map::new(),
        }
    }

    /// A file part referring to an uploaded file.
    pub fn file_id(file_id: impl Into<String>) -> Self {
        Self::File {
            file: FileRef {
                file_id: Some(file_id.into()),
                ..FileRef::default()
            },
            extra: Map::new(),
        }
    }

    /// A file part with inline data (a base64 `data:` URL) and a file name.
    pub fn file_data(filename: impl Into<String>, data_url: impl Into<String>) -> Self {
        Self::File {
            file: FileRef {
                filename: Some(filename.into()),
                file_data: Some(data_url.into()),
                ..FileRef::default()
            },
            extra: Map::new(),
        }
    }

    /// Decodes a part. Never fails: anything unrecognised becomes [`ContentPart::Other`].
    pub fn from_json(value: Value) -> Self {
        let Value::Object(mut map) = value else {
            return Self::Other(value);
        };
        let Some(kind) = map.get("type").and_then(Value::as_str).map(str::to_owned) else {
            return Self::Other(Value::Object(map));
        };
        map.remove("type");
        // The payload sits under a key named like the type.
        match (kind.as_str(), map.remove(&kind)) {
            ("text", Some(Value::String(text))) => Self::Text { text, extra: map },
            ("image_url", Some(Value::Object(inner)))
                if inner.get("url").is_some_and(Value::is_string) =>
            {
                let mut f = Fields::of(inner, "image_url");
                let image_url = ImageUrl {
                    url: f.string("url").unwrap_or_default(),
                    detail: f.string("detail"),
                    extra: f.rest(),
                };
                Self::ImageUrl {
                    image_url,
                    extra: map,
                }
            }
            ("input_audio", Some(Value::Object(inner))) => {
                let mut f = Fields::of(inner, "input_audio");
                let input_audio = InputAudio {
                    data: f.string("data").unwrap_or_default(),
                    format: f.string("format").unwrap_or_default(),
                    extra: f.rest(),
                };
                Self::InputAudio {
                    input_audio,
                    extra: map,
                }
            }
            ("file", Some(Value::Object(inner))) => {
                let mut f = Fields::of(inner, "file");
                let file = FileRef {
                    file_id: f.string("file_id"),
                    file_data: f.string("file_data"),
                    filename: f.string("filename"),
                    extra: f.rest(),
                };
                Self::File { file, extra: map }
            }
            (_, payload) => {
                // Unknown type or unexpected shape: put everything back, keep it raw.
                if let Some(payload) = payload {
                    map.insert(kind.clone(), payload);
                }
                map.insert("type".to_owned(), Value::String(kind));
                Self::Other(Value::Object(map))
            }
        }
    }

    /// The part as JSON.
    pub fn to_json(&self) -> Value {
        let mut out = Out::default();
        match self {
            Self::Text { text, extra } => {
                out.set("type", "text");
                out.set("text", text.as_str());
                out.finish(extra)
            }
            Self::ImageUrl { image_url, extra } => {
                let mut inner = Out::default();
                inner.set("url", image_url.url.as_str());
                inner.opt("detail", image_url.detail.as_deref());
                out.set("type", "image_url");
                out.set("image_url", inner.finish(&image_url.extra));
                out.finish(extra)
            }
            Self::InputAudio { input_audio, extra } => {
                let mut inner = Out::default();
                inner.set("data", input_audio.data.as_str());
                inner.set("format", input_audio.format.as_str());
                out.set("type", "input_audio");
                out.set("input_audio", inner.finish(&input_audio.extra));
                out.finish(extra)
            }
            Self::File { file, extra } => {
                let mut inner = Out::default();
                inner.opt("file_id", file.file_id.as_deref());
                inner.opt("file_data", file.file_data.as_deref());
                inner.opt("filename", file.filename.as_deref());
                out.set("type", "file");
                out.set("file", inner.finish(&file.extra));
                out.finish(extra)
            }
            Self::Other(value) => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;
    use crate::chat::json::tests::check_round_trip;
    use serde_json::json;

    #[test]
    fn content_parts_round_trip() {
        let parts = json!([
            {"type": "text", "text": "Describe", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"}},
            {"type": "file", "file": {"file_id": "file-1"}},
            {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
            {"type": "image_url", "image_url": "https://x/not-an-object.png"},
            {"type": 5, "text": "odd type"},
            {"text": "no type"},
            "a bare string"
        ]);
        let message = check_round_trip(
            json!({"role": "user", "content": parts}),
            Message::from_json,
            Message::to_json,
        );
        let Some(Content::Parts(parts)) = &message.content else {
            panic!("parts expected: {message:?}");
        };
        assert!(
            matches!(&parts[0], ContentPart::Text { text, extra } if text == "Describe" && extra.contains_key("cache_control"))
        );
        assert!(
            matches!(&parts[1], ContentPart::ImageUrl { image_url, .. } if image_url.detail.as_deref() == Some("low"))
        );
        assert!(
            matches!(&parts[2], ContentPart::InputAudio { input_audio, .. } if input_audio.format == "wav")
        );
        assert!(
            matches!(&parts[3], ContentPart::File { file, .. } if file.filename.as_deref() == Some("a.pdf"))
        );
        assert!(
            matches!(&parts[4], ContentPart::File { file, .. } if file.file_id.as_deref() == Some("file-1"))
        );
        assert!(matches!(&parts[5], ContentPart::Other(_)));
        assert!(matches!(&parts[6], ContentPart::Other(_)));
        assert!(matches!(&parts[7], ContentPart::Other(_)));
        assert!(matches!(&parts[8], ContentPart::Other(_)));
        assert!(matches!(&parts[9], ContentPart::Other(Value::String(_))));
        assert_eq!(message.text(), "Describe");

        let built = Message::user(vec![
            ContentPart::text("a"),
            ContentPart::image_url_with_detail("https://x/cat.png", "low"),
            ContentPart::input_audio("UklGRg==", "wav"),
            ContentPart::file_data("a.pdf", "data:application/pdf;base64,JVBER"),
            ContentPart::file_id("file-1"),
            ContentPart::image_url("https://x/dog.png"),
            ContentPart::text("b"),
        ]);
        assert_eq!(built.text(), "ab");
        assert_eq!(
            built.to_json()["content"][5],
            json!({"type": "image_url", "image_url": {"url": "https://x/dog.png"}})
        );
        assert_eq!(Message::from_json(built.to_json()).unwrap(), built);
    }
}
