#!/usr/bin/env bash
# Forward+backward tokens/s of configs/gpt-kjv.yaml's GPT against the same architecture in PyTorch
# (eager mode, launch/bench/torch_gpt.py) on the same threads, back to back in every round so both
# see the same machine; prints the medians, the median of the per-round ratios, and our GFLOP/s as a
# share of the machine's sgemm GFLOP/s measured in the same rounds.
# Usage: [BATCHES="16 64"] launch/bench/gpt_vs_torch.sh [ROUNDS] [THREADS]   (default: 5 rounds, 2 threads)
# Needs PyTorch (CPU) for python3; a benchmark dependency only.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
threads=${2:-2}
binary=$(launch/setup.sh | tail -n 1)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((round = 0; round < rounds; round++)); do
    for batch in ${BATCHES:-16 64}; do
        OPENBLAS_NUM_THREADS=$threads "$binary" bench model --config configs/gpt-kjv.yaml --batch "$batch" --seconds 3 \
            --json | sed "s/^{/{\"who\":\"ours\",\"round\":$round,/" >>"$results"
        python3 launch/bench/torch_gpt.py --bench --batch "$batch" --threads "$threads" --seconds 3 \
            | sed "s/^{/{\"who\":\"torch\",\"round\":$round,/" >>"$results"
    done
    OPENBLAS_NUM_THREADS=$threads "$binary" bench gemm --sizes 512 --json \
        | sed "s/^{/{\"who\":\"sgemm\",\"round\":$round,/" >>"$results"
done
python3 - "$results" <<'PY'
import json, statistics, sys, collections
rows = [json.loads(line) for line in open(sys.argv[1])]
sgemm = {r["round"]: r["gflops"] for r in rows if r["who"] == "sgemm"}
by_batch = collections.defaultdict(lambda: collections.defaultdict(dict))
for r in rows:
    if r["who"] in ("ours", "torch"):
        by_batch[r["batch"]][r["who"]][r["round"]] = r
for batch, who in sorted(by_batch.items()):
    rounds = sorted(set(who["ours"]) & set(who["torch"]))
    ours = [who["ours"][k]["tokens_per_s"] for k in rounds]
    torch = [who["torch"][k]["tokens_per_s"] for k in rounds]
    ratio = statistics.median(who["ours"][k]["tokens_per_s"] / who["torch"][k]["tokens_per_s"] for k in rounds)
    share = statistics.median(who["ours"][k]["gflops"] / sgemm[k] for k in rounds)
    print(f"batch {batch}: ours {statistics.median(ours):.0f} tokens/s, PyTorch {statistics.median(torch):.0f} tokens/s, "
          f"ratio {ratio:.2f}; ours {statistics.median(who['ours'][k]['gflops'] for k in rounds):.1f} GFLOP/s = "
          f"{100 * share:.0f}% of sgemm ({statistics.median(sgemm.values()):.1f} GFLOP/s at n=512)")
PY
