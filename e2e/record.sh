#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Records raw llama-server responses into fixtures (see e2e/record.py):
#
#   e2e/record.sh [--litellm] [OUT_DIR [PROVENANCE_FILE [RESPONSES_DIR]]] [-- NAME...]
#
# With --litellm it records e2e/requests/litellm-*.json through the LiteLLM
# proxy instead (its own "litellm-recorded" provenance section).
# OUT_DIR (streams) defaults to fixtures/sse/recorded, PROVENANCE_FILE to
# fixtures/README.md (the section between the "llama-recorded" marker lines is
# replaced, or appended when absent), RESPONSES_DIR (non-streamed bodies) to
# fixtures/responses. One request per e2e/requests/llama-*.json
# (or only the NAMEs given). Starts and stops its own server via e2e/run.sh
# (or uses one left running by e2e/start.sh).
set -euo pipefail

E2E_SCRIPT=e2e/record
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$E2E_REPO_ROOT/fixtures/sse/recorded
provenance=$E2E_REPO_ROOT/fixtures/README.md
responses=$E2E_REPO_ROOT/fixtures/responses
server=llama
if [[ $# -gt 0 && "$1" == "--litellm" ]]; then server=litellm; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then out=$1; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then provenance=$1; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then responses=$1; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi

server_bin=$("$E2E_DIR/setup.sh" | tail -n 1)
version=$("$server_bin" --version 2>&1 | head -n 1)
version=${version#version: }

exec "$E2E_DIR/run.sh" "$E2E_VENV/bin/python" "$E2E_DIR/record.py" \
    --requests "$E2E_DIR/requests" --out "$out" --responses "$responses" \
    --provenance "$provenance" \
    --server "$server" --litellm-version "$E2E_LITELLM_VERSION" \
    --server-version "$version" --model "$E2E_STATE_DIR/$E2E_MODEL_ALIAS.gguf" "$@"
