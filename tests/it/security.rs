//! Security properties (issue 6, item 3), each with a test: the API key never leaks
//! (Debug, errors, the `chat` example's output), redirects are never followed, and the
//! key is refused over plain `http://` to a host that is not loopback.

use crate::support;

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use chatstream::{ChatCompletion, Client, ClientBuilder, Error, ErrorKind};
use support::bodies::{completion_json, delta, event, request, stream_body};
use support::{Request, Responder, TestServer};

const KEY: &str = "sk-test-SECRET-1234567890";
/// A part of the key that would show even if it were cut or masked at its ends.
const KEY_CORE: &str = "SECRET-12345";

/// Answers a stream or a plain completion saying `content`.
fn answer(req: &Request, r: &mut Responder, content: &str) {
    if req.json()["stream"] == true {
        r.sse(&stream_body(&[content]));
    } else {
        r.json(200, &completion_json(content));
    }
}

/// Every request carried the key (so a test that finds no key in some output proves
/// something: the key was in play).
#[track_caller]
fn assert_key_sent(server: &TestServer) {
    let bearer = format!("Bearer {KEY}");
    for req in server.requests() {
        assert_eq!(req.header("authorization"), Some(bearer.as_str()));
    }
}

fn builder(base_url: &str) -> ClientBuilder {
    Client::builder()
        .base_url(base_url)
        .api_key(KEY)
        .max_retries(0)
        .connect_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(5)))
        .stream_idle_timeout(Duration::from_secs(5))
}

fn stream(client: &Client) -> Result<ChatCompletion, Error> {
    client.chat_stream(&request(), |_| ControlFlow::Continue(()))
}

/// Neither `text` nor any part of the key core appears.
#[track_caller]
fn assert_no_key(what: &str, text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains(KEY_CORE),
        "{what} leaks the API key: {text}"
    );
}

/// The error's Display, Debug (plain and pretty), its source chain, and the
/// `std::io::Error` it converts to: none shows the key.
#[track_caller]
fn assert_error_clean(err: Error) {
    let what = format!("{:?} error", err.kind());
    assert_no_key(&what, &err.to_string());
    assert_no_key(&what, &format!("{err:?}"));
    assert_no_key(&what, &format!("{err:#?}"));
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        assert_no_key(&what, &format!("{s} {s:?}"));
        source = s.source();
    }
    let io = std::io::Error::from(err);
    assert_no_key(&what, &format!("{io} {io:?}"));
}

// ---------------------------------------------------------------------------------------
// Debug output and errors
// ---------------------------------------------------------------------------------------

// Proves: Debug of builder and client (also `{:#?}`, header-given keys) never shows the key.
#[test]
fn debug_never_shows_the_key() {
    let b = Client::builder()
        .base_url("https://api.example.invalid/v1")
        .api_key(KEY)
        .organization("org-1")
        .project("proj-1");
    for shown in [format!("{b:?}"), format!("{b:#?}")] {
        assert_no_key("ClientBuilder Debug", &shown);
        assert!(shown.contains("redacted"), "{shown}");
    }
    let client = b.clone().build().unwrap();
    for shown in [format!("{client:?}"), format!("{client:#?}")] {
        assert_no_key("Client Debug", &shown);
        assert!(shown.contains("redacted"), "{shown}");
    }
    let tagged = client.with_header("x-extra", KEY);
    assert_no_key("Client::with_header Debug", &format!("{tagged:?}"));

    let azure = Client::builder()
        .base_url("https://res.example.invalid/openai/deployments/d")
        .header("api-key", KEY)
        .header("Authorization", format!("Bearer {KEY}"));
    assert_no_key("ClientBuilder Debug (header key)", &format!("{azure:?}"));
    let azure = azure.build().unwrap();
    assert_no_key("Client Debug (header key)", &format!("{azure:?}"));
}

// Proves: errors of every kind the client makes (Display, Debug, sources, io::Error) hide the key.
#[test]
fn no_error_shows_the_key() {
    let mut kinds = Vec::new();
    let mut check = |result: Result<ChatCompletion, Error>, kind: ErrorKind| {
        let err = result.expect_err("must fail");
        assert_eq!(err.kind(), kind, "{err:?}");
        kinds.push(kind);
        assert_error_clean(err);
    };

    // Config: the insecure-http refusal and an invalid base URL.
    let refused = builder("http://example.invalid/v1")
        .build()
        .map(|_| unreachable!());
    check(refused, ErrorKind::Config);
    check(
        builder("ftp://example.invalid/v1")
            .build()
            .map(|_| unreachable!()),
        ErrorKind::Config,
    );

    // Connect: nothing listens on a port a closed listener had.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = closed.local_addr().unwrap();
    drop(closed);
    let client = builder(&format!("http://{addr}/v1")).build().unwrap();
    check(stream(&client), ErrorKind::Connect);

    // One server, one fault per request (by arrival order).
    let server = TestServer::start(|req, r| {
        match req.index {
        0 => r.hold(),
        1 => r.json(401, r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#),
        2 => r.respond(302, &[("Location", "http://127.0.0.1:9/v1/chat/completions")], b""),
        3 => r.raw(b"garbage, not HTTP\r\n\r\n"),
        4 => r.json(200, "{not json"),
        5 => {
            r.start_sse();
            r.chunk(&event(&delta("cut")));
            r.close();
        }
        6 => r.sse(format!("data: {}\n\n", "x".repeat(4096)).as_bytes()),
        7 => r.sse(b"data: {\"error\":{\"message\":\"in-stream failure\"}}\n\n"),
        8 => r.respond(200, &[("Content-Type", "text/html")], b"<html>proxy</html>"),
        _ => {
            r.start_sse();
            r.hold();
        }
    }
    });
    let client = builder(&server.base_url())
        .response_timeout(Duration::from_millis(100))
        .stream_idle_timeout(Duration::from_millis(100))
        .max_event_size(1024)
        .build()
        .unwrap();
    check(stream(&client), ErrorKind::Timeout);
    check(client.chat(&request()), ErrorKind::Api);
    check(stream(&client), ErrorKind::Redirect);
    check(stream(&client), ErrorKind::Protocol);
    check(client.chat(&request()), ErrorKind::Decode);
    check(stream(&client), ErrorKind::Truncated);
    check(stream(&client), ErrorKind::EventTooLarge);
    check(stream(&client), ErrorKind::Api);
    check(stream(&client), ErrorKind::Protocol);
    check(stream(&client), ErrorKind::Timeout);
    assert_key_sent(&server);
    assert_eq!(kinds.len(), 13);
}

// Proves: a key with CR/LF is Config before any connection, without echoing the key.
#[test]
fn key_with_line_break_is_a_config_error_without_echo() {
    let server = TestServer::start(|req, r| answer(req, r, "never"));
    for bad in [format!("{KEY}\n"), format!("{KEY}\r\nX-Injected: 1")] {
        let client = Client::builder()
            .base_url(server.base_url())
            .api_key(bad)
            .max_retries(0)
            .build();
        let err = match client {
            Err(e) => e,
            Ok(client) => stream(&client).expect_err("an unsendable key must fail"),
        };
        assert_eq!(err.kind(), ErrorKind::Config, "{err} / {err:?}");
        assert!(err.to_string().contains("API key"), "{err}");
        assert_error_clean(err);
    }
    assert_eq!(server.connection_count(), 0, "nothing may be sent");
}

// Proves: a per-request header value with CR/LF is Config before any connection, unechoed.
#[test]
fn per_request_header_with_line_break_is_a_config_error_without_echo() {
    let server = TestServer::start(|req, r| answer(req, r, "never"));
    let client = Client::builder()
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .expect("loopback client");
    let err = stream(&client.with_header("api-key", format!("{KEY}\r\nX-Injected: 1")))
        .expect_err("an unsendable header must fail");
    assert_eq!(err.kind(), ErrorKind::Config, "{err} / {err:?}");
    assert!(err.to_string().contains("`api-key` header"), "{err}");
    assert_error_clean(err);
    assert_eq!(server.connection_count(), 0, "nothing may be sent");
}

// ---------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------

// Proves: 301/302/303/307/308 are not followed: the target gets nothing; Redirect names Location.
#[test]
fn redirects_are_not_followed() {
    let target = TestServer::start(|req, r| answer(req, r, "stolen"));
    let location = target.url("/v1/chat/completions");
    for status in [301, 302, 303, 307, 308] {
        let loc = location.clone();
        let server = TestServer::start(move |_, r| r.respond(status, &[("Location", &loc)], b""));
        let client = builder(&server.base_url()).max_retries(3).build().unwrap();
        for result in [stream(&client), client.chat(&request())] {
            let err = result.expect_err("a redirect is an error");
            assert_eq!(err.kind(), ErrorKind::Redirect, "{status}: {err:?}");
            assert_eq!(err.location(), Some(location.as_str()));
            assert!(err.to_string().contains(&location), "{err}");
            assert!(err.to_string().contains(&status.to_string()), "{err}");
            assert_error_clean(err);
        }
        assert_eq!(
            server.request_count(),
            2,
            "{status}: redirects are not retried"
        );
        assert_key_sent(&server);
    }
    assert_eq!(
        target.connection_count(),
        0,
        "the redirect target was contacted"
    );
    assert_eq!(target.request_count(), 0);
}

// Proves: a redirect without Location, or with a relative one, is still a typed Redirect error.
#[test]
fn odd_redirects_are_typed_errors() {
    let server = TestServer::start(|req, r| {
        if req.index == 0 {
            r.respond(302, &[], b"");
        } else {
            r.respond(307, &[("Location", "/elsewhere")], b"");
        }
    });
    let client = builder(&server.base_url()).build().unwrap();
    let err = stream(&client).unwrap_err();
    assert_eq!((err.kind(), err.location()), (ErrorKind::Redirect, None));
    assert!(err.to_string().contains("without a Location"), "{err}");
    let err = stream(&client).unwrap_err();
    assert_eq!(err.location(), Some("/elsewhere"));
    assert_eq!(server.request_count(), 2);
}

// ---------------------------------------------------------------------------------------
// The key over plain http://
// ---------------------------------------------------------------------------------------

/// Hosts that are not loopback by the URL alone, including names that may well resolve
/// to loopback and userinfo / fragment tricks. None of them is ever contacted: the
/// client is refused at `build()`, before any lookup or connection.
const NOT_LOOPBACK: &[&str] = &[
    "http://example.invalid/v1",
    "HTTP://EXAMPLE.INVALID/v1",
    "http://10.255.255.1/v1",
    "http://192.168.1.10:11434/v1",
    "http://0.0.0.0:8080/v1",
    "http://[fe80::1]:8080/v1",
    "http://[::ffff:10.0.0.1]/v1",
    "http://[::2]/v1",
    "http://localhost.localdomain/v1",
    "http://localhost.example.invalid/v1",
    "http://127.0.0.1.nip.io/v1",
    "http://127.0.0.1@example.invalid/v1",
    "http://127.0.0.1:80@example.invalid/v1",
    "http://example.invalid#@127.0.0.1/v1",
    "http://example.invalid?@127.0.0.1/v1",
];

/// Loopback by the URL alone: a key may travel in clear to them.
const LOOPBACK: &[&str] = &[
    "http://localhost:1/v1",
    "http://LOCALHOST:1/v1",
    "http://127.0.0.1:1/v1",
    "http://127.0.0.2:1/v1",
    "http://127.255.255.254/v1",
    "http://[::1]:1/v1",
];

// Proves: a key over http:// to a non-loopback host is Config at build, naming both opt-ins.
#[test]
fn key_over_http_to_a_remote_host_is_refused() {
    for url in NOT_LOOPBACK {
        let err = Client::builder()
            .base_url(*url)
            .api_key(KEY)
            .build()
            .expect_err(url);
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
        let shown = err.to_string();
        assert!(shown.contains("allow_insecure_http"), "{shown}");
        assert!(
            shown.contains("CHATSTREAM_ALLOW_INSECURE_HTTP=1"),
            "{shown}"
        );
        assert!(shown.contains("http://"), "{shown}");
        assert_error_clean(err);
    }
}

// Proves: credential headers (api-key, Authorization, x-api-key) to remote http:// are refused.
#[test]
fn credential_headers_over_http_to_a_remote_host_are_refused() {
    let bearer = format!("Bearer {KEY}");
    for (name, value) in [
        ("api-key", KEY),
        ("Authorization", bearer.as_str()),
        ("X-Api-Key", KEY),
    ] {
        let b = Client::builder()
            .base_url("http://example.invalid/openai/deployments/d")
            .header(name, value);
        let err = b.clone().build().expect_err(name);
        assert_eq!(err.kind(), ErrorKind::Config, "{name}: {err}");
        assert!(err.to_string().contains("allow_insecure_http"), "{err}");
        assert_error_clean(err);
        b.allow_insecure_http(true).build().expect("opted in");
    }
    // A harmless header needs no opt-in.
    Client::builder()
        .base_url("http://example.invalid/v1")
        .header("x-trace-id", "abc")
        .build()
        .expect("no credential");
}

/// A host name for this machine that the URL rule does not call loopback (only `localhost`,
/// 127.0.0.0/8 and `[::1]` are): `localhost.` (the fully qualified form) where the resolver
/// maps it to a loopback address, else `0.0.0.0`, which Linux connects to this host.
fn loopback_alias() -> &'static str {
    use std::net::ToSocketAddrs;
    let reaches_this_host = |name: &str| {
        (name, 1)
            .to_socket_addrs()
            .is_ok_and(|mut addrs| addrs.any(|a| a.ip().is_loopback() || a.ip().is_unspecified()))
    };
    let alias = ["localhost.", "0.0.0.0"]
        .into_iter()
        .find(|name| reaches_this_host(name))
        .expect("neither localhost. nor 0.0.0.0 reaches this host");
    assert!(
        Client::builder()
            .base_url(format!("http://{alias}:1/v1"))
            .api_key(KEY)
            .build()
            .is_err(),
        "{alias} must not count as loopback"
    );
    alias
}

// Proves: a credential header added per request with `with_header` is refused the same way, by
// every call (chat, chat_stream, chat_chunks, post_json, post_stream, models), when the request
// is made: the live server behind the non-loopback name sees no connection.
#[test]
fn per_request_credential_headers_over_http_to_a_remote_host_are_refused() {
    let server = TestServer::start(|req, r| answer(req, r, "never"));
    let url = format!("http://{}:{}/v1", loopback_alias(), server.addr().port());
    let client = Client::builder()
        .base_url(&url)
        .max_retries(0)
        .build()
        .expect("no credential yet");
    let body = request().to_json();
    for name in ["api-key", "Authorization", "X-Api-Key"] {
        let tagged = client.with_header(name, KEY);
        let calls: [(&str, Result<(), Error>); 6] = [
            ("chat", tagged.chat(&request()).map(drop)),
            (
                "chat_stream",
                tagged
                    .chat_stream(&request(), |_| ControlFlow::Continue(()))
                    .map(drop),
            ),
            ("chat_chunks", tagged.chat_chunks(&request()).map(drop)),
            (
                "post_json",
                tagged.post_json("chat/completions", &body).map(drop),
            ),
            (
                "post_stream",
                tagged.post_stream("chat/completions", &body, |_| ControlFlow::Continue(())),
            ),
            ("models", tagged.models().map(drop)),
        ];
        for (call, result) in calls {
            let err = result.expect_err(call);
            assert_eq!(err.kind(), ErrorKind::Config, "{name}, {call}: {err}");
            assert!(
                err.to_string().contains("allow_insecure_http"),
                "{name}, {call}: {err}"
            );
            assert_error_clean(err);
        }
    }
    assert_eq!(server.connection_count(), 0, "a refused request connected");
    // The same client without the credential header reaches the server: the refusal above
    // was about the header, not an unreachable host.
    assert_eq!(stream(&client).unwrap().content(), "never");
    assert_eq!(server.request_count(), 1);
}

// Proves: an opted-in client sends its key over plain http:// to a name for this machine that is
// not loopback by the URL rule, and the server sees the header arrive.
#[test]
fn opted_in_client_sends_its_key_to_a_loopback_alias() {
    let server = TestServer::start(|req, r| answer(req, r, "over an alias"));
    let url = format!("http://{}:{}/v1", loopback_alias(), server.addr().port());
    let err = builder(&url)
        .build()
        .expect_err("refused without the opt-in");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let client = builder(&url)
        .allow_insecure_http(true)
        .build()
        .expect("opted in");
    assert_eq!(stream(&client).unwrap().content(), "over an alias");
    assert_eq!(client.chat(&request()).unwrap().content(), "over an alias");
    assert_eq!(server.request_count(), 2);
    assert_key_sent(&server);
}

// Proves: the refusal is decided before any connection: the live server sees none.
#[test]
fn refusal_happens_before_any_connection() {
    let server = TestServer::start(|req, r| answer(req, r, "never"));
    let url = format!("http://0.0.0.0:{}/v1", server.addr().port());
    let err = builder(&url).build().expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(server.connection_count(), 0);
}

// Proves: allow_insecure_http(true) allows the remote http:// URLs (built only, never used).
#[test]
fn builder_opt_in_allows_insecure_http() {
    for url in NOT_LOOPBACK {
        Client::builder()
            .base_url(*url)
            .api_key(KEY)
            .allow_insecure_http(true)
            .build()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

// Proves: without a key (a LAN Ollama) remote http:// needs no opt-in (built only).
#[test]
fn no_key_needs_no_opt_in() {
    for url in NOT_LOOPBACK {
        Client::builder()
            .base_url(*url)
            .build()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

// Proves: localhost, 127/8, [::1] and https need no opt-in; the loopback request carries the key.
#[test]
fn loopback_and_https_need_no_opt_in() {
    for url in LOOPBACK
        .iter()
        .copied()
        .chain(["https://example.invalid/v1", "https://10.255.255.1/v1"])
    {
        builder(url)
            .build()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    let server = TestServer::start(|req, r| answer(req, r, "over loopback"));
    let client = builder(&server.base_url()).build().unwrap();
    assert_eq!(stream(&client).unwrap().content(), "over loopback");
    assert_key_sent(&server);
}

/// Runs this test binary's `child` test (a function of this module) in a child process with
/// `env` added.
fn run_child(child: &str, env: &[(&str, &str)]) -> Output {
    // Test names are module paths without the crate name: `security::NAME`.
    let module = module_path!()
        .split_once("::")
        .map_or("", |(_, module)| module);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        &format!("{module}::{child}"),
        "--nocapture",
        "--test-threads=1",
    ])
    .env("CHATSTREAM_SECURITY_CHILD", "1")
    .env_remove("CHATSTREAM_ALLOW_INSECURE_HTTP")
    .env_remove("OPENAI_API_KEY")
    .env_remove("OPENAI_BASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the child test")
}

// Proves: CHATSTREAM_ALLOW_INSECURE_HTTP=1 opts in (builder, from_env), other values do not.
#[test]
fn env_opt_in_allows_insecure_http() {
    for (value, expect) in [("1", "allowed"), ("0", "refused"), ("", "refused")] {
        let out = run_child(
            "env_opt_in_child",
            &[
                ("CHATSTREAM_ALLOW_INSECURE_HTTP", value),
                ("EXPECT", expect),
            ],
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "value {value:?}: {text}");
        assert!(
            text.contains("1 passed"),
            "the child test did not run: {text}"
        );
    }
}

// child half of env_opt_in_allows_insecure_http (passes trivially unless run by it).
#[test]
fn env_opt_in_child() {
    if std::env::var_os("CHATSTREAM_SECURITY_CHILD").is_none() {
        return;
    }
    let allowed = std::env::var("EXPECT").unwrap() == "allowed";
    let built = Client::builder()
        .base_url("http://example.invalid/v1")
        .api_key(KEY)
        .build();
    assert_eq!(built.is_ok(), allowed, "{:?}", built.err());
    // SAFETY: this child process runs this one test, on one thread.
    unsafe {
        std::env::set_var("OPENAI_API_KEY", KEY);
        std::env::set_var("OPENAI_BASE_URL", "http://10.255.255.1/v1");
    }
    let from_env = Client::from_env();
    assert_eq!(from_env.is_ok(), allowed, "{:?}", from_env.err());
    if let Err(e) = from_env {
        assert_error_clean(e);
    }
}

// ---------------------------------------------------------------------------------------
// The `chat` example
// ---------------------------------------------------------------------------------------

/// Builds the `chat` example (same target directory and profile as this test binary)
/// and returns its path. Cargo has released its lock by the time tests run.
fn chat_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    // `target/debug`, or `target/<triple>/debug` when cross-compiling (no example then).
    let target_dir = profile_dir.parent().unwrap();
    assert!(
        target_dir.join("CACHEDIR.TAG").exists(),
        "{} is not a Cargo target directory",
        target_dir.display()
    );
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--example", "chat", "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // The variables Cargo sets for a test run would look like changed build inputs to
    // build scripts (ring reruns on CARGO_MANIFEST_DIR), so that this build and the
    // next `cargo test` would each rebuild half the tree.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            cargo.env_remove(name.as_ref());
        }
    }
    if release {
        cargo.arg("--release");
    }
    if !cfg!(feature = "tls") {
        cargo.arg("--no-default-features"); // the same library this test links
    }
    let status = cargo.status().expect("run cargo build --example chat");
    assert!(status.success(), "cargo build --example chat failed");
    let path = profile_dir
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} not found", path.display());
    path
}

/// Runs the example against `base_url` with the key in OPENAI_API_KEY; returns the exit
/// code and stdout + stderr, checked to hold no trace of the key.
fn run_chat(exe: &PathBuf, base_url: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(exe)
        .args(args)
        .arg("hello")
        .env("OPENAI_API_KEY", KEY)
        .env("OPENAI_BASE_URL", base_url)
        .env("OPENAI_MODEL", "test-model")
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID")
        .env_remove("CHATSTREAM_ALLOW_INSECURE_HTTP")
        .output()
        .expect("run the chat example");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_key(&format!("chat {args:?}"), &text);
    (out.status.code(), text)
}

// Proves: the chat example's output (reply, JSON, 401, cut stream, refusal) never holds the key.
#[test]
fn chat_example_never_prints_the_key() {
    let exe = chat_example();
    let server = TestServer::start(|req, r| {
        match req.index {
        0..=2 => answer(req, r, "example reply"),
        3 => r.json_with_headers(
            401,
            &[("x-request-id", "req_401")],
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        ),
        _ => {
            r.start_sse();
            r.chunk(&event(&delta("partial reply")));
            r.reset();
        }
    }
    });
    let base = server.base_url();
    let (code, text) = run_chat(&exe, &base, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("example reply"), "{text}");
    let (code, text) = run_chat(&exe, &base, &["--no-stream"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("example reply"), "{text}");
    let (code, text) = run_chat(&exe, &base, &["--json"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run_chat(&exe, &base, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("401") && text.contains("req_401"), "{text}");
    let (code, text) = run_chat(&exe, &base, &["--json"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("partial reply"), "{text}");
    assert_eq!(server.request_count(), 5);
    assert_key_sent(&server);

    let (code, text) = run_chat(&exe, "http://example.invalid/v1", &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("CHATSTREAM_ALLOW_INSECURE_HTTP"), "{text}");
}
