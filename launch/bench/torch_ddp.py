#!/usr/bin/env python3
"""PyTorch DDP (gloo, CPU) throughput anchor for BigBatch's data-parallel CNN training.

R ranks on this machine, one intra-op thread each, train the same small CNN as BigBatch's
Fashion-MNIST example: each optimizer step covers a global batch of R * micro * k samples,
with k micro-steps of gradient accumulation per rank; all but the last micro-step run under
`no_sync()`, so gradients are allreduced once per optimizer step, as in BigBatch.

Data are random tensors of Fashion-MNIST shape made once before timing: input loading is not
what is measured. Rank 0 prints one JSON line whose `samples_per_s` is the median over the
timed steps (after warmup) of global_batch / step time.

Run standalone (spawns the ranks itself):
    python3 launch/bench/torch_ddp.py --ranks 2 --global-batch 256 --micro 32
or under torchrun (one process per rank; --ranks is then taken from WORLD_SIZE):
    torchrun --nproc-per-node 2 launch/bench/torch_ddp.py --global-batch 256 --micro 32
"""

import argparse
import contextlib
import json
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

IMAGE_SHAPE = (1, 28, 28)
CLASS_COUNT = 10


class SmallCNN(nn.Module):
    """conv3x3(32) - ReLU - maxpool2 - conv3x3(64) - ReLU - maxpool2 - dense 128 - ReLU - dense 10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.dense1 = nn.Linear(64 * 7 * 7, 128)
        self.dense2 = nn.Linear(128, CLASS_COUNT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.dense2(F.relu(self.dense1(x)))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2, help="ranks to spawn (ignored under torchrun)")
    parser.add_argument("--global-batch", type=int, default=256)
    parser.add_argument("--micro", type=int, default=None,
                        help="per-rank micro-batch; default global_batch / ranks (no accumulation)")
    parser.add_argument("--steps", type=int, default=60, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed optimizer steps before timing")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=1234)
    return parser.parse_args(argv)


def accumulation_steps(global_batch: int, ranks: int, micro: int) -> int:
    per_step = ranks * micro
    if micro <= 0 or global_batch % per_step != 0:
        raise ValueError(
            f"global batch {global_batch} is not a multiple of ranks x micro = {ranks} x {micro}")
    return global_batch // per_step


def run_rank(rank: int, world_size: int, args) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        micro = args.micro if args.micro is not None else args.global_batch // world_size
        k = accumulation_steps(args.global_batch, world_size, micro)

        torch.manual_seed(args.seed)  # same initial weights everywhere (DDP broadcasts rank 0's anyway)
        model = DistributedDataParallel(SmallCNN())
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

        generator = torch.Generator().manual_seed(args.seed + 1 + rank)
        shard = args.global_batch // world_size
        images = torch.randn((shard, *IMAGE_SHAPE), generator=generator)
        labels = torch.randint(0, CLASS_COUNT, (shard,), generator=generator)
        micro_images = list(images.split(micro))
        micro_labels = list(labels.split(micro))
        # Each rank's loss is a sum over its shard divided by the per-rank count; DDP then
        # averages across ranks, which gives the mean over the whole global batch.
        scale = 1.0 / shard

        def optimizer_step() -> None:
            optimizer.zero_grad(set_to_none=False)
            for index in range(k):
                last = index == k - 1
                with (contextlib.nullcontext() if last else model.no_sync()):
                    logits = model(micro_images[index])
                    loss = F.cross_entropy(logits, micro_labels[index], reduction="sum") * scale
                    loss.backward()
            optimizer.step()

        for _ in range(args.warmup):
            optimizer_step()
        dist.barrier()

        rates = []
        for _ in range(args.steps):
            start = time.perf_counter()
            optimizer_step()
            elapsed = time.perf_counter() - start
            rates.append(args.global_batch / elapsed)

        if rank == 0:
            median_rate = statistics.median(rates)
            print(json.dumps({
                "ranks": world_size,
                "global_batch": args.global_batch,
                "micro": micro,
                "accumulation": k,
                "samples_per_s": round(median_rate, 1),
                "step_ms_median": round(1000.0 * args.global_batch / median_rate, 3),
                "steps": args.steps,
                "warmup": args.warmup,
                "threads_per_rank": torch.get_num_threads(),
                "torch": torch.__version__,
            }), flush=True)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv=None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # launched by torchrun
        world_size = int(os.environ["WORLD_SIZE"])
        accumulation_steps(args.global_batch, world_size,
                           args.micro if args.micro is not None else args.global_batch // world_size)
        run_rank(int(os.environ["RANK"]), world_size, args)
        return 0
    try:
        micro = args.micro if args.micro is not None else args.global_batch // args.ranks
        accumulation_steps(args.global_batch, args.ranks, micro)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    mp.spawn(run_rank, args=(args.ranks, args), nprocs=args.ranks, join=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
