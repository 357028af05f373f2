#!/usr/bin/env python3
"""PyTorch CPU reference for the layers benchmark: forward + backward samples/s of the shipped models.

Same architectures as configs/fashion-mlp.yaml and configs/fashion-cnn.yaml, summed cross-entropy,
gradients accumulated (zeroed each iteration), synthetic 1x28x28 inputs. Prints one JSON line.
"""
import argparse
import json
import statistics
import time

import torch
from torch import nn


def build(kind: str) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                             nn.Linear(512, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["mlp", "cnn"], required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.model)
    inputs = torch.rand(args.batch, 1, 28, 28)
    labels = torch.randint(0, 10, (args.batch,))
    loss_fn = nn.CrossEntropyLoss(reduction="sum")

    def iterate() -> None:
        for p in model.parameters():
            p.grad = None
        loss_fn(model(inputs), labels).backward()

    warm_start = time.perf_counter()
    steps = 0
    while steps < 3 or time.perf_counter() - warm_start < args.seconds * 0.1:
        iterate()
        steps += 1
    per_iteration = (time.perf_counter() - warm_start) / steps
    per_round = max(1, round(args.seconds / 10 / per_iteration))
    rates = []
    start = time.perf_counter()
    while len(rates) < 3 or time.perf_counter() - start < args.seconds:
        round_start = time.perf_counter()
        for _ in range(per_round):
            iterate()
        rates.append(per_round * args.batch / (time.perf_counter() - round_start))
    print(json.dumps({"model": args.model, "batch": args.batch, "threads": args.threads,
                      "samples_per_s": statistics.median(rates), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
