//! The integration tests, one binary with a module per area (one link of the crate and the
//! support code instead of one per file).
//!
//! Tests that need a process of their own live in their own binaries: `tests/alloc/` (a
//! counting global allocator), `tests/load.rs` (process-wide descriptor and memory figures)
//! and `tests/e2e.rs` (against a real llama-server, `#[ignore]`d).
//!
//! Run one area with a filter: `cargo test --test it sse::`.

#[path = "../support/mod.rs"]
mod support;

// The fuzz properties are owned by `fuzz/`; the tests include them, never the other way round.
#[path = "../../fuzz/props/chat.rs"]
mod chat_props;
#[path = "../../fuzz/props/sse.rs"]
mod sse_props;

mod faults;
mod http;
mod regressions;
mod security;
mod server_selftest;
mod sse;
mod stream;
mod tls;
