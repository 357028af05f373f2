#!/usr/bin/env bash
# distributed.shard_optimizer (ZeRO stage 1) against the unsharded optimizer: the shipped MLP on 2 ranks, either on
# this host (RATE local) or on 2 test hosts joined by a rate-limited link (launch/cluster.sh, root), the two modes
# alternating in one sitting; median per-step samples/s of each and their ratio, and each rank's optimizer state.
# Usage: [sudo] launch/bench/shard.sh [RATE|local] [STEPS] [ROUNDS] [OPTIMIZER]      (defaults: local 300 3 adamw)
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-local} steps=${2:-300} rounds=${3:-3} optimizer=${4:-adamw}
source launch/bench/common.sh
binary=$(launch/setup.sh | tail -n 1)
out=$(mktemp -d)
if [[ $rate == local ]]; then
    trap 'rm -rf "$out"' EXIT
    launcher=(mpirun -np 2 -x OPENBLAS_NUM_THREADS=1)
else
    bench_hosts "$rate" "$out"
    launcher=("${bench_mpirun[@]}")
fi
plain=() sharded=()
for ((round = 0; round < rounds; round++)); do
    for mode in false true; do
        "${launcher[@]}" "$binary" train --config configs/fashion-mlp.yaml --run-dir "$out/$mode" --overwrite --quiet \
            --set optimizer.name="$optimizer" --set distributed.shard_optimizer="$mode" --set train.steps="$steps" \
            --set train.eval_every=1000000 >/dev/null
        if [[ $mode == true ]]; then sharded+=("$(median_rate "$out/$mode")"); else plain+=("$(median_rate "$out/$mode")"); fi
    done
done
state=$("$binary" optimizers --ranks 2 | awk -v name="$optimizer" '$1 == name { print $2, $5 }')
python3 - "${plain[*]}" "${sharded[*]}" "$rate" "$optimizer" "$state" <<'PY'
import statistics, sys
p = [float(x) for x in sys.argv[1].split()]; s = [float(x) for x in sys.argv[2].split()]
whole, largest = (int(x) for x in sys.argv[5].split())
where = "2 ranks on one host" if sys.argv[3] == "local" else f"2 hosts at {sys.argv[3]}"
print(f"{where}, {sys.argv[4]}: unsharded median {statistics.median(p):.0f} samples/s {[round(x) for x in p]}; "
      f"sharded median {statistics.median(s):.0f} {[round(x) for x in s]}; ratio {statistics.median(s) / statistics.median(p):.2f}; "
      f"optimizer state per rank {whole} -> {largest} bytes ({100 * largest / whole:.1f}%)")
PY
