//! Arbitrary event streams through the chat layer's public API: every `data` payload through
//! the decoders (`ChatChunk`, `ChatCompletion`, `Message`, `Usage`, `ToolCall`, `ModelList`),
//! every decoded chunk through an `Accumulator`, and `completion()` / `to_json()` on the result.
//! A typed error or a result, never a panic; `to_json` output decodes to the same JSON; the
//! accumulated completion follows the rules documented on `Accumulator::push`.
//!
//! Input layout: the first byte is the mode. Even: the rest is the event stream as it is
//! (seeds: fixtures with a `\0` prefix). Odd: the rest drives a generator of chunk-shaped
//! JSON events. The properties live in `props/chat.rs`, which `tests/it/regressions.rs` replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../props/chat.rs"]
mod chat_props;

fuzz_target!(|input: &[u8]| chat_props::check_input(input));
