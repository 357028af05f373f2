#!/usr/bin/env bash
# Distributed overhead: samples/s of 2 ranks × 1 BLAS thread against 1 rank × 2 threads on the same
# configuration and global batch, alternating runs; prints the median of each and the ratio.
# Usage: launch/bench/scaling.sh [CONFIG] [STEPS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:-configs/fashion-cnn.yaml}
steps=${2:-150}
rounds=${3:-3}
binary=$(launch/setup.sh | tail -n 1)
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rate() {  # median samples/s over the steps after the first 20 (warm-up)
    python3 -c "
import json, statistics, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '\"step\"' in l]
s = [r for r in s if r.get('type') == 'step'][20:]
print(sum(r['items'] for r in s) / (s[-1]['elapsed'] - s[0]['elapsed'] + s[0]['items'] / s[0]['samples_per_s']))" "$1"
}
two=() one=()
for ((round = 0; round < rounds; round++)); do
    OPENBLAS_NUM_THREADS=1 mpirun "${root[@]}" -np 2 --bind-to core -x OPENBLAS_NUM_THREADS "$binary" train \
        --config "$config" --set train.steps="$steps" --set train.eval_every=1000000 --run-dir "$out/two" --quiet
    two+=("$(rate "$out/two/metrics.jsonl")")
    OPENBLAS_NUM_THREADS=2 "$binary" train --config "$config" --set train.steps="$steps" \
        --set train.eval_every=1000000 --run-dir "$out/one" --quiet
    one+=("$(rate "$out/one/metrics.jsonl")")
done
python3 - "${two[*]}" "${one[*]}" <<'PY'
import statistics, sys
two = [float(x) for x in sys.argv[1].split()]; one = [float(x) for x in sys.argv[2].split()]
print(f"2 ranks x 1 thread: median {statistics.median(two):.0f} samples/s  runs {[round(x) for x in two]}")
print(f"1 rank x 2 threads: median {statistics.median(one):.0f} samples/s  runs {[round(x) for x in one]}")
print(f"ratio {statistics.median(two) / statistics.median(one):.3f}")
PY
