//! Arbitrary bytes as a Responses API stream through `ResponsesDecoder`: a typed error or a
//! response, never a panic; the same events and result however the input is split; `to_json`
//! output decodes to the same JSON. The properties live in `props/responses.rs`, which
//! `tests/responses.rs` replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../props/responses.rs"]
mod responses_props;

fuzz_target!(|input: &[u8]| responses_props::check_input(input));
