#!/usr/bin/env bash
# distributed.overlap across 2 test hosts joined by a rate-limited link (launch/cluster.sh, root): CONFIG trained on
# 2 ranks with the blocking reduction (one all-reduce after backward) and with BUCKET_MB buckets reduced during the
# last micro-step's backward, alternating in one sitting. Prints per mode the median samples/s, step time, compute,
# communication and exposed communication (and its share of the step), and the speed-up.
# Usage: sudo launch/bench/overlap.sh [CONFIG] [RATE] [STEPS] [ROUNDS] [BUCKET_MB] [--set KEY=VALUE ...]
#        (defaults: configs/fashion-mlp.yaml 1gbit 200 3 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:-configs/fashion-mlp.yaml} rate=${2:-1gbit} steps=${3:-200} rounds=${4:-3} bucket=${5:-1}
shift $(( $# < 5 ? $# : 5 ))
source launch/bench/common.sh
binary=$(launch/setup.sh | tail -n 1)
out=$(mktemp -d)
bench_hosts "$rate" "$out"
for ((round = 0; round < rounds; round++)); do
    for mode in blocking overlap; do
        settings=(--set distributed.bucket_mb=0 --set distributed.overlap=false)
        [[ $mode == overlap ]] && settings=(--set distributed.bucket_mb="$bucket" --set distributed.overlap=true)
        "${bench_mpirun[@]}" "$binary" train --config "$config" --run-dir "$out/$mode-$round" --overwrite --quiet \
            --set train.steps="$steps" --set train.eval_every=1000000 "${settings[@]}" "$@" >/dev/null
    done
done
python3 - "$out" "$rounds" "$config" "$rate" "$bucket" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def steps(mode):
    records = []
    for r in range(rounds):
        rows = [json.loads(l) for l in open(f"{out}/{mode}-{r}/metrics.jsonl")]
        records.append([x for x in rows if x.get("type") == "step"][10:])
    return records
result = {}
for mode in ("blocking", "overlap"):
    runs = steps(mode)
    rate = statistics.median(statistics.median(x["samples_per_s"] for x in run) for run in runs)
    every = [x for run in runs for x in run]
    med = lambda f: statistics.median(f(x) for x in every)
    step = med(lambda x: x["seconds"]["compute"] + x["seconds"]["exposed"] + x["seconds"]["optimizer"] + x["seconds"]["data"])
    result[mode] = rate
    print(f"{mode:8s} {rate:8.0f} samples/s  step {1000 * step:6.1f} ms  compute {1000 * med(lambda x: x['seconds']['compute']):6.1f} ms"
          f"  communication {1000 * med(lambda x: x['seconds']['communication']):6.1f} ms"
          f"  exposed {1000 * med(lambda x: x['seconds']['exposed']):6.1f} ms"
          f" ({100 * med(lambda x: x['seconds']['exposed']) / step:.0f}% of the step)"
          f"  per run {[round(statistics.median(x['samples_per_s'] for x in run)) for run in runs]}")
print(f"{sys.argv[3]} on 2 hosts at {sys.argv[4]}, {sys.argv[5]} MB buckets: overlap speed-up {result['overlap'] / result['blocking']:.2f}")
PY
