#!/usr/bin/env bash
# Mutation testing of one part of the crate with cargo-mutants (a development tool, not a
# dependency; the figures in MUTANTS.md come from version 27.1.0):
#
#   cargo install --locked cargo-mutants@27.1.0
#   .ci/mutants.sh PART [more cargo-mutants options, e.g. -F REGEX or --list]
#
# PART names the code to mutate and the tests that can kill its mutants (test targets, then
# name filters); running only those (no doctests, no end-to-end suite) keeps one mutant to one
# incremental build and seconds of tests, so a part takes minutes, not hours, on a small machine:
#
#   sse         src/sse.rs, the parser: its unit tests, tests/it/sse.rs, the fuzz-property
#               replay (tests/it/regressions.rs) and the allocation count (tests/alloc/)
#   accumulate  the Accumulator (src/chat/accumulate.rs and src/chat/accumulate/): the chat unit
#               tests, tests/it/stream.rs, the replay (its properties check the accumulator)
#   stream      the stream core (src/chat/decoder.rs, the sans-IO rules) and the blocking driver
#               around it (src/stream.rs): the decoder's unit tests, tests/it/{decoder,
#               decode_differential,stream,quirks,cancel,faults}.rs and the replay (the client
#               against the reference model)
#   retry       the retry decision, the backoff and the Retry-After parsing in src/http/retry.rs
#               and the retry loop in src/http/mod.rs (Transport::send_then and the helpers
#               it asks whether and how long to wait): the http unit tests, tests/it/http.rs,
#               the retry tests of tests/it/faults.rs, tests/it/security.rs and tests/it/cancel.rs
#               (the cancellable backoff sleep and the first-event retries)
#   http-date   parse_http_date alone (it is in the retry part too), with the library's tests:
#               `.ci/mutants.sh retry -E parse_http_date` and this one cover the retry part in
#               a third of its time
#
# One job at a time, each test run bounded by a timeout (MUTANTS_TIMEOUT seconds, 90 by
# default: several times the unmutated tests' time on a loaded machine; a mutant that makes the
# parser loop forever is then detected, "timeout"), builds without debug info in a target
# directory of their own (target/mutants-build/PART, reused from run to run), and the report in
# target/mutants-out/PART/mutants.out (caught.txt, missed.txt, timeout.txt, unviable.txt).
# Not part of .ci/run: a run takes tens of minutes and its survivors need a reader, not a
# pass/fail; MUTANTS.md records the last run and what each survivor means.
set -euo pipefail
cd "$(dirname "$0")/.."

# Mutant names (as `--list` shows them) of the retry logic. cargo-mutants ORs every --re, so a
# -F given to the retry part widens it; narrow it with -E (exclude) instead.
retry='retry_decision|server_retry_delay|parse_http_date|backoff_delay|Transport::(send|send_then|retry|first_event_retry|backoff|next_random)( |$)'

part=${1:?usage: .ci/mutants.sh PART [cargo-mutants options]}
shift
case $part in
    sse)
        files=(--file src/sse.rs)
        targets=(--lib --test=it --test=alloc)
        filters=(sse:: regressions:: steady_state_parsing_allocates_nothing)
        ;;
    accumulate)
        files=(--file src/chat/accumulate.rs --file 'src/chat/accumulate/*.rs')
        targets=(--lib --test=it)
        filters=(chat:: stream:: regressions::)
        ;;
    stream)
        files=(--file src/stream.rs --file src/chat/decoder.rs)
        targets=(--lib --test=it)
        # Two Responses tests for the parts of `Events` only the Responses stream uses
        # (`discarded`, `drain`).
        filters=(decoder:: decode_differential:: stream:: quirks:: cancel:: regressions:: faults::
            responses::terminal_event responses::a_finished_stream)
        ;;
    retry)
        files=(--file src/http/mod.rs --file src/http/retry.rs --re "$retry")
        targets=(--lib --test=it)
        # security:: for the credential refusals at the top of `Transport::send`;
        # faults::closed_before_the_status_line for the retried connection failure.
        filters=(http:: faults::retr faults::x_should_retry faults::insufficient_quota
            faults::backoff faults::closed_before_the_status_line security:: cancel::)
        ;;
    http-date)
        # The Retry-After date parser alone, a quarter of the retry part's mutants: its unit
        # tests compare it with an independent count of days, so the library's tests suffice and
        # each mutant builds only them.
        files=(--file src/http/retry.rs --re 'parse_http_date')
        targets=(--lib)
        filters=(http::retry::)
        ;;
    *)
        echo "unknown part: $part" >&2
        exit 2
        ;;
esac

mkdir -p "target/mutants-out/$part"
# A target directory per part: cargo-mutants builds each run in a scratch copy of the tree, and
# two runs sharing a directory would overwrite each other's build of the crate.
export CARGO_TARGET_DIR="$PWD/target/mutants-build/$part"
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0
# The parts' tests trust only the roots they make themselves; with these set (as on many Linux
# machines) every client a test builds would also load the system's certificates, which in an
# unoptimised build costs more than the test itself.
unset SSL_CERT_FILE SSL_CERT_DIR
# The targets go to every cargo command (--cargo-arg), so that each mutant builds only them
# rather than every test binary of the crate.
cargo_args=()
for arg in "${targets[@]}"; do
    cargo_args+=("--cargo-arg=$arg")
done
exec nice cargo mutants "${files[@]}" "${cargo_args[@]}" --jobs 1 \
    --timeout "${MUTANTS_TIMEOUT:-90}" --build-timeout 600 --output "target/mutants-out/$part" "$@" \
    -- -- "${filters[@]}"
