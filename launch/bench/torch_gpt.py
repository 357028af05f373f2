#!/usr/bin/env python3
"""PyTorch CPU reference for the GPT: the architecture of configs/gpt-kjv.yaml (nanoGPT's structure:
token + position embedding, pre-LayerNorm blocks with one c_attn product, tanh-GELU MLP, final
LayerNorm, head tied to the token embedding), eager mode, on the same threads.

  --bench:  forward + backward tokens/s at --batch sequences (summed cross-entropy), median of rounds.
  --train:  the shipped recipe on the same text and the same windows (non-overlapping windows of
            block_size bytes of the first 90 %, reshuffled each epoch; AdamW lr 1e-3, betas (0.9, 0.99),
            weight decay 0.1 on matrices and embeddings only, gradient clipping 1.0, cosine decay without warm-up), then the validation
            loss over consecutive windows of the last 10 %, as `bigbatch eval` measures it.
Prints one JSON line. PyTorch is optional: only this benchmark needs it.
"""
import argparse
import json
import math
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.attn_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocabulary: int, block: int, layers: int, heads: int, width: int):
        super().__init__()
        self.wte = nn.Embedding(vocabulary, width)
        self.wpe = nn.Embedding(block, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def windows(data: torch.Tensor, block: int):
    count = (len(data) - 1) // block
    x = data[: count * block].view(count, block)
    y = data[1 : count * block + 1].view(count, block)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", action="store_true")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--data", default="data/kjv.txt")
    parser.add_argument("--batch", type=int, default=16, help="sequences per pass (bench) or per step (train: 64)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--block", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = GPT(256, args.block, args.layers, args.heads, args.width)

    if args.bench:
        idx = torch.randint(0, 256, (args.batch, args.block))
        targets = torch.randint(0, 256, (args.batch, args.block))

        def iterate():
            model.zero_grad(set_to_none=False)
            F.cross_entropy(model(idx).view(-1, 256), targets.view(-1), reduction="sum").backward()

        start = time.perf_counter()
        passes = 0
        while passes < 3 or time.perf_counter() - start < args.seconds * 0.1:
            iterate()
            passes += 1
        per = (time.perf_counter() - start) / passes
        rounds = max(1, round(args.seconds / 10 / per))
        rates = []
        start = time.perf_counter()
        while len(rates) < 3 or time.perf_counter() - start < args.seconds:
            t0 = time.perf_counter()
            for _ in range(rounds):
                iterate()
            rates.append(rounds * args.batch * args.block / (time.perf_counter() - t0))
        print(json.dumps({"batch": args.batch, "tokens_per_s": statistics.median(rates), "threads": args.threads}))
        return

    text = torch.frombuffer(bytearray(open(args.data, "rb").read()), dtype=torch.uint8).long()
    held = int(len(text) * 0.1)
    train_x, train_y = windows(text[: len(text) - held], args.block)
    val_x, val_y = windows(text[len(text) - held :], args.block)
    # configs/gpt-kjv.yaml's groups: no decay on biases and LayerNorm gains (the tensors of rank 1), as nanoGPT.
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    spared = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decayed}, {"params": spared, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / args.steps)))
    batch = args.batch if args.batch != 16 else 64
    order, position = torch.randperm(len(train_x)), 0
    start = time.perf_counter()
    for step in range(args.steps):
        if position + batch > len(order):
            order, position = torch.randperm(len(train_x)), 0
        chosen = order[position : position + batch]
        position += batch
        loss = F.cross_entropy(model(train_x[chosen]).view(-1, 256), train_y[chosen].view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        total = 0.0
        for i in range(0, len(val_x), 64):
            logits = model(val_x[i : i + 64])
            total += F.cross_entropy(logits.view(-1, 256), val_y[i : i + 64].reshape(-1), reduction="sum").item()
        val_loss = total / val_y.numel()
    print(json.dumps({"steps": args.steps, "val_loss": val_loss, "bits_per_byte": val_loss / math.log(2),
                      "train_seconds": seconds}))


if __name__ == "__main__":
    main()
