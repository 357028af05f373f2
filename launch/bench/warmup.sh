#!/usr/bin/env bash
# AdamW² (optimizer.name: adamw2) against AdamW on the shipped GPT without warm-up: each variant trains
# configs/gpt-kjv.yaml for STEPS steps (cosine decay to 0 over them, no warm-up unless the variant says so) on all
# local cores, and the final validation loss of each is printed as a table.
# Usage: launch/bench/warmup.sh [STEPS] [VARIANT ...]   (a variant: NAME:key=value,key=value)
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-300}
shift || true
variants=("$@")
if ((${#variants[@]} == 0)); then
    variants=(
        "adamw-lr1e-3:optimizer.lr=0.001"
        "adamw-lr1e-2:optimizer.lr=0.01"
        "adamw-lr1e-2-warmup50:optimizer.lr=0.01,schedule.warmup_steps=50"
        "adamw2-lr1e-3:optimizer.name=adamw2,optimizer.lr=0.001"
        "adamw2-lr1e-2:optimizer.name=adamw2,optimizer.lr=0.01"
        "adamw2-lr1e-2-tau0.03:optimizer.name=adamw2,optimizer.lr=0.01,optimizer.threshold=0.03"
    )
fi
binary=$(launch/setup.sh | tail -n 1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '| Variant | Steps | Final validation loss (nats/byte) | Bits per byte |\n|---|---|---|---|\n'
for variant in "${variants[@]}"; do
    name=${variant%%:*}
    sets=(--set train.steps="$steps" --set train.eval_every=0 --set checkpoint.every=0)
    IFS=',' read -ra pairs <<< "${variant#*:}"
    for pair in "${pairs[@]}"; do sets+=(--set "$pair"); done
    BIGBATCH_BINARY=$binary launch/train.sh configs/gpt-kjv.yaml --run-dir "$out/$name" --overwrite "${sets[@]}" \
        > "$out/$name.log" 2>&1 || { echo "| $name | $steps | failed: $(tail -n 1 "$out/$name.log") | |"; continue; }
    python3 - "$name" "$steps" "$out/$name/metrics.jsonl" <<'PY'
import json, sys
name, steps, path = sys.argv[1:]
evals = [r for r in map(json.loads, open(path)) if r.get("type") == "eval"]
last = evals[-1]
print(f"| {name} | {steps} | {last['test_loss']:.4f} | {last['bits_per_byte']:.4f} |")
PY
done
