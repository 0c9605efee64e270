"""The plain sequential path: one nn.Module and one torch.optim optimizer per run.

This is how the reference notebook trains (a Python loop over runs inside the loop
over steps). It shares only the data, the initial weights and the batch streams with
the vectorized trainer, so agreement between the two is a real check of the latter.
It is also the baseline of ``bench/engine.py``.

Net options with a deterministic meaning (norms, the CNN) and the deterministic
regularizers (``l2``, ``label_smoothing``) are supported here, written the way a
notebook would write them (nn.BatchNorm1d, F.cross_entropy(label_smoothing=...), a
penalty term added to the loss). Options that draw random numbers have no reference
twin and are refused; their tests check effects and fairness instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.batches import BatchStream
from engine.nets import build_module, initial_weights
from engine.optimizers import make_torch_optimizer
from engine.runner import effective_batch_size, load_task
from engine.spec import ComparisonSpec, Regularization
from engine.trainer import loss_per_run


class SequentialRuns:
    """Every run of a spec as its own nn.Module and torch.optim optimizer."""

    def __init__(self, spec: ComparisonSpec, device: torch.device | None = None):
        self.spec = spec
        self.reg = _deterministic(spec.regularization)
        self.device = device or torch.device("cpu")
        dtype = getattr(torch, spec.train.dtype)
        self.data = data = load_task(spec, self.device)
        n_train = data.train.x.shape[0]
        self.runs, self.models, self.optims, self.streams = spec.runs(), [], [], []
        for r in self.runs:
            arm = spec.arms[r.arm]
            shape = (spec.net, data.in_dim, data.out_dim)
            model = build_module(*shape, data.image_shape).to(self.device, dtype)
            w0 = initial_weights(*shape, r.seed, data.image_shape).to(self.device, dtype)
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
            loss, objective = self._loss(model, x, y)
            opt.zero_grad()
            objective.backward()
            if arm.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), arm.clip_grad_norm)
            opt.step()
            self.curves[r.index].append(loss.item())

    def _loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logged loss, minimized objective): the objective adds the L2 penalty on weights."""
        out = model(x)
        if self.reg.label_smoothing:
            loss = F.cross_entropy(out, y, label_smoothing=self.reg.label_smoothing)
        else:
            loss = loss_per_run(self.data.kind, out.unsqueeze(0), y.unsqueeze(0))[0]
        if not self.reg.l2:
            return loss, loss
        weights = [p for p in model.parameters() if p.dim() > 1]  # Linear and Conv2d weights
        return loss, loss + 0.5 * self.reg.l2 * sum(w.square().sum() for w in weights)


def _deterministic(reg: Regularization | None) -> Regularization:
    reg = reg or Regularization()
    random = reg.model_copy(update={"l2": 0.0, "label_smoothing": 0.0})
    if random.active():
        raise ValueError("the sequential reference supports only l2 and label_smoothing; options that "
                         f"draw random numbers have no reference twin: "
                         f"{random.model_dump(exclude_defaults=True)}")
    return reg


def train_sequential(spec: ComparisonSpec, steps: int | None = None,
                     device: torch.device | None = None) -> dict[int, list[float]]:
    """Train every run one after another at each step; returns train loss per step."""
    runs = SequentialRuns(spec, device)
    for step in range(steps or spec.train.steps):
        runs.step(step)
    return runs.curves
