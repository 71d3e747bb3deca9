#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Starts llama-server with the tiny generated model on 127.0.0.1 on a free port
# and waits until /health answers 200. Prints, on stdout, lines to eval:
#
#   eval "$(e2e/start.sh)"   # sets CHATSTREAM_E2E_BASE_URL, CHATSTREAM_E2E_API_KEY
#   ...
#   e2e/stop.sh
#
# The server's PID, port, key and log path go to $E2E_STATE_DIR/server.env
# (default target/e2e/ in the repo); e2e/stop.sh stops exactly that PID.
# When the server recorded there is still running, it is reused.
#
# Environment:
#   CHATSTREAM_E2E_API_KEY        key for --api-key (default: a random one)
#   CHATSTREAM_E2E_THREADS        -t for the server (default 2; use 1 while a build runs)
#   CHATSTREAM_E2E_START_TIMEOUT  seconds to wait for /health (default 60)
#   LLAMA_SERVER_BIN, CHATSTREAM_E2E_CACHE: see e2e/setup.sh
set -euo pipefail

E2E_SCRIPT=e2e/start
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

state_file=$E2E_STATE_DIR/server.env

print_env() {
    printf 'export CHATSTREAM_E2E_BASE_URL=%q\n' "$1"
    printf 'export CHATSTREAM_E2E_API_KEY=%q\n' "$2"
    # For e2e/run.sh: 1 when this call started the server, 0 when reused.
    printf 'e2e_started=%d\n' "$3"
}

# Reuse a running server from an earlier start.sh.
if [[ -f "$state_file" ]]; then
    PID="" PORT="" BASE_URL="" API_KEY=""
    # shellcheck disable=SC1090
    source "$state_file"
    if [[ -x "$E2E_VENV/bin/python" && "$PID" =~ ^[0-9]+$ ]] && kill -0 "$PID" 2>/dev/null \
        && "$E2E_VENV/bin/python" "$E2E_DIR/util.py" health "http://127.0.0.1:$PORT/health"; then
        e2e_log "reusing the running llama-server (pid $PID, port $PORT)"
        print_env "$BASE_URL" "$API_KEY" 0
        exit 0
    fi
    e2e_log "removing stale state $state_file"
    "$E2E_DIR/stop.sh" >&2 || true
fi

server_bin=$("$E2E_DIR/setup.sh" | tail -n 1)
[[ -n "$server_bin" ]] || e2e_die "setup.sh printed no llama-server path"
py=$E2E_VENV/bin/python

mkdir -p "$E2E_STATE_DIR"
model=$E2E_STATE_DIR/$E2E_MODEL_ALIAS.gguf
"$py" "$E2E_DIR/gen_model.py" "$model"

api_key=${CHATSTREAM_E2E_API_KEY:-$("$py" "$E2E_DIR/util.py" new-key)}
threads=${CHATSTREAM_E2E_THREADS:-2}
timeout=${CHATSTREAM_E2E_START_TIMEOUT:-60}
log=$E2E_STATE_DIR/llama-server.log

# If this script stops before the server is ready (error, Ctrl-C), stop the
# server it launched: exactly that PID.
pid=""
stop_unready() {
    if [[ -n "$pid" ]]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    fi
}
trap stop_unready EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free port can be taken by someone else between picking and binding it:
# try a few ports.
for attempt in 1 2 3; do
    port=$("$py" "$E2E_DIR/util.py" free-port)
    e2e_log "starting $server_bin on 127.0.0.1:$port (attempt $attempt, log $log)"
    "$server_bin" -m "$model" --host 127.0.0.1 --port "$port" \
        --api-key "$api_key" --alias "$E2E_MODEL_ALIAS" \
        -c 4096 -np 4 -t "$threads" --jinja --no-webui --offline \
        </dev/null >"$log" 2>&1 &
    pid=$!
    if "$py" "$E2E_DIR/util.py" wait-health "http://127.0.0.1:$port/health" "$pid" "$timeout"; then
        base_url=http://127.0.0.1:$port/v1
        {
            printf 'PID=%q\n' "$pid"
            printf 'PORT=%q\n' "$port"
            printf 'API_KEY=%q\n' "$api_key"
            printf 'BASE_URL=%q\n' "$base_url"
            printf 'LOG=%q\n' "$log"
            printf 'BIN=%q\n' "$server_bin"
        } >"$state_file.tmp"
        mv -f "$state_file.tmp" "$state_file"
        e2e_log "llama-server ready: pid $pid, $base_url"
        pid=""  # keep it running
        print_env "$base_url" "$api_key" 1
        exit 0
    fi
    # Not ready: stop exactly this PID, show its log, maybe retry.
    stop_unready
    e2e_log "llama-server did not become ready; its log:"
    sed 's/^/    /' "$log" >&2
    if ! grep -q -i 'bind\|address already in use' "$log"; then
        break
    fi
done
e2e_die "could not start llama-server"
