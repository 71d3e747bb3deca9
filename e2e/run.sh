#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs a command against a live llama-server and the LiteLLM proxy in front
# of it, and always stops them:
#
#   e2e/run.sh cargo test --release --test e2e -- --include-ignored
#
# Starts the servers with e2e/start.sh (unless those of an earlier start.sh
# are still running: they are used and left running), exports
# CHATSTREAM_E2E_BASE_URL=http://127.0.0.1:PORT/v1, CHATSTREAM_E2E_API_KEY,
# CHATSTREAM_E2E_LITELLM_URL and CHATSTREAM_E2E_LITELLM_KEY to the command,
# stops the servers it started on exit (also on error or Ctrl-C) and exits
# with the command's status.
set -euo pipefail

E2E_SCRIPT=e2e/run
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $# -eq 0 ]]; then
    e2e_die "usage: e2e/run.sh COMMAND [ARGS...]"
fi

e2e_started=0
child=""
# shellcheck disable=SC2317  # invoked by the traps
cleanup() {
    if [[ -n "$child" ]]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    if [[ "$e2e_started" == 1 ]]; then
        "$E2E_DIR/stop.sh" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start.sh prints the exports and e2e_started=1 (new server) or 0 (reused).
env_lines=$("$E2E_DIR/start.sh")
eval "$env_lines"
if [[ "$e2e_started" == 0 ]]; then
    e2e_log "using the already running server at $CHATSTREAM_E2E_BASE_URL (left running)"
fi

# In the background, so that a signal to this script is handled at once (a
# foreground child would delay the trap until it ends); stdin is passed on.
status=0
"$@" <&0 &
child=$!
wait "$child" || status=$?
child=""
e2e_log "command exited with status $status"
exit "$status"
