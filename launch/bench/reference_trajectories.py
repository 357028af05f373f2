#!/usr/bin/env python3
"""Writes reference optimizer trajectories for the conformance tests (Tests/OptimizersTests/References/).

Each case runs one torch.optim or pytorch_optimizer optimizer on the schema's small problem
(../shared/reference/optimizers/README.md): three float32 parameters w [6, 8], b [8], k [4, 2, 3, 3]
with seeded initial values and targets; at step t the gradient is (p − target) + noise_t and the
loss 0.5 · mean of (p − target)² over every element, both from the parameters before the step.
The seeds and settings differ from the shared set's, so the two sets check independently.

PyTorch and pytorch_optimizer are needed only to regenerate the files, never by the tests:
  python3 -m pip install torch pytorch_optimizer==4.1.0 && python3 launch/bench/reference_trajectories.py
"""
import json
import os

import torch

STEPS = 12
TOLERANCE = "abs(ours - reference) <= 1e-5 + 1e-4 * abs(reference) for every element after every step"
RULE = ("g_t = (p_t - target) + noise_t ; loss_t = 0.5 * mean over every element of every parameter of "
        "(p_t - target)^2, before the step")
SHAPES = [("w", [6, 8]), ("b", [8]), ("k", [4, 2, 3, 3])]


def cases():
    import pytorch_optimizer as po
    return [
        ("adamw_amsgrad", "adamw", "torch.optim.AdamW", torch.optim.AdamW, 201,
         {"lr": 0.003, "betas": [0.8, 0.99], "eps": 1e-08, "weight_decay": 0.05, "amsgrad": True}),
        ("sgd_momentum", "sgd", "torch.optim.SGD", torch.optim.SGD, 202,
         {"lr": 0.02, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.0005, "nesterov": False}),
        ("adam_coupled_decay", "adam", "torch.optim.Adam", torch.optim.Adam, 203,
         {"lr": 0.005, "betas": [0.9, 0.95], "eps": 1e-08, "weight_decay": 0.01, "amsgrad": False}),
        ("lamb_no_clip", "lamb", "pytorch_optimizer.Lamb (defaults otherwise)", po.Lamb, 204,
         {"lr": 0.005, "betas": [0.9, 0.99], "weight_decay": 0.02, "weight_decouple": True, "fixed_decay": False,
          "rectify": False, "grad_averaging": True, "max_grad_norm": 0.0, "adam": False, "eps": 1e-06}),
        ("sm3_momentum", "sm3", "pytorch_optimizer.SM3", po.SM3, 205,
         {"lr": 0.05, "momentum": 0.5, "beta": 0.0, "eps": 1e-30}),
        ("adafactor_decay", "adafactor",
         "pytorch_optimizer.AdaFactor with relative_step=False and a float32 first moment (defaults otherwise)",
         po.AdaFactor, 206,
         {"lr": 0.005, "betas": [0.8, 0.999], "weight_decay": 0.01, "weight_decouple": True, "fixed_decay": False,
          "ams_bound": False, "scale_parameter": True, "relative_step": False, "warmup_init": False, "eps1": 1e-30,
          "eps2": 0.001, "decay_rate": -0.8, "clip_threshold": 1.0, "momentum_dtype": torch.float32}),
        ("nadam", "nadam", "torch.optim.NAdam", torch.optim.NAdam, 207,
         {"lr": 0.004, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0, "momentum_decay": 0.004}),
    ]


def run(case, name, reference, cls, seed, hyperparameters):
    generator = torch.Generator().manual_seed(seed)
    params, targets = [], []
    for _, shape in SHAPES:
        params.append(torch.randn(shape, generator=generator, dtype=torch.float32).requires_grad_(True))
        targets.append(torch.randn(shape, generator=generator, dtype=torch.float32))
    arguments = dict(hyperparameters)
    if hyperparameters.get("momentum_dtype") is torch.float32:
        hyperparameters = dict(hyperparameters, momentum_dtype="float32")
    if "betas" in arguments:
        arguments["betas"] = tuple(arguments["betas"])
    optimizer = cls(params, **arguments)
    record = {
        "case": case, "optimizer": name, "reference": reference, "hyperparameters": hyperparameters, "seed": seed,
        "gradient_rule": RULE, "tolerance": TOLERANCE,
        "params": [{"name": n, "shape": s, "initial": p.detach().flatten().tolist(), "target": t.flatten().tolist()}
                   for (n, s), p, t in zip(SHAPES, params, targets)],
        "steps": [],
    }
    count = sum(p.numel() for p in params)
    for _ in range(STEPS):
        noise = [0.1 * torch.randn(p.shape, generator=generator, dtype=torch.float32) for p in params]
        with torch.no_grad():
            loss = 0.5 * sum(((p - t) ** 2).sum() for p, t in zip(params, targets)) / count
            for p, t, n in zip(params, targets, noise):
                p.grad = (p - t) + n
        optimizer.step()
        record["steps"].append({
            "noise": {n: z.flatten().tolist() for (n, _), z in zip(SHAPES, noise)},
            "loss": float(loss),
            "params_after": {n: p.detach().flatten().tolist() for (n, _), p in zip(SHAPES, params)},
        })
    return record


def main():
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "OptimizersTests", "References")
    os.makedirs(folder, exist_ok=True)
    for case in cases():
        with open(os.path.join(folder, case[0] + ".json"), "w") as f:
            json.dump(run(*case), f)
        print("wrote", case[0])


if __name__ == "__main__":
    main()
