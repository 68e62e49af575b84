"""Golden values for src/train/optim.ts: torch.optim.AdamW (decoupled weight decay, bias correction) with
three parameter groups (a backbone learning-rate multiplier, a no-weight-decay group), a changing learning
rate, a parameter without a gradient on one step, and torch.nn.utils.clip_grad_norm_.

Run once with Debian's interpreter and commit the output:
    /usr/bin/python3 scripts/optim_golden.py > test/golden/adamw.json
"""

import json

import torch

torch.manual_seed(0)
torch.set_num_threads(1)

shapes = {"backbone.conv.weight": (2, 3), "head.linear.weight": (3, 4), "head.linear.bias": (4,)}
params = {name: torch.randn(shape, dtype=torch.float32) for name, shape in shapes.items()}
initial = {name: p.clone() for name, p in params.items()}
for p in params.values():
    p.requires_grad_(True)

base_lr = 0.01
betas = (0.9, 0.999)
eps = 1e-8
weight_decay = 0.05
groups = [
    {"name": "backbone", "params": [params["backbone.conv.weight"]], "lr_scale": 0.1, "weight_decay": weight_decay},
    {"name": "no_decay", "params": [params["head.linear.bias"]], "lr_scale": 1.0, "weight_decay": 0.0},
    {"name": "default", "params": [params["head.linear.weight"]], "lr_scale": 1.0, "weight_decay": weight_decay},
]
optimizer = torch.optim.AdamW(
    [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in groups],
    lr=base_lr,
    betas=betas,
    eps=eps,
    weight_decay=weight_decay,
    foreach=False,
)

max_norm = 1.0
lrs = [0.01, 0.02, 0.03, 0.03, 0.015, 0.005]
grad_scales = [3.0, 0.05, 2.0, 0.1, 5.0, 0.2]  # some steps clip, some do not
steps = []
for step, (lr, scale) in enumerate(zip(lrs, grad_scales)):
    grads = {}
    for name, p in params.items():
        if step == 2 and name == "head.linear.bias":
            p.grad = None  # no gradient this step: torch skips the parameter and keeps its step count
            grads[name] = None
        else:
            g = torch.randn(p.shape) * scale
            p.grad = g.clone()
            grads[name] = g.flatten().tolist()
    norm = torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.grad is not None], max_norm)
    for group, spec in zip(optimizer.param_groups, groups):
        group["lr"] = lr * spec["lr_scale"]
    optimizer.step()
    steps.append({"lr": lr, "grads": grads, "grad_norm": float(norm)})

state = optimizer.state
out = {
    "config": {
        "lr": base_lr,
        "betas": list(betas),
        "eps": eps,
        "weight_decay": weight_decay,
        "max_norm": max_norm,
        "groups": [{k: v for k, v in g.items() if k != "params"} for g in groups],
    },
    "shapes": {name: list(shape) for name, shape in shapes.items()},
    "initial": {name: p.flatten().tolist() for name, p in initial.items()},
    "steps": steps,
    "final": {name: p.detach().flatten().tolist() for name, p in params.items()},
    "exp_avg": {name: state[p]["exp_avg"].flatten().tolist() for name, p in params.items()},
    "exp_avg_sq": {name: state[p]["exp_avg_sq"].flatten().tolist() for name, p in params.items()},
    "step_count": {name: int(state[p]["step"]) for name, p in params.items()},
}
print(json.dumps(out))
