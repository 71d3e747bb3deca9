#!/usr/bin/env python3
"""Checks that a running llama-server with the tiny model behaves as the e2e
tests expect (standard library only). Run it through e2e/run.sh:

    e2e/run.sh python3 e2e/check_server.py [--repeat N]

It reads CHATSTREAM_E2E_BASE_URL and CHATSTREAM_E2E_API_KEY, sends the
requests of the behaviour table in shared/docs/real-servers.md and prints one
line per check; exit status 1 when any check fails. --repeat N runs the
randomised checks (forced tool call, plain text with tools) N times.
"""

import http.client
import json
import os
import sys
import urllib.parse

REQUESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requests")
with open(os.path.join(REQUESTS, "llama-tool-call.json"), encoding="utf-8") as f:
    TOOLS = json.load(f)["tools"]

FAILURES = []


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this through e2e/run.sh")
    return value


BASE = urllib.parse.urlsplit(env("CHATSTREAM_E2E_BASE_URL"))
KEY = env("CHATSTREAM_E2E_API_KEY")


def request(method, path, body=None, key=KEY):
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    conn.request(method, BASE.path.rstrip("/") + path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), raw


def chat(body, key=KEY):
    status, headers, raw = request("POST", "/chat/completions", body, key)
    return status, headers, raw


def chat_json(body):
    status, _, raw = chat(body)
    if status != 200:
        raise AssertionError(f"HTTP {status}: {raw[:300]!r}")
    return json.loads(raw)


def sse_events(raw):
    """The data fields of the events (llama.cpp sends only `data:` lines)."""
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        data = "\n".join(line[5:].lstrip(" ") if line.startswith("data:") else "" for line in lines)
        events.append(data)
    return events


def stream(body):
    status, headers, raw = chat(dict(body, stream=True))
    if status != 200:
        raise AssertionError(f"HTTP {status}: {raw[:300]!r}")
    events = sse_events(raw)
    if events[-1] != "[DONE]":
        raise AssertionError(f"stream does not end with [DONE]: {events[-1]!r}")
    return headers, [json.loads(e) for e in events[:-1]], raw


def check(name):
    def wrap(fn):
        try:
            detail = fn()
            print(f"ok    {name}{': ' + detail if detail else ''}")
        except Exception as exc:  # noqa: BLE001 - report every failure
            FAILURES.append(name)
            print(f"FAIL  {name}: {type(exc).__name__}: {exc}")
        return fn
    return wrap


def msgs(text="Tell me about the weather."):
    return [{"role": "user", "content": text}]


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def assert_weather_args(arguments):
    args = json.loads(arguments)
    props = TOOLS[0]["function"]["parameters"]["properties"]
    expect(set(args) <= set(props), f"unknown argument in {args}")
    for req in TOOLS[0]["function"]["parameters"]["required"]:
        expect(req in args, f"missing {req} in {args}")
    expect(args["city"] in props["city"]["enum"], f"city {args['city']!r}")
    expect(args["unit"] in props["unit"]["enum"], f"unit {args['unit']!r}")
    if "detailed" in args:
        expect(isinstance(args["detailed"], bool), "detailed is not a bool")
    return args


def run(repeat):
    @check("plain completion ends with finish_reason length")
    def _():
        d = chat_json({"messages": msgs(), "max_tokens": 16})
        c = d["choices"][0]
        expect(c["finish_reason"] == "length", c["finish_reason"])
        expect(d["usage"]["completion_tokens"] == 16, d["usage"])
        expect(d["model"] == "tiny-random-llama", d["model"])
        return repr(c["message"]["content"])

    @check('logit_bias {"4":100} stops at once with content ""')
    def _():
        d = chat_json({"messages": msgs(), "max_tokens": 16, "logit_bias": {"4": 100}})
        c = d["choices"][0]
        expect(c["finish_reason"] == "stop" and c["message"]["content"] == "", c)

    @check('streamed logit_bias {"4":100}: role chunk, finish stop, no content')
    def _():
        _, chunks, _ = stream({"messages": msgs(), "max_tokens": 16, "logit_bias": {"4": 100}})
        expect(chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}, chunks[0])
        expect(chunks[-1]["choices"][0]["finish_reason"] == "stop", chunks[-1])
        text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks)
        expect(text == "", repr(text))

    @check("stop string gives finish_reason stop, stop string left out")
    def _():
        base = {"messages": msgs(), "max_tokens": 40, "temperature": 0}
        full = chat_json(base)["choices"][0]["message"]["content"]
        words = full.split()
        stop = words[2] if len(words) > 3 else words[-1]
        d = chat_json(dict(base, stop=[stop]))
        c = d["choices"][0]
        expect(c["finish_reason"] == "stop", c)
        expect(stop not in c["message"]["content"], c)
        expect(full.startswith(c["message"]["content"]), (full, c))
        return f"stop={stop!r}"

    @check("temperature 0: streamed and non-streamed content identical")
    def _():
        body = {"messages": msgs("Same every time?"), "max_tokens": 30, "temperature": 0}
        plain = chat_json(body)["choices"][0]["message"]["content"]
        _, chunks, _ = stream(body)
        text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks if ch["choices"])
        expect(text == plain, (text, plain))
        again = chat_json(body)["choices"][0]["message"]["content"]
        expect(again == plain, (again, plain))

    @check("include_usage: finish chunk, then choices [] with usage, then [DONE]")
    def _():
        _, chunks, _ = stream({"messages": msgs(), "max_tokens": 8,
                               "stream_options": {"include_usage": True}})
        expect(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8, chunks[-1])
        expect(chunks[-2]["choices"][0]["finish_reason"] == "length", chunks[-2])
        expect(all("usage" not in ch for ch in chunks[:-1]), "usage before the last chunk")

    @check("no include_usage: no usage chunk")
    def _():
        _, chunks, _ = stream({"messages": msgs(), "max_tokens": 8})
        expect(all(ch["choices"] for ch in chunks), "a chunk with choices []")
        expect(all("usage" not in ch for ch in chunks), "usage without include_usage")

    @check("n=2 streamed: two indices, each with role, finish and usage chunk")
    def _():
        _, chunks, _ = stream({"messages": msgs(), "max_tokens": 8, "n": 2,
                               "stream_options": {"include_usage": True}})
        finishes, roles, usages = {}, {}, 0
        for ch in chunks:
            if not ch["choices"]:
                usages += 1
                continue
            for c in ch["choices"]:
                if c["delta"].get("role"):
                    roles[c["index"]] = roles.get(c["index"], 0) + 1
                if c.get("finish_reason"):
                    finishes[c["index"]] = c["finish_reason"]
        expect(finishes == {0: "length", 1: "length"}, finishes)
        expect(roles == {0: 1, 1: 1}, roles)
        return f"usage chunks: {usages}"

    @check("n=2 non-streamed: two choices; usage counts one choice")
    def _():
        d = chat_json({"messages": msgs(), "max_tokens": 8, "n": 2})
        expect([c["index"] for c in d["choices"]] == [0, 1], d["choices"])
        return f"usage {d['usage']['completion_tokens']} completion tokens for 2x8"

    @check("logprobs + top_logprobs, non-streamed and streamed")
    def _():
        body = {"messages": msgs(), "max_tokens": 5, "logprobs": True, "top_logprobs": 2}
        d = chat_json(body)
        content = d["choices"][0]["logprobs"]["content"]
        expect(len(content) == 5, content)
        expect(all(len(e["top_logprobs"]) == 2 and "bytes" in e for e in content), content[0])
        _, chunks, _ = stream(body)
        n = sum(len(c["logprobs"]["content"]) for ch in chunks for c in ch["choices"]
                if c.get("logprobs"))
        expect(n == 5, f"{n} streamed logprob entries")

    @check('response_format json_schema {"ok": boolean}')
    def _():
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}},
                  "required": ["ok"], "additionalProperties": False}
        d = chat_json({"messages": msgs("Is it ok?"), "max_tokens": 200,
                       "response_format": {"type": "json_schema",
                                           "json_schema": {"name": "ok", "schema": schema}}})
        c = d["choices"][0]
        value = json.loads(c["message"]["content"])
        expect(isinstance(value.get("ok"), bool) and set(value) == {"ok"}, value)
        return f"{c['message']['content']!r}, finish {c['finish_reason']}"

    tool_tokens = []
    for i in range(repeat):
        for choice in ("auto", "required"):
            @check(f"forced tool call, non-streamed, tool_choice {choice} (run {i + 1})")
            def _():
                d = chat_json({"messages": msgs("Weather in Paris?"), "tools": TOOLS,
                               "tool_choice": choice, "logit_bias": {"5": 100}, "max_tokens": 400})
                c = d["choices"][0]
                expect(c["finish_reason"] == "tool_calls", c)
                calls = c["message"]["tool_calls"]
                expect(len(calls) == 1 and calls[0]["function"]["name"] == "get_weather", calls)
                expect(c["message"]["content"] in ("", None), c["message"])
                assert_weather_args(calls[0]["function"]["arguments"])
                tool_tokens.append(d["usage"]["completion_tokens"])

        @check(f"forced tool call, streamed (run {i + 1})")
        def _():
            _, chunks, _ = stream({"messages": msgs("Weather in Paris?"), "tools": TOOLS,
                                   "logit_bias": {"5": 100}, "max_tokens": 400})
            calls = {}
            finish = None
            for ch in chunks:
                for c in ch["choices"]:
                    for tc in c["delta"].get("tool_calls") or []:
                        entry = calls.setdefault(tc["index"], {"name": "", "arguments": "", "id": None})
                        if tc.get("id"):
                            entry["id"] = tc["id"]
                        fn = tc.get("function") or {}
                        entry["name"] += fn.get("name") or ""
                        entry["arguments"] += fn.get("arguments") or ""
                    finish = c.get("finish_reason") or finish
            expect(finish == "tool_calls", finish)
            expect(list(calls) == [0] and calls[0]["name"] == "get_weather" and calls[0]["id"], calls)
            assert_weather_args(calls[0]["arguments"])

        @check(f"tools without bias give plain text (run {i + 1})")
        def _():
            d = chat_json({"messages": msgs("Weather in Paris?"), "tools": TOOLS, "max_tokens": 40})
            c = d["choices"][0]
            expect(c["finish_reason"] == "length" and not c["message"].get("tool_calls"), c)

    if tool_tokens:
        print(f"info  tool call completion tokens: min {min(tool_tokens)}, max {max(tool_tokens)}")

    history = msgs("Weather in Paris?") + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 21}"},
    ]

    @check("tool-result round trip: the next turn ends at once (content '')")
    def _():
        d = chat_json({"messages": history, "tools": TOOLS, "max_tokens": 20})
        c = d["choices"][0]
        return f"finish {c['finish_reason']}, content {c['message']['content']!r}"

    @check('tool-result round trip with logit_bias {"4":-100} gives text')
    def _():
        d = chat_json({"messages": history, "tools": TOOLS, "max_tokens": 20,
                       "logit_bias": {"4": -100}})
        c = d["choices"][0]
        expect(c["finish_reason"] == "length" and c["message"]["content"], c)

    @check("GET /models lists tiny-random-llama")
    def _():
        status, _, raw = request("GET", "/models")
        d = json.loads(raw)
        expect(status == 200 and d["data"][0]["id"] == "tiny-random-llama", d)

    @check("wrong API key: 401 authentication_error")
    def _():
        status, _, raw = chat({"messages": msgs()}, key="wrong")
        d = json.loads(raw)
        expect(status == 401 and d["error"]["type"] == "authentication_error", raw)
        return d["error"]["message"]

    @check("n above the slots: 400")
    def _():
        status, _, raw = chat({"messages": msgs(), "n": 5})
        expect(status == 400, raw)
        return json.loads(raw)["error"]["message"]

    @check("wrong field type: 400")
    def _():
        status, _, raw = chat({"messages": msgs(), "temperature": "hot"})
        expect(status == 400, raw)
        return json.loads(raw)["error"]["message"][:80]

    @check("malformed JSON: 400")
    def _():
        status, _, raw = chat(b'{"messages": [')
        expect(status == 400, raw)

    @check("over-long prompt: 400 exceed_context_size_error, also when streaming")
    def _():
        long = " ".join(["hello world"] * 1200)
        for s in (False, True):
            status, headers, raw = chat({"messages": msgs(long), "stream": s})
            d = json.loads(raw)
            expect(status == 400 and d["error"]["type"] == "exceed_context_size_error", raw[:200])
        return f"n_prompt_tokens {d['error'].get('n_prompt_tokens')}, n_ctx {d['error'].get('n_ctx')}"

    @check("unknown path: 404")
    def _():
        status, _, raw = request("GET", "/nope")
        expect(status == 404, raw)


def main(argv):
    repeat = 1
    if len(argv) == 3 and argv[1] == "--repeat":
        repeat = int(argv[2])
    elif len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    run(repeat)
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
