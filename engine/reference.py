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


class SequentialRuns:
    """Every run of a spec as its own nn.Module and torch.optim optimizer."""

    def __init__(self, spec: ComparisonSpec, device: torch.device | None = None):
        self.spec = spec
        self.device = device or torch.device("cpu")
        dtype = getattr(torch, spec.train.dtype)
        self.data = data = load_task(spec, self.device)
        n_train = data.train.x.shape[0]
        self.runs, self.models, self.optims, self.streams = spec.runs(), [], [], []
        for r in self.runs:
            arm = spec.arms[r.arm]
            model = build_module(spec.net, data.in_dim, data.out_dim).to(self.device, dtype)
            w0 = initial_weights(spec.net, data.in_dim, data.out_dim, r.seed).to(self.device, dtype)
            nn.utils.vector_to_parameters(w0, model.parameters())
            self.models.append(model)
            self.optims.append(make_torch_optimizer(arm.optimizer, model.parameters(), arm.hyperparams()))
            self.streams.append(BatchStream(r.seed, effective_batch_size(spec, r), n_train))
        self.curves: dict[int, list[float]] = {r.index: [] for r in self.runs}

    def step(self, step: int) -> None:
        """One step of every run, one after another, as the notebook does."""
        data, total = self.data, self.spec.train.steps
        for r, model, opt, stream in zip(self.runs, self.models, self.optims, self.streams, strict=True):
            arm = self.spec.arms[r.arm]
            for group in opt.param_groups:
                group["lr"] = arm.lr * arm.schedule.factor(step, total)
            e, j = divmod(step, stream.steps_per_epoch)
            idx = stream.epoch(e)[j].to(self.device) if not stream.full else slice(None)
            x, y = data.train.x[idx], data.train.y[idx]
            loss = loss_per_run(data.kind, model(x).unsqueeze(0), y.unsqueeze(0))[0]
            opt.zero_grad()
            loss.backward()
            if arm.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), arm.clip_grad_norm)
            opt.step()
            self.curves[r.index].append(loss.item())


def train_sequential(spec: ComparisonSpec, steps: int | None = None,
                     device: torch.device | None = None) -> dict[int, list[float]]:
    """Train every run one after another at each step; returns train loss per step."""
    runs = SequentialRuns(spec, device)
    for step in range(steps or spec.train.steps):
        runs.step(step)
    return runs.curves
