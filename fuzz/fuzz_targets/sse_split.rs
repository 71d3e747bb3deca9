//! Arbitrary bytes + an arbitrary split plan through `chatstream::sse::Parser`:
//! no panic, the same result however the input is split, and the same result as the naive oracle.
//!
//! Input layout: the first byte `k` says how many of the next bytes (`k % 16`) are the split plan;
//! each plan byte is a chunk size (`1 + b % 64`), cycled until the stream is used up.
//! The rest is the event stream. The properties live in `props/sse.rs`, which the stable
//! test `tests/it/regressions.rs` replays too.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../props/sse.rs"]
mod sse_props;

fuzz_target!(|input: &[u8]| sse_props::check_input(input));
