#!/usr/bin/env bash
# The reproducible mode's cost: the shipped MLP and CNN on 2 ranks × 1 thread, trained with float sums and with
# distributed.reproducible (the default chunk, or CHUNK), alternating in one sitting; median per-step samples/s of
# each and their ratio.
# Usage: launch/bench/reproducible.sh [STEPS] [ROUNDS] [CHUNK]   (CONFIGS="fashion-mlp" to measure one model)
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-200}
rounds=${2:-3}
chunk=()
[[ -n ${3:-} ]] && chunk=(--set distributed.chunk="$3")
source launch/bench/common.sh
binary=$(launch/setup.sh | tail -n 1)
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for config in ${CONFIGS:-fashion-mlp fashion-cnn}; do
    default=() exact=()
    for ((round = 0; round < rounds; round++)); do
        for mode in false true; do
            extra=()
            if [[ $mode == true ]]; then extra=("${chunk[@]}"); fi
            OPENBLAS_NUM_THREADS=1 mpirun "${root[@]}" -np 2 --bind-to core -x OPENBLAS_NUM_THREADS "$binary" train \
                --config "configs/$config.yaml" --run-dir "$out/$mode" --overwrite --quiet \
                --set train.steps="$steps" --set train.eval_every=1000000 --set distributed.reproducible="$mode" \
                "${extra[@]}" >/dev/null
            if [[ $mode == true ]]; then exact+=("$(median_rate "$out/$mode")"); else default+=("$(median_rate "$out/$mode")"); fi
        done
    done
    python3 - "$config" "${default[*]}" "${exact[*]}" <<'PY'
import statistics, sys
name = sys.argv[1]; default = [float(x) for x in sys.argv[2].split()]; exact = [float(x) for x in sys.argv[3].split()]
print(f"{name}: float sums median {statistics.median(default):.0f} samples/s {[round(x) for x in default]}; "
      f"reproducible median {statistics.median(exact):.0f} {[round(x) for x in exact]}; "
      f"ratio {statistics.median(exact) / statistics.median(default):.2f}")
PY
done
