"""The plain sequential path: one nn.Module and one torch.optim optimizer per run.

This is how the reference notebook trains (a Python loop over runs inside the loop
over steps). It shares only the data, the initial weights and the batch streams with
the vectorized trainer, so agreement between the two is a real check of the latter.
It is also the baseline of ``bench/engine.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.batches import BatchStream
from engine.nets import build_module, initial_weights
from engine.optimizers import make_torch_optimizer
from engine.runner import effective_batch_size, load_task
from engine.spec import ComparisonSpec
from engine.trainer import loss_per_run


def train_sequential(spec: ComparisonSpec, steps: int | None = None,
                     device: torch.device | None = None) -> dict[int, list[float]]:
    """Train every run one after another at each step; returns train loss per step."""
    device = device or torch.device("cpu")
    dtype = getattr(torch, spec.train.dtype)
    data = load_task(spec, device)
    steps = steps or spec.train.steps
    n_train = data.train.x.shape[0]
    runs, models, optims, streams = spec.runs(), [], [], []
    for r in runs:
        arm = spec.arms[r.arm]
        model = build_module(spec.net, data.in_dim, data.out_dim).to(device, dtype)
        w0 = initial_weights(spec.net, data.in_dim, data.out_dim, r.seed).to(device, dtype)
        nn.utils.vector_to_parameters(w0, model.parameters())
        models.append(model)
        optims.append(make_torch_optimizer(arm.optimizer, model.parameters(), arm.hyperparams()))
        streams.append(BatchStream(r.seed, effective_batch_size(spec, r), n_train))
    curves: dict[int, list[float]] = {r.index: [] for r in runs}
    for step in range(steps):
        for r, model, opt, stream in zip(runs, models, optims, streams, strict=True):
            arm = spec.arms[r.arm]
            for group in opt.param_groups:
                group["lr"] = arm.lr * arm.schedule.factor(step, spec.train.steps)
            e, j = divmod(step, stream.steps_per_epoch)
            idx = stream.epoch(e)[j].to(device) if not stream.full else slice(None)
            x, y = data.train.x[idx], data.train.y[idx]
            loss = loss_per_run(data.kind, model(x).unsqueeze(0), y.unsqueeze(0))[0]
            opt.zero_grad()
            loss.backward()
            if arm.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), arm.clip_grad_norm)
            opt.step()
            curves[r.index].append(loss.item())
    return curves
