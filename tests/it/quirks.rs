//! Behaviours of servers other than OpenAI that the client handles: error bodies in other
//! shapes, a server that rejects `stream_options`, a stream that ends with `[DONE]` before a
//! finish reason.

use crate::support;

use std::ops::ControlFlow;

use chatstream::{Client, ClientBuilder, Error, ErrorKind};
use support::bodies::request;
use support::{Script, TestServer};

/// A client for `server` that never retries.
fn builder(server: &TestServer) -> ClientBuilder {
    Client::builder().base_url(server.base_url()).max_retries(0)
}

/// The error of a plain call and of a streamed call to a server answering `status` + `body`
/// under `content_type`.
fn errors_for(status: u16, content_type: &str, body: &'static str) -> [Error; 2] {
    let headers = [("Content-Type", content_type)];
    let server = TestServer::scripted(
        Script::new()
            .json_with_headers(status, &headers, body)
            .repeat_last(),
    );
    let client = builder(&server).build().unwrap();
    let plain = client.chat(&request()).expect_err("an error status");
    let streamed = client
        .chat_stream(&request(), |_| ControlFlow::Continue(()))
        .expect_err("an error status");
    [plain, streamed]
}

/// llama-cpp-python's answer to a wrong key, as recorded (FastAPI's `{"detail": ..}`).
const LLAMACPP_PYTHON_WRONG_KEY: &str =
    include_str!("../../fixtures/responses/llamacpp-python-wrong-key.json");

/// mock-llm's answer when streaming a choice without a message fails inside it, as recorded:
/// HTTP 500, a string `error` beside a `message`, under the stream's content type.
const MOCKLLM_TYPE_ERROR: &str = include_str!("../../fixtures/responses/mockllm-http-500.json");

// Proves: FastAPI's `{"detail": ..}` (a string, or validation errors) and a string `error`
// beside a `message` show the server's text, not the raw JSON or the word in `error`.
#[test]
fn error_bodies_in_other_shapes_show_the_servers_text() {
    let json = "application/json";
    let cases: [(u16, &str, &str, &str, Option<&str>); 3] = [
        (
            401,
            json,
            LLAMACPP_PYTHON_WRONG_KEY,
            "Invalid API key",
            None,
        ),
        (
            422,
            json,
            r#"{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"],"msg":"Extra inputs are not permitted","input":{"include_usage":true}}]}"#,
            "body.stream_options: Extra inputs are not permitted",
            None,
        ),
        (
            500,
            "text/event-stream; charset=utf-8",
            MOCKLLM_TYPE_ERROR,
            "Cannot read properties of undefined (reading 'content')",
            Some("TypeError"),
        ),
    ];
    for (status, content_type, body, message, error_type) in cases {
        for err in errors_for(status, content_type, body) {
            assert_eq!(err.kind(), ErrorKind::Api, "{err}");
            let api = err.api().unwrap();
            assert_eq!(api.status, status);
            assert_eq!(api.message, message, "{body}");
            assert_eq!(api.error_type.as_deref(), error_type);
            assert_eq!(api.body, body, "the raw body is kept");
            let shown = err.to_string();
            assert!(shown.contains(message), "{shown}");
            assert!(!shown.contains('{'), "no raw JSON in {shown}");
        }
    }
}

/// llama-cpp-python's server interrupted by a second request: `[DONE]` while the choice has
/// no finish reason.
const INTERRUPTED: &[u8] =
    include_bytes!("../../fixtures/sse/recorded/llamacpp-python-interrupted.sse");

// Proves: `[DONE]` before a finish reason is a success whose completion says a choice did not
// finish; a finished stream says every choice did.
#[test]
fn done_before_a_finish_reason_is_a_success_that_says_so() {
    let server = TestServer::scripted(
        Script::new()
            .sse(INTERRUPTED)
            .sse(&support::bodies::stream_body(&["Once", " upon"])),
    );
    let client = builder(&server).build().unwrap();
    let cut = client
        .chat_stream(&request(), |_| ControlFlow::Continue(()))
        .expect("[DONE] ends the stream successfully");
    assert_eq!(cut.content(), " answerx");
    assert_eq!(cut.finish_reason(), None);
    assert!(!cut.all_choices_finished());
    let finished = client
        .chat_stream(&request(), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(finished.content(), "Once upon");
    assert!(finished.all_choices_finished());
}

// Proves: the `chat` example warns on stderr (one line) when a choice did not finish, and its
// stdout is the reply as before; a finished stream gives no warning.
#[test]
fn chat_example_warns_when_a_choice_did_not_finish() {
    let exe = support::example::build("chat");
    let server = TestServer::scripted(
        Script::new()
            .sse(INTERRUPTED)
            .sse(&support::bodies::stream_body(&["Once", " upon"])),
    );
    let warning = "chat: warning: the stream ended before every choice had a finish reason";
    for (stdout_expected, warns) in [(" answerx\n", true), ("Once upon\n", false)] {
        let out = std::process::Command::new(&exe)
            .arg("hello")
            .env("OPENAI_BASE_URL", server.base_url())
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_ORG_ID")
            .env_remove("OPENAI_PROJECT_ID")
            .output()
            .expect("run the chat example");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), stdout_expected);
        assert_eq!(stderr.contains(warning), warns, "{stderr}");
        assert_eq!(
            stderr.matches("warning").count(),
            usize::from(warns),
            "{stderr}"
        );
    }
}

/// A server that refuses `stream_options` with `status` + `refusal` and streams "ok"
/// without it.
fn refusing_server(status: u16, refusal: &'static str) -> TestServer {
    TestServer::start(move |req, r| {
        if req.json().get("stream_options").is_some() {
            r.json(status, refusal);
        } else {
            r.sse(&support::bodies::stream_body(&["ok"]));
        }
    })
}

fn stream_content(client: &Client) -> Result<String, Error> {
    let completion = client.chat_stream(&request(), |_| ControlFlow::Continue(()))?;
    Ok(completion.content().into_owned())
}

// Proves: a 400 or 422 naming stream_options is retried once without it, and the client (and
// its clones) then sends streams without it straight away.
#[test]
fn a_refused_stream_options_is_dropped_and_remembered() {
    let refusals = [
        (
            400,
            r#"{"error":{"message":"Extra parameters ['stream_options'] are not allowed","type":"invalid_request_error"}}"#,
        ),
        (
            422,
            r#"{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"],"msg":"Extra inputs are not permitted"}]}"#,
        ),
    ];
    for (status, refusal) in refusals {
        let server = refusing_server(status, refusal);
        let client = builder(&server).build().unwrap();
        assert_eq!(stream_content(&client).unwrap(), "ok");
        let sent = server.requests();
        assert_eq!(sent.len(), 2, "one refused request, one retry");
        assert_eq!(
            sent[0].json()["stream_options"],
            serde_json::json!({"include_usage": true})
        );
        assert!(sent[1].json().get("stream_options").is_none());
        assert_eq!(sent[0].json()["messages"], sent[1].json()["messages"]);

        assert_eq!(stream_content(&client).unwrap(), "ok");
        let clone = client.with_header("x-trace", "1");
        assert_eq!(stream_content(&clone).unwrap(), "ok");
        let sent = server.requests();
        assert_eq!(sent.len(), 4, "later streams go straight without it");
        assert!(
            sent[2..]
                .iter()
                .all(|r| r.json().get("stream_options").is_none())
        );

        // Another client for the same server starts by asking again.
        let fresh = builder(&server).build().unwrap();
        assert_eq!(stream_content(&fresh).unwrap(), "ok");
        assert_eq!(server.request_count(), 6);
    }
}

// Proves: an error that does not name stream_options, or an option the caller set, is not
// retried; nor is a refusal when usage was not asked for.
#[test]
fn other_refusals_are_not_retried_without_stream_options() {
    let server = refusing_server(
        400,
        r#"{"error":{"message":"Invalid value for 'temperature'","param":"temperature"}}"#,
    );
    let client = builder(&server).build().unwrap();
    let err = stream_content(&client).expect_err("not about stream_options");
    assert_eq!(err.status(), Some(400));
    assert_eq!(server.request_count(), 1);

    let server = refusing_server(
        400,
        r#"{"error":{"message":"Extra parameters ['stream_options'] are not allowed"}}"#,
    );
    let client = builder(&server).build().unwrap();
    let mut own = request();
    own.extra.insert(
        "stream_options".to_owned(),
        serde_json::json!({"include_usage": false}),
    );
    let err = client
        .chat_stream(&own, |_| ControlFlow::Continue(()))
        .expect_err("the caller's own option is sent as given");
    assert_eq!(err.status(), Some(400));
    assert_eq!(server.request_count(), 1);
    assert_eq!(
        stream_content(&client).unwrap(),
        "ok",
        "the client's own option"
    );
    assert_eq!(server.request_count(), 3);

    let no_usage = builder(&server).stream_usage(false).build().unwrap();
    assert_eq!(stream_content(&no_usage).unwrap(), "ok");
    assert_eq!(server.request_count(), 4, "no option, no refusal");
}

/// A stream whose content pieces are `pieces`, then `[DONE]`, with a finish reason on the
/// last piece when `finish` is set.
fn content_stream(pieces: &[&str], finish: bool) -> Vec<u8> {
    let mut body = Vec::new();
    for (n, piece) in pieces.iter().enumerate() {
        let mut choice = serde_json::json!({"index": 0, "delta": {"content": piece}});
        if finish && n == pieces.len() - 1 {
            choice["finish_reason"] = "stop".into();
        }
        let chunk =
            serde_json::json!({"id": "c", "object": "chat.completion.chunk", "choices": [choice]});
        body.extend(support::bodies::event(&chunk.to_string()));
    }
    body.extend(support::bodies::event("[DONE]"));
    body
}

// Proves: with split_think_tags, tags split across chunks leave the content; the chunks
// handed out and the completion agree; off by default; a stream ending on a held-back
// piece hands it on.
#[test]
fn think_tags_are_split_off_when_asked() {
    let pieces = ["<thi", "nk>Two plus", " two.</th", "ink>\n4", " <", "b>"];
    let server = TestServer::scripted(
        Script::new()
            .sse(&content_stream(&pieces, true))
            .sse(&content_stream(&pieces, true))
            .sse(&content_stream(&["<think>hm</think>ok <thi"], false)),
    );
    let split = builder(&server).split_think_tags(true).build().unwrap();
    let (mut content, mut reasoning) = (String::new(), String::new());
    let completion = split
        .chat_stream(&request(), |chunk| {
            let delta = &chunk.choices[0].delta;
            content.push_str(delta.content.as_deref().unwrap_or_default());
            reasoning.push_str(delta.reasoning_content.as_deref().unwrap_or_default());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(
        (content.as_str(), reasoning.as_str()),
        ("\n4 <b>", "Two plus two.")
    );
    assert_eq!(completion.content(), "\n4 <b>");
    let message = completion.message().unwrap();
    assert_eq!(message.reasoning_content.as_deref(), Some("Two plus two."));

    let plain = builder(&server).build().unwrap();
    let completion = plain
        .chat_stream(&request(), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(completion.content(), pieces.concat(), "off by default");
    assert_eq!(completion.message().unwrap().reasoning_content, None);

    let mut stream = split.chat_chunks(&request()).unwrap();
    let seen: Vec<String> = stream
        .by_ref()
        .map(|chunk| chunk.unwrap().content().to_owned())
        .collect();
    assert_eq!(seen, ["ok ", "<thi"], "the held-back piece comes last");
    let completion = stream.into_completion();
    assert_eq!(completion.content(), "ok <thi");
    assert_eq!(
        completion.message().unwrap().reasoning_content.as_deref(),
        Some("hm")
    );
}
