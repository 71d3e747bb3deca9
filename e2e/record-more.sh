#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Records raw responses of two more servers into fixtures (see e2e/record.py):
#
#   e2e/record-more.sh llamacpp-python|mockllm [OUT_DIR [PROVENANCE_FILE [RESPONSES_DIR]]] [-- NAME...]
#
#   llamacpp-python  llama-cpp-python's server (requirements-llamacpp-python.txt,
#                    installed into CACHE/llama-cpp-python-venv: its source
#                    package compiles llama.cpp, about 20 minutes on 2 cores)
#                    serving the tiny model of e2e/gen_model.py, with the chat
#                    format chatml-function-calling (tool calls) and an API key
#   mockllm          the npm package @dwmkerr/mock-llm (e2e/mock-llm/, installed
#                    with `npm ci` into CACHE/mock-llm) with the configuration
#                    e2e/mock-llm/mock-llm.yaml
#
# One request per e2e/requests/SERVER-*.json (or only the NAMEs given); the
# outputs and their defaults are those of e2e/record.sh, and the provenance
# goes between the "SERVER-recorded" marker lines. Installs what is missing,
# starts the server on a free port of 127.0.0.1, records, and stops the
# server (also on error or Ctrl-C). Not part of the e2e suite or CI: these
# servers are recorded once, by hand.
set -euo pipefail

E2E_SCRIPT=e2e/record-more
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

server=${1:-}
case "$server" in
    llamacpp-python | mockllm) shift ;;
    *) e2e_die "usage: e2e/record-more.sh llamacpp-python|mockllm [OUT [PROVENANCE [RESPONSES]]] [-- NAME...]" ;;
esac
out=$E2E_REPO_ROOT/fixtures/sse/recorded
provenance=$E2E_REPO_ROOT/fixtures/README.md
responses=$E2E_REPO_ROOT/fixtures/responses
if [[ $# -gt 0 && "$1" != "--" ]]; then out=$1; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then provenance=$1; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then responses=$1; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi

# Installs @dwmkerr/mock-llm exactly as e2e/mock-llm/package-lock.json pins
# it (no install scripts), unless the cache already holds that lock file.
install_mockllm() {
    local lock=$E2E_DIR/mock-llm/package-lock.json
    if ! cmp -s "$lock" "$E2E_MOCKLLM_DIR/package-lock.json" \
        || [[ ! -d "$E2E_MOCKLLM_DIR/node_modules/@dwmkerr/mock-llm" ]]; then
        e2e_log "installing @dwmkerr/mock-llm $E2E_MOCKLLM_VERSION into $E2E_MOCKLLM_DIR"
        rm -rf "$E2E_MOCKLLM_DIR"
        mkdir -p "$E2E_MOCKLLM_DIR"
        cp "$E2E_DIR/mock-llm/package.json" "$lock" "$E2E_MOCKLLM_DIR/"
        npm ci --prefix "$E2E_MOCKLLM_DIR" --ignore-scripts --no-audit --no-fund >&2
    fi
    local have
    have=$(node -p 'require(process.argv[1]).version' \
        "$E2E_MOCKLLM_DIR/node_modules/@dwmkerr/mock-llm/package.json")
    [[ "$have" == "$E2E_MOCKLLM_VERSION" ]] \
        || e2e_die "@dwmkerr/mock-llm $have installed, $E2E_MOCKLLM_VERSION pinned"
}

install_llamacpp_python() {
    ensure_venv "$E2E_VENV" "$E2E_DIR/requirements.txt"
    ensure_venv "$E2E_LLAMACPP_PYTHON_VENV" "$E2E_DIR/requirements-llamacpp-python.txt"
    check_pth_files "$E2E_LLAMACPP_PYTHON_VENV" requirements-llamacpp-python.txt
    check_installed "$E2E_LLAMACPP_PYTHON_VENV" llama_cpp_python "$E2E_LLAMACPP_PYTHON_VERSION"
}

# Installs under the cache lock, released before the recording starts.
(
    lock_cache
    if [[ "$server" == mockllm ]]; then install_mockllm; else install_llamacpp_python; fi
)

mkdir -p "$E2E_STATE_DIR"
py=$E2E_VENV/bin/python
if [[ "$server" == mockllm ]]; then
    py=python3  # util.py and record.py need only the standard library
fi
log=$E2E_STATE_DIR/record-more-$server.log
pid=""
queue_pid=""
# shellcheck disable=SC2317  # invoked by the traps
stop_server() {
    local p
    for p in "$pid" "$queue_pid"; do
        if [[ -n "$p" ]]; then
            e2e_log "stopping $server pid $p"
            kill -TERM "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    pid="" queue_pid=""
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

key=$("$py" "$E2E_DIR/util.py" new-key)
port=$("$py" "$E2E_DIR/util.py" free-port)
record_args=()
if [[ "$server" == mockllm ]]; then
    config=$E2E_DIR/mock-llm/mock-llm.yaml
    e2e_log "starting @dwmkerr/mock-llm $E2E_MOCKLLM_VERSION on 127.0.0.1:$port (log $log)"
    HOST=127.0.0.1 PORT=$port node "$E2E_MOCKLLM_DIR/node_modules/@dwmkerr/mock-llm/dist/main.js" \
        --config "$config" </dev/null >"$log" 2>&1 &
    pid=$!
    health=http://127.0.0.1:$port/health
    version="@dwmkerr/mock-llm $E2E_MOCKLLM_VERSION on node $(node --version)"
    record_args=(--config "$config")
else
    model=$E2E_STATE_DIR/$E2E_MODEL_ALIAS.gguf
    "$py" "$E2E_DIR/gen_model.py" "$model"
    # Two instances: the second one lets a request wait for a running stream
    # instead of ending that stream at once (for the ...-ping requests, which
    # wait long enough for a keep-alive comment).
    start_llamacpp_python() {
        e2e_log "starting llama-cpp-python $E2E_LLAMACPP_PYTHON_VERSION on 127.0.0.1:$1 ${3:-} (log $2)"
        "$E2E_LLAMACPP_PYTHON_VENV/bin/python" -m llama_cpp.server --model "$model" \
            --model_alias "$E2E_MODEL_ALIAS" --chat_format chatml-function-calling \
            --n_ctx 2048 --n_threads "${CHATSTREAM_E2E_THREADS:-2}" \
            --host 127.0.0.1 --port "$1" --api_key "$key" "${@:3}" </dev/null >"$2" 2>&1 &
    }
    queue_port=$("$py" "$E2E_DIR/util.py" free-port)
    queue_log=$E2E_STATE_DIR/record-more-$server-queue.log
    start_llamacpp_python "$queue_port" "$queue_log" --interrupt_requests False
    queue_pid=$!
    # The server has no health route; its OpenAPI document needs no key and
    # is served once the model is loaded.
    if ! "$py" "$E2E_DIR/util.py" wait-health "http://127.0.0.1:$queue_port/openapi.json" \
        "$queue_pid" "${CHATSTREAM_E2E_START_TIMEOUT:-60}"; then
        sed 's/^/    /' "$queue_log" >&2
        e2e_die "$server (--interrupt_requests False) did not become ready"
    fi
    export CHATSTREAM_E2E_RECORD_QUEUE_URL=http://127.0.0.1:$queue_port/v1
    start_llamacpp_python "$port" "$log"
    pid=$!
    health=http://127.0.0.1:$port/openapi.json
    version="llama-cpp-python $("$E2E_LLAMACPP_PYTHON_VENV/bin/python" -c \
        'import llama_cpp; print(llama_cpp.__version__)')"
    record_args=(--model "$model")
fi
if ! "$py" "$E2E_DIR/util.py" wait-health "$health" "$pid" "${CHATSTREAM_E2E_START_TIMEOUT:-60}"; then
    sed 's/^/    /' "$log" >&2
    e2e_die "$server did not become ready"
fi
e2e_log "$server ready: pid $pid"

status=0
CHATSTREAM_E2E_RECORD_URL=http://127.0.0.1:$port/v1 CHATSTREAM_E2E_RECORD_KEY=$key \
    "$py" "$E2E_DIR/record.py" \
    --requests "$E2E_DIR/requests" --out "$out" --responses "$responses" \
    --provenance "$provenance" --server "$server" --server-version "$version" \
    "${record_args[@]}" "$@" || status=$?
exit "$status"
