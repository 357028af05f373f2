#!/usr/bin/env bash
# BigBatch against PyTorch DDP (gloo), 2 ranks × 1 thread, the shipped CNN, global batch 256, SGD with
# momentum, no dropout or augmentation; alternating runs, medians of samples/s and their ratio.
# Needs PyTorch (python3 -m pip install torch). Usage: launch/bench/ddp_compare.sh [MICRO] [STEPS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
micro=${1:-32}
steps=${2:-80}
rounds=${3:-3}
binary=$(launch/setup.sh | tail -n 1)
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ours=() theirs=()
for ((round = 0; round < rounds; round++)); do
    OPENBLAS_NUM_THREADS=1 mpirun "${root[@]}" -np 2 --bind-to core -x OPENBLAS_NUM_THREADS "$binary" train \
        --config configs/fashion-cnn.yaml --run-dir "$out/ours" --quiet \
        --set train.steps="$steps" --set train.eval_every=1000000 --set batch.global=256 --set batch.micro="$micro" \
        --set model.dropout=0.0 --set data.augment.flip=false \
        --set optimizer="{name: sgd, lr: 0.05, momentum: 0.9}" --set schedule.decay=constant
    ours+=("$(python3 -c "
import json, statistics, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in s if r.get('type') == 'step'][10:]
print(statistics.median(r['samples_per_s'] for r in s))" "$out/ours/metrics.jsonl")")
    theirs+=("$(python3 launch/bench/torch_ddp.py --ranks 2 --global-batch 256 --micro "$micro" --steps "$steps" --warmup 10 \
        | python3 -c "import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['samples_per_s'])")")
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]; theirs = [float(x) for x in sys.argv[2].split()]
print(f"bigbatch   2 ranks: median {statistics.median(ours):.0f} samples/s  runs {[round(x) for x in ours]}")
print(f"torch DDP  2 ranks: median {statistics.median(theirs):.0f} samples/s  runs {[round(x) for x in theirs]}")
print(f"ratio {statistics.median(ours) / statistics.median(theirs):.2f}")
PY
