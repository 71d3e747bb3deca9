//! Replays on stable what the fuzz targets check (`fuzz/`, see `fuzz/README.md`), with the
//! same property code (`fuzz/props/*.rs`, included with `#[path]`):
//!
//! - every input fuzzing found and kept under `fixtures/sse/regressions/` (the `sse` module
//!   checks each file's `.json` too), through the SSE and the chat-layer properties; the replay
//!   fails if that directory is missing or holds no `.sse`, so it cannot pass by finding nothing;
//! - the minimised fuzz corpora kept in `fuzz/seeds/<target>/`, each file through its target's
//!   properties;
//! - every SSE fixture and `examples/replay.sse` through the chat-layer properties (which feed
//!   every stream to `ChatDecoder` in several splits against the reference model of a chat
//!   stream), and through the real `Client::chat_chunks` over loopback against the same model;
//! - a few hundred generated chat streams (the `chat_stream` target's generator mode with
//!   seeded inputs), so the properties run on fresh inputs in every CI run.

use crate::support;

use crate::{chat_props, sse_props};

use std::path::{Path, PathBuf};

use chat_props::End;
use chatstream::ErrorKind;
use support::fixture::{self, repo_path};
use support::rng::SplitMix64;

/// Every `.sse` file under `fixtures/sse/` (all subdirectories, `regressions/` included) and
/// `examples/replay.sse`.
fn all_streams() -> Vec<PathBuf> {
    let mut streams = fixture::files_with_extension(&fixture::root(), "sse");
    streams.push(repo_path("examples/replay.sse"));
    streams
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `check`, naming the file if it panics.
fn replay(path: &Path, check: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        eprintln!("property failed on {}", path.display());
        std::panic::resume_unwind(panic);
    }
}

/// Split plans the regression inputs are replayed under (each byte: a chunk of `1 + b % 64`).
const PLANS: &[&[u8]] = &[&[], &[0], &[1], &[2, 0, 5], &[63], &[7, 1, 2, 63, 13]];

#[test]
fn regression_inputs_replay() {
    // Its `.json` files are checked by the `sse` module with the other fixtures.
    for path in fixture::files_with_extension(&repo_path("fixtures/sse/regressions"), "sse") {
        let bytes = read(&path);
        replay(&path, || {
            for plan in PLANS {
                sse_props::check_split(&bytes, plan);
            }
            chat_props::check_stream(&bytes);
        });
    }
}

#[test]
fn fuzz_seed_corpora_replay() {
    let sse = fixture::files_under(&repo_path("fuzz/seeds/sse_split"));
    let chat = fixture::files_under(&repo_path("fuzz/seeds/chat_stream"));
    // The corpora are committed; an empty one means a broken checkout or a bad merge.
    assert!(
        sse.len() >= 10,
        "fuzz/seeds/sse_split has {} files",
        sse.len()
    );
    assert!(
        chat.len() >= 100,
        "fuzz/seeds/chat_stream has {} files",
        chat.len()
    );
    for path in &sse {
        let bytes = read(path);
        replay(path, || sse_props::check_input(&bytes));
    }
    for path in &chat {
        let bytes = read(path);
        replay(path, || chat_props::check_input(&bytes));
    }
}

#[test]
fn fixtures_through_the_chat_layer() {
    let streams = all_streams();
    assert!(streams.len() > 50, "found only {} streams", streams.len());
    for dir in ["spec", "recorded", "regressions"] {
        let below = fixture::root().join(dir);
        assert!(
            streams.iter().any(|path| path.starts_with(&below)),
            "no stream from fixtures/sse/{dir}/"
        );
    }
    for path in &streams {
        let bytes = read(path);
        replay(path, || {
            chat_props::check_stream(&bytes);
        });
    }
}

/// The reference model gives the documented verdicts on the recorded provider streams.
#[test]
fn model_verdicts_on_recorded_streams() {
    let verdict = |name: &str| {
        let bytes = read(&repo_path("fixtures/sse/recorded").join(name));
        let (events, discarded) = chat_props::events(&bytes);
        chat_props::expected_stream(&events, discarded.as_ref())
    };
    let cases = [
        ("openai-content.sse", End::Ok),
        ("openai-tool-calls.sse", End::Ok),
        ("openai-two-choices.sse", End::Ok),
        ("openai-crlf.sse", End::Ok),
        ("azure-empty-first-chunk.sse", End::Ok),
        ("llamacpp-done-without-blank-line.sse", End::Ok),
        ("openai-cut-before-done.sse", End::Err(ErrorKind::Truncated)),
        ("openai-error-midstream.sse", End::Err(ErrorKind::Api)),
        ("openrouter-error-in-chunk.sse", End::Err(ErrorKind::Api)),
    ];
    for (name, end) in cases {
        let expected = verdict(name);
        assert_eq!(expected.end, end, "{name}");
        assert!(!expected.pushed.is_empty(), "{name}: no chunk accumulated");
    }
    let replay = chat_props::expected_stream(
        &chat_props::events(&read(&repo_path("examples/replay.sse"))).0,
        None,
    );
    assert_eq!(replay.end, End::Ok);
}

/// Every fixture served over loopback to `Client::chat_chunks`: the real stream driver agrees
/// with the reference model (chunks yielded, end, completion or partial completion).
#[cfg(feature = "client")]
#[test]
fn client_agrees_with_the_model_over_loopback() {
    use chatstream::{ChatRequest, Client, Message};
    use support::TestServer;

    let (server, body) = TestServer::replaying();
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    let request = ChatRequest::new("m", vec![Message::user("hi")]);
    let mut streams: Vec<(String, Vec<u8>)> = all_streams()
        .iter()
        .map(|path| (path.display().to_string(), read(path)))
        .collect();
    let mut rng = SplitMix64::new(0x2545_F491_4F6C_DD1D);
    for n in 0..100 {
        let input: Vec<u8> = (0..256).map(|_| rng.next_u64().to_le_bytes()[0]).collect();
        streams.push((format!("generated #{n}"), chat_props::generate(&input)));
    }
    for (name, bytes) in &streams {
        let expected = chat_props::check_stream(bytes);
        body.lock().unwrap().clone_from(bytes);
        let stream = client.chat_chunks(&request).expect("the stream starts");
        replay(Path::new(name), || {
            chat_props::check_chat_stream(
                stream,
                chatstream::ChatStream::into_completion,
                &expected,
            );
        });
    }
}

/// The generator mode of `chat_stream` on seeded inputs: a small stable fuzz run that also
/// makes sure the generator mostly produces chunks that decode (or it would be useless).
#[test]
fn generated_chat_streams() {
    let mut rng = SplitMix64::new(0x9E37_79B9_7F4A_7C15);
    let mut next = move || rng.next_u64();
    let (mut events, mut decoded, mut accumulated) = (0, 0, 0);
    for _ in 0..300 {
        let len = usize::try_from(next() % 512).unwrap();
        let mut input: Vec<u8> = (0..=len).map(|_| next().to_le_bytes()[0]).collect();
        input[0] |= 1; // the generator mode
        let stream = chat_props::stream_of(&input);
        let (all, _) = chat_props::events(&stream);
        events += all.len();
        decoded += all
            .iter()
            .filter(|e| chatstream::ChatChunk::from_json_str(&e.data).is_ok())
            .count();
        accumulated += chat_props::check_stream(&stream).pushed.len();
    }
    assert!(
        decoded * 2 > events,
        "{decoded} of {events} generated events decode"
    );
    assert!(accumulated > 400, "{accumulated} chunks reached the model");
}
