#!/usr/bin/env bash
# Whole-program costs of chatstream, side by side with the programs a user would write instead:
# stripped binary size, clean release build time in CPU seconds, and crates in
# `cargo tree -e normal`.
#
#   bash bench/size.sh                 # everything (10-15 minutes on 2 shared cores)
#   bash bench/size.sh --quick         # skip the async-openai program (the slow build)
#   bash bench/size.sh --rounds 3      # the three builds the build-time targets compare with
#                                      # the floor (chat example, library, floor) are done 3
#                                      # times, interleaved; their medians are reported
#
# What is built, each from scratch into its own target directory under
# bench/compare/target/size/ (git-ignored; the repository's target/ is never touched):
#   chat example, release        cargo build --release --example chat (the crate, its normal and
#                                dev-dependencies, the example: what `cargo build --example` does)
#   chat example, size profile   the same with opt-level="z", lto=true, codegen-units=1,
#                                panic="abort" (a [profile.size] passed with --config, so the
#                                root Cargo.toml is not edited)
#   chat example, http-only      --no-default-features (no TLS, no rustls/ring/webpki-roots)
#   chatstream lib, release      the library alone: what a crate that depends on chatstream pays
#   floor-min                    bench/compare/floor-min: ureq + rustls + serde_json, a blocking
#                                streaming POST, nothing else (the floor)
#   chatstream-min               bench/compare/chatstream-min: the same program on chatstream;
#                                its stripped size minus the floor's is chatstream's addition
#   async-openai-min             bench/compare/async-openai-min: async-openai (rustls,
#                                chat-completion) + tokio, streaming a completion
# Build time is user+sys CPU seconds of the whole cargo process tree (/usr/bin/time), which on a
# shared machine moves far less than wall time; wall seconds are shown too. Sources are fetched
# before timing, so downloads are not counted.
#
# Nothing here talks to a network except cargo fetching crates; the programs are built, never run.
set -euo pipefail

quick=0
rounds=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --rounds)
            rounds=${2:-}
            shift
            case "$rounds" in ''|*[!0-9]*|0) echo "size.sh: --rounds needs a number >= 1" >&2; exit 2 ;; esac
            ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "size.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

cd "$(dirname "$0")/.."
root=$PWD
work=${SIZE_WORK_DIR:-$root/bench/compare/target/size}
mkdir -p "$work"

need() { # need COMMAND DEBIAN-PACKAGE
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "size.sh: installing $2 (for $1)" >&2
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
        else
            sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
        fi
    fi
}
[ -x /usr/bin/time ] || need /usr/bin/time time
need strip binutils
need awk gawk
command -v cargo >/dev/null || { echo "size.sh: cargo not found" >&2; exit 1; }

log() { printf '==> %s\n' "$*" >&2; }

size_profile=(
    --config 'profile.size.inherits="release"'
    --config 'profile.size.opt-level="z"'
    --config 'profile.size.lto=true'
    --config 'profile.size.codegen-units=1'
    --config 'profile.size.panic="abort"'
)

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

# Fetch every source first: download time is not build time.
log "fetching sources"
(cd "$root" && cargo fetch --locked >&2)
(cd "$root/bench/compare/floor-min" && cargo fetch --locked >&2)
(cd "$root/bench/compare/chatstream-min" && cargo fetch --locked >&2)
[ "$quick" = 1 ] || (cd "$root/bench/compare/async-openai-min" && cargo fetch --locked >&2)

# build NAME DIR CARGO-BUILD-ARGS...: a clean build into $work/NAME; sets cpu and wall.
build() {
    local name=$1 dir=$2
    shift 2
    rm -rf "${work:?}/$name"
    log "clean build: $name (cargo build --locked $*)"
    (cd "$dir" && /usr/bin/time -f '%U %S %e' -o "$work/$name.time" \
        cargo build --locked --target-dir "$work/$name" "$@" >&2)
    read -r user sys wall < "$work/$name.time"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
    wall=$(awk -v w="$wall" 'BEGIN { printf "%.1f", w }')
}

# stripped PATH: size in bytes of a stripped copy.
stripped() {
    strip -o "$1.stripped" "$1"
    stat -c %s "$1.stripped"
}

# crates DIR CARGO-TREE-ARGS...: unique `name vX` lines of `cargo tree -e normal`, the package
# itself excluded.
crates() {
    local dir=$1
    shift
    (cd "$dir" && cargo tree --locked -e normal --prefix none "$@") |
        awk 'NR > 1 { print $1, $2 }' | sort -u | wc -l
}

mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

# median VALUES...: the median of the numbers given.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

rows=()
# row LABEL SIZE-BYTES CPU WALL CRATES
row() {
    local size=$2
    [ "$size" = - ] || size=$(mib "$size")
    rows+=("$(printf '%-38s %12s %14s %9s %8s' "$1" "$size" "$3" "$4" "$5")")
}

# The builds the build-time targets compare, interleaved over the rounds.
chat_cpus=() chat_walls=() lib_cpus=() lib_walls=() floor_cpus=() floor_walls=()
for ((round = 1; round <= rounds; round++)); do
    [ "$rounds" = 1 ] || log "round $round of $rounds"
    build chat-release "$root" --release --example chat
    chat_cpus+=("$cpu") chat_walls+=("$wall")
    build lib-release "$root" --release --lib
    lib_cpus+=("$cpu") lib_walls+=("$wall")
    build floor-release "$root/bench/compare/floor-min" --release
    floor_cpus+=("$cpu") floor_walls+=("$wall")
done
chat_release_cpu=$(median "${chat_cpus[@]}")
lib_cpu=$(median "${lib_cpus[@]}")
floor_cpu=$(median "${floor_cpus[@]}")

chat_release_size=$(stripped "$work/chat-release/release/examples/chat")
chat_crates=$(crates "$root")
row "chatstream chat example, release" "$chat_release_size" "$chat_release_cpu" "$(median "${chat_walls[@]}")" "$chat_crates"

build chat-size "$root" --profile size "${size_profile[@]}" --example chat
chat_size_size=$(stripped "$work/chat-size/size/examples/chat")
row "chatstream chat example, size profile" "$chat_size_size" "$cpu" "$wall" "$chat_crates"

build chat-http "$root" --release --no-default-features --example chat
chat_http_size=$(stripped "$work/chat-http/release/examples/chat")
chat_http_crates=$(crates "$root" --no-default-features)
row "chatstream chat example, http-only" "$chat_http_size" "$cpu" "$wall" "$chat_http_crates"

row "chatstream lib only, release" - "$lib_cpu" "$(median "${lib_walls[@]}")" "$chat_crates"

floor_size=$(stripped "$work/floor-release/release/floor-min")
floor_crates=$(crates "$root/bench/compare/floor-min")
row "floor: ureq+rustls+serde_json, release" "$floor_size" "$floor_cpu" "$(median "${floor_walls[@]}")" "$floor_crates"

build floor-size "$root/bench/compare/floor-min" --profile size "${size_profile[@]}"
row "floor: ureq+rustls+serde_json, size" "$(stripped "$work/floor-size/size/floor-min")" "$cpu" "$wall" "$floor_crates"

# The floor's program on chatstream: the same work, so the size difference is chatstream's code.
build min-release "$root/bench/compare/chatstream-min" --release
min_size=$(stripped "$work/min-release/release/chatstream-min")
row "chatstream-min (floor's program), release" "$min_size" "$cpu" "$wall" "$(crates "$root/bench/compare/chatstream-min")"

aoai_cpu=
if [ "$quick" = 0 ]; then
    build aoai-release "$root/bench/compare/async-openai-min" --release
    aoai_size=$(stripped "$work/aoai-release/release/async-openai-min")
    aoai_cpu=$cpu
    row "async-openai (rustls, chat), release" "$aoai_size" "$cpu" "$wall" "$(crates "$root/bench/compare/async-openai-min")"
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# verdict OK? TEXT
verdict() { if [ "$1" = 1 ]; then echo "  met   $2"; else echo "  MISS  $2"; fi; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }' && echo 1 || echo 0; }

{
    echo "bench/size.sh$([ "$quick" = 1 ] && echo ' --quick')$([ "$rounds" = 1 ] || echo " --rounds $rounds") -- $started"
    echo "machine: $(nproc) x $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(rustc --version), $(cargo --version | cut -d' ' -f1-2)"
    echo "load average (1, 5, 15 min) at start $load_start, at end $load_end"
    echo "sizes: stripped (strip); build: clean, cargo's default jobs ($(nproc)), user+sys CPU seconds of cargo and everything it ran"
    if [ "$rounds" -gt 1 ]; then
        echo "chat example, lib and floor (release): median of $rounds interleaved rounds; CPU s per round: chat ${chat_cpus[*]}, lib ${lib_cpus[*]}, floor ${floor_cpus[*]}"
    fi
    echo
    printf '%-38s %12s %14s %9s %8s\n' "build" "size MiB" "build CPU s" "wall s" "crates"
    printf '%s\n' "${rows[@]}"
    echo
    echo "crates: unique 'name vX' lines of cargo tree -e normal, the package itself excluded"
    echo
    echo "targets (issue 5):"
    verdict "$(le "$(mib "$chat_release_size")" 2.9)" "chat example stripped, release: $(mib "$chat_release_size") MiB (target <= 2.9)"
    verdict "$(le "$(mib "$chat_size_size")" 1.8)" "chat example stripped, size profile: $(mib "$chat_size_size") MiB (target <= 1.8)"
    verdict "$(le "$(mib "$chat_http_size")" 1.2)" "chat example stripped, http-only: $(mib "$chat_http_size") MiB (target <= 1.2)"
    ratio=$(awk -v a="$chat_release_cpu" -v b="$floor_cpu" 'BEGIN { printf "%.2f", a / b }')
    verdict "$(le "$ratio" 1.2)" "clean build CPU, crate + chat example / floor: $chat_release_cpu / $floor_cpu s = ${ratio}x (target <= 1.20x)"
    lib_ratio=$(awk -v a="$lib_cpu" -v b="$floor_cpu" 'BEGIN { printf "%.2f", a / b }')
    echo "        (for reference, the library alone / floor: $lib_cpu / $floor_cpu s = ${lib_ratio}x)"
    if [ -n "$aoai_cpu" ]; then
        aoai_ratio=$(awk -v a="$chat_release_cpu" -v b="$aoai_cpu" 'BEGIN { printf "%.2f", a / b }')
        verdict "$(le "$aoai_ratio" 0.3333)" "clean build CPU, crate + chat example / async-openai: $chat_release_cpu / $aoai_cpu s = ${aoai_ratio}x (target <= 0.33x)"
    else
        echo "  ----  clean build CPU vs async-openai: not measured (--quick)"
    fi
    verdict "$(le "$chat_crates" 30)" "crates in cargo tree -e normal: $chat_crates (target <= 30; the floor has $floor_crates)"
    echo
    added=$((min_size - floor_size))
    echo "chatstream's addition over the floor (stripped, release): chatstream-min $min_size B - floor-min $floor_size B = $added B ($(awk -v a="$added" 'BEGIN { printf "%.1f", a / 1024 }') KiB, $(awk -v a="$min_size" -v b="$floor_size" 'BEGIN { printf "%.3f", a / b }')x the floor); the decode work must not make it larger"
} | tee "$work/size-table.txt"
