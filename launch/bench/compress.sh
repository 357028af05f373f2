#!/usr/bin/env bash
# distributed.compress: bf16 across 2 test hosts joined by a rate-limited link (launch/cluster.sh, root): the shipped
# MLP with float32 and with bfloat16 gradient reductions, alternating in one sitting; median per-step samples/s of
# each, their ratio, and the test accuracy after EPOCHS epochs of each.
# Usage: sudo launch/bench/compress.sh [RATE] [STEPS] [ROUNDS] [EPOCHS]      (defaults: 1gbit 200 3 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-1gbit} steps=${2:-200} rounds=${3:-3} epochs=${4:-3}
source launch/bench/common.sh
binary=$(launch/setup.sh | tail -n 1)
out=$(mktemp -d)
bench_hosts "$rate" "$out"
train() {  # MODE RUN-DIR SETTINGS...
    local mode=$1 dir=$2
    shift 2
    "${bench_mpirun[@]}" "$binary" train --config configs/fashion-mlp.yaml --run-dir "$dir" --overwrite --quiet \
        --set distributed.compress="$mode" "$@" >/dev/null
}
accuracy() { python3 -c "
import json, sys
print([json.loads(l) for l in open(sys.argv[1]) if '\"eval\"' in l][-1]['test_accuracy'])" "$1/metrics.jsonl"; }
float=() bf16=()
for ((round = 0; round < rounds; round++)); do
    for mode in none bf16; do
        train "$mode" "$out/$mode" --set train.steps="$steps" --set train.eval_every=1000000
        if [[ $mode == bf16 ]]; then bf16+=("$(median_rate "$out/$mode")"); else float+=("$(median_rate "$out/$mode")"); fi
    done
done
for mode in none bf16; do train "$mode" "$out/$mode-epochs" --set train.epochs="$epochs" --set train.eval_every=0; done
python3 - "${float[*]}" "${bf16[*]}" "$(accuracy "$out/none-epochs")" "$(accuracy "$out/bf16-epochs")" "$rate" "$epochs" <<'PY'
import statistics, sys
f = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]
print(f"2 hosts at {sys.argv[5]}: float32 sums median {statistics.median(f):.0f} samples/s {[round(x) for x in f]}; "
      f"bf16 median {statistics.median(b):.0f} {[round(x) for x in b]}; speed-up {statistics.median(b) / statistics.median(f):.2f}; "
      f"test accuracy after {sys.argv[6]} epochs: float32 {float(sys.argv[3]):.4f}, bf16 {float(sys.argv[4]):.4f}")
PY
