#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Records raw llama-server Responses API streams (POST /v1/responses) into
# fixtures (see e2e/record.py, --api responses):
#
#   e2e/record-responses.sh [OUT_DIR [PROVENANCE_FILE]] [-- NAME...]
#
# OUT_DIR defaults to fixtures/responses-api (streams, expected results and
# non-streamed bodies), PROVENANCE_FILE to fixtures/README.md (the section
# between the "llama-responses-recorded" marker lines is replaced, or appended
# when absent). One request per e2e/requests/responses/llama-*.json (or only
# the NAMEs given). Starts and stops its own server via e2e/run.sh (or uses
# one left running by e2e/start.sh).
set -euo pipefail

E2E_SCRIPT=e2e/record-responses
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$E2E_REPO_ROOT/fixtures/responses-api
provenance=$E2E_REPO_ROOT/fixtures/README.md
if [[ $# -gt 0 && "$1" != "--" ]]; then out=$1; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then provenance=$1; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi

server_bin=$("$E2E_DIR/setup.sh" | tail -n 1)
version=$("$server_bin" --version 2>&1 | head -n 1)
version=${version#version: }

exec "$E2E_DIR/run.sh" "$E2E_VENV/bin/python" "$E2E_DIR/record.py" --api responses \
    --requests "$E2E_DIR/requests/responses" --out "$out" --responses "$out" \
    --provenance "$provenance" \
    --server-version "$version" --model "$E2E_STATE_DIR/$E2E_MODEL_ALIAS.gguf" "$@"
