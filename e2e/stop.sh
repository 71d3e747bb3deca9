#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stops the servers that e2e/start.sh started (LiteLLM, the cut-relay,
# llama-server): only the PIDs recorded in $E2E_STATE_DIR/server.env, and
# each only while that process still is the one on its recorded port. Does
# nothing when no server is recorded.
set -euo pipefail

E2E_SCRIPT=e2e/stop
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

state_file=$E2E_STATE_DIR/server.env
if [[ ! -f "$state_file" ]]; then
    e2e_log "no server recorded in $state_file"
    exit 0
fi
PID="" PORT="" LITELLM_PID="" LITELLM_PORT="" CUT_PID="" CUT_PORT=""
# shellcheck disable=SC1090
source "$state_file"
[[ "$PID" =~ ^[0-9]+$ && "$PORT" =~ ^[0-9]+$ ]] || e2e_die "bad state file $state_file"

# Is $1 still the process whose command line holds $2 and $3? (PIDs are
# reused after a process ends.) A zombie (our own child, not yet reaped) no
# longer serves.
is_ours() {
    local cmdline
    [[ -r "/proc/$1/cmdline" ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline")
    [[ "$cmdline" == *"$2"* && "$cmdline" == *"$3"* ]] \
        && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# Stops process $2 (named $1 in the log) when is_ours "$2" "$3" "$4".
stop_one() {
    local name=$1 pid=$2
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if ! is_ours "$pid" "$3" "$4"; then
        e2e_log "recorded $name pid $pid is no longer running"
        return 0
    fi
    e2e_log "stopping $name pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        is_ours "$pid" "$3" "$4" || return 0
        sleep 0.1
    done
    e2e_log "$name pid $pid ignored SIGTERM for 10 s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# LiteLLM first: it is the client of the others.
stop_one LiteLLM "$LITELLM_PID" litellm " --port $LITELLM_PORT "
stop_one cut-relay "$CUT_PID" util.py "cut-relay $CUT_PORT "
stop_one llama-server "$PID" llama-server " --port $PORT "
rm -f "$state_file"
