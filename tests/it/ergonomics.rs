//! What a new user reaches for first: per-choice accessors, typed parses of structured output
//! and tool arguments, tool results from JSON, conversations that grow in place, callbacks
//! that return `()`, and the usage totals.

use std::ops::ControlFlow;

use chatstream::{
    Accumulator, ChatChunk, ChatCompletion, ChatRequest, Client, ErrorKind, Message,
    ResponseFormat, Role, ToolCall,
};
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::bodies::{delta, event, finish, request, stream_body};
use crate::support::fixture::{files_with_extension, repo_path};

/// The acceptance program, as written (behaviour and types).
#[test]
fn acceptance_program() -> Result<(), chatstream::Error> {
    // A chunk of an n = 2 stream that carries only choice 1:
    let chunk = ChatChunk::from_json_str(
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":1,"delta":{"content":"B"}}]}"#,
    )?;
    assert_eq!(chunk.content(), ""); // choice 0 has nothing in this chunk
    assert_eq!(chunk.content_of(1), "B");

    let format = ResponseFormat::json_schema("answer", json!({"type": "object"})).strict(true);
    let completion = ChatCompletion::from_json_str(
        r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"{\"mood\":\"calm\"}"},"finish_reason":"stop"}]}"#,
    )?;
    #[derive(serde::Deserialize)]
    struct Mood {
        mood: String,
    }
    assert_eq!(completion.parse_json::<Mood>()?.mood, "calm");

    let tool_result = Message::tool("call_1", json!({"temperature": 21})); // JSON content
    let assistant: Message = completion.into_message(); // owned, for the history
    let _ = (
        format.clone(),
        tool_result.clone(),
        assistant.clone(),
        |_: &ChatChunk| ControlFlow::<()>::Continue(()),
    );

    // And what each line promises, checked.
    assert_eq!(
        format.to_json(),
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}})
    );
    assert_eq!(
        tool_result.to_json(),
        json!({"role": "tool", "content": "{\"temperature\":21}", "tool_call_id": "call_1"})
    );
    assert_eq!(assistant.role, Role::Assistant);
    assert_eq!(assistant.text(), r#"{"mood":"calm"}"#);
    Ok(())
}

/// `strict` applies to a JSON schema format only, and can be turned off again.
#[test]
fn strict_only_touches_json_schema() {
    let off = ResponseFormat::json_schema("a", json!({}))
        .strict(true)
        .strict(false);
    assert_eq!(off.to_json()["json_schema"]["strict"], false);
    assert_eq!(
        ResponseFormat::JsonObject.strict(true),
        ResponseFormat::JsonObject
    );
    assert_eq!(ResponseFormat::Text.strict(true), ResponseFormat::Text);
    let other = ResponseFormat::Other(json!({"type": "grammar"}));
    assert_eq!(other.clone().strict(true), other);
}

/// Every "first choice" accessor of a chunk reads index 0, wherever it sits in `choices`.
#[test]
fn chunk_accessors_read_choice_zero() {
    let chunk = ChatChunk::from_json(json!({"choices": [
        {"index": 2, "delta": {"content": "C", "refusal": "no", "reasoning": "r2",
            "tool_calls": [{"index": 0, "id": "call_2"}]}, "finish_reason": "length"},
        {"index": 0, "delta": {"content": "A", "reasoning_content": "r0"}, "finish_reason": "stop"}
    ]}))
    .unwrap();
    assert_eq!(chunk.content(), "A");
    assert_eq!(chunk.refusal(), "");
    assert_eq!(chunk.reasoning(), "r0");
    assert!(chunk.tool_call_deltas().is_empty());
    assert_eq!(chunk.finish_reason(), Some("stop"));
    assert_eq!(chunk.delta().and_then(|d| d.content.as_deref()), Some("A"));

    assert_eq!(chunk.content_of(2), "C");
    assert_eq!(chunk.refusal_of(2), "no");
    assert_eq!(chunk.reasoning_of(2), "r2");
    assert_eq!(
        chunk.tool_call_deltas_of(2)[0].id.as_deref(),
        Some("call_2")
    );
    assert_eq!(chunk.finish_reason_of(2), Some("length"));
    assert_eq!(chunk.choice(2).map(|c| c.index), Some(2));

    // A choice the chunk does not carry reads as empty.
    assert_eq!(chunk.content_of(1), "");
    assert_eq!(chunk.delta_of(1), None);
    assert!(chunk.tool_call_deltas_of(1).is_empty());
    assert_eq!(chunk.finish_reason_of(1), None);
    let empty = ChatChunk::default();
    assert_eq!(
        (empty.content(), empty.refusal(), empty.reasoning()),
        ("", "", "")
    );
}

/// The same rule on a completion: choice 0 by index, not by position.
#[test]
fn completion_accessors_read_choice_zero() {
    let completion = ChatCompletion::from_json(json!({"choices": [
        {"index": 1, "message": {"content": "B", "refusal": "no", "reasoning": "rb",
            "tool_calls": [{"id": "call_b", "function": {"name": "f", "arguments": "{}"}}]},
         "finish_reason": "tool_calls"},
        {"index": 0, "message": {"content": "A", "reasoning_content": "ra"}, "finish_reason": "stop"}
    ]}))
    .unwrap();
    assert_eq!(completion.content(), "A");
    assert_eq!(completion.message().map(|m| m.text()).as_deref(), Some("A"));
    assert_eq!(completion.refusal(), None);
    assert_eq!(completion.reasoning(), Some("ra"));
    assert!(completion.tool_calls().is_empty());
    assert_eq!(completion.finish_reason(), Some("stop"));

    assert_eq!(completion.content_of(1), "B");
    assert_eq!(completion.refusal_of(1), Some("no"));
    assert_eq!(completion.reasoning_of(1), Some("rb"));
    assert_eq!(completion.tool_calls_of(1)[0].id, "call_b");
    assert_eq!(completion.finish_reason_of(1), Some("tool_calls"));
    assert_eq!(completion.content_of(7), "");
    assert_eq!(completion.choice(7), None);

    let second = completion.clone().into_message_of(1).expect("choice 1");
    assert_eq!(second.tool_calls[0].id, "call_b");
    assert_eq!(completion.clone().into_message_of(7), None);
    assert_eq!(completion.into_message().text(), "A");

    // No choice 0: an empty assistant message, and empty accessors.
    let none =
        ChatCompletion::from_json(json!({"choices": [{"index": 3, "message": {"content": "D"}}]}))
            .unwrap();
    assert_eq!(none.content(), "");
    assert_eq!(none.finish_reason(), None);
    let message = none.into_message();
    assert_eq!(message.role, Role::Assistant);
    assert_eq!(message.content, None);
}

/// On every recorded stream, each choice's pieces (read with `content_of`, `refusal_of`,
/// `reasoning_of`, `finish_reason_of`) add up to what the accumulator rebuilt for that
/// choice, and the plain accessors agree with choice 0's.
#[test]
fn per_choice_pieces_add_up_on_recorded_streams() {
    let mut several = 0;
    for path in files_with_extension(&repo_path("fixtures/sse/recorded"), "sse") {
        let bytes = std::fs::read(&path).unwrap();
        let mut chunks = Vec::new();
        chatstream::sse::Parser::new()
            .feed_all(&bytes, |event| {
                if let Ok(chunk) = ChatChunk::from_json_str(event.data()) {
                    chunks.push(chunk);
                }
                ControlFlow::Continue(())
            })
            .ok();
        let mut acc = Accumulator::new();
        chunks.iter().for_each(|chunk| acc.push(chunk));
        let completion = acc.into_completion();
        if completion.choices.len() > 1 {
            several += 1;
        }
        for choice in &completion.choices {
            let i = choice.index;
            let joined = |piece: fn(&ChatChunk, u64) -> &str| -> String {
                chunks.iter().map(|c| piece(c, i)).collect()
            };
            let name = path.display();
            assert_eq!(
                joined(ChatChunk::content_of),
                completion.content_of(i),
                "{name} choice {i}"
            );
            assert_eq!(
                joined(ChatChunk::refusal_of),
                completion.refusal_of(i).unwrap_or_default(),
                "{name} choice {i}"
            );
            assert_eq!(
                joined(ChatChunk::reasoning_of),
                completion.reasoning_of(i).unwrap_or_default(),
                "{name} choice {i}"
            );
            let last_finish = chunks
                .iter()
                .filter_map(|c| c.finish_reason_of(i))
                .next_back();
            assert_eq!(
                last_finish,
                completion.finish_reason_of(i),
                "{name} choice {i}"
            );
        }
        let zero: String = chunks.iter().map(ChatChunk::content).collect();
        assert_eq!(zero, completion.content(), "{}", path.display());
    }
    assert!(
        several >= 2,
        "the recorded streams include n = 2 ({several})"
    );
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Weather {
    city: String,
    unit: Option<String>,
}

fn answer(message: Value, finish_reason: &str) -> ChatCompletion {
    let mut body = json!({"choices": [{"index": 0, "finish_reason": finish_reason}]});
    body["choices"][0]["message"] = message;
    ChatCompletion::from_json(body).unwrap()
}

/// `parse_json` tells a refusal, a cut answer and a mismatch apart, and carries the text.
#[test]
fn parse_json_errors_are_distinct() {
    let ok = answer(json!({"content": "{\"city\": \"Paris\"}"}), "stop");
    assert_eq!(
        ok.parse_json::<Weather>().unwrap(),
        Weather {
            city: "Paris".into(),
            unit: None
        }
    );
    assert_eq!(ok.parse_json::<Value>().unwrap(), json!({"city": "Paris"}));

    let refused = answer(
        json!({"content": null, "refusal": "I can't help with that."}),
        "stop",
    );
    let err = refused.parse_json::<Weather>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert_eq!(err.raw(), Some("I can't help with that."));
    assert!(err.to_string().contains("I can't help with that."), "{err}");

    let cut = answer(json!({"content": "{\"city\": \"Pa"}), "length");
    let err = cut.parse_json::<Weather>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incomplete);
    assert_eq!(err.raw(), Some("{\"city\": \"Pa"));
    assert!(err.to_string().contains("token limit"), "{err}");
    assert!(err.to_string().contains("`length`"), "{err}");
    // Even a cut answer that happens to parse is not taken as complete.
    let short = answer(json!({"content": "{\"city\": \"Paris\"}"}), "length");
    assert_eq!(
        short.parse_json::<Weather>().unwrap_err().kind(),
        ErrorKind::Incomplete
    );
    let filtered = answer(json!({"content": "{"}), "content_filter");
    let err = filtered.parse_json::<Weather>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incomplete);
    assert!(err.to_string().contains("content filter"), "{err}");

    let mismatch = answer(json!({"content": "{\"town\": \"Paris\"}"}), "stop");
    let err = mismatch.parse_json::<Weather>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.raw(), Some("{\"town\": \"Paris\"}"));
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(err.to_string().contains("city"), "{err}");

    let not_json = answer(json!({"content": "Paris, 21 C"}), "stop");
    let err = not_json.parse_json::<Weather>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert_eq!(err.raw(), Some("Paris, 21 C"));

    let tool_calls = answer(json!({"content": null, "tool_calls": []}), "tool_calls");
    let err = tool_calls.parse_json::<Weather>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("no text"), "{err}");

    let err = ChatCompletion::default()
        .parse_json::<Weather>()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("no choice 0"), "{err}");

    // Another choice, by index.
    let two = ChatCompletion::from_json(json!({"choices": [
        {"index": 0, "message": {"content": "x"}, "finish_reason": "stop"},
        {"index": 1, "message": {"content": "{\"city\": \"Tokyo\", \"unit\": \"celsius\"}"}, "finish_reason": "stop"}
    ]}))
    .unwrap();
    assert_eq!(
        two.parse_json_of::<Weather>(1).unwrap().unit.as_deref(),
        Some("celsius")
    );
    assert_eq!(
        two.parse_json::<Weather>().unwrap_err().kind(),
        ErrorKind::Decode
    );
}

#[test]
fn tool_arguments_parse_into_types() {
    let call = ToolCall::function(
        "c1",
        "get_weather",
        "{\n \"city\": \"Paris\", \"unit\": \"celsius\"\n}",
    );
    assert_eq!(
        call.parse_arguments::<Weather>().unwrap(),
        Weather {
            city: "Paris".into(),
            unit: Some("celsius".into())
        }
    );
    #[derive(serde::Deserialize)]
    struct NoArguments {}
    let empty = ToolCall::function("c2", "now", "  ");
    let NoArguments {} = empty.parse_arguments().unwrap();

    let invalid = ToolCall::function("c3", "get_weather", "{\"city\": ");
    let err = invalid.parse_arguments::<Weather>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("`get_weather`"), "{err}");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert_eq!(err.raw(), Some("{\"city\": "));

    let wrong = ToolCall::function("c4", "get_weather", "{\"city\": 5}");
    let err = wrong.parse_arguments::<Weather>().unwrap_err();
    assert!(err.to_string().contains("do not match"), "{err}");
    assert_eq!(err.raw(), Some("{\"city\": 5}"));
}

#[test]
fn tool_results_from_json() {
    assert_eq!(
        Message::tool("c", json!({"a": [1, 2]})).text(),
        r#"{"a":[1,2]}"#
    );
    assert_eq!(Message::tool("c", json!("plain text")).text(), "plain text");
    assert_eq!(Message::tool("c", json!(21)).text(), "21");
    assert_eq!(Message::tool("c", json!(null)).text(), "null");
    assert_eq!(Message::tool("c", json!([1, "x"])).text(), r#"[1,"x"]"#);
}

#[test]
fn usage_totals() {
    let with = |usage: Value| ChatCompletion::from_json(json!({"usage": usage})).unwrap();
    let full = with(json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}));
    assert_eq!(
        (
            full.prompt_tokens(),
            full.completion_tokens(),
            full.total_tokens()
        ),
        (Some(5), Some(2), Some(7))
    );
    // The server's total wins, even when it is not the sum (it may count more).
    assert_eq!(
        with(json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 9})).total_tokens(),
        Some(9)
    );
    assert_eq!(
        with(json!({"prompt_tokens": 5, "completion_tokens": 2})).total_tokens(),
        Some(7)
    );
    assert_eq!(with(json!({"completion_tokens": 2})).total_tokens(), None);
    assert_eq!(with(json!({})).total_tokens(), None);
    assert_eq!(
        with(json!({"prompt_tokens": u64::MAX, "completion_tokens": 1})).total_tokens(),
        None
    );
    let none = ChatCompletion::default();
    assert_eq!(
        (
            none.prompt_tokens(),
            none.completion_tokens(),
            none.total_tokens()
        ),
        (None, None, None)
    );
}

/// A conversation grows in place: push, the builder form, and `Extend`.
#[test]
fn conversations_grow_in_place() {
    let mut request = ChatRequest::new("m", vec![]).message(Message::system("Be brief."));
    request.push(Message::user("Weather?"));
    let reply = answer(
        json!({"content": null, "tool_calls": [
            {"id": "call_1", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "function": {"name": "get_time", "arguments": ""}}
        ]}),
        "tool_calls",
    )
    .into_message();
    let results: Vec<Message> = reply
        .tool_calls
        .iter()
        .map(|call| Message::tool(&call.id, json!({"for": call.function.name})))
        .collect();
    request.push(reply).extend(results);
    let body = request.to_json();
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "tool"]);
    assert_eq!(body["messages"][2]["tool_calls"][1]["id"], "call_2");
    assert_eq!(body["messages"][4]["tool_call_id"], "call_2");
    assert_eq!(body["messages"][4]["content"], r#"{"for":"get_time"}"#);
}

/// Over a socket: a callback returning `()` sees every chunk; one returning `ControlFlow`
/// still stops the stream; `post_stream` takes both kinds too.
#[test]
fn callbacks_may_return_unit_or_control_flow() {
    let mut body = Vec::new();
    for piece in ["a", "b", "c"] {
        body.extend(event(&delta(piece)));
    }
    body.extend(event(&finish(0)));
    body.extend(event("[DONE]"));
    let server = TestServer::start(move |_, r| r.sse(&body));
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .unwrap();

    let mut seen = String::new();
    let completion = client
        .chat_stream(&request(), |chunk| seen.push_str(chunk.content()))
        .unwrap();
    assert_eq!(seen, "abc");
    assert_eq!(completion.content(), "abc");

    let mut calls = 0;
    let stopped = client
        .chat_stream(&request(), |_| {
            calls += 1;
            if calls == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(calls, 2);
    assert_eq!(stopped.content(), "ab");

    let body = request().to_json_streaming(false);
    let mut events = 0;
    client
        .post_stream("chat/completions", &body, |_| events += 1)
        .unwrap();
    assert_eq!(events, 5, "three deltas, the finish chunk and [DONE]");
    let mut first = None;
    client
        .post_stream("chat/completions", &body, |event| {
            first = Some(event.data().to_owned());
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(first.as_deref(), Some(delta("a").as_str()));
    assert_eq!(server.request_count(), 4);
}

/// The shape of a multi-turn session over a socket: each turn sends the whole history
/// (grown in place) and the reply joins it.
#[test]
fn a_conversation_over_a_socket() {
    let server = TestServer::start(|req, r| {
        let turns = req.json()["messages"].as_array().map_or(0, Vec::len);
        r.sse(&stream_body(&[&format!("reply to {turns} messages")]));
    });
    let client = Client::builder()
        .base_url(server.base_url())
        .build()
        .unwrap();
    let mut request = ChatRequest::new("m", vec![Message::system("Be brief.")]);
    for question in ["one", "two", "three"] {
        request.push(Message::user(question));
        let reply = client.chat_stream(&request, |_| ()).unwrap();
        request.push(reply.into_message());
    }
    let texts: Vec<String> = request
        .messages
        .iter()
        .map(|m| m.text().into_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "Be brief.",
            "one",
            "reply to 2 messages",
            "two",
            "reply to 4 messages",
            "three",
            "reply to 6 messages"
        ]
    );
    let sent = server.requests();
    assert_eq!(
        sent[2].json()["messages"][2]["content"],
        "reply to 2 messages"
    );
    assert_eq!(sent[2].json()["messages"][2]["role"], "assistant");
}

/// Runs example `name` against `base_url` with `stdin` as input: exit code, stdout, stderr.
fn run_example(
    name: &str,
    base_url: &str,
    args: &[&str],
    stdin: &str,
) -> (Option<i32>, String, String) {
    let env = [
        ("OPENAI_BASE_URL", base_url),
        ("OPENAI_MODEL", "test-model"),
    ];
    let run = crate::support::example::run(name, &env, args, stdin);
    (run.code, run.stdout, run.stderr)
}

/// The `tools` example's whole loop: a forced first round calls both tools (their arguments
/// split over fragments), the results go back with their call ids under `tool_choice: auto`,
/// and the answer streams to stdout.
#[test]
fn tools_example_runs_the_loop() {
    let call = |index: u64, id: &str, name: &str, arguments: &[&str]| -> Vec<String> {
        let mut pieces = vec![json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}
        ]}}]})
        .to_string()];
        pieces.extend(arguments.iter().map(|part| {
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": index, "function": {"arguments": part}}
            ]}}]})
            .to_string()
        }));
        pieces
    };
    let server = TestServer::start(move |req, r| {
        let mut body = Vec::new();
        if req.index == 0 {
            let calls = [
                call(
                    0,
                    "call_w",
                    "get_weather",
                    &["{\"city\": \"Pa", "ris\", \"unit\": \"fahrenheit\"}"],
                ),
                call(1, "call_t", "get_time", &["{\"city\"", ": \"Tokyo\"}"]),
            ];
            for data in calls.iter().flatten() {
                body.extend(event(data));
            }
            body.extend(event(
                &json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
                    .to_string(),
            ));
            body.extend(event("[DONE]"));
        } else {
            body = stream_body(&["It is ", "69.8 F."]);
        }
        r.sse(&body);
    });
    let (code, stdout, stderr) = run_example(
        "tools",
        &server.base_url(),
        &[
            "--tool-choice",
            "required",
            "--extra",
            r#"{"top_k": 40}"#,
            "Weather",
            "in Paris?",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "It is 69.8 F.\n");
    assert!(stderr.contains(r#"[round 1: get_weather({"city":"Paris","unit":"fahrenheit"}) -> {"city":"Paris","temperature":69.8,"unit":"fahrenheit"}]"#), "{stderr}");
    assert!(
        stderr.contains(r#"[round 1: get_time({"city":"Tokyo"}) -> {"city":"Tokyo","time":"#),
        "{stderr}"
    );

    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    let first = sent[0].json();
    assert_eq!(first["tool_choice"], "required");
    assert_eq!(first["top_k"], 40);
    assert_eq!(
        first["messages"],
        json!([{"role": "user", "content": "Weather in Paris?"}])
    );
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["get_weather", "get_time"]);
    let second = sent[1].json();
    assert_eq!(
        second["tool_choice"], "auto",
        "only the first round is forced"
    );
    assert_eq!(second["top_k"], 40);
    let messages = second["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["tool_calls"][0]["id"], "call_w");
    assert_eq!(
        messages[1]["tool_calls"][0]["function"]["arguments"],
        "{\"city\": \"Paris\", \"unit\": \"fahrenheit\"}"
    );
    assert_eq!(messages[1]["tool_calls"][1]["id"], "call_t");
    assert_eq!(messages[2]["tool_call_id"], "call_w");
    let weather: Value = serde_json::from_str(messages[2]["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        weather,
        json!({"city": "Paris", "temperature": 69.8, "unit": "fahrenheit"})
    );
    assert_eq!(messages[3]["tool_call_id"], "call_t");
    assert!(
        messages[3]["content"]
            .as_str()
            .unwrap()
            .contains("\"time\"")
    );
}

/// The round limit, and a bad tool call answered with an error the model can read.
#[test]
fn tools_example_stops_at_the_round_limit() {
    let server = TestServer::start(|_, r| {
        let mut body = event(
            &json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "call_x", "function": {"name": "get_weather", "arguments": "{\"city\": 5}"}}
            ]}, "finish_reason": "tool_calls"}]})
            .to_string(),
        );
        body.extend(event("[DONE]"));
        r.sse(&body);
    });
    let (code, _, stderr) = run_example(
        "tools",
        &server.base_url(),
        &["--max-rounds", "3", "Weather?"],
        "",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("round limit (3) reached"), "{stderr}");
    assert_eq!(server.request_count(), 3);
    let last = server.requests()[2].json();
    let result = &last["messages"].as_array().unwrap().last().unwrap()["content"];
    assert!(
        result.as_str().unwrap().contains("do not match"),
        "{result}"
    );
    assert_eq!(stderr.matches("[round ").count(), 3, "{stderr}");
}

/// The `conversation` example: one request per non-empty line, each with the whole history.
#[test]
fn conversation_example_keeps_the_history() {
    let server = TestServer::start(|req, r| {
        let count = req.json()["messages"].as_array().map_or(0, Vec::len);
        r.sse(&stream_body(&[&format!("seen {count}")]));
    });
    let (code, stdout, stderr) = run_example(
        "conversation",
        &server.base_url(),
        &["--system", "Be brief."],
        "one\n\n  \ntwo\n",
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "seen 2\nseen 4\n");
    assert_eq!(stderr.matches("[turn ").count(), 2, "{stderr}");
    let last = server.requests()[1].json();
    let texts: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Be brief.", "one", "seen 2", "two"]);
}

/// The README's Recipes section is `src/recipes.md` (the crate docs' Recipes section) with
/// its headings one level deeper, so the two never drift apart.
#[test]
fn readme_recipes_are_the_crate_docs_recipes() {
    let recipes = std::fs::read_to_string(repo_path("src/recipes.md")).unwrap();
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let start =
        readme.find("\n## Recipes\n\n").expect("a Recipes section") + "\n## Recipes\n\n".len();
    let end = start
        + readme[start..]
            .find("\n## ")
            .expect("a section after Recipes");
    let mut in_code = false;
    let deeper: Vec<String> = recipes
        .lines()
        .map(|line| {
            in_code ^= line.starts_with("```");
            if !in_code && line.starts_with('#') {
                format!("#{line}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_eq!(readme[start..end].trim_end(), deeper.join("\n").trim_end());
    // Six recipes, each a Rust code block the doctests compile (a commented-out draft in an
    // HTML comment does not count).
    let mut shown = recipes.as_str();
    let mut visible = String::new();
    while let Some(start) = shown.find("<!--") {
        visible.push_str(&shown[..start]);
        let end = shown[start..].find("-->").expect("a closed comment");
        shown = &shown[start + end + 3..];
    }
    visible.push_str(shown);
    assert_eq!(visible.matches("\n## ").count(), 6);
    assert_eq!(visible.matches("```rust,no_run\n").count(), 6);
}
