//! Unit tests of the [`ChatDecoder`](super::ChatDecoder).

use super::*;
use crate::ErrorKind;

const HELLO: &str = concat!(
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
);

fn feed_all(decoder: &mut ChatDecoder, bytes: &[u8]) -> Result<Vec<String>, Error> {
    let mut seen = Vec::new();
    let flow = decoder.feed(bytes, |chunk| {
        seen.push(chunk.content().to_owned());
        ControlFlow::Continue(())
    })?;
    assert_eq!(flow, ControlFlow::Continue(()), "only the callback breaks");
    Ok(seen)
}

#[test]
fn a_decoder_can_move_between_threads() {
    fn movable<T: Send + 'static>() {}
    movable::<ChatDecoder>();
}

#[test]
fn done_ends_the_stream_and_later_bytes_are_ignored() {
    let mut decoder = ChatDecoder::new();
    let bytes = format!("{HELLO}data: [DONE]\n\ndata: not json\n\n");
    assert_eq!(
        feed_all(&mut decoder, bytes.as_bytes()).unwrap(),
        ["Hel", "lo"]
    );
    assert!(decoder.is_done());
    assert_eq!(
        feed_all(&mut decoder, b"data: {}\n\n").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(decoder.finish().unwrap().content(), "Hello");
}

#[test]
fn a_done_line_without_its_blank_line_still_ends_the_stream() {
    let mut decoder = ChatDecoder::new();
    let bytes = format!("{HELLO}data: [DONE]\n");
    feed_all(&mut decoder, bytes.as_bytes()).unwrap();
    assert!(!decoder.is_done());
    assert_eq!(decoder.finish().unwrap().content(), "Hello");
}

#[test]
fn the_truncation_rule() {
    let mut decoder = ChatDecoder::new();
    feed_all(&mut decoder, HELLO.as_bytes()).unwrap();
    let error = decoder.finish().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Truncated);
    assert_eq!(error.partial().unwrap().content(), "Hello");

    // Every choice finished: a success without `[DONE]`.
    let mut decoder = ChatDecoder::new();
    let finished = r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    feed_all(&mut decoder, format!("{HELLO}{finished}\n\n").as_bytes()).unwrap();
    assert_eq!(decoder.finish().unwrap().finish_reason(), Some("stop"));

    let error = ChatDecoder::new().finish().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Truncated);
    assert!(error.to_string().contains("before any chunk"), "{error}");
}

#[test]
fn errors_in_the_stream_are_api_errors_with_the_partial() {
    let cases = [
        "event: error\ndata: {\"error\":{\"message\":\"boom\",\"code\":500}}\n\n",
        "data: {\"error\":{\"message\":\"boom\",\"code\":500}}\n\n",
        "data: {\"error\":\"boom\"}\n\n",
        // The Responses API's flat error object in an error event.
        "event: error\ndata: {\"type\":\"error\",\"message\":\"boom\"}\n\n",
    ];
    for case in cases {
        let mut decoder = ChatDecoder::new();
        let error = feed_all(&mut decoder, format!("{HELLO}{case}").as_bytes()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Api, "{case}");
        let api = error.api().unwrap();
        assert_eq!(
            (api.message.as_str(), api.in_stream, api.status),
            ("boom", true, 200)
        );
        assert_eq!(error.partial().unwrap().content(), "Hello", "{case}");
        // The decoder stays failed, with the same error.
        let again = feed_all(&mut decoder, b"data: {}\n\n").unwrap_err();
        assert_eq!(again.api(), error.api());
        assert!(decoder.is_done());
        let last = decoder.finish().unwrap_err();
        assert_eq!((last.api(), last.partial()), (error.api(), error.partial()));
    }
}

#[test]
fn the_chunk_around_an_error_is_kept() {
    let mut decoder = ChatDecoder::new();
    let data =
        r#"{"id":"g","error":{"message":"limit"},"choices":[{"index":0,"delta":{"content":"!"}}]}"#;
    let error = feed_all(&mut decoder, format!("{HELLO}data: {data}\n\n").as_bytes()).unwrap_err();
    assert_eq!(error.api().unwrap().body, data);
    assert_eq!(error.partial().unwrap().content(), "Hello!");
}

#[test]
fn decode_errors_carry_the_text() {
    let mut decoder = ChatDecoder::new();
    let error = feed_all(&mut decoder, format!("{HELLO}data: [DONE\n\n").as_bytes()).unwrap_err();
    assert_eq!(
        (error.kind(), error.raw()),
        (ErrorKind::Decode, Some("[DONE"))
    );
    assert_eq!(error.partial().unwrap().content(), "Hello");
}

#[test]
fn an_event_over_the_limit() {
    let mut decoder = ChatDecoder::with_max_event_size(64);
    let error = feed_all(
        &mut decoder,
        format!("{HELLO}data: {}\n\n", "x".repeat(100)).as_bytes(),
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::EventTooLarge);
    assert_eq!(error.partial().unwrap().content(), "Hello");
}

#[test]
fn empty_chunks_and_blank_data_are_merged_but_not_handed_on() {
    let mut decoder = ChatDecoder::new();
    let azure = r#"{"id":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}"#;
    let usage = r#"{"id":"c","choices":[],"usage":{"total_tokens":3}}"#;
    let bytes = format!(": ping\n\ndata: {azure}\n\ndata:\n\ndata: \n\n{HELLO}data: {usage}\n\n");
    let mut seen = 0;
    let flow = decoder.feed(bytes.as_bytes(), |_| {
        seen += 1;
        ControlFlow::Continue(())
    });
    assert_eq!(flow.unwrap(), ControlFlow::Continue(()));
    assert_eq!(seen, 3, "the two content chunks and the usage chunk");
    let completion = decoder.completion();
    assert!(completion.extra.contains_key("prompt_filter_results"));
    assert_eq!(completion.usage.and_then(|u| u.total_tokens), Some(3));
}

#[test]
fn pull_style_steps_one_event_at_a_time() {
    let mut decoder = ChatDecoder::new();
    let bytes = format!(": ping\n\ndata:\n\n{HELLO}data: [DONE]\n\n");
    let mut rest = bytes.as_bytes();
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let (decoded, consumed) = decoder.decode(rest).unwrap();
        assert!(consumed > 0 && consumed <= rest.len());
        rest = &rest[consumed..];
        steps.push(match decoded {
            Decoded::Chunk(chunk) => {
                assert!(decoder.event().data().contains(chunk.content()));
                "chunk"
            }
            Decoded::Skipped => "skipped",
            Decoded::Done => "done",
            Decoded::NeedMoreInput => "more",
        });
    }
    // The comment dispatches nothing; the blank data is an event that gives nothing.
    assert_eq!(steps, ["skipped", "chunk", "chunk", "done"]);
    assert_eq!(decoder.decode(b"anything").unwrap(), (Decoded::Done, 8));
}

#[test]
fn break_stops_mid_input_and_the_rest_can_follow() {
    let mut decoder = ChatDecoder::new();
    let bytes = format!("{HELLO}data: [DONE]\n\n");
    let flow = decoder
        .feed(bytes.as_bytes(), |_| ControlFlow::Break(()))
        .unwrap();
    assert!(flow.is_break());
    assert_eq!(decoder.completion().content(), "Hel");
}

#[test]
fn reset_starts_a_new_stream() {
    let mut decoder = ChatDecoder::with_max_event_size(1024);
    feed_all(&mut decoder, b"data: nope\n\n").unwrap_err();
    decoder.reset();
    assert!(!decoder.is_done());
    feed_all(&mut decoder, format!("{HELLO}data: [DONE]\n\n").as_bytes()).unwrap();
    assert_eq!(decoder.finish().unwrap().content(), "Hello");
}
