#!/bin/sh
# Builds one fuzz target with libFuzzer's coverage instrumentation on the STABLE toolchain
# (`-Cpasses=sancov-module`, no sanitizer) and runs it; see README.md.
#
#   fuzz/run-stable.sh TARGET SECONDS [more libFuzzer flags]
#
# TARGET is sse_split, chat_stream, chat_http or responses_stream. The working corpus is fuzz/corpus/TARGET
# (seeded from the fixtures and examples/replay.sse when empty), the committed minimal corpus
# fuzz/seeds/TARGET is read as a second corpus directory (chat_http shares chat_stream's, as
# their inputs have the same layout), and crashes land in fuzz/artifacts/TARGET/.
set -eu
cd "$(dirname "$0")"
target=$1
seconds=$2
shift 2
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo build --release --target x86_64-unknown-linux-gnu --target-dir target/sancov --bin "$target"
seeds=$target
if [ "$target" = chat_http ]; then
    seeds=chat_stream
fi
mkdir -p "corpus/$target" "artifacts/$target" "seeds/$seeds"
if [ -z "$(ls -A "corpus/$target")" ]; then
    # sse_split and responses_stream inputs start with a split plan (k=5, then chunk sizes
    # 2, 8, 3, 64, 14);
    # the chat targets' inputs with a mode byte (0: the rest is the stream as it is).
    case $target in
        sse_split | responses_stream) prefix='\005\001\007\002\077\015' ;;
        *) prefix='\000' ;;
    esac
    case $target in
        responses_stream) inputs="../fixtures/responses-api/*.sse ../examples/replay-responses.sse" ;;
        *) inputs="../fixtures/sse/*/*.sse ../examples/replay.sse" ;;
    esac
    # shellcheck disable=SC2086 # the globs are meant to expand
    for f in $inputs; do
        name="$(basename "$(dirname "$f")")-$(basename "$f")"
        { printf "$prefix"; cat "$f"; } > "corpus/$target/$name"
    done
fi
dict=
case $target in
    chat_*) dict=-dict=chat.dict ;;
esac
exec nice -n 10 "./target/sancov/x86_64-unknown-linux-gnu/release/$target" \
    "corpus/$target" "seeds/$seeds" \
    -max_len=4096 -max_total_time="$seconds" $dict \
    -artifact_prefix="artifacts/$target/" -print_final_stats=1 "$@"
