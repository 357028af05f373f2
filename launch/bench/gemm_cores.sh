#!/usr/bin/env bash
# sgemm GFLOP/s of bigbatch's automatic kernel choice against every OPENBLAS_CORETYPE this CPU can run,
# interleaved over several rounds so that all see the same machine; prints the median per (choice, n).
# Usage: launch/bench/gemm_cores.sh [ROUNDS] [CORE ...]     (default: 5 rounds; Zen Haswell SkylakeX Sandybridge Prescott)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
shift || true
cores=("$@")
((${#cores[@]})) || cores=(Zen Haswell SkylakeX Sandybridge Prescott)
binary=$(launch/setup.sh | tail -n 1)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((round = 0; round < rounds; round++)); do
    env -u OPENBLAS_CORETYPE "$binary" bench gemm --json --seconds 0.5 | sed 's/^{/{"choice":"auto",/' >>"$results"
    for core in "${cores[@]}"; do
        # A core type the CPU lacks instructions for would crash; skip it quietly.
        OPENBLAS_CORETYPE=$core "$binary" bench gemm --json --seconds 0.5 2>/dev/null \
            | sed "s/^{/{\"choice\":\"$core\",/" >>"$results" || true
    done
done
python3 - "$results" <<'PY'
import json, statistics, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["choice"], r["core"], r["n"])].append(r["gflops"])
print(f"{'choice':<12}{'kernels':<12}{'n':>6}{'median GFLOP/s':>16}")
for (choice, core, n), values in sorted(runs.items(), key=lambda kv: (kv[0][2], kv[0][0])):
    print(f"{choice:<12}{core:<12}{n:>6}{statistics.median(values):>16.1f}")
PY
