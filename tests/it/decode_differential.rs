//! The chunk decoder that reads JSON text directly (`ChatChunk::from_json_str`) against the
//! `Value`-based one (`serde_json::from_str` then `ChatChunk::from_json`), on every payload of
//! every recorded stream, fixture, fuzz seed and generated stream, and on variants of them that
//! take the unusual paths (escaped keys, repeated keys, wrong types). Both must decode the same
//! payloads to equal chunks whose `to_json` text is byte for byte the same, and fail on the same
//! payloads.

use crate::chat_props;
use crate::support::fixture::{files_under, repo_path};

use chatstream::ChatChunk;
use serde_json::Value;

/// The data of every event of `stream`, the discarded one included.
fn payloads(stream: &[u8]) -> Vec<String> {
    let (events, discarded) = chat_props::events(stream);
    events
        .into_iter()
        .chain(discarded)
        .map(|event| event.data)
        .collect()
}

/// Decodes `text` both ways and demands the same outcome. Returns whether it decoded.
#[track_caller]
fn same_decode(text: &str) -> bool {
    let old = serde_json::from_str::<Value>(text)
        .map_err(|e| e.to_string())
        .and_then(|value| ChatChunk::from_json(value).map_err(|e| e.to_string()));
    let new = ChatChunk::from_json_str(text);
    match (old, new) {
        (Ok(old), Ok(new)) => {
            assert_eq!(new, old, "{text}");
            assert_eq!(
                new.to_json().to_string(),
                old.to_json().to_string(),
                "{text}"
            );
            true
        }
        (Err(_), Err(new)) => {
            assert_eq!(new.raw(), Some(text), "the error carries the whole text");
            false
        }
        (old, new) => panic!("{text}\nValue decoder: {old:?}\ntext decoder: {new:?}"),
    }
}

/// Variants of a payload that take the decoder's unusual paths.
fn variants(text: &str) -> Vec<String> {
    let mut out = vec![
        // Escaped keys (owned, not borrowed) and escaped values.
        text.replace("\"content\"", "\"con\\u0074ent\"")
            .replace("\"index\"", "\"\\u0069ndex\""),
        // Wrong types in known fields of every level.
        text.replace("\"content\":\"", "\"content\":7,\"x\":\""),
        text.replace("\"finish_reason\":null", "\"finish_reason\":[1]"),
        text.replace("\"logprobs\":null", "\"logprobs\":5"),
        text.replace("\"usage\":null", "\"usage\":\"none\""),
        text.replace("\"bytes\":[", "\"bytes\":[300,"),
        text.replace("\"index\":0", "\"index\":0.0"),
        text.replace("\"index\":0", "\"index\":-1"),
        text.replace("\"arguments\":\"", "\"arguments\":{\"a\":1},\"y\":\""),
        text.replace("\"delta\":{", "\"delta\":null,\"z\":{"),
        // Empty and null values in every known delta and choice field.
        text.replace(
            "\"delta\":{",
            "\"delta\":{\"reasoning\":\"\",\"refusal\":null,\"reasoning_content\":\"\",\"role\":\"\",\"tool_calls\":[],",
        ),
        text.replace("\"index\":0", "\"logprobs\":{},\"finish_reason\":\"\",\"index\":0"),
        text.replace("\"choices\":[", "\"choices\":[null,"),
    ];
    // A repeated key: the last one wins, whichever field it is.
    if let Some(body) = text.strip_prefix('{') {
        for key in ["id", "choices", "usage", "obfuscation"] {
            out.push(format!("{{\"{key}\":5,{body}"));
        }
        out.push(format!(
            "{{\"choices\":[{{\"delta\":{{\"content\":\"a\",\"content\":\"b\"}}}}],{body}"
        ));
        out.push(format!("{text} "));
        out.push(format!("{text}x"));
    }
    out.retain(|variant| variant != text);
    out
}

fn check_stream(stream: &[u8], decoded: &mut usize, total: &mut usize) {
    for text in payloads(stream) {
        for text in std::iter::once(text.clone()).chain(variants(&text)) {
            *total += 1;
            if same_decode(&text) {
                *decoded += 1;
            }
        }
    }
}

#[test]
fn fixture_payloads_decode_the_same() {
    let (mut decoded, mut total) = (0, 0);
    let mut streams = 0;
    for path in files_under(&repo_path("fixtures/sse")) {
        if path.extension().is_some_and(|e| e == "sse") {
            streams += 1;
            let bytes = std::fs::read(&path).expect("fixture");
            check_stream(&bytes, &mut decoded, &mut total);
        }
    }
    assert!(streams > 50, "found {streams} streams");
    assert!(
        decoded > 500 && decoded < total,
        "{decoded} of {total} payloads decoded: both outcomes must be exercised"
    );
}

#[test]
fn fuzz_seed_payloads_decode_the_same() {
    let (mut decoded, mut total) = (0, 0);
    let seeds = files_under(&repo_path("fuzz/seeds/chat_stream"));
    assert!(seeds.len() >= 100, "{} seeds", seeds.len());
    for path in seeds {
        let input = std::fs::read(&path).expect("seed");
        check_stream(&chat_props::stream_of(&input), &mut decoded, &mut total);
    }
    assert!(decoded > 500, "{decoded} of {total} payloads decoded");
}

#[test]
fn generated_payloads_decode_the_same() {
    // The fuzz generator's chunk-shaped streams from seeded pseudo-random bytes.
    let mut state: u64 = 0x853C_49E6_748F_EA9B;
    let (mut decoded, mut total) = (0, 0);
    for _ in 0..400 {
        let bytes: Vec<u8> = (0..256)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            })
            .collect();
        check_stream(&chat_props::generate(&bytes), &mut decoded, &mut total);
    }
    assert!(decoded > 1000, "{decoded} of {total} payloads decoded");
}
