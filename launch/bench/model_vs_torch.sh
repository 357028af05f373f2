#!/usr/bin/env bash
# Forward+backward samples/s of the shipped MLP and CNN against PyTorch on the same thread count,
# ours and PyTorch's run back to back for each (model, batch) in every round, so that both see the
# same machine; prints the medians and the median of the per-round ratios.
# Usage: [MODELS="mlp cnn"] [BATCHES="64 256"] launch/bench/model_vs_torch.sh [ROUNDS] [THREADS]
#        (default: 5 rounds, 2 threads)
# Needs PyTorch (CPU) for python3; a benchmark dependency only.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
threads=${2:-2}
binary=$(launch/setup.sh | tail -n 1)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((round = 0; round < rounds; round++)); do
    for model in ${MODELS:-mlp cnn}; do
        for batch in ${BATCHES:-64 256}; do
            OPENBLAS_NUM_THREADS=$threads "$binary" bench model --config "configs/fashion-$model.yaml" \
                --batch "$batch" --seconds 2 --json | sed "s/^{/{\"who\":\"ours\",\"round\":$round,\"model\":\"$model\",/" >>"$results"
            python3 launch/bench/torch_model.py --model "$model" --batch "$batch" --threads "$threads" --seconds 2 \
                | sed "s/^{/{\"who\":\"torch\",\"round\":$round,/" >>"$results"
        done
    done
done
python3 - "$results" <<'PY'
import json, statistics, sys, collections
rates = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r = json.loads(line)
    rates[(r["model"], r["batch"])].setdefault(r["who"], {})[r["round"]] = r["samples_per_s"]
print(f"{'model':<6}{'batch':>6}{'ours':>10}{'torch':>10}{'ratio':>8}   (medians, samples/s)")
for (model, batch), who in sorted(rates.items()):
    ours, torch = who["ours"], who["torch"]
    ratios = [ours[k] / torch[k] for k in ours if k in torch]
    print(f"{model:<6}{batch:>6}{statistics.median(ours.values()):>10.0f}{statistics.median(torch.values()):>10.0f}"
          f"{statistics.median(ratios):>8.2f}")
PY
