#!/usr/bin/env python3
"""Writes reference optimizer trajectories for the conformance tests (Tests/OptimizersTests/References/).

Each case runs one torch.optim or pytorch_optimizer optimizer on the schema's small problem
(../shared/reference/optimizers/README.md): three float32 parameters w [6, 8], b [8], k [4, 2, 3, 3]
with seeded initial values and targets; at step t the gradient is (p − target) + noise_t and the
loss 0.5 · mean of (p − target)² over every element, both from the parameters before the step.
The seeds and settings differ from the shared set's, so the two sets check independently. Every
catalogue algorithm that torch.optim or pytorch_optimizer has is here with several settings: wrappers
as `inner` with its own `optimizer`, param groups as `groups` of name patterns (first match wins, the
rest keep the top-level settings), as BigBatch's configuration writes them.

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
        # torch.optim, more settings
        ("sgd_nesterov_decay", "sgd", "torch.optim.SGD", torch.optim.SGD, 208,
         {"lr": 0.03, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.001, "nesterov": True}),
        ("sgd_plain", "sgd", "torch.optim.SGD", torch.optim.SGD, 209, {"lr": 0.1}),
        ("adam_amsgrad", "adam", "torch.optim.Adam", torch.optim.Adam, 210, {"lr": 0.004, "amsgrad": True}),
        ("adam_decoupled", "adam", "torch.optim.Adam with decoupled_weight_decay", torch.optim.Adam, 211,
         {"lr": 0.004, "weight_decay": 0.02, "decoupled_weight_decay": True}),
        ("adamw_groups", "adamw", "torch.optim.AdamW with param groups: b without decay, k at its own rate",
         torch.optim.AdamW, 212,
         {"lr": 0.003, "weight_decay": 0.1,
          "groups": [{"params": "b", "weight_decay": 0.0}, {"params": "k", "lr": 0.001, "betas": [0.8, 0.9]}]}),
        ("nadam_decoupled", "nadam", "torch.optim.NAdam with decoupled_weight_decay", torch.optim.NAdam, 213,
         {"lr": 0.003, "weight_decay": 0.01, "decoupled_weight_decay": True}),
        # pytorch_optimizer, each class at its defaults and with its options
        ("adanorm_default", "adanorm", "pytorch_optimizer.AdaNorm", po.AdaNorm, 214, {"lr": 0.003}),
        ("adanorm_ams_bound_coupled", "adanorm", "pytorch_optimizer.AdaNorm", po.AdaNorm, 215,
         {"lr": 0.003, "r": 0.9, "ams_bound": True, "weight_decay": 0.01, "weight_decouple": False}),
        ("pnm_default", "pnm", "pytorch_optimizer.PNM", po.PNM, 216, {"lr": 0.003}),
        ("pnm_fixed_decay", "pnm", "pytorch_optimizer.PNM", po.PNM, 217,
         {"lr": 0.003, "betas": [0.85, 0.8], "weight_decay": 0.01, "fixed_decay": True, "eps": 1e-6}),
        ("adapnm_default", "adapnm", "pytorch_optimizer.AdaPNM", po.AdaPNM, 218, {"lr": 0.003}),
        ("adapnm_no_ams_bound_coupled", "adapnm", "pytorch_optimizer.AdaPNM", po.AdaPNM, 219,
         {"lr": 0.003, "betas": [0.9, 0.99, 0.8], "ams_bound": False, "weight_decay": 0.01, "weight_decouple": False}),
        ("diffgrad_default", "diffgrad", "pytorch_optimizer.DiffGrad", po.DiffGrad, 220, {"lr": 0.003}),
        ("diffgrad_rectify", "diffgrad", "pytorch_optimizer.DiffGrad", po.DiffGrad, 221,
         {"lr": 0.003, "betas": [0.9, 0.95], "rectify": True, "n_sma_threshold": 4, "degenerated_to_sgd": True}),
        ("diffgrad_ams_bound_decay", "diffgrad", "pytorch_optimizer.DiffGrad", po.DiffGrad, 222,
         {"lr": 0.003, "ams_bound": True, "weight_decay": 0.02}),
        ("amos_default", "amos", "pytorch_optimizer.Amos", po.Amos, 223, {"lr": 0.01}),
        ("amos_momentum", "amos", "pytorch_optimizer.Amos", po.Amos, 224,
         {"lr": 0.01, "beta": 0.99, "momentum": 0.9, "extra_l2": 0.01, "c_coef": 0.3, "d_coef": 0.2}),
        ("muon_groups", "muon", "pytorch_optimizer.Muon: w and k through Newton-Schulz, b through its AdamW; Newton-Schulz in float32 "
         "(the library iterates in bfloat16, BigBatch in float32)",
         po.Muon, 225,
         {"lr": 0.02, "groups": [{"params": ["w", "k"], "use_muon": True}, {"params": "b", "use_muon": False}]}),
        ("muon_adjusted", "muon", "pytorch_optimizer.Muon with use_adjusted_lr; Newton-Schulz in float32 (the library's is bfloat16)", po.Muon, 226,
         {"lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 0.01, "ns_steps": 4,
          "use_adjusted_lr": True, "adamw_lr": 0.001, "adamw_wd": 0.01,
          "groups": [{"params": "w", "use_muon": True}, {"params": ["b", "k"], "use_muon": False}]}),
        ("lookahead_adamw", "lookahead", "pytorch_optimizer.Lookahead over torch.optim.AdamW", po.Lookahead, 227,
         {"k": 3, "alpha": 0.5, "inner": {"optimizer": "adamw", "lr": 0.003, "weight_decay": 0.01}}),
        ("lookahead_sgd_pullback", "lookahead", "pytorch_optimizer.Lookahead over torch.optim.SGD", po.Lookahead, 228,
         {"k": 4, "alpha": 0.6, "pullback_momentum": "pullback",
          "inner": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}}),
        ("lookahead_sgd_reset", "lookahead", "pytorch_optimizer.Lookahead over torch.optim.SGD", po.Lookahead, 229,
         {"k": 4, "alpha": 0.6, "pullback_momentum": "reset",
          "inner": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}}),
        ("lamb_default", "lamb", "pytorch_optimizer.Lamb", po.Lamb, 230, {"lr": 0.005}),
        ("lamb_adam_coupled", "lamb", "pytorch_optimizer.Lamb", po.Lamb, 231,
         {"lr": 0.005, "adam": True, "weight_decay": 0.01, "weight_decouple": False}),
        ("sm3_default", "sm3", "pytorch_optimizer.SM3", po.SM3, 232, {"lr": 0.1}),
        ("adafactor_no_first_moment", "adafactor", "pytorch_optimizer.AdaFactor without a first moment", po.AdaFactor,
         233, {"lr": 0.01, "betas": [None, 0.999], "relative_step": False}),
    ]


INNER = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD, "nadam": torch.optim.NAdam}


def torch_arguments(settings):
    """The settings as the library's constructor takes them: betas as tuples."""
    arguments = dict(settings)
    if "betas" in arguments:
        arguments["betas"] = tuple(arguments["betas"])
    return arguments


def param_groups(params, groups):
    """PyTorch param groups from name patterns, first match wins; the rest in a group of their own."""
    names = [n for n, _ in SHAPES]
    taken, result = set(), []
    for group in groups:
        patterns = group["params"] if isinstance(group["params"], list) else [group["params"]]
        members = [p for n, p in zip(names, params) if n in patterns and n not in taken]
        taken.update(n for n in names if n in patterns)
        result.append(dict(torch_arguments({k: v for k, v in group.items() if k != "params"}), params=members))
    rest = [p for n, p in zip(names, params) if n not in taken]
    if rest:
        result.append({"params": rest})
    return [g for g in result if g["params"]]


def build(cls, params, hyperparameters):
    arguments = torch_arguments(hyperparameters)
    if "inner" in arguments:
        inner = dict(arguments.pop("inner"))
        inner_cls = INNER[inner.pop("optimizer")]
        return cls(inner_cls(params, **torch_arguments(inner)), **arguments)
    groups = arguments.pop("groups", None)
    return cls(param_groups(params, groups) if groups else params, **arguments)


def float32_newton_schulz():
    """Muon's Newton-Schulz iteration in float32, as BigBatch computes it, instead of the library's bfloat16
    (whose rounding, ~4e-3 per operation, is far above the tolerance)."""
    from pytorch_optimizer.optimizer.utils import matrix
    function = matrix.zero_power_via_newton_schulz_5
    names = function.__code__.co_varnames[1:function.__code__.co_argcount]
    defaults = dict(zip(names, function.__defaults__))
    defaults["dtype"] = torch.float32
    function.__defaults__ = tuple(defaults[n] for n in names)


def run(case, name, reference, cls, seed, hyperparameters):
    if "Newton-Schulz in float32" in reference:
        float32_newton_schulz()
    generator = torch.Generator().manual_seed(seed)
    params, targets = [], []
    for _, shape in SHAPES:
        params.append(torch.randn(shape, generator=generator, dtype=torch.float32).requires_grad_(True))
        targets.append(torch.randn(shape, generator=generator, dtype=torch.float32))
    optimizer = build(cls, params, hyperparameters)
    if hyperparameters.get("momentum_dtype") is torch.float32:
        hyperparameters = dict(hyperparameters, momentum_dtype="float32")
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
