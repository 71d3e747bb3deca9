//! The typed chat-layer peers, in memory: async-openai's chunk type and a borrowed serde-derive
//! chunk (the practical limit of a typed decode). Both read the events from chatstream's parser,
//! so the SSE work is the same as chatstream's own row and the difference is the decode; the
//! content deltas of choice 0 are appended to a `String`, the least a client does with them.

use std::borrow::Cow;
use std::fmt;
use std::hint::black_box;
use std::ops::ControlFlow;

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use chatstream::sse::Parser;
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

use crate::contenders::Decoded;

/// chatstream's parser, then `serde_json::from_str` into async-openai's
/// `CreateChatCompletionStreamResponse` (its serde-derive decode, no HTTP stack).
pub fn async_openai_typed(input: &[u8], feed: usize) -> Decoded {
    decode_with(input, feed, |data, content| {
        let Ok(chunk) = serde_json::from_str::<CreateChatCompletionStreamResponse>(data) else {
            return false;
        };
        for choice in chunk.choices.iter().filter(|choice| choice.index == 0) {
            if let Some(text) = &choice.delta.content {
                content.push_str(text);
            }
        }
        black_box(chunk);
        true
    })
}

/// chatstream's parser, then `serde_json::from_str` into [`BorrowedChunk`]: strings borrowed
/// from the event's data where they need no unescaping, unknown fields skipped.
pub fn borrowed_limit(input: &[u8], feed: usize) -> Decoded {
    decode_with(input, feed, |data, content| {
        let Ok(chunk) = serde_json::from_str::<BorrowedChunk<'_>>(data) else {
            return false;
        };
        for choice in chunk.choices.iter().filter(|choice| choice.index == 0) {
            if let Some(Text(text)) = choice.delta.as_ref().and_then(|d| d.content.as_ref()) {
                content.push_str(text);
            }
        }
        black_box(chunk);
        true
    })
}

/// Feeds `input` to a new chatstream parser in `feed`-byte pieces and hands every event's data to
/// `decode` (with the completion's content so far; it says whether the chunk decoded); `[DONE]`
/// ends a completion.
fn decode_with(
    input: &[u8],
    feed: usize,
    mut decode: impl FnMut(&str, &mut String) -> bool,
) -> Decoded {
    let mut parser = Parser::new();
    let mut out = Decoded::default();
    let mut content = String::new();
    for piece in input.chunks(feed) {
        let flow = parser.feed_all(piece, |event| {
            let data = event.data();
            if data == "[DONE]" {
                out.content_bytes += content.len() as u64;
                black_box(std::mem::take(&mut content));
                out.completions += 1;
                return ControlFlow::Continue(());
            }
            out.chunks += 1;
            if !decode(data, &mut content) {
                out.errors += 1;
            }
            ControlFlow::Continue(())
        });
        let _: ControlFlow<()> = flow.expect("no event over the size limit");
    }
    out
}

/// A chat chunk as a hand-tuned serde-derive client would declare it: the fields a client reads,
/// strings borrowed when they can be, everything else skipped (nothing kept for round trips, no
/// leniency for wrong-typed fields: such a chunk fails). Decoding the fields is the work measured;
/// only the content is read afterwards, hence `dead_code` allowed on these types.
#[allow(dead_code)]
#[derive(Deserialize)]
pub struct BorrowedChunk<'a> {
    #[serde(borrow, default)]
    pub id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub model: Option<Text<'a>>,
    #[serde(default)]
    pub created: Option<u64>,
    #[serde(borrow, default)]
    pub system_fingerprint: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub choices: Vec<BorrowedChoice<'a>>,
    #[serde(default)]
    pub usage: Option<BorrowedUsage>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
pub struct BorrowedChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(borrow, default)]
    pub delta: Option<BorrowedDelta<'a>>,
    #[serde(borrow, default)]
    pub finish_reason: Option<Text<'a>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
pub struct BorrowedDelta<'a> {
    #[serde(borrow, default)]
    pub role: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub content: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub reasoning_content: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub tool_calls: Option<Vec<BorrowedToolCall<'a>>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
pub struct BorrowedToolCall<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(borrow, default)]
    pub id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub function: Option<BorrowedFunction<'a>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
pub struct BorrowedFunction<'a> {
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub arguments: Option<Text<'a>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
pub struct BorrowedUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

/// A JSON string borrowed from the input when it has no escapes, owned otherwise. (`Cow<str>`
/// itself only borrows as a field's direct type, not inside an `Option`.)
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}
