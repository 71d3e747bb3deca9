//! The inputs: a large chat stream made of the recorded fixtures' event blocks, and one huge
//! `data` line.

use std::fs;
use std::path::{Path, PathBuf};

/// The recorded provider streams, relative to this package.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sse/recorded")
}

/// A stream of at least `min_size` bytes: the complete event blocks of every recorded fixture
/// (sorted by file name), concatenated, repeated as often as needed.
pub struct ChatStream {
    pub bytes: Vec<u8>,
    pub files: usize,
    pub blocks: usize,
    pub repeats: usize,
}

pub fn chat_stream(min_size: usize) -> ChatStream {
    let mut paths: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", fixtures_dir().display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sse"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .sse fixtures found");
    let mut corpus = Vec::new();
    let mut blocks = 0;
    for path in &paths {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for block in event_blocks(&bytes) {
            corpus.extend_from_slice(&block);
            blocks += 1;
        }
    }
    let repeats = min_size.div_ceil(corpus.len()).max(1);
    ChatStream {
        bytes: corpus.repeat(repeats),
        files: paths.len(),
        blocks,
        repeats,
    }
}

/// Splits one stream into its event blocks, each ending with its blank line.
///
/// A stream that stops without its final blank line (a server that hung up) keeps its complete
/// lines, closed with one more line end in the stream's own style; an unterminated last line is
/// dropped. Concatenating the blocks of several files therefore never glues two events together.
fn event_blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    let crlf = bytes.windows(2).any(|w| w == b"\r\n");
    let mut blocks = Vec::new();
    let mut block = Vec::new();
    let mut rest = bytes;
    // An unterminated last line (or nothing) is left over at the end: dropped.
    while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
        let mut after = end + 1;
        if rest[end] == b'\r' && rest.get(after) == Some(&b'\n') {
            after += 1;
        }
        let line = &rest[..after];
        block.extend_from_slice(line);
        if end == 0 {
            // A blank line ends the block.
            blocks.push(std::mem::take(&mut block));
        }
        rest = &rest[after..];
    }
    if !block.is_empty() {
        block.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        blocks.push(block);
    }
    blocks
}

/// One `data` line of `size` value bytes (base64-like text, as an inline image would be),
/// followed by the blank line that dispatches it.
pub fn huge_data_line(size: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut line = Vec::with_capacity(size + 8);
    line.extend_from_slice(b"data: ");
    let mut x: u32 = 12345;
    for _ in 0..size {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        line.push(ALPHABET[(x >> 16) as usize % ALPHABET.len()]);
    }
    line.extend_from_slice(b"\n\n");
    line
}

#[cfg(test)]
mod tests {
    use super::event_blocks;

    #[test]
    fn blocks() {
        assert_eq!(
            event_blocks(b"data: a\n\n: c\n\ndata: b\n"),
            [&b"data: a\n\n"[..], b": c\n\n", b"data: b\n\n"]
        );
        assert_eq!(
            event_blocks(b"data: a\r\n\r\ndata: [DONE]\r\n"),
            [&b"data: a\r\n\r\n"[..], b"data: [DONE]\r\n\r\n"]
        );
        assert_eq!(event_blocks(b"data: a\n\ndata: cut"), [&b"data: a\n\n"[..]]);
    }
}
