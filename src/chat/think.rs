//! [`ThinkSplitter`]: `<think>…</think>` moved from content into the reasoning field as the
//! chunks of a stream arrive.

use super::{ChatChunk, ChunkChoice, Delta};

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Moves `<think>…</think>` out of the content of streamed chunks into their
/// `reasoning_content`, as the chunks arrive.
///
/// Reasoning models served without a reasoning parser (DeepSeek-R1 distills, Qwen3 and
/// QwQ on a plain llama.cpp, vLLM or Ollama) write their reasoning into the content between
/// `<think>` and `</think>`. This puts it where a server with a parser would have: text
/// between the tags goes to [`Delta::reasoning_content`] (after any the server sent), the
/// tags themselves are dropped, and the text around them stays in [`Delta::content`]
/// exactly as sent. Tags may be split across chunks at any byte: a piece that could be the
/// start of a tag is held back until the next chunk of that choice says what it is, and is
/// handed on no later than the chunk with the choice's finish reason (or by
/// [`finish`](Self::finish), for a stream that ends without one).
///
/// It is pure and works on [`ChatChunk`]s from any source; the client applies it when
/// [`ClientBuilder::split_think_tags`](crate::ClientBuilder::split_think_tags) is set.
///
/// ```
/// use chatstream::{Accumulator, ChatChunk, ThinkSplitter};
///
/// let pieces = ["<thi", "nk>Two plus two", "</th", "ink>4"];
/// let mut splitter = ThinkSplitter::new();
/// let mut acc = Accumulator::new();
/// for (n, piece) in pieces.iter().enumerate() {
///     let finish = if n == pieces.len() - 1 { r#","finish_reason":"stop""# } else { "" };
///     let data = format!(
///         r#"{{"choices":[{{"index":0,"delta":{{"content":{}}}{finish}}}]}}"#,
///         serde_json::to_string(piece).unwrap()
///     );
///     let mut chunk = ChatChunk::from_json_str(&data)?;
///     splitter.split(&mut chunk);
///     acc.push(&chunk);
/// }
/// let completion = acc.into_completion();
/// assert_eq!(completion.content(), "4");
/// let message = completion.message().unwrap();
/// assert_eq!(message.reasoning_content.as_deref(), Some("Two plus two"));
/// # Ok::<(), chatstream::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ThinkSplitter {
    /// One scanner per choice index, in the order the choices first came.
    choices: Vec<(u64, TagScanner)>,
}

/// Where one choice's text is: outside or inside `<think>`, and what is held back.
#[derive(Debug, Clone, Default)]
struct TagScanner {
    inside: bool,
    /// The end of the text so far that may be the start of the next tag.
    held: String,
}

/// Text sorted by [`TagScanner`].
#[derive(Debug, Default, PartialEq, Eq)]
struct Sorted {
    content: String,
    reasoning: String,
}

impl Sorted {
    fn out(&mut self, inside: bool) -> &mut String {
        if inside {
            &mut self.reasoning
        } else {
            &mut self.content
        }
    }
}

impl TagScanner {
    /// Sorts `text`, which follows everything pushed before, into `sorted`.
    fn push(&mut self, text: &str, sorted: &mut Sorted) {
        let mut rest = std::mem::take(&mut self.held);
        rest.push_str(text);
        let mut from = 0;
        loop {
            let tag = if self.inside { CLOSE } else { OPEN };
            let pending = &rest[from..];
            if let Some(at) = pending.find(tag) {
                sorted.out(self.inside).push_str(&pending[..at]);
                self.inside = !self.inside;
                from += at + tag.len();
                continue;
            }
            let keep = partial_tag_len(pending, tag);
            let split = pending.len() - keep;
            sorted.out(self.inside).push_str(&pending[..split]);
            self.held = pending[split..].to_owned();
            return;
        }
    }

    /// Hands on what was held back: it was no tag after all.
    fn flush(&mut self, sorted: &mut Sorted) {
        let held = std::mem::take(&mut self.held);
        sorted.out(self.inside).push_str(&held);
    }
}

/// The length of the longest end of `text` that is a proper start of `tag` (tags are ASCII,
/// so that end starts on a character boundary).
fn partial_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&len| text.as_bytes().ends_with(&tag.as_bytes()[..len]))
        .unwrap_or(0)
}

impl ThinkSplitter {
    /// A splitter that has seen nothing yet: every choice starts outside `<think>`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rewrites the content and reasoning of each choice's delta in `chunk`. A delta whose
    /// text all went to the reasoning (or is held back) has no content (`None`); one without
    /// text keeps its content as it was, unless held-back text is handed on with the
    /// choice's finish reason.
    pub fn split(&mut self, chunk: &mut ChatChunk) {
        for choice in &mut chunk.choices {
            let scanner = self.scanner(choice.index);
            let mut sorted = Sorted::default();
            // An empty content (`"content": ""` on a role chunk) stays as it is.
            let text = choice.delta.content.as_deref().filter(|c| !c.is_empty());
            let had_text = text.is_some();
            if let Some(text) = text {
                scanner.push(text, &mut sorted);
            }
            if choice.finish_reason.is_some() {
                scanner.flush(&mut sorted);
            }
            if had_text || sorted != Sorted::default() {
                apply(&mut choice.delta, sorted);
            }
        }
    }

    /// For a stream that ended without a finish reason for some choice: a chunk with the
    /// text still held back (a piece that looked like the start of a tag), or `None` when
    /// nothing is. Push it like any other chunk.
    pub fn finish(&mut self) -> Option<ChatChunk> {
        let mut chunk = ChatChunk::default();
        for (index, scanner) in &mut self.choices {
            let mut sorted = Sorted::default();
            scanner.flush(&mut sorted);
            if sorted != Sorted::default() {
                let mut choice = ChunkChoice {
                    index: *index,
                    ..ChunkChoice::default()
                };
                apply(&mut choice.delta, sorted);
                chunk.choices.push(choice);
            }
        }
        (!chunk.choices.is_empty()).then_some(chunk)
    }

    fn scanner(&mut self, index: u64) -> &mut TagScanner {
        let position = match self.choices.iter().position(|(i, _)| *i == index) {
            Some(position) => position,
            None => {
                self.choices.push((index, TagScanner::default()));
                self.choices.len() - 1
            }
        };
        &mut self.choices[position].1
    }
}

/// Puts sorted text into a delta: the content replaced, the reasoning appended.
fn apply(delta: &mut Delta, sorted: Sorted) {
    delta.content = (!sorted.content.is_empty()).then_some(sorted.content);
    if !sorted.reasoning.is_empty() {
        delta
            .reasoning_content
            .get_or_insert_with(String::new)
            .push_str(&sorted.reasoning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Accumulator;
    use serde_json::json;

    /// Content and reasoning after pushing `pieces` as the content of one choice's chunks,
    /// the last with a finish reason when `finish` is set, else followed by `finish()`.
    fn run(pieces: &[&str], finish: bool) -> (String, String) {
        let mut splitter = ThinkSplitter::new();
        let mut acc = Accumulator::new();
        for (n, piece) in pieces.iter().enumerate() {
            let mut choice = json!({"index": 0, "delta": {"content": piece}});
            if finish && n == pieces.len() - 1 {
                choice["finish_reason"] = json!("stop");
            }
            let mut chunk = ChatChunk::from_json(json!({"choices": [choice]})).unwrap();
            splitter.split(&mut chunk);
            acc.push(&chunk);
        }
        if let Some(rest) = splitter.finish() {
            assert!(!finish, "a finish reason hands on everything held back");
            acc.push(&rest);
        }
        let completion = acc.into_completion();
        let reasoning = completion.message().unwrap().reasoning_content.clone();
        (
            completion.content().into_owned(),
            reasoning.unwrap_or_default(),
        )
    }

    /// Every way to cut `text` in two and in three pieces, so both tags are split at every
    /// byte, one tag at a time and both at once.
    fn cuts(text: &str) -> Vec<Vec<&str>> {
        let mut out = vec![vec![text]];
        let bounds: Vec<usize> = (1..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for &a in &bounds {
            out.push(vec![&text[..a], &text[a..]]);
            for &b in bounds.iter().filter(|&&b| b > a) {
                out.push(vec![&text[..a], &text[a..b], &text[b..]]);
            }
        }
        out
    }

    #[test]
    fn tags_split_at_every_point() {
        let cases = [
            (
                "<think>Let me see.</think>The answer is 4.",
                "The answer is 4.",
                "Let me see.",
            ),
            ("Sure. <think>hm</think>\n\nDone", "Sure. \n\nDone", "hm"),
            ("<think></think>x", "x", ""),
            ("a<b <thi <think>é<</think>>c", "a<b <thi >c", "é<"),
            ("no tags < here </think>", "no tags < here </think>", ""),
            (
                "<think>cut off before the end",
                "",
                "cut off before the end",
            ),
            ("ends with <thin", "ends with <thin", ""),
            (
                "<think>ends inside with </thi",
                "",
                "ends inside with </thi",
            ),
            ("<think>a</think>b<think>c</think>d", "bd", "ac"),
        ];
        for (text, content, reasoning) in cases {
            for pieces in cuts(text) {
                for finish in [true, false] {
                    assert_eq!(
                        run(&pieces, finish),
                        (content.to_owned(), reasoning.to_owned()),
                        "{pieces:?}, finish reason: {finish}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_chunk_carries_what_is_known_so_far() {
        let mut splitter = ThinkSplitter::new();
        let mut step = |content: &str| {
            let mut chunk = ChatChunk::from_json(
                json!({"choices": [{"index": 0, "delta": {"content": content}}]}),
            )
            .unwrap();
            splitter.split(&mut chunk);
            let delta = &chunk.choices[0].delta;
            (delta.content.clone(), delta.reasoning_content.clone())
        };
        assert_eq!(step("Hi <th"), (Some("Hi ".into()), None));
        assert_eq!(step("ink>why"), (None, Some("why".into())));
        assert_eq!(step("</"), (None, None));
        assert_eq!(step("b>"), (None, Some("</b>".into())));
        assert_eq!(step("</think>ok"), (Some("ok".into()), None));
    }

    #[test]
    fn choices_are_split_apart_and_server_reasoning_is_kept() {
        let mut splitter = ThinkSplitter::new();
        let mut acc = Accumulator::new();
        for data in [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}},
                               {"index": 1, "delta": {"content": "<think>one"}}]}),
            json!({"choices": [{"index": 1, "delta": {"content": "</think>A"}},
                               {"index": 0, "delta": {"reasoning_content": "server ", "content": "<think>zero</"}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "think>B"}, "finish_reason": "stop"},
                               {"index": 1, "delta": {}, "finish_reason": "stop"}]}),
        ] {
            let mut chunk = ChatChunk::from_json(data).unwrap();
            splitter.split(&mut chunk);
            acc.push(&chunk);
        }
        assert!(splitter.finish().is_none());
        let completion = acc.into_completion();
        let text = |i: usize| {
            let m = &completion.choices[i].message;
            (
                m.text().into_owned(),
                m.reasoning_content.clone().unwrap_or_default(),
            )
        };
        assert_eq!(text(0), ("B".to_owned(), "server zero".to_owned()));
        assert_eq!(text(1), ("A".to_owned(), "one".to_owned()));
    }
}
