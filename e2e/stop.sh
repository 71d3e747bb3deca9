#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stops the llama-server that e2e/start.sh started: only the PID recorded in
# $E2E_STATE_DIR/server.env, and only when that process still is the
# llama-server on the recorded port. Does nothing when no server is recorded.
set -euo pipefail

E2E_SCRIPT=e2e/stop
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

state_file=$E2E_STATE_DIR/server.env
if [[ ! -f "$state_file" ]]; then
    e2e_log "no server recorded in $state_file"
    exit 0
fi
PID="" PORT=""
# shellcheck disable=SC1090
source "$state_file"
[[ "$PID" =~ ^[0-9]+$ && "$PORT" =~ ^[0-9]+$ ]] || e2e_die "bad state file $state_file"

# Is PID still our server? (PIDs are reused after a process ends.)
is_our_server() {
    local cmdline
    [[ -r "/proc/$PID/cmdline" ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$PID/cmdline")
    [[ "$cmdline" == *llama-server* && "$cmdline" == *" --port $PORT "* ]]
}

if is_our_server; then
    e2e_log "stopping llama-server pid $PID (port $PORT)"
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        is_our_server || break
        # A zombie (our own child, not yet reaped) no longer serves.
        [[ "$(awk '{print $3}' "/proc/$PID/stat" 2>/dev/null)" == Z ]] && break
        sleep 0.1
    done
    if is_our_server && [[ "$(awk '{print $3}' "/proc/$PID/stat" 2>/dev/null)" != Z ]]; then
        e2e_log "pid $PID ignored SIGTERM for 10 s: sending SIGKILL"
        kill -KILL "$PID" 2>/dev/null || true
    fi
else
    e2e_log "recorded pid $PID is no longer the server on port $PORT"
fi
rm -f "$state_file"
