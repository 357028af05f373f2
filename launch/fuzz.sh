#!/usr/bin/env bash
# Fuzzes one of bigbatch's readers with libFuzzer: launch/fuzz.sh TARGET SECONDS [libFuzzer options...]
#   TARGET: safetensors, checkpoint, idx, npy or config (Fuzz/Sources/bigbatch-fuzz/FuzzTarget.swift).
# Builds the sanitized fuzzer (address sanitizer, in .build-fuzz; a first build takes minutes), runs
# every committed regression input of the target once, then fuzzes for SECONDS from a scratch copy
# of the committed corpus, so new inputs never land in the repository. A crash, hang (10 s per
# input), leak or allocation over 1 GB stops the run with a non-zero status; the input that did
# it is written to runs/fuzz/TARGET/ — commit it to Fuzz/regressions/TARGET/ with its fix.
set -euo pipefail
cd "$(dirname "$0")/.."
targets="safetensors checkpoint idx npy config"
if [[ $# -lt 2 || ! " $targets " =~ " $1 " || ! $2 =~ ^[0-9]+$ ]]; then
    echo "usage: launch/fuzz.sh TARGET SECONDS [libFuzzer options...]; TARGET is one of: $targets" >&2
    exit 2
fi
target=$1 seconds=$2
shift 2
launch/setup.sh --no-build
BIGBATCH_FUZZ=1 swift build -c debug --scratch-path .build-fuzz --product bigbatch-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address >&2
binary=.build-fuzz/debug/bigbatch-fuzz
# With Swift's backtracer on, a crashing sanitized binary can leave the backtracer hanging.
export SWIFT_BACKTRACE=enable=no BIGBATCH_FUZZ_TARGET=$target
limits=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024)
artifacts=runs/fuzz/$target
mkdir -p "$artifacts"
shopt -s nullglob
regressions=(Fuzz/regressions/"$target"/*)
if (( ${#regressions[@]} > 0 )); then
    echo "fuzz $target: ${#regressions[@]} regression inputs" >&2
    "$binary" "${limits[@]}" -artifact_prefix="$artifacts/" "${regressions[@]}"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -R Fuzz/corpus/"$target"/. "$scratch"/
echo "fuzz $target: $seconds s from $(ls "$scratch" | wc -l) corpus inputs" >&2
# -max_len keeps inputs small (4 KB): deep nesting beyond that is covered by the regression inputs.
"$binary" "${limits[@]}" -fork=1 -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$artifacts/" \
    "$scratch" "$@"
