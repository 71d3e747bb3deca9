#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Starts llama-server with the tiny generated model on 127.0.0.1 on a free port
# and waits until /health answers 200; then the LiteLLM proxy in front of it
# (and util.py's cut-relay, the failing upstream of a second LiteLLM model),
# and waits until LiteLLM's /health/liveliness answers 200. Prints, on
# stdout, lines to eval:
#
#   eval "$(e2e/start.sh)"   # sets CHATSTREAM_E2E_BASE_URL, CHATSTREAM_E2E_API_KEY,
#                            # CHATSTREAM_E2E_LITELLM_URL, CHATSTREAM_E2E_LITELLM_KEY
#   ...
#   e2e/stop.sh
#
# The servers' PIDs, ports, keys and log paths go to $E2E_STATE_DIR/server.env
# (default target/e2e/ in the repo); e2e/stop.sh stops exactly those PIDs.
# When the servers recorded there are still running, they are reused.
#
# Environment:
#   CHATSTREAM_E2E_API_KEY        key for --api-key (default: a random one)
#   CHATSTREAM_E2E_LITELLM_KEY    LiteLLM's master key (default: a random one)
#   CHATSTREAM_E2E_THREADS        -t for the server (default 2; use 1 while a build runs)
#   CHATSTREAM_E2E_START_TIMEOUT  seconds to wait for /health (default 60)
#   CHATSTREAM_E2E_LITELLM_START_TIMEOUT  seconds to wait for LiteLLM (default 180)
#   LLAMA_SERVER_BIN, CHATSTREAM_E2E_CACHE: see e2e/setup.sh
set -euo pipefail

E2E_SCRIPT=e2e/start
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

state_file=$E2E_STATE_DIR/server.env

print_env() {
    printf 'export CHATSTREAM_E2E_BASE_URL=%q\n' "$1"
    printf 'export CHATSTREAM_E2E_API_KEY=%q\n' "$2"
    printf 'export CHATSTREAM_E2E_LITELLM_URL=%q\n' "$3"
    printf 'export CHATSTREAM_E2E_LITELLM_KEY=%q\n' "$4"
    # For e2e/run.sh: 1 when this call started the servers, 0 when reused.
    printf 'e2e_started=%d\n' "$5"
}

# Reuse running servers from an earlier start.sh.
if [[ -f "$state_file" ]]; then
    PID="" PORT="" BASE_URL="" API_KEY=""
    LITELLM_PID="" LITELLM_PORT="" LITELLM_URL="" LITELLM_KEY=""
    # shellcheck disable=SC1090
    source "$state_file"
    if [[ -x "$E2E_VENV/bin/python" && "$PID" =~ ^[0-9]+$ && "$LITELLM_PID" =~ ^[0-9]+$ ]] \
        && kill -0 "$PID" 2>/dev/null && kill -0 "$LITELLM_PID" 2>/dev/null \
        && "$E2E_VENV/bin/python" "$E2E_DIR/util.py" health "http://127.0.0.1:$PORT/health" \
        && "$E2E_VENV/bin/python" "$E2E_DIR/util.py" health \
            "http://127.0.0.1:$LITELLM_PORT/health/liveliness"; then
        e2e_log "reusing the running llama-server (pid $PID, port $PORT)" \
            "and LiteLLM (pid $LITELLM_PID, port $LITELLM_PORT)"
        print_env "$BASE_URL" "$API_KEY" "$LITELLM_URL" "$LITELLM_KEY" 0
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

# Starts the cut-relay and LiteLLM in front of the llama-server on port $1
# (key $2), records them in the state file and prints the exports. On
# failure stops everything recorded so far, llama-server included.
start_litellm() {
    local upstream_port=$1 upstream_key=$2
    trap 'if [[ $? -ne 0 ]]; then "$E2E_DIR/stop.sh" >&2 || true; fi' EXIT
    local master_key
    master_key=${CHATSTREAM_E2E_LITELLM_KEY:-$("$py" "$E2E_DIR/util.py" new-key)}
    local ll_timeout=${CHATSTREAM_E2E_LITELLM_START_TIMEOUT:-180}
    local ll_log=$E2E_STATE_DIR/litellm.log config=$E2E_STATE_DIR/litellm.yaml

    # The relay closes each connection after 3000 bytes of llama-server's
    # answer: the headers and a few chunks of a stream.
    local cut_port cut_pid
    cut_port=$("$py" "$E2E_DIR/util.py" free-port)
    "$py" "$E2E_DIR/util.py" cut-relay "$cut_port" "$upstream_port" 3000 \
        </dev/null >"$E2E_STATE_DIR/cut-relay.log" 2>&1 &
    cut_pid=$!
    printf 'CUT_PID=%q\nCUT_PORT=%q\n' "$cut_pid" "$cut_port" >>"$state_file"

    # Two names for the same llama-server model; no database (LiteLLM then
    # checks only the master key).
    cat >"$config" <<YAML
model_list:
  - model_name: $E2E_LITELLM_ALIAS
    litellm_params:
      model: openai/$E2E_MODEL_ALIAS
      api_base: http://127.0.0.1:$upstream_port/v1
      api_key: $upstream_key
  - model_name: $E2E_LITELLM_CUT_ALIAS
    litellm_params:
      model: openai/$E2E_MODEL_ALIAS
      api_base: http://127.0.0.1:$cut_port/v1
      api_key: $upstream_key
general_settings:
  master_key: $master_key
litellm_settings:
  telemetry: false
YAML

    local attempt ll_port ll_pid
    for attempt in 1 2 3; do
        ll_port=$("$py" "$E2E_DIR/util.py" free-port)
        e2e_log "starting LiteLLM $E2E_LITELLM_VERSION on 127.0.0.1:$ll_port" \
            "(attempt $attempt, log $ll_log)"
        # The bundled model cost map instead of a download at start-up: CI
        # reaches only the package registries.
        LITELLM_LOCAL_MODEL_COST_MAP=True \
            "$E2E_LITELLM_VENV/bin/litellm" --config "$config" --host 127.0.0.1 \
            --port "$ll_port" --num_workers 1 </dev/null >"$ll_log" 2>&1 &
        ll_pid=$!
        printf 'LITELLM_PID=%q\nLITELLM_PORT=%q\n' "$ll_pid" "$ll_port" >>"$state_file"
        if "$py" "$E2E_DIR/util.py" wait-health \
            "http://127.0.0.1:$ll_port/health/liveliness" "$ll_pid" "$ll_timeout"; then
            local ll_url=http://127.0.0.1:$ll_port/v1
            {
                printf 'LITELLM_KEY=%q\n' "$master_key"
                printf 'LITELLM_URL=%q\n' "$ll_url"
                printf 'LITELLM_LOG=%q\n' "$ll_log"
            } >>"$state_file"
            e2e_log "LiteLLM ready: pid $ll_pid, $ll_url"
            print_env "$base_url" "$api_key" "$ll_url" "$master_key" 1
            return 0
        fi
        kill "$ll_pid" 2>/dev/null || true
        wait "$ll_pid" 2>/dev/null || true
        e2e_log "LiteLLM did not become ready; its log:"
        sed 's/^/    /' "$ll_log" >&2
        if ! grep -q -i 'address already in use' "$ll_log"; then
            break
        fi
    done
    e2e_die "could not start LiteLLM"
}

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
        pid=""  # from here on stop.sh stops it
        start_litellm "$port" "$api_key"
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
