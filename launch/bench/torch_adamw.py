#!/usr/bin/env python3
"""PyTorch AdamW step throughput anchor for BigBatch's flat-buffer optimizer.

AdamW over one flat parameter tensor of N floats (BigBatch keeps all parameters in one
buffer), gradients set once, timing `optimizer.step()` alone. `--mode` picks PyTorch's
implementation: `fused` (fused=True), `foreach` (multi-tensor), or `single` (per-tensor loop).
Prints one JSON line; `params_per_s` is N / median step time over the timed repeats.

    python3 launch/bench/torch_adamw.py --params 10000000 --mode fused --threads 2
"""

import argparse
import json
import statistics
import sys
import time

import torch

MODE_OPTIONS = {
    "fused": {"fused": True},
    "foreach": {"foreach": True, "fused": False},
    "single": {"foreach": False, "fused": False},
}


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--mode", choices=sorted(MODE_OPTIONS), default="fused")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1234)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    if args.params <= 0 or args.threads <= 0 or args.repeats <= 0:
        print("error: --params, --threads and --repeats must be positive", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    parameter = torch.nn.Parameter(torch.randn(args.params, generator=generator) * 0.02)
    parameter.grad = torch.randn(args.params, generator=generator) * 1e-3
    optimizer = torch.optim.AdamW([parameter], lr=args.lr, weight_decay=args.weight_decay,
                                  **MODE_OPTIONS[args.mode])

    for _ in range(args.warmup):
        optimizer.step()
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        optimizer.step()
        seconds.append(time.perf_counter() - start)

    median_seconds = statistics.median(seconds)
    print(json.dumps({
        "params_per_s": round(args.params / median_seconds),
        "mode": args.mode,
        "params": args.params,
        "threads": torch.get_num_threads(),
        "step_ms_median": round(1000.0 * median_seconds, 3),
        "step_ms_min": round(1000.0 * min(seconds), 3),
        "repeats": args.repeats,
        "torch": torch.__version__,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
