//! End-to-end tests against real OpenAI-compatible servers: llama.cpp's
//! `llama-server` on 127.0.0.1, serving the tiny random-weight model that
//! `e2e/gen_model.py` writes, and the LiteLLM proxy in front of it (the
//! `litellm_*` tests). See `e2e/README.md`.
//!
//! Every test is `#[ignore]`d, so the default `cargo test` lists them without
//! running them. Run them with a server:
//!
//! ```text
//! e2e/run.sh cargo test --release --test e2e -- --include-ignored
//! ```
//!
//! or against servers started by hand, with
//! `CHATSTREAM_E2E_BASE_URL=http://127.0.0.1:PORT/v1 CHATSTREAM_E2E_API_KEY=KEY`
//! (llama-server) and `CHATSTREAM_E2E_LITELLM_URL`, `CHATSTREAM_E2E_LITELLM_KEY`
//! (LiteLLM).
//! A missing variable fails the test: these tests never skip.
//!
//! The model was built so that requests can force behaviours (see the table
//! in `e2e/README.md`): `logit_bias {"4": 100}` (EOS) stops at once,
//! `logit_bias {"5": 100}` (`<tool_call>`) with tools gives exactly one tool
//! call, and without a bias every generation runs into `max_tokens`.

// The client is what these tests exercise; the core alone has its own tests.
#![cfg(feature = "client")]

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

#[path = "support/example.rs"]
mod example;

use chatstream::responses::{OutputItem, ResponseTool, ResponseToolChoice};
use chatstream::{
    ChatChunk, ChatCompletion, ChatRequest, Client, Error, ErrorKind, FunctionCall, Message,
    Response, ResponseEvent, ResponseFormat, ResponseRequest, Role, Tool, ToolCall, ToolCallDelta,
    ToolChoice,
};
use serde_json::{Value, json};

/// The `--alias` the scripts give the model.
const MODEL: &str = "tiny-random-llama";
/// Token ids fixed by `e2e/gen_model.py`.
const EOS: u64 = 4;
const TOOL_CALL: u64 = 5;
/// `-np 4`: the server's slots, the largest `n` it accepts.
const SLOTS: u32 = 4;

// ---- setup ---------------------------------------------------------------------------

#[track_caller]
fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => panic!(
            "{name} is not set. These tests need a running llama-server and \
             LiteLLM proxy: run \
             `e2e/run.sh cargo test --release --test e2e -- --include-ignored` \
             (see e2e/README.md)"
        ),
    }
}

fn base_url() -> String {
    env("CHATSTREAM_E2E_BASE_URL")
}

fn api_key() -> String {
    env("CHATSTREAM_E2E_API_KEY")
}

/// A client for the server, configured like a user would: defaults plus the
/// base URL and key.
fn client() -> Client {
    client_for(&base_url())
}

fn client_for(url: &str) -> Client {
    Client::builder()
        .base_url(url)
        .api_key(api_key())
        .build()
        .expect("client")
}

fn user(text: &str) -> Vec<Message> {
    vec![Message::user(text)]
}

fn request(text: &str) -> ChatRequest {
    ChatRequest::new(MODEL, user(text))
}

/// Streams `request`, returning every chunk and the accumulated completion.
#[track_caller]
fn stream(client: &Client, request: &ChatRequest) -> (Vec<ChatChunk>, ChatCompletion) {
    let mut chunks = Vec::new();
    let completion = client
        .chat_stream(request, |chunk| {
            chunks.push(chunk.clone());
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("streamed request failed: {e}"));
    (chunks, completion)
}

#[track_caller]
fn chat(client: &Client, request: &ChatRequest) -> ChatCompletion {
    client
        .chat(request)
        .unwrap_or_else(|e| panic!("request failed: {e}"))
}

/// The concatenated `content` deltas of choice `index`.
fn streamed_text(chunks: &[ChatChunk], index: u64) -> String {
    chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter(|c| c.index == index)
        .filter_map(|c| c.delta.content.as_deref())
        .collect()
}

fn choice_text(completion: &ChatCompletion, index: usize) -> Cow<'_, str> {
    completion.choices[index].message.text()
}

/// The parameters of the get_weather tool. Only enums and booleans: the tiny
/// model fills free strings and numbers with random characters.
fn weather_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "London", "Tokyo"]},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "detailed": {"type": "boolean"}
        },
        "required": ["city", "unit"]
    })
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather for a city",
        weather_parameters(),
    )
}

/// A request for `model` that gives exactly one get_weather call.
fn forced_tool_call_request(model: &str) -> ChatRequest {
    ChatRequest::new(model, user("What is the weather in Paris?"))
        .tool(weather_tool())
        .logit_bias(TOOL_CALL, 100.0)
        .max_tokens(400)
}

/// Checks one get_weather call: an id, and arguments that parse as JSON
/// matching the tool's schema.
#[track_caller]
fn assert_weather_call(call: &ToolCall) {
    assert!(!call.id.is_empty(), "tool call without id: {call:?}");
    assert_eq!(call.kind, "function");
    assert_eq!(call.function.name, "get_weather");
    let args = call
        .arguments_json()
        .unwrap_or_else(|e| panic!("arguments are not JSON: {e}: {:?}", call.function.arguments));
    let args = args.as_object().expect("arguments are an object");
    for key in args.keys() {
        assert!(
            ["city", "unit", "detailed"].contains(&key.as_str()),
            "unknown argument {key}: {args:?}"
        );
    }
    let city = args.get("city").and_then(Value::as_str);
    assert!(
        matches!(city, Some("Paris" | "London" | "Tokyo")),
        "city: {args:?}"
    );
    let unit = args.get("unit").and_then(Value::as_str);
    assert!(
        matches!(unit, Some("celsius" | "fahrenheit")),
        "unit: {args:?}"
    );
    if let Some(detailed) = args.get("detailed") {
        assert!(detailed.is_boolean(), "detailed: {args:?}");
    }
}

#[track_caller]
fn expect_api_error(result: Result<impl std::fmt::Debug, Error>, status: u16) -> Error {
    let err = match result {
        Ok(ok) => panic!("expected HTTP {status}, got {ok:?}"),
        Err(err) => err,
    };
    assert_eq!(err.kind(), ErrorKind::Api, "{err}");
    assert_eq!(err.status(), Some(status), "{err}");
    let api = err.api().expect("api error details");
    assert_eq!(api.status, status);
    assert!(!api.message.is_empty(), "{api:?}");
    err
}

// ---- checks run against llama-server and against LiteLLM in front of it ----------------

/// The errors of `request` sent plain and streamed, each an API error with `status`.
#[track_caller]
fn plain_and_streamed_errors(client: &Client, request: &ChatRequest, status: u16) -> [Error; 2] {
    [
        expect_api_error(client.chat(request), status),
        expect_api_error(
            client.chat_stream(request, |_| ControlFlow::Continue(())),
            status,
        ),
    ]
}

/// The errors of a plain call, a streamed call and the model list with a wrong key, each an
/// API error with `status` that does not show the key.
#[track_caller]
fn wrong_key_errors(url: &str, model: &str, status: u16) -> [Error; 3] {
    let wrong = Client::builder()
        .base_url(url)
        .api_key("sk-wrong")
        .build()
        .expect("client");
    let request = ChatRequest::new(model, user("Hello?")).max_tokens(2);
    let errors = [
        expect_api_error(wrong.chat(&request), status),
        expect_api_error(
            wrong.chat_stream(&request, |_| ControlFlow::Continue(())),
            status,
        ),
        expect_api_error(wrong.models(), status),
    ];
    for err in &errors {
        assert!(!err.to_string().contains("sk-wrong"), "key leaked: {err}");
    }
    errors
}

// Each takes the client and the name the server answers with in `model`; the tests add
// what is particular to their server.

/// A plain completion of 16 tokens: the server's model name, one choice that ran into
/// `max_tokens` (the model never samples EOS by itself), and usage that adds up.
#[track_caller]
fn check_plain_completion(client: &Client, model: &str) -> ChatCompletion {
    let completion = chat(
        client,
        &ChatRequest::new(model, user("Tell me a story.")).max_tokens(16),
    );
    assert_eq!(completion.model, model, "the server's name for the model");
    assert_eq!(completion.object, "chat.completion");
    assert_eq!(completion.choices.len(), 1);
    assert!(!completion.content().is_empty());
    assert_eq!(completion.finish_reason(), Some("length"));
    let usage = completion.usage.as_ref().expect("usage");
    assert_eq!(usage.completion_tokens, Some(16));
    assert!(usage.prompt_tokens.unwrap_or(0) > 0, "{usage:?}");
    assert_eq!(
        usage.total_tokens,
        Some(usage.prompt_tokens.unwrap() + 16),
        "{usage:?}"
    );
    completion
}

/// The same request at temperature 0, plain then streamed: the same non-empty text. Returns
/// the plain completion, the chunks and the streamed completion.
#[track_caller]
fn check_streamed_and_plain_agree(
    client: &Client,
    request: &ChatRequest,
) -> (ChatCompletion, Vec<ChatChunk>, ChatCompletion) {
    let plain = chat(client, request);
    let (chunks, streamed) = stream(client, request);
    assert!(!plain.content().is_empty());
    assert_eq!(streamed.content(), plain.content());
    (plain, chunks, streamed)
}

/// `max_tokens` and `max_completion_tokens` both end plain and streamed completions with
/// `length` after exactly that many tokens.
#[track_caller]
fn check_max_tokens_gives_finish_reason_length(client: &Client, model: &str) {
    for request in [
        ChatRequest::new(model, user("Ramble on.")).max_tokens(5),
        ChatRequest::new(model, user("Ramble on.")).max_completion_tokens(5),
    ] {
        let plain = chat(client, &request);
        assert_eq!(plain.finish_reason(), Some("length"));
        assert_eq!(plain.usage.and_then(|u| u.completion_tokens), Some(5));
        let (_, streamed) = stream(client, &request);
        assert_eq!(streamed.finish_reason(), Some("length"));
        assert_eq!(streamed.usage.and_then(|u| u.completion_tokens), Some(5));
    }
}

/// A streamed forced tool call: one get_weather call, whose first fragment carries its id
/// and whose fragments' arguments add up to the accumulated ones. Returns the fragments.
#[track_caller]
fn check_streamed_tool_call<'a>(
    chunks: &'a [ChatChunk],
    completion: &ChatCompletion,
) -> Vec<&'a ToolCallDelta> {
    assert_eq!(completion.finish_reason(), Some("tool_calls"));
    let calls = completion.tool_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_weather_call(&calls[0]);
    let deltas: Vec<_> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|c| &c.delta.tool_calls)
        .collect();
    assert!(deltas.len() > 1, "{deltas:?}");
    assert_eq!(deltas[0].id.as_deref(), Some(calls[0].id.as_str()));
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d.function.as_ref()?.arguments.as_deref())
        .collect();
    assert_eq!(arguments, calls[0].function.arguments);
    deltas
}

/// A json_schema response format: plain and streamed, the content is JSON with exactly the
/// schema's one boolean, and the generation stopped by itself.
#[track_caller]
fn check_response_format_json_schema(client: &Client, model: &str) {
    let schema = json!({
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": false
    });
    let request = ChatRequest::new(model, user("Is everything ok?"))
        .response_format(ResponseFormat::json_schema("status", schema))
        .max_tokens(200);
    let plain = chat(client, &request);
    let (_, streamed) = stream(client, &request);
    for completion in [plain, streamed] {
        let content = completion.content();
        let value: Value = serde_json::from_str(&content)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {content:?}"));
        let object = value.as_object().expect("an object");
        assert_eq!(object.len(), 1, "{value}");
        assert!(object["ok"].is_boolean(), "{value}");
        assert_eq!(completion.finish_reason(), Some("stop"));
    }
}

// ---- completions ---------------------------------------------------------------------

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn plain_completion() {
    let completion = check_plain_completion(&client(), MODEL);
    assert!(!completion.id.is_empty());
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn streamed_completion() {
    let (chunks, completion) = stream(&client(), &request("Tell me a story.").max_tokens(16));

    // One chunk for the role, then one per token, then the finish chunk.
    assert!(chunks.len() > 16, "{} chunks", chunks.len());
    assert_eq!(
        chunks[0].choices[0].delta.role.as_ref().map(Role::as_str),
        Some("assistant")
    );
    assert!(chunks.iter().all(|c| c.model == MODEL));
    let text = streamed_text(&chunks, 0);
    assert!(!text.is_empty());
    assert_eq!(completion.content(), text);
    assert_eq!(completion.finish_reason(), Some("length"));
    assert_eq!(completion.model, MODEL);
    assert_eq!(completion.choices[0].message.role.as_str(), "assistant");
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn streamed_chunks_iterator() {
    let mut stream = client()
        .chat_chunks(&request("Count.").max_tokens(10))
        .expect("stream");
    let mut text = String::new();
    for chunk in &mut stream {
        let chunk = chunk.expect("chunk");
        text.push_str(chunk.content());
    }
    let completion = stream.into_completion();
    assert_eq!(completion.content(), text);
    assert_eq!(completion.finish_reason(), Some("length"));
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn stream_stopped_early_keeps_what_arrived() {
    let client = client();
    let mut seen = 0;
    let completion = client
        .chat_stream(&request("Go on.").max_tokens(200), |chunk| {
            if !chunk.content().is_empty() {
                seen += 1;
            }
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .expect("stream");
    assert!(!completion.content().is_empty());
    assert_eq!(completion.finish_reason(), None, "stopped before the end");
    // The client is still usable afterwards.
    let next = chat(&client, &request("Again.").max_tokens(3));
    assert_eq!(next.finish_reason(), Some("length"));
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn streamed_usage_is_captured() {
    let request = request("Tell me a story.").max_tokens(12);
    let (chunks, completion) = stream(&client(), &request);

    // The client asks for stream_options.include_usage by default: llama.cpp
    // then ends with a chunk whose `choices` is empty and that carries usage.
    let last = chunks.last().expect("chunks");
    assert!(last.choices.is_empty(), "{last:?}");
    let usage = completion.usage.as_ref().expect("usage of the stream");
    assert_eq!(usage.completion_tokens, Some(12));

    // The same request without streaming reports the same numbers.
    let plain = chat(&client(), &request);
    let plain_usage = plain.usage.as_ref().expect("usage");
    assert_eq!(usage.prompt_tokens, plain_usage.prompt_tokens);
    assert_eq!(usage.completion_tokens, plain_usage.completion_tokens);
    assert_eq!(usage.total_tokens, plain_usage.total_tokens);

    // Without the option llama.cpp sends no usage at all.
    let no_usage = Client::builder()
        .base_url(base_url())
        .api_key(api_key())
        .stream_usage(false)
        .build()
        .expect("client");
    let (chunks, completion) = stream(&no_usage, &request);
    assert!(chunks.iter().all(|c| c.usage.is_none()));
    assert!(chunks.iter().all(|c| !c.choices.is_empty()));
    assert_eq!(completion.usage, None);
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn n_two_streamed_and_plain() {
    let client = client();
    let request = request("Two answers, please.").n(2).max_tokens(8).seed(7);
    let (chunks, streamed) = stream(&client, &request);

    // The indices are interleaved, and each has its own role chunk, finish
    // chunk and (llama.cpp) usage chunk.
    for index in [0, 1] {
        let roles = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter(|c| c.index == index && c.delta.role.is_some())
            .count();
        assert_eq!(roles, 1, "role chunks of choice {index}");
        let finishes: Vec<_> = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter(|c| c.index == index)
            .filter_map(|c| c.finish_reason.as_deref())
            .collect();
        assert_eq!(finishes, ["length"], "finish reasons of choice {index}");
    }
    let usage_chunks = chunks.iter().filter(|c| c.usage.is_some()).count();
    assert_eq!(
        usage_chunks, 2,
        "llama.cpp sends one usage chunk per choice"
    );

    assert_eq!(streamed.choices.len(), 2);
    for (i, choice) in streamed.choices.iter().enumerate() {
        assert_eq!(choice.index, i as u64);
        assert_eq!(choice.finish_reason.as_deref(), Some("length"));
        assert_eq!(choice.message.text(), streamed_text(&chunks, i as u64));
        assert!(!choice.message.text().is_empty());
    }

    let plain = chat(&client, &request);
    assert_eq!(plain.choices.len(), 2);
    for (i, choice) in plain.choices.iter().enumerate() {
        assert_eq!(choice.index, i as u64);
        assert_eq!(choice.finish_reason.as_deref(), Some("length"));
    }
    // The accumulated usage is the last usage received (never a sum).
    // llama.cpp's usage chunks each count one choice's tokens, and so does
    // its non-streamed usage: both agree.
    let (s, p) = (streamed.usage.expect("usage"), plain.usage.expect("usage"));
    assert_eq!(s.completion_tokens, Some(8));
    assert_eq!(s.completion_tokens, p.completion_tokens);
    assert_eq!(s.prompt_tokens, p.prompt_tokens);
    assert_eq!(s.total_tokens, p.total_tokens);
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn streamed_and_plain_agree_at_temperature_zero() {
    let client = client();
    let request = request("Say the same thing twice.")
        .temperature(0.0)
        .max_tokens(24);
    let (plain, _, streamed) = check_streamed_and_plain_agree(&client, &request);
    assert_eq!(streamed.finish_reason(), plain.finish_reason());
    assert_eq!(
        streamed.usage.as_ref().and_then(|u| u.completion_tokens),
        plain.usage.as_ref().and_then(|u| u.completion_tokens)
    );
    // Greedy decoding: again the same.
    assert_eq!(chat(&client, &request).content(), plain.content());
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn max_tokens_gives_finish_reason_length() {
    check_max_tokens_gives_finish_reason_length(&client(), MODEL);
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn stop_string_ends_with_finish_reason_stop() {
    let client = client();
    let base = request("Say something.").temperature(0.0).max_tokens(40);
    let full = chat(&client, &base).content().into_owned();
    // A word from the middle of the greedy text.
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 4, "too few words in {full:?}");
    let stop = words[2].to_owned();

    let with_stop = base.clone().stop(vec![stop.as_str()]);
    let plain = chat(&client, &with_stop);
    let (_, streamed) = stream(&client, &with_stop);
    for completion in [&plain, &streamed] {
        let content = completion.content();
        assert_eq!(completion.finish_reason(), Some("stop"), "{content:?}");
        // The text up to the first occurrence of the stop string, which is
        // left out.
        let cut = full.find(&stop).expect("stop string in the full text");
        assert_eq!(content, &full[..cut], "stop {stop:?} in {full:?}");
    }
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn forced_stop() {
    let client = client();
    let request = request("Stop at once.")
        .logit_bias(EOS, 100.0)
        .max_tokens(16);

    let plain = chat(&client, &request);
    assert_eq!(plain.finish_reason(), Some("stop"));
    assert_eq!(plain.content(), "");
    assert_eq!(
        plain.usage.as_ref().and_then(|u| u.completion_tokens),
        Some(1)
    );

    let (chunks, streamed) = stream(&client, &request);
    assert_eq!(streamed.finish_reason(), Some("stop"));
    assert_eq!(streamed.content(), "");
    assert_eq!(streamed_text(&chunks, 0), "");
}

// ---- tools ---------------------------------------------------------------------------

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn forced_tool_call_not_streamed() {
    let client = client();
    for choice in [ToolChoice::Auto, ToolChoice::Required] {
        let completion = chat(
            &client,
            &forced_tool_call_request(MODEL).tool_choice(choice.clone()),
        );
        assert_eq!(completion.finish_reason(), Some("tool_calls"), "{choice:?}");
        let calls = completion.tool_calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_weather_call(&calls[0]);
        // llama.cpp sends "content": "" (not null) next to tool calls.
        assert_eq!(completion.content(), "");
    }
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn forced_tool_call_streamed() {
    let (chunks, completion) = stream(&client(), &forced_tool_call_request(MODEL));
    let deltas = check_streamed_tool_call(&chunks, &completion);

    // The first fragment carries id, type and name; the arguments come in
    // many fragments that add up to the accumulated arguments.
    let first = deltas[0];
    assert_eq!(first.index, Some(0));
    let first_fn = first
        .function
        .as_ref()
        .expect("function in the first fragment");
    assert_eq!(first_fn.name.as_deref(), Some("get_weather"));
    assert!(deltas.iter().all(|d| d.index == Some(0)));
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn tools_without_bias_give_text() {
    let completion = chat(
        &client(),
        &request("What is the weather in Paris?")
            .tool(weather_tool())
            .max_tokens(20),
    );
    assert_eq!(completion.finish_reason(), Some("length"));
    assert!(completion.tool_calls().is_empty());
    assert!(!completion.content().is_empty());
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn tool_result_round_trip() {
    let client = client();
    let first = chat(&client, &forced_tool_call_request(MODEL));
    assert_eq!(first.finish_reason(), Some("tool_calls"));
    let calls = first.tool_calls().to_vec();
    assert_eq!(calls.len(), 1);
    let call_id = calls[0].id.clone();

    let mut messages = user("What is the weather in Paris?");
    messages.push(Message::assistant_tool_calls(calls));
    messages.push(Message::tool(
        call_id,
        r#"{"temperature": 21, "sky": "clear"}"#,
    ));
    // Block EOS so that the answer has text (with some templates a tool call
    // in the history ends the next turn at once).
    let follow_up = ChatRequest::new(MODEL, messages)
        .tool(weather_tool())
        .logit_bias(EOS, -100.0)
        .max_tokens(12);

    let plain = chat(&client, &follow_up);
    assert_eq!(plain.finish_reason(), Some("length"));
    assert!(plain.tool_calls().is_empty());
    assert!(!plain.content().is_empty());
    // The history reached the template: the prompt is longer than the first one.
    let prompt = |c: &ChatCompletion| c.usage.as_ref().and_then(|u| u.prompt_tokens).unwrap();
    assert!(prompt(&plain) > prompt(&first) + 10);

    let (_, streamed) = stream(&client, &follow_up);
    assert_eq!(streamed.finish_reason(), Some("length"));
    assert!(!streamed.content().is_empty());
}

// ---- logprobs, structured output, models ---------------------------------------------

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn logprobs_streamed_and_accumulated() {
    let client = client();
    let request = request("Tell me a story.")
        .logprobs(true)
        .top_logprobs(2)
        .max_tokens(6)
        .seed(11);

    let check = |completion: &ChatCompletion| {
        let logprobs = completion.choices[0].logprobs.as_ref().expect("logprobs");
        let content = logprobs.content.as_ref().expect("logprobs.content");
        assert_eq!(content.len(), 6, "{content:?}");
        for entry in content {
            assert!(entry.logprob <= 0.0, "{entry:?}");
            assert_eq!(entry.top_logprobs.len(), 2, "{entry:?}");
            assert_eq!(
                entry.bytes.as_deref(),
                Some(entry.token.as_bytes()),
                "{entry:?}"
            );
        }
        let tokens: String = content.iter().map(|e| e.token.as_str()).collect();
        assert_eq!(tokens, choice_text(completion, 0));
        content.iter().map(|e| e.token.clone()).collect::<Vec<_>>()
    };

    let plain = chat(&client, &request);
    let (chunks, streamed) = stream(&client, &request);
    // Streamed: logprobs arrive in the deltas, one token each.
    let per_chunk = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.logprobs.as_ref()?.content.as_ref())
        .map(Vec::len)
        .sum::<usize>();
    assert_eq!(per_chunk, 6);
    assert_eq!(check(&streamed), check(&plain), "same seed, same tokens");
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn response_format_json_schema() {
    check_response_format_json_schema(&client(), MODEL);
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn models_lists_the_model() {
    let models = client().models().expect("models");
    assert!(
        models.iter().any(|m| m.id == MODEL),
        "no {MODEL} in {models:?}"
    );
}

// ---- errors --------------------------------------------------------------------------

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn wrong_api_key_gives_typed_401() {
    let request = request("Hello?").max_tokens(2);
    for err in wrong_key_errors(&base_url(), MODEL, 401) {
        let api = err.api().unwrap();
        assert_eq!(api.message, "Invalid API Key");
        assert_eq!(api.error_type.as_deref(), Some("authentication_error"));
    }

    // No key at all: also 401.
    let none = Client::builder()
        .base_url(base_url())
        .build()
        .expect("client");
    expect_api_error(none.chat(&request), 401);
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn malformed_requests_give_typed_400() {
    let client = client();

    // More choices than the server has slots.
    let too_many = request("Hi").n(SLOTS + 1).max_tokens(2);
    for err in plain_and_streamed_errors(&client, &too_many, 400) {
        let api = err.api().unwrap();
        assert_eq!(api.error_type.as_deref(), Some("invalid_request_error"));
        assert!(
            api.message.contains("'n'") && api.message.contains(&format!("got {}", SLOTS + 1)),
            "{api:?}"
        );
    }

    // A field of the wrong type, sent through the request's extra map.
    let wrong_type = request("Hi").max_tokens(2).extra("temperature", "hot");
    for err in plain_and_streamed_errors(&client, &wrong_type, 400) {
        let api = err.api().unwrap();
        assert!(api.message.contains("temperature"), "{api:?}");
    }
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn over_long_prompt_gives_context_size_error() {
    let client = client();
    // Each slot has 1024 tokens of context (-c 4096 -np 4).
    let long = "hello world ".repeat(1500);
    let request = request(&long).max_tokens(4);
    // Found before the first token, so a plain 400 even when streaming.
    for err in plain_and_streamed_errors(&client, &request, 400) {
        let api = err.api().unwrap();
        assert_eq!(api.error_type.as_deref(), Some("exceed_context_size_error"));
        assert!(api.body.contains("n_ctx"), "{}", api.body);
    }
}

// ---- connections ---------------------------------------------------------------------

/// A TCP relay on 127.0.0.1 in front of the server that counts the
/// connections it accepts (llama-server does not report them). Each byte is
/// passed on unchanged; a close on one side is passed on as a close.
struct Relay {
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    fn start() -> Relay {
        let url = base_url();
        let rest = url
            .strip_prefix("http://")
            .expect("CHATSTREAM_E2E_BASE_URL starts with http://");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let upstream: SocketAddr = authority
            .to_socket_addrs()
            .expect("server address")
            .next()
            .expect("server address");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        thread::spawn(move || {
            for downstream in listener.incoming() {
                let Ok(downstream) = downstream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(up) = TcpStream::connect(upstream) else {
                    continue;
                };
                pipe(downstream.try_clone().unwrap(), up.try_clone().unwrap());
                pipe(up, downstream);
            }
        });
        Relay {
            url: format!("http://127.0.0.1:{port}/{path}"),
            accepted,
        }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn sequential_requests_reuse_connections() {
    let relay = Relay::start();
    let client = client_for(&relay.url);

    for i in 0..6 {
        let completion = chat(&client, &request("Hi").max_tokens(3));
        assert_eq!(completion.finish_reason(), Some("length"), "request {i}");
    }
    assert!(!client.models().expect("models").is_empty());
    let stopped = chat(&client, &request("Hi").logit_bias(EOS, 100.0));
    assert_eq!(stopped.finish_reason(), Some("stop"));
    assert_eq!(
        relay.connections(),
        1,
        "8 sequential plain requests on one Client should share one connection"
    );

    // llama-server closes the connection after every streamed response
    // (although it announces `Keep-Alive`), so each stream uses up one
    // connection. The request after a stream must still work: the client
    // may not fail on the closed pooled connection.
    let streams = 5;
    for i in 0..streams {
        let (_, streamed) = stream(&client, &request("Hi").max_tokens(3));
        assert_eq!(streamed.finish_reason(), Some("length"), "stream {i}");
        let completion = chat(&client, &request("Hi").max_tokens(3));
        assert_eq!(
            completion.finish_reason(),
            Some("length"),
            "request after stream {i}"
        );
    }
    let (_, tool) = stream(&client, &forced_tool_call_request(MODEL));
    assert_eq!(tool.finish_reason(), Some("tool_calls"));
    assert!(!client.models().expect("models").is_empty());
    // Each stream may have cost a new connection, nothing else.
    assert!(
        relay.connections() <= 1 + streams + 1,
        "{} connections for {} streams",
        relay.connections(),
        streams + 1
    );
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn request_after_idle_keep_alive_timeout_still_works() {
    // llama-server closes a keep-alive connection after 5 s of idleness. A
    // request after that must not fail on the closed pooled connection:
    // with the default pool idle timeout (below 5 s) the connection is not
    // reused, and with a longer one the client must notice it was closed.
    let default_relay = Relay::start();
    let long_relay = Relay::start();
    let clients = [
        client_for(&default_relay.url),
        Client::builder()
            .base_url(&long_relay.url)
            .api_key(api_key())
            .pool_idle_timeout(Duration::from_secs(60))
            .max_retries(0)
            .build()
            .expect("client"),
    ];
    for client in &clients {
        assert_eq!(
            chat(client, &request("Hi").max_tokens(2)).finish_reason(),
            Some("length")
        );
    }
    thread::sleep(Duration::from_secs(6));
    for client in &clients {
        assert_eq!(
            chat(client, &request("Hi").max_tokens(2)).finish_reason(),
            Some("length")
        );
    }
    thread::sleep(Duration::from_secs(6));
    for client in &clients {
        let (_, streamed) = stream(client, &request("Hi").max_tokens(2));
        assert_eq!(streamed.finish_reason(), Some("length"));
    }
    for relay in [&default_relay, &long_relay] {
        assert_eq!(
            relay.connections(),
            3,
            "a new connection after each idle gap"
        );
    }
}

/// How many of the server's slots are processing a request, from its `/slots` endpoint.
fn busy_slots() -> usize {
    let url = base_url();
    let origin = url.trim_end_matches('/').trim_end_matches("/v1");
    let authority = origin.strip_prefix("http://").expect("an http:// base URL");
    let mut connection = TcpStream::connect(authority).expect("connect for /slots");
    connection
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let head = format!(
        "GET /slots HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        api_key()
    );
    connection.write_all(head.as_bytes()).expect("send /slots");
    let mut response = Vec::new();
    connection.read_to_end(&mut response).expect("read /slots");
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "/slots: {head}");
    // `Connection: close`, so the body is either plain or chunked; the JSON array is the part
    // between the first `[` and the last `]` either way (chunk sizes are hex digits outside it).
    let json =
        &body[body.find('[').expect("a JSON array")..=body.rfind(']').expect("a JSON array")];
    let slots: Value = serde_json::from_str(json).expect("/slots is JSON");
    let slots = slots.as_array().expect("/slots is an array");
    assert_eq!(slots.len(), SLOTS as usize, "{slots:?}");
    slots
        .iter()
        .filter(|slot| slot["is_processing"] == true)
        .count()
}

/// Polls `/slots` until every slot is processing; fails after `limit`.
fn wait_for_all_slots_busy(limit: Duration) {
    let start = Instant::now();
    loop {
        if busy_slots() == SLOTS as usize {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "the slots were not all busy after {limit:?}"
        );
        // Polling the server's state (not ordering events by time): ask again shortly.
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn requests_queued_behind_busy_slots_still_work() {
    // With all slots busy, llama-server queues a request and sends its response headers only
    // when a slot frees up. The stream idle timeout (between events) is far shorter than that
    // wait and must not fail the request: the wait for the headers is bounded by the response
    // timeout alone. No retries, so a timeout cannot hide behind a second attempt. The tiny
    // model generates fast: on a quiet machine the busy requests free their slots well under a
    // second after they all started, so the idle limit is set shorter than that wait.
    const IDLE: Duration = Duration::from_millis(300);
    const LIMIT: Duration = Duration::from_secs(60);
    let busy: Vec<_> = (0..SLOTS)
        .map(|_| {
            thread::spawn(|| {
                let long = request("Talk for a while.")
                    .logit_bias(EOS, -100.0)
                    .max_tokens(900);
                chat(&client(), &long).finish_reason().map(str::to_owned)
            })
        })
        .collect();
    wait_for_all_slots_busy(LIMIT);
    let queued = Client::builder()
        .base_url(base_url())
        .api_key(api_key())
        .max_retries(0)
        .response_timeout(LIMIT)
        .request_timeout(Some(LIMIT))
        .stream_idle_timeout(IDLE)
        .build()
        .expect("client");
    let plain = thread::spawn(move || {
        let started = Instant::now();
        let reply = queued.chat(&request("Hi").max_tokens(3));
        (
            reply.map(|c| c.finish_reason().map(str::to_owned)),
            started.elapsed(),
        )
    });
    let queued = Client::builder()
        .base_url(base_url())
        .api_key(api_key())
        .max_retries(0)
        .response_timeout(LIMIT)
        .stream_idle_timeout(IDLE)
        .build()
        .expect("client");
    let started = Instant::now();
    let mut first_chunk = None;
    let streamed = queued
        .chat_stream(&request("Hi").max_tokens(3), |_| {
            first_chunk.get_or_insert_with(|| started.elapsed());
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("the queued stream failed: {e}"));
    assert_eq!(streamed.finish_reason(), Some("length"));
    let waited = first_chunk.expect("chunks arrived");
    assert!(
        waited > IDLE,
        "the stream was answered after {waited:?}: not queued long enough to show that the \
         idle timeout ({IDLE:?}) does not bound the wait for the headers"
    );
    let (plain, took) = plain.join().expect("plain request");
    assert_eq!(
        plain
            .unwrap_or_else(|e| panic!("the queued plain request failed: {e}"))
            .as_deref(),
        Some("length")
    );
    assert!(
        took > IDLE,
        "the plain request was answered after {took:?}: not queued"
    );
    for handle in busy {
        assert_eq!(
            handle.join().expect("busy request").as_deref(),
            Some("length")
        );
    }
}

// ---- LiteLLM in front of llama-server ------------------------------------------------
//
// The same checks through the LiteLLM proxy that `e2e/start.sh` runs in front
// of llama-server. LiteLLM rewrites every chunk; each test states what it
// changes (see "LiteLLM" in `e2e/README.md`).

/// The name LiteLLM's config gives the llama-server model; LiteLLM answers
/// with it in `model`, not with llama-server's alias.
const LITELLM_MODEL: &str = "tiny-litellm";
/// The same model reached through a relay that closes every connection after
/// the first 3000 bytes of llama-server's answer.
const LITELLM_CUT_MODEL: &str = "tiny-litellm-cut";

fn litellm_url() -> String {
    env("CHATSTREAM_E2E_LITELLM_URL")
}

fn litellm() -> Client {
    Client::builder()
        .base_url(litellm_url())
        .api_key(env("CHATSTREAM_E2E_LITELLM_KEY"))
        .build()
        .expect("client")
}

fn litellm_request(text: &str) -> ChatRequest {
    ChatRequest::new(LITELLM_MODEL, user(text))
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_plain_completion() {
    // LiteLLM's alias in `model`.
    check_plain_completion(&litellm(), LITELLM_MODEL);
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_streamed_and_plain_agree_at_temperature_zero() {
    let client = litellm();
    let request = litellm_request("Say the same thing twice.")
        .temperature(0.0)
        .max_tokens(24);
    let (plain, chunks, streamed) = check_streamed_and_plain_agree(&client, &request);
    assert_eq!(streamed.content(), streamed_text(&chunks, 0));
    assert_eq!(streamed.finish_reason(), Some("length"));
    assert_eq!(plain.finish_reason(), Some("length"));
    // Every chunk carries LiteLLM's alias; the role chunk has no content key
    // (llama-server's `"content": null` is dropped).
    assert!(chunks.iter().all(|c| c.model == LITELLM_MODEL));
    assert_eq!(streamed.model, LITELLM_MODEL);
    let first = &chunks[0].choices[0].delta;
    assert_eq!(first.role.as_ref().map(Role::as_str), Some("assistant"));
    assert_eq!(first.content, None);
    // And llama-server's `timings` do not come through in the chunks.
    assert!(chunks.iter().all(|c| !c.extra.contains_key("timings")));
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_streamed_usage_chunk_has_a_choice() {
    let client = litellm();
    let request = litellm_request("Tell me a story.").max_tokens(12);
    let (chunks, completion) = stream(&client, &request);

    // LiteLLM's usage chunk is not OpenAI's `"choices": []`: it carries one
    // choice with an empty delta and no finish reason.
    let last = chunks.last().expect("chunks");
    assert!(last.usage.is_some(), "{last:?}");
    assert_eq!(last.choices.len(), 1, "{last:?}");
    assert_eq!(last.choices[0].index, 0);
    assert_eq!(last.choices[0].finish_reason, None);
    assert_eq!(last.choices[0].delta.content, None);
    assert_eq!(chunks.iter().filter(|c| c.usage.is_some()).count(), 1);
    // That empty choice changes nothing in the accumulated completion.
    assert_eq!(completion.choices.len(), 1);
    assert_eq!(completion.finish_reason(), Some("length"));
    assert_eq!(completion.content(), streamed_text(&chunks, 0));

    let usage = completion.usage.as_ref().expect("usage of the stream");
    assert_eq!(usage.completion_tokens, Some(12));
    let plain = chat(&client, &request);
    let plain_usage = plain.usage.as_ref().expect("usage");
    assert_eq!(usage.prompt_tokens, plain_usage.prompt_tokens);
    assert_eq!(usage.completion_tokens, plain_usage.completion_tokens);
    assert_eq!(usage.total_tokens, plain_usage.total_tokens);

    // Without stream_options LiteLLM sends no usage either.
    let no_usage = Client::builder()
        .base_url(litellm_url())
        .api_key(env("CHATSTREAM_E2E_LITELLM_KEY"))
        .stream_usage(false)
        .build()
        .expect("client");
    let (chunks, completion) = stream(&no_usage, &request);
    assert!(chunks.iter().all(|c| c.usage.is_none()));
    assert_eq!(completion.usage, None);
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_max_tokens_gives_finish_reason_length() {
    check_max_tokens_gives_finish_reason_length(&litellm(), LITELLM_MODEL);
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_forced_tool_call() {
    let client = litellm();
    let request = forced_tool_call_request(LITELLM_MODEL);

    let plain = chat(&client, &request);
    assert_eq!(plain.finish_reason(), Some("tool_calls"));
    assert_eq!(plain.tool_calls().len(), 1, "{:?}", plain.tool_calls());
    assert_weather_call(&plain.tool_calls()[0]);

    // The fragments still add up: id and name once, arguments in pieces.
    let (chunks, streamed) = stream(&client, &request);
    check_streamed_tool_call(&chunks, &streamed);
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_response_format_json_schema() {
    check_response_format_json_schema(&litellm(), LITELLM_MODEL);
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_models_lists_its_aliases() {
    let models = litellm().models().expect("models");
    let mut ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    // Its own names only: llama-server's alias is not listed.
    assert_eq!(ids, [LITELLM_MODEL, LITELLM_CUT_MODEL], "{models:?}");
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_wrong_key_gives_400_without_a_database() {
    // With a master key but no database, LiteLLM cannot look a wrong key up
    // and answers 400 (not 401), with the status as a string code.
    for err in wrong_key_errors(&litellm_url(), LITELLM_MODEL, 400) {
        let api = err.api().unwrap();
        assert_eq!(api.message, "No connected db.");
        assert_eq!(api.error_type.as_deref(), Some("no_db_connection"));
        assert_eq!(api.code.as_deref(), Some("400"));
        assert!(!api.in_stream);
    }
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_relays_upstream_errors() {
    let client = litellm();
    // Found by llama-server before streaming: a plain 400 (also when
    // streaming), llama-server's message wrapped in LiteLLM's text, code "400".
    let too_many = litellm_request("Hi").n(SLOTS + 1).max_tokens(2);
    for err in plain_and_streamed_errors(&client, &too_many, 400) {
        let api = err.api().unwrap();
        assert_eq!(api.error_type.as_deref(), Some("invalid_request_error"));
        assert_eq!(api.code.as_deref(), Some("400"));
        assert!(
            api.message.contains("'n'") && api.message.contains("LiteLLM"),
            "{api:?}"
        );
    }
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_upstream_failure_mid_stream_is_an_in_stream_error() {
    // The upstream connection closes after a few chunks: LiteLLM sends
    // `data: {"error": {...}}` with code "500" and ends the stream without
    // `[DONE]`. The client reports an API error from inside the stream and
    // hands back what arrived before it.
    let request = ChatRequest::new(LITELLM_CUT_MODEL, user("Talk for a while."))
        .logit_bias(EOS, -100.0)
        .max_tokens(300);
    let mut seen = String::new();
    let result = litellm().chat_stream(&request, |chunk| {
        seen.push_str(chunk.content());
        ControlFlow::Continue(())
    });
    let err = result.expect_err("the stream was cut upstream");
    assert_eq!(err.kind(), ErrorKind::Api, "{err}");
    let api = err.api().expect("api error details");
    assert!(api.in_stream, "{api:?}");
    assert_eq!(api.status, 200);
    assert_eq!(api.code.as_deref(), Some("500"));
    assert!(api.message.contains("APIConnectionError"), "{api:?}");
    // How many chunks LiteLLM forwards before the error varies (1 to 10
    // seen), but its role chunk always comes first.
    let partial = err.partial().expect("what arrived before the error");
    assert_eq!(partial.model, LITELLM_CUT_MODEL);
    assert_eq!(partial.choices.len(), 1, "{partial:?}");
    assert_eq!(partial.choices[0].message.role.as_str(), "assistant");
    assert_eq!(partial.content(), seen);
    assert_eq!(partial.finish_reason(), None);
}

#[test]
#[ignore = "needs a running LiteLLM proxy: see e2e/README.md"]
fn litellm_n_two_streamed_loses_finish_reasons() {
    let client = litellm();
    let request = litellm_request("Two answers, please.")
        .n(2)
        .max_tokens(8)
        .seed(7);
    let (chunks, streamed) = stream(&client, &request);
    let choices = || chunks.iter().flat_map(|c| &c.choices);

    // LiteLLM forwards one role chunk only (choice 1's in every run seen:
    // llama-server sends that one first) and only the first finish reason
    // it sees, always as choice 0's: the other one is lost.
    let roles: Vec<u64> = choices()
        .filter(|c| c.delta.role.is_some())
        .map(|c| c.index)
        .collect();
    assert_eq!(roles.len(), 1, "role chunks of choices {roles:?}");
    let finishes: Vec<(u64, &str)> = choices()
        .filter_map(|c| Some((c.index, c.finish_reason.as_deref()?)))
        .collect();
    assert_eq!(finishes, [(0, "length")], "finish reasons");

    // The text of both choices still arrives and accumulates by index; the
    // role of choice 0 defaults to assistant; choice 1 has no finish reason.
    assert_eq!(streamed.choices.len(), 2);
    for (i, choice) in streamed.choices.iter().enumerate() {
        assert_eq!(choice.index, i as u64);
        assert_eq!(choice.message.role.as_str(), "assistant");
        assert!(!choice.message.text().is_empty());
        assert_eq!(choice.message.text(), streamed_text(&chunks, i as u64));
    }
    assert_eq!(streamed.choices[0].finish_reason.as_deref(), Some("length"));
    assert_eq!(streamed.choices[1].finish_reason, None);

    // Not streamed, both choices are complete.
    let plain = chat(&client, &request);
    assert_eq!(plain.choices.len(), 2);
    for choice in &plain.choices {
        assert_eq!(choice.finish_reason.as_deref(), Some("length"));
    }
}

// ---- the Responses API ---------------------------------------------------------------

/// Streams a Responses request, returning every event and the final response.
#[track_caller]
fn stream_response(client: &Client, request: &ResponseRequest) -> (Vec<ResponseEvent>, Response) {
    let mut events = Vec::new();
    let response = client
        .response_stream(request, |event| {
            events.push(event.clone());
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("streamed Responses request failed: {e}"));
    (events, response)
}

#[track_caller]
fn assert_response_usage(response: &Response) {
    let usage = response.usage.as_ref().expect("usage");
    let (input, output) = (usage.input_tokens.unwrap(), usage.output_tokens.unwrap());
    assert!(input > 0 && output > 0, "{usage:?}");
    assert_eq!(usage.total_tokens, Some(input + output), "{usage:?}");
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn responses_streamed_and_plain_agree_at_temperature_zero() {
    let client = client();
    let request = ResponseRequest::new(MODEL, "Tell me about the weather.")
        .instructions("Be brief.")
        .temperature(0.0)
        .max_output_tokens(12);
    let plain = client
        .response(&request)
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let (events, streamed) = stream_response(&client, &request);

    assert!(!plain.output_text().is_empty(), "{plain:?}");
    assert_eq!(streamed.output_text(), plain.output_text());
    let deltas: String = events
        .iter()
        .filter_map(ResponseEvent::text_delta)
        .collect();
    assert_eq!(deltas, streamed.output_text());
    for response in [&plain, &streamed] {
        assert!(response.id.starts_with("resp_"), "{}", response.id);
        assert_eq!(response.object, "response");
        assert_eq!(response.model, MODEL);
        assert_eq!(response.status.as_deref(), Some("completed"));
        assert_response_usage(response);
        // Every generation runs into max_output_tokens (see e2e/README.md).
        assert_eq!(response.usage.as_ref().unwrap().output_tokens, Some(12));
    }
    assert_eq!(
        events.first().map(ResponseEvent::event_type),
        Some("response.created")
    );
    assert_eq!(
        events.last().map(ResponseEvent::event_type),
        Some("response.completed")
    );
    assert!(streamed.info.as_ref().is_some_and(|i| i.status() == 200));

    // The pull iterator sees the same events and ends with the same response.
    let mut stream = client.response_events(&request).expect("stream starts");
    let types: Vec<String> = stream
        .by_ref()
        .map(|e| e.expect("event").event_type().to_owned())
        .collect();
    let expected: Vec<&str> = events.iter().map(ResponseEvent::event_type).collect();
    assert_eq!(types, expected);
    assert_eq!(stream.into_response().output_text(), plain.output_text());
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn responses_forced_function_call() {
    let client = client();
    let request = ResponseRequest::new(MODEL, "What is the weather in Paris?")
        .tool(ResponseTool::function(
            "get_weather",
            "Current weather for a city",
            weather_parameters(),
        ))
        .tool_choice(ResponseToolChoice::Required)
        .max_output_tokens(400)
        .extra("logit_bias", json!({TOOL_CALL.to_string(): 100}));
    let plain = client
        .response(&request)
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let (events, streamed) = stream_response(&client, &request);

    for response in [&plain, &streamed] {
        let calls: Vec<_> = response.function_calls().collect();
        assert_eq!(calls.len(), 1, "{:?}", response.output);
        let call = calls[0];
        assert!(!call.call_id.is_empty() && !call.id.is_empty(), "{call:?}");
        assert_weather_call(&ToolCall {
            id: call.call_id.clone(),
            function: FunctionCall {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                ..FunctionCall::default()
            },
            ..ToolCall::default()
        });
        assert_eq!(response.output_text(), "");
        assert_response_usage(response);
    }
    // The arguments arrived in pieces, and the pieces make the final arguments.
    let pieces: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ResponseEvent::FunctionCallArgumentsDelta(d) => Some(d.delta.as_str()),
            _ => None,
        })
        .collect();
    assert!(pieces.len() > 1, "{pieces:?}");
    let call = streamed.function_calls().next().unwrap();
    assert_eq!(pieces.concat(), call.arguments);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ResponseEvent::OutputItemAdded(added)
            if matches!(&added.item, OutputItem::FunctionCall(c) if c.name == "get_weather"))),
        "no output_item.added for the call"
    );
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn responses_wrong_api_key_gives_typed_401() {
    let wrong = Client::builder()
        .base_url(base_url())
        .api_key("sk-wrong")
        .build()
        .expect("client");
    let request = ResponseRequest::new(MODEL, "Hello?").max_output_tokens(2);
    for err in [
        expect_api_error(wrong.response(&request), 401),
        expect_api_error(
            wrong.response_stream(&request, |_| ControlFlow::Continue(())),
            401,
        ),
        expect_api_error(wrong.response_events(&request), 401),
    ] {
        let api = err.api().unwrap();
        assert_eq!(api.message, "Invalid API Key");
        assert_eq!(api.error_type.as_deref(), Some("authentication_error"));
        assert!(err.partial_response().is_none());
        assert!(!err.to_string().contains("sk-wrong"), "key leaked: {err}");
    }
}

// llama-server does not store responses: retrieval is its 404, typed.
#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn responses_retrieval_of_an_unknown_id_is_a_typed_404() {
    let err = expect_api_error(client().retrieve_response("resp_unknown"), 404);
    assert_eq!(
        err.api().unwrap().error_type.as_deref(),
        Some("not_found_error")
    );
}

// ---- the examples ----------------------------------------------------------------------

/// Runs example `name` against the server with `args`, `stdin` as its input; returns the
/// exit code, stdout and stderr.
fn run_example(name: &str, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let (url, key) = (base_url(), api_key());
    let env = [
        ("OPENAI_BASE_URL", url.as_str()),
        ("OPENAI_API_KEY", key.as_str()),
        ("OPENAI_MODEL", MODEL),
    ];
    let run = example::run(name, &env, args, stdin);
    (run.code, run.stdout, run.stderr)
}

/// The tool results the `tools` example reports on stderr, per round: `(round, call, result)`.
fn tool_rounds(stderr: &str) -> Vec<(u32, String, Value)> {
    stderr
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("[round ")?.strip_suffix(']')?;
            let (round, rest) = rest.split_once(": ")?;
            let (call, result) = rest.split_once(" -> ")?;
            let result = serde_json::from_str(result).expect("a tool result is JSON");
            Some((round.parse().ok()?, call.to_owned(), result))
        })
        .collect()
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn tools_example_runs_tools_until_the_round_limit() {
    // The bias starts a tool call in every round, so the loop runs into its limit. Round 1's
    // call ran on parsed arguments; round 2 shows that the server took the history with the
    // assistant's tool call and the tool's result. Round 2's own call may be cut short: the
    // tools' schemas alone take most of a slot's 1024 tokens of context with this model, so
    // its result may be the example's error for invalid arguments.
    let extra = format!(r#"{{"logit_bias": {{"{TOOL_CALL}": 100}}}}"#);
    let (code, stdout, stderr) = run_example(
        "tools",
        &[
            "--max-tokens",
            "400",
            "--max-rounds",
            "2",
            "--extra",
            &extra,
            "What is the weather in Paris?",
        ],
        "",
    );
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("round limit (2) reached"), "{stderr}");
    let rounds = tool_rounds(&stderr);
    assert_eq!(
        rounds.iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2],
        "one call per round: {stderr}"
    );
    for (round, call, _) in &rounds {
        assert!(
            call.starts_with("get_weather(") || call.starts_with("get_time("),
            "round {round}: {call}"
        );
    }
    let (_, call, result) = &rounds[0];
    assert!(result.get("error").is_none(), "round 1: {call} -> {result}");
    assert!(
        matches!(result["city"].as_str(), Some("Paris" | "London" | "Tokyo")),
        "round 1: {result}"
    );
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn tools_example_answers_when_no_tool_is_called() {
    // Without the bias the model answers in text at once: the loop ends after one round.
    let (code, stdout, stderr) = run_example(
        "tools",
        &["--max-tokens", "12", "What is the weather in Paris?"],
        "",
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.trim().is_empty(), "{stderr}");
    assert!(tool_rounds(&stderr).is_empty(), "{stderr}");
}

#[test]
#[ignore = "needs a running llama-server: see e2e/README.md"]
fn conversation_example_sends_the_growing_history() {
    let (code, stdout, stderr) = run_example(
        "conversation",
        &["--system", "Be brief.", "--max-tokens", "6"],
        "Hello there\n\nHow are you?\nBye\n",
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.trim().is_empty(), "{stderr}");
    // `[turn N: P prompt + C completion tokens]`, one per non-empty line of input.
    let turns: Vec<(u64, u64)> = stderr
        .lines()
        .filter_map(|line| {
            let counts = line.strip_prefix("[turn ")?.split_once(": ")?.1;
            let (prompt, rest) = counts.split_once(" prompt + ")?;
            let completion = rest.strip_suffix(" completion tokens]")?;
            Some((prompt.parse().ok()?, completion.parse().ok()?))
        })
        .collect();
    assert_eq!(turns.len(), 3, "{stderr}");
    for pair in turns.windows(2) {
        // Each prompt holds the previous one, its reply and the new question.
        assert!(pair[1].0 > pair[0].0 + pair[0].1, "{turns:?}");
    }
    assert!(
        turns.iter().all(|&(_, completion)| completion == 6),
        "{turns:?}"
    );
}
