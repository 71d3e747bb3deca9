//! The HTTP layer over real sockets, against the loopback server of `tests/support/`: the
//! headers and URLs a client sends, every error kind a call can end with, retry sequences
//! (counted on the server side), `models()` and the `post_json` / `post_stream` escape hatches.
//!
//! `Client::from_env` is not tested here: environment variables are process-wide and these
//! tests run in parallel; the builder it presets is tested instead.

use crate::support;

use std::net::TcpListener;
use std::ops::ControlFlow;
use std::time::Duration;

use chatstream::{
    ChatCompletion, ChatRequest, Client, ClientBuilder, Error, ErrorKind, Message, Timeout,
};
use serde_json::{Value, json};
use support::{Request, Script, Signal, TestServer};

// ---------------------------------------------------------------------------------------------
// Helpers.

const USER_AGENT: &str = concat!("chatstream/", env!("CARGO_PKG_VERSION"));

/// A non-streaming completion body.
const COMPLETION: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1757000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

/// A complete stream body.
const STREAM: &[u8] = b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

/// A client for `server` that never retries, unless a test turns retries back on.
fn builder(server: &TestServer) -> ClientBuilder {
    Client::builder().base_url(server.base_url()).max_retries(0)
}

fn request() -> ChatRequest {
    ChatRequest::new("gpt-4o-mini", vec![Message::user("Say hello")])
}

/// A server answering every request with `COMPLETION`, or `STREAM` when a stream is asked for.
fn ok_server() -> TestServer {
    TestServer::start(|req, r| {
        let streaming = req.body.starts_with(b"{") && req.json()["stream"] == json!(true);
        match (req.method.as_str(), streaming) {
            ("GET", _) => r.json(200, r#"{"object":"list","data":[]}"#),
            (_, true) => r.sse(STREAM),
            (_, false) => r.json(200, COMPLETION),
        }
    })
}

/// The one request `call` sends to a fresh `ok_server`, with a client from `configure`.
fn sent_request(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    call: impl FnOnce(&Client),
) -> Request {
    let server = ok_server();
    call(&configure(builder(&server)).build().expect("client builds"));
    server.single_request()
}

fn chat(client: &Client) {
    client.chat(&request()).expect("chat succeeds");
}

fn stream(client: &Client) {
    let completion = client.chat_stream(&request(), |_| ControlFlow::Continue(()));
    completion.expect("stream succeeds");
}

/// The error a call ends with, with a short panic message when it succeeded.
#[track_caller]
fn expect_err<T>(result: Result<T, Error>) -> Error {
    match result {
        Ok(_) => panic!("expected an error, the call succeeded"),
        Err(e) => e,
    }
}

/// Checks an error's kind and that its texts never show the API key.
#[track_caller]
fn check_kind(err: &Error, kind: ErrorKind) {
    assert_eq!(err.kind(), kind, "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("sk-secret"), "the key leaks: {shown}");
}

// ---------------------------------------------------------------------------------------------
// Headers, URLs and bodies.

// A configured client sends the bearer key, organization, project, JSON content type, its
// User-Agent and custom default headers, to `{base}/chat/completions`.
#[test]
fn chat_sends_auth_org_project_and_default_headers() {
    let req = sent_request(
        |b| {
            b.api_key("sk-secret")
                .organization("org-123")
                .project("proj_456")
                .header("x-custom", "one")
        },
        chat,
    );
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(req.header("authorization"), Some("Bearer sk-secret"));
    assert_eq!(req.header("openai-organization"), Some("org-123"));
    assert_eq!(req.header("openai-project"), Some("proj_456"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(req.header("user-agent"), Some(USER_AGENT));
    assert_eq!(req.header("x-custom"), Some("one"));
    let body = req.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Say hello"}])
    );
    assert!(body.get("stream").is_none_or(|s| s == false), "{body}");
}

// Without a key, organization or project, none of their headers is sent; a GET has no body and
// no Content-Type.
#[test]
fn unset_auth_org_and_project_send_no_headers() {
    let req = sent_request(|b| b, |c| drop(c.models().expect("models")));
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/v1/models")
    );
    for name in [
        "authorization",
        "openai-organization",
        "openai-project",
        "content-type",
    ] {
        assert_eq!(req.header(name), None, "{name} must not be sent");
    }
    assert_eq!(req.header("user-agent"), Some(USER_AGENT));
    assert!(req.body.is_empty());
}

// A streamed chat asks for an event stream, sets `stream: true` and asks for usage; the
// builder can turn the usage request off.
#[test]
fn stream_requests_ask_for_an_event_stream_and_usage() {
    let req = sent_request(|b| b, stream);
    assert_eq!(req.header("accept"), Some("text/event-stream"));
    let body = req.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));

    let req = sent_request(|b| b.stream_usage(false), stream);
    assert_eq!(req.json()["stream"], true);
    assert!(req.json().get("stream_options").is_none());
}

// `Client::with_header` adds a header to one client handle only, on top of the defaults, and
// shares the connection pool.
#[test]
fn with_header_adds_per_request_headers() {
    let server = ok_server();
    let client = builder(&server).header("x-default", "d").build().unwrap();
    let tagged = client.with_header("x-trace-id", "abc123");
    chat(&tagged);
    chat(&client);
    let requests = server.requests();
    assert_eq!(requests[0].header("x-trace-id"), Some("abc123"));
    assert_eq!(requests[0].header("x-default"), Some("d"));
    assert_eq!(
        requests[1].header("x-trace-id"),
        None,
        "the original client is unchanged"
    );
    assert_eq!(requests[1].header("x-default"), Some("d"));
    assert_eq!(requests[0].connection, requests[1].connection, "one pool");
}

// Azure style: an `api-key` header and no Authorization, the deployment path, and `api-version`
// from `.query()` or from a base URL that already carries it.
#[test]
fn azure_style_api_key_and_api_version() {
    let deployment = "/openai/deployments/gpt-4o";
    let expected = format!("{deployment}/chat/completions?api-version=2024-10-21");
    let server = ok_server();
    let via_query = Client::builder()
        .base_url(server.url(deployment))
        .header("api-key", "azure-key")
        .query("api-version", "2024-10-21")
        .build()
        .unwrap();
    let in_base_url = Client::builder()
        .base_url(server.url(&format!("{deployment}?api-version=2024-10-21")))
        .header("api-key", "azure-key")
        .build()
        .unwrap();
    chat(&via_query);
    stream(&in_base_url);
    for req in server.requests() {
        assert_eq!(req.path, expected);
        assert_eq!(req.header("api-key"), Some("azure-key"));
        assert_eq!(req.header("authorization"), None);
    }
}

// Query parameters are percent-encoded (everything but RFC 3986 unreserved characters) and
// appended after a query the base URL already has.
#[test]
fn query_parameters_are_encoded_and_appended() {
    let server = ok_server();
    let client = Client::builder()
        .base_url(server.url("/v1?a=1"))
        .query("q", "a b&c=d/é~._-")
        .query("x", "")
        .build()
        .unwrap();
    chat(&client);
    let req = server.single_request();
    assert_eq!(
        req.path,
        "/v1/chat/completions?a=1&q=a%20b%26c%3Dd%2F%C3%A9~._-&x="
    );
}

// The key never shows in `Debug` output of the client or its builder; `Client` is cheap to share
// across threads.
#[test]
fn the_key_is_redacted_and_the_client_is_send_sync() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Client>();
    let builder = Client::builder()
        .base_url("http://127.0.0.1:9/v1")
        .api_key("sk-secret");
    assert!(!format!("{builder:?}").contains("sk-secret"));
    let client = builder.build().unwrap();
    assert!(!format!("{client:?}").contains("sk-secret"));
    assert!(format!("{client:?}").contains("redacted"));
}

// Successful responses expose the request id and rate-limit headers, for plain calls and streams.
#[test]
fn responses_expose_request_id_and_rate_limits() {
    let headers = [
        ("x-request-id", "req_42"),
        ("x-ratelimit-remaining-requests", "99"),
        ("x-ratelimit-remaining-tokens", "1000"),
    ];
    let server = TestServer::start(move |req, r| {
        if req.json()["stream"] == json!(true) {
            let mut all = vec![("Content-Type", "text/event-stream")];
            all.extend(headers);
            r.start_chunked(200, &all);
            r.chunk(STREAM);
            r.end_chunked();
        } else {
            r.json_with_headers(200, &headers, COMPLETION);
        }
    });
    let client = builder(&server).build().unwrap();
    let plain = client.chat(&request()).unwrap();
    let streamed = client
        .chat_stream(&request(), |_| ControlFlow::Continue(()))
        .unwrap();
    let live = client.chat_chunks(&request()).unwrap();
    for info in [
        plain.response.unwrap(),
        streamed.response.unwrap(),
        live.response_info().clone(),
    ] {
        assert_eq!(info.status(), 200);
        assert_eq!(info.request_id(), Some("req_42"));
        let limits: Vec<(&str, &str)> = info.rate_limits().collect();
        assert_eq!(
            limits,
            [
                ("x-ratelimit-remaining-requests", "99"),
                ("x-ratelimit-remaining-tokens", "1000")
            ]
        );
    }
}

// `chat()` decodes a whole completion.
#[test]
fn chat_returns_the_completion() {
    let server = ok_server();
    let completion = builder(&server).build().unwrap().chat(&request()).unwrap();
    assert_eq!(completion.content(), "Hello!");
    assert_eq!(completion.finish_reason(), Some("stop"));
    assert_eq!(completion.usage.and_then(|u| u.total_tokens), Some(5));
    let expected: Value = serde_json::from_str(COMPLETION).unwrap();
    let mut got = ChatCompletion::from_json(expected.clone()).unwrap();
    got.response = None;
    assert_eq!(got.to_json(), expected);
}

// ---------------------------------------------------------------------------------------------
// Every error kind.

/// The error a chat call ends with when the server answers with `script`.
fn chat_error(script: Script) -> (Error, TestServer) {
    let server = TestServer::scripted(script);
    let client = builder(&server).api_key("sk-secret").build().unwrap();
    (expect_err(client.chat(&request())), server)
}

// An error status is `Api` with status, message, type, code, param, x-request-id and raw body.
#[test]
fn api_error_carries_every_field_and_the_raw_body() {
    let body = r#"{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#;
    let (err, _) =
        chat_error(Script::new().json_with_headers(400, &[("x-request-id", "req_abc")], body));
    check_kind(&err, ErrorKind::Api);
    let api = err.api().expect("api details");
    assert_eq!(api.status, 400);
    assert_eq!(api.message, "Invalid value for 'temperature'.");
    assert_eq!(api.error_type.as_deref(), Some("invalid_request_error"));
    assert_eq!(api.code.as_deref(), Some("invalid_value"));
    assert_eq!(api.param.as_deref(), Some("temperature"));
    assert_eq!(api.request_id.as_deref(), Some("req_abc"));
    assert_eq!(api.body, body);
    assert!(!api.in_stream);
    assert_eq!(
        (err.status(), err.request_id()),
        (Some(400), Some("req_abc"))
    );
    assert!(err.partial().is_none(), "no stream began");
    assert!(
        err.to_string().contains("Invalid value for 'temperature'."),
        "{err}"
    );
}

// A non-JSON error body (an HTML 502 page from a proxy) is kept as text, never a panic.
#[test]
fn html_502_body_is_kept_as_text() {
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n";
    let (err, _) = chat_error(Script::new().step(move |_, r| {
        r.respond(502, &[("Content-Type", "text/html")], html.as_bytes());
    }));
    check_kind(&err, ErrorKind::Api);
    let api = err.api().unwrap();
    assert_eq!(api.status, 502);
    assert_eq!(api.body, html);
    assert_eq!(api.message, "<html>");
    assert_eq!((api.error_type.as_ref(), api.code.as_ref()), (None, None));
}

// A 3xx is a `Redirect` error naming the Location, for plain calls, streams and GETs, and the
// redirect target is never requested.
#[test]
fn redirects_are_errors_and_not_followed() {
    let target = TestServer::start(|_, r| r.json(200, COMPLETION));
    let location = target.url("/v1/chat/completions");
    let redirecting = {
        let location = location.clone();
        TestServer::start(move |req, r| {
            let status = if req.method == "GET" { 302 } else { 307 };
            r.respond(status, &[("Location", location.as_str())], b"");
        })
    };
    let client = builder(&redirecting).api_key("sk-secret").build().unwrap();
    let errors = [
        expect_err(client.chat(&request())),
        expect_err(client.chat_stream(&request(), |_| ControlFlow::Continue(()))),
        expect_err(client.models()),
    ];
    for err in &errors {
        check_kind(err, ErrorKind::Redirect);
        assert_eq!(err.location(), Some(location.as_str()));
        assert!(err.to_string().contains(&location), "{err}");
    }
    assert_eq!(redirecting.request_count(), 3);
    assert_eq!(
        target.request_count(),
        0,
        "the redirect target was requested"
    );
    assert_eq!(target.connection_count(), 0);
}

// A success body that is not valid JSON is `Decode`, with the raw text.
#[test]
fn invalid_json_body_is_a_decode_error_with_the_raw_text() {
    let (err, _) =
        chat_error(Script::new().json(200, "{\"id\": \"chatcmpl-1\", \"choices\": [tru"));
    check_kind(&err, ErrorKind::Decode);
    assert_eq!(
        err.raw(),
        Some("{\"id\": \"chatcmpl-1\", \"choices\": [tru")
    );
}

// No answer within the response timeout is `Timeout::ResponseHeaders`; the server sees the
// client give up.
#[test]
fn response_headers_timeout() {
    let gone = Signal::new();
    let report = gone.clone();
    let server = TestServer::start(move |_, r| {
        r.wait_for_client_close();
        report.send();
        r.close();
    });
    let client = builder(&server)
        .response_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = expect_err(client.chat(&request()));
    check_kind(&err, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::ResponseHeaders), "{err:?}");
    gone.wait();
}

// A stream request whose headers never come is bounded by the stream idle timeout when no
// response timeout is set: `Timeout::ResponseHeaders`.
#[test]
fn stream_response_headers_are_bounded_by_the_idle_timeout() {
    let server = TestServer::start(|_, r| {
        r.wait_for_client_close();
        r.close();
    });
    let client = builder(&server)
        .stream_idle_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let err = expect_err(client.chat_stream(&request(), |_| ControlFlow::Continue(())));
    check_kind(&err, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::ResponseHeaders), "{err:?}");
}

// A body that stalls past the request timeout is `Timeout::Request`, and is not retried.
#[test]
fn request_timeout_on_a_stalled_body() {
    let server = TestServer::start(|_, r| {
        r.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":");
        r.wait_for_client_close();
    });
    let client = builder(&server)
        .max_retries(2)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(1))
        .request_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let err = expect_err(client.chat(&request()));
    check_kind(&err, ErrorKind::Timeout);
    assert_eq!(err.timeout(), Some(Timeout::Request), "{err:?}");
    assert_eq!(server.request_count(), 1);
}

// Nothing listening is `Connect` (after the retries, which back off briefly).
#[test]
fn nothing_listening_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .api_key("sk-secret")
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build()
        .unwrap();
    check_kind(&expect_err(client.chat(&request())), ErrorKind::Connect);
    let streamed = client.chat_stream(&request(), |_| ControlFlow::Continue(()));
    check_kind(&expect_err(streamed), ErrorKind::Connect);
}

// Configuration errors come from `build()`, before any connection: no key for OpenAI's default
// URL, a key over plain http to a non-loopback host, an invalid base URL. Opting in allows http.
#[test]
fn configuration_errors_need_no_connection() {
    check_kind(&expect_err(Client::builder().build()), ErrorKind::Config);
    assert!(Client::builder().api_key("sk-secret").build().is_ok());
    let insecure = Client::builder()
        .base_url("http://example.invalid/v1")
        .api_key("sk-secret")
        .build();
    let err = expect_err(insecure);
    check_kind(&err, ErrorKind::Config);
    assert!(err.to_string().contains("example.invalid"), "{err}");
    let opted_in = Client::builder()
        .base_url("http://example.invalid/v1")
        .api_key("sk-secret")
        .allow_insecure_http(true)
        .build();
    assert!(opted_in.is_ok(), "built, never used: no connection is made");
    assert!(
        Client::builder()
            .base_url("http://example.invalid/v1")
            .build()
            .is_ok(),
        "no key"
    );
    let bad_url = Client::builder().base_url("localhost:8080/v1").build();
    check_kind(&expect_err(bad_url), ErrorKind::Config);
}

// A stream request answered with a 200 HTML page is `Protocol`, with the page as raw text.
#[test]
fn html_answer_to_a_stream_request_is_a_protocol_error() {
    let html = "<!doctype html><title>Login</title>";
    let server = TestServer::scripted(Script::new().step(move |_, r| {
        r.respond(
            200,
            &[("Content-Type", "text/html; charset=utf-8")],
            html.as_bytes(),
        );
    }));
    let client = builder(&server).build().unwrap();
    let err = expect_err(client.chat_stream(&request(), |_| ControlFlow::Continue(())));
    check_kind(&err, ErrorKind::Protocol);
    assert_eq!(err.raw(), Some(html));
    assert!(err.partial().is_none(), "no stream began");
}

// A stream request answered with a JSON error body and status 200 (as some proxies do) is an
// `Api` error, not fed to the SSE parser.
#[test]
fn json_error_answer_to_a_stream_request_is_an_api_error() {
    let server = TestServer::scripted(Script::new().json(200, RATE_LIMITED));
    let client = builder(&server).build().unwrap();
    let err = expect_err(client.chat_stream(&request(), |_| ControlFlow::Continue(())));
    check_kind(&err, ErrorKind::Api);
    let api = err.api().unwrap();
    assert_eq!(
        (api.status, api.message.as_str()),
        (200, "Rate limit reached")
    );
    assert!(!api.in_stream);
}

// ---------------------------------------------------------------------------------------------
// Retries, counted on the server side.

/// Runs a chat (or stream) against `script` with the default retry count and a tiny backoff;
/// returns the result and how many requests the server got.
fn retried(script: Script, streaming: bool) -> (Result<ChatCompletion, Error>, usize) {
    let server = TestServer::scripted(script);
    let client = Client::builder()
        .base_url(server.base_url())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .build()
        .unwrap();
    let result = if streaming {
        client.chat_stream(&request(), |_| ControlFlow::Continue(()))
    } else {
        client.chat(&request())
    };
    (result, server.request_count())
}

const RATE_LIMITED: &str = r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
const SERVER_ERROR: &str = r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#;

// A 429 with `retry-after-ms: 10` is retried, and the second answer is the result.
#[test]
fn rate_limit_with_retry_after_ms_is_retried() {
    let script = Script::new()
        .json_with_headers(429, &[("retry-after-ms", "10")], RATE_LIMITED)
        .json(200, COMPLETION);
    let (result, requests) = retried(script, false);
    assert_eq!(result.expect("retried to success").content(), "Hello!");
    assert_eq!(requests, 2);
}

// Two 500s, then 200: three requests, success.
#[test]
fn server_errors_are_retried_twice() {
    let script = Script::new()
        .json(500, SERVER_ERROR)
        .json(500, SERVER_ERROR)
        .json(200, COMPLETION);
    let (result, requests) = retried(script, false);
    assert_eq!(result.expect("retried to success").content(), "Hello!");
    assert_eq!(requests, 3);
}

// Three 500s exhaust the default two retries: the last error is returned after 3 requests.
#[test]
fn retries_give_up_after_max_retries() {
    let script = Script::new().json(500, SERVER_ERROR).repeat_last();
    let (result, requests) = retried(script, false);
    assert_eq!(expect_err(result).status(), Some(500));
    assert_eq!(requests, 3);
}

// A 401 is not retried.
#[test]
fn unauthorized_is_not_retried() {
    let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    let (result, requests) = retried(Script::new().json(401, body), false);
    let err = expect_err(result);
    check_kind(&err, ErrorKind::Api);
    assert_eq!(err.api().unwrap().code.as_deref(), Some("invalid_api_key"));
    assert_eq!(requests, 1);
}

// `max_retries(0)` turns retries off: one request.
#[test]
fn max_retries_zero_sends_one_request() {
    let server = TestServer::scripted(Script::new().json(500, SERVER_ERROR));
    let client = builder(&server).build().unwrap();
    assert_eq!(expect_err(client.chat(&request())).status(), Some(500));
    assert_eq!(server.request_count(), 1);
}

// A stream request answered 503 is retried, and the good stream that follows is the result.
#[test]
fn stream_request_answered_503_is_retried() {
    let script = Script::new().json(503, SERVER_ERROR).sse(STREAM);
    let (result, requests) = retried(script, true);
    assert_eq!(result.expect("retried to success").content(), "Hi");
    assert_eq!(requests, 2);
}

// ---------------------------------------------------------------------------------------------
// models() and the escape hatches.

/// The models a server answering `GET /v1/models` with `body` lists.
fn models_from(body: &'static str) -> Vec<chatstream::Model> {
    let server = TestServer::scripted(Script::new().json(200, body));
    let models = builder(&server).build().unwrap().models().expect("models");
    assert_eq!(server.single_request().path, "/v1/models");
    models
}

// OpenAI's model list: ids, created and owner.
#[test]
fn models_openai_style() {
    let models = models_from(
        r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"o4-mini","object":"model","created":1744225351,"owned_by":"system"}]}"#,
    );
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["gpt-4o-mini", "o4-mini"]);
    assert_eq!(models[0].created, Some(1721172741));
    assert_eq!(models[0].owned_by.as_deref(), Some("system"));
}

// llama.cpp's model list (extra `models` array, `meta` per model) is read, and extras are kept.
#[test]
fn models_llama_cpp_style() {
    let models = models_from(
        r#"{"models":[{"name":"tiny-random-llama","model":"tiny-random-llama","modified_at":"","size":"","digest":"","type":"model","description":"","tags":[""],"capabilities":["completion"],"parameters":"","details":{"parent_model":"","format":"gguf","family":"","families":[""],"parameter_size":"","quantization_level":""}}],"object":"list","data":[{"id":"tiny-random-llama","aliases":["tiny-random-llama"],"tags":[],"object":"model","created":1757000000,"owned_by":"llamacpp","meta":{"vocab_type":1,"n_vocab":354,"n_ctx_train":4096,"n_embd":64,"n_params":59520,"size":249856}}]}"#,
    );
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].id, "tiny-random-llama");
    assert_eq!(models[0].owned_by.as_deref(), Some("llamacpp"));
    assert_eq!(models[0].extra["meta"]["n_ctx_train"], 4096);
}

// `post_json` posts any JSON to any path (leading slash or not) with the usual headers and
// returns the JSON answer; error statuses are `Api` errors.
#[test]
fn post_json_escape_hatch() {
    let server = TestServer::start(|req, r| match req.path.as_str() {
        "/v1/embeddings" => r.json(200, r#"{"object":"list","data":[{"embedding":[0.5]}]}"#),
        _ => r.json(
            404,
            r#"{"error":{"message":"Unknown path","type":"not_found_error","code":404}}"#,
        ),
    });
    let client = builder(&server).api_key("sk-secret").build().unwrap();
    let body = json!({"model": "text-embedding-3-small", "input": "hi"});
    for path in ["embeddings", "/embeddings"] {
        let answer = client.post_json(path, &body).expect("post_json");
        assert_eq!(answer["data"][0]["embedding"], json!([0.5]));
    }
    let err = expect_err(client.post_json("nope", &body));
    check_kind(&err, ErrorKind::Api);
    assert_eq!(
        (err.status(), err.api().unwrap().code.as_deref()),
        (Some(404), Some("404"))
    );
    let first = &server.requests()[0];
    assert_eq!(first.json(), body, "the body is sent as given");
    assert_eq!(first.header("authorization"), Some("Bearer sk-secret"));
    assert_eq!(first.header("accept"), Some("application/json"));
}

// `post_stream` posts the body as given (nothing added) to any path and hands over raw events,
// `[DONE]` included; an error status is an `Api` error before any event.
#[test]
fn post_stream_escape_hatch() {
    let server = TestServer::start(|req, r| match req.path.as_str() {
        "/v1/completions" => r.sse(b"data: {\"choices\":[{\"text\":\"Hi\"}]}\n\ndata: [DONE]\n\n"),
        _ => r.json(429, RATE_LIMITED),
    });
    let client = builder(&server).build().unwrap();
    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say", "stream": true});
    let mut data = Vec::new();
    client
        .post_stream("completions", &body, |e| {
            data.push(e.data().to_string());
            ControlFlow::Continue(())
        })
        .expect("post_stream");
    assert_eq!(data, ["{\"choices\":[{\"text\":\"Hi\"}]}", "[DONE]"]);
    let req = server.single_request();
    assert_eq!(req.json(), body);
    assert_eq!(req.header("accept"), Some("text/event-stream"));
    let err = expect_err(client.post_stream("limited", &body, |_| ControlFlow::Continue(())));
    check_kind(&err, ErrorKind::Api);
    assert_eq!(err.status(), Some(429));
}
