"""The independent reference: every run as its own nn.Module and torch.optim optimizer.

This is how a notebook trains: a Python loop over runs inside the loop over steps. It
takes from the engine only what a comparison must hold fixed: the data (``load_task``),
each seed's flat initial weights (``initial_weights``, loaded with
``nn.utils.vector_to_parameters``), the batch indices (``BatchStream``) and the spec.
Everything else is built here from torch's public pieces, written from the documented
meaning of the spec's fields rather than from the engine's code:

- the net, layer by layer (nn.Linear, nn.Tanh, nn.BatchNorm1d, nn.Conv2d, ...: engine/modules.py,
  which the vectorized trainer reads only on its torch.func path);
- the loss (F.mse_loss, F.cross_entropy with its own label_smoothing);
- the optimizer: the torch.optim class (or, for the catalogue, its package's class) with the
  class's defaults plus the arm's hyperparameters; Muon with its hidden weight matrices in
  its Muon group and the rest in its AdamW group; with ``lookahead``, the instance wrapped
  in pytorch-optimizer's Lookahead;
- the learning-rate schedule, clipping (nn.utils.clip_grad_norm_), the L2 penalty (a term
  added to the loss).

So agreement with the vectorized trainer checks the trainer's nets, norms, losses, update
rules and schedules against torch itself. It is also the baseline of ``bench/engine.py``.
Options that draw random numbers (dropout, noise, mixup, augmentation) and studies that
train on other rows than the training split (folds, bootstrap resamples) have no
reference twin and are refused; their tests check effects and fairness instead.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.batches import BatchStream
from engine.catalogue import MATRIX_GROUPS
from engine.design import effective_batch_size
from engine.modules import build_module
from engine.nets import initial_weights
from engine.runner import load_task
from engine.spec import ArmBase, ComparisonSpec
from engine.train_spec import Regularization, Schedule

# Optimizer name -> torch.optim class and the arguments its name fixes (engine/registry.py).
_OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, bool]]] = {
    "gd": (torch.optim.SGD, {}),  # full batch: the batch stream gives it the whole split
    "sgd": (torch.optim.SGD, {}),
    "momentum": (torch.optim.SGD, {}),
    "nesterov": (torch.optim.SGD, {"nesterov": True}),
    "adagrad": (torch.optim.Adagrad, {}),
    "adadelta": (torch.optim.Adadelta, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
}


def make_optimizer(arm: ArmBase, model: nn.Sequential) -> torch.optim.Optimizer:
    """The arm's optimizer: the class's defaults, overridden by the arm's values. The nine
    hand-vectorized ones are torch.optim's; the others, their package's class, by name."""
    hp = arm.hyperparams()
    betas = tuple(hp.pop(b) for b in ("beta1", "beta2", "beta3") if b in hp)
    if betas:
        hp["betas"] = betas
    if arm.optimizer in _OPTIMIZERS:  # type: ignore[attr-defined]
        cls, fixed = _OPTIMIZERS[arm.optimizer]  # type: ignore[attr-defined]
    else:
        d = arm.definition
        cls, fixed = getattr(importlib.import_module(d.module), d.torch_class), d.fixed
    opt = cls(_groups(arm, model), **hp, **fixed)
    if arm.definition.eval_mode:
        opt.train()  # type: ignore[attr-defined]  # schedule-free: training mode from the start, as its documentation asks
    if arm.lookahead is not None:
        from pytorch_optimizer import Lookahead

        opt = Lookahead(opt, k=arm.lookahead.k, alpha=arm.lookahead.alpha)
    return opt


def _groups(arm: ArmBase, model: nn.Sequential) -> Iterable[nn.Parameter] | list[dict[str, Any]]:
    """The parameters, or for Muon its two groups: the weights of every Linear/Conv2d but the
    first (it reads the inputs) and the last (the output layer) go to Muon, the rest
    (biases, norm gains, those two layers) to its AdamW, as its documentation asks."""
    flag = MATRIX_GROUPS.get(arm.optimizer)  # type: ignore[attr-defined]
    if flag is None:
        return model.parameters()
    layers = [m for m in model if isinstance(m, nn.Linear | nn.Conv2d)]
    hidden = {id(m.weight) for m in layers[1:-1]}
    params = list(model.parameters())
    groups = [{"params": [p for p in params if (id(p) in hidden) == on], flag: on} for on in (True, False)]
    return [g for g in groups if g["params"]]


def unwrapped(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimizer inside a Lookahead (its train()/eval() modes are there), else ``opt``."""
    return getattr(opt, "optimizer", opt)


def lr_factor(schedule: Schedule, step: int, total: int) -> float:
    """The learning-rate multiplier for the update at 0-based ``step`` of ``total``.

    Warmup ramps linearly up to 1 over its steps (1/w, 2/w, ..., 1); the decay then runs
    over the remaining steps, with ``progress`` going from 0 towards 1: cosine and linear
    fall from 1 to ``min_factor``, 'exponential' from 1 to ``gamma``, 'step' multiplies by
    ``gamma`` every ``step_size`` steps."""
    warm = schedule.warmup_steps
    if step < warm:
        return (step + 1) / warm
    after = step - warm
    progress = after / max(1, total - warm)
    floor = schedule.min_factor
    if schedule.kind == "cosine":
        return floor + (1 - floor) * (1 + math.cos(math.pi * progress)) / 2
    if schedule.kind == "linear":
        return floor + (1 - floor) * (1 - progress)
    if schedule.kind == "exponential":
        return schedule.gamma ** progress
    if schedule.kind == "step":
        return schedule.gamma ** (after // schedule.step_size)
    return 1.0


@dataclass
class _Run:
    arm: ArmBase
    model: nn.Sequential
    optimizer: torch.optim.Optimizer
    stream: BatchStream
    total: int  # steps this run trains (an examples budget gives small batches more)
    curve: list[float] = field(default_factory=list)
    base_lrs: list[float] = field(default_factory=list)  # each group's own (Muon's AdamW group has its own)

    def __post_init__(self) -> None:
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]


class SequentialRuns:
    """Every run of a spec as its own nn.Module and torch.optim optimizer."""

    def __init__(self, spec: ComparisonSpec, device: torch.device | None = None):
        _check_supported(spec)
        self.spec = spec
        self.reg = spec.regularization or Regularization()
        self.device = device or torch.device("cpu")
        dtype = getattr(torch, spec.train.dtype)
        self.data = data = load_task(spec, self.device)
        n_train = data.train.x.shape[0]
        self.runs = spec.runs()
        self.models: list[nn.Sequential] = []
        self._runs: list[_Run] = []
        for r in self.runs:
            arm = spec.arms[r.arm]
            model = build_module(spec.net, data.in_dim, data.out_dim, data.image_shape)
            model = model.to(self.device, dtype)
            w0 = initial_weights(spec.net, data.in_dim, data.out_dim, r.seed, data.image_shape)
            nn.utils.vector_to_parameters(w0.to(self.device, dtype), model.parameters())
            batch = effective_batch_size(spec, r)
            self.models.append(model)
            self._runs.append(_Run(arm, model, make_optimizer(arm, model),
                                   BatchStream(r.seed, batch, n_train), spec.steps_for(batch, n_train, arm)))
        # Train loss per step, by run index; each list fills as its run trains.
        self.curves = {r.index: run.curve for r, run in zip(self.runs, self._runs, strict=True)}

    @property
    def steps(self) -> int:
        """Steps until every run has finished."""
        return max(run.total for run in self._runs)

    def step(self, step: int) -> None:
        """One step of every run still training, one run after another, as the notebook does."""
        for run in self._runs:
            if step < run.total:
                self._step(run, step)

    def _step(self, run: _Run, step: int) -> None:
        arm, stream = run.arm, run.stream
        factor = lr_factor(arm.schedule, step, run.total)
        for group, base in zip(run.optimizer.param_groups, run.base_lrs, strict=True):
            group["lr"] = base * factor
        epoch, j = divmod(step, stream.steps_per_epoch)
        idx = slice(None) if stream.full else stream.epoch(epoch)[j].to(self.device)
        loss, objective = self._objective(run, idx)
        run.optimizer.zero_grad()
        objective.backward()
        if arm.sam is not None:
            self._sam_gradient(run, idx)
        if arm.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(run.model.parameters(), arm.clip_grad_norm)
        run.optimizer.step()
        run.curve.append(loss.item())  # the logged loss leaves out the L2 penalty
        n = step + 1
        if arm.definition.eval_mode and (n % self.spec.train.eval_every == 0 or n == run.total):
            # The engine evaluates at the averaged weights here and goes back to training:
            # the switch moves the iterate by rounding, so the reference makes it too.
            unwrapped(run.optimizer).eval()  # type: ignore[attr-defined]
            unwrapped(run.optimizer).train()  # type: ignore[attr-defined]

    def _sam_gradient(self, run: _Run, idx: slice | torch.Tensor) -> None:
        """Replace the gradients by those at w + e, as the SAM and ASAM papers write it: e =
        rho g / ||g|| (ASAM: rho w^2 g / ||w g||), norms over all of the net's parameters."""
        sam, params = run.arm.sam, list(run.model.parameters())
        assert sam is not None
        with torch.no_grad():
            scaled = [p.grad * p.abs() if sam.adaptive else p.grad for p in params]
            norm = torch.linalg.vector_norm(torch.cat([s.flatten() for s in scaled]))
            saved = [p.clone() for p in params]
            for p, s in zip(params, scaled, strict=True):
                p.add_((s * p.abs() if sam.adaptive else s) * (sam.rho / (norm + 1e-12)))
        run.optimizer.zero_grad()
        self._objective(run, idx)[1].backward()
        with torch.no_grad():
            for p, w in zip(params, saved, strict=True):
                p.copy_(w)

    def _objective(self, run: _Run, idx: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the loss, the loss plus the L2 penalty) on the batch ``idx``."""
        loss = self._loss(run.model(self.data.train.x[idx]), self.data.train.y[idx])
        if not self.reg.l2:
            return loss, loss
        weights = [p for p in run.model.parameters() if p.dim() > 1]  # Linear and Conv2d weights
        return loss, loss + 0.5 * self.reg.l2 * sum(w.square().sum() for w in weights)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.data.kind == "regression":
            return F.mse_loss(out, y)
        return F.cross_entropy(out, y, label_smoothing=self.reg.label_smoothing)


def _check_supported(spec: ComparisonSpec) -> None:
    """Refuse what has no deterministic twin here, naming it."""
    reg = spec.regularization or Regularization()
    random = reg.model_copy(update={"l2": 0.0, "label_smoothing": 0.0})
    if random.active():
        raise ValueError("the sequential reference supports only l2 and label_smoothing; options that "
                         f"draw random numbers have no reference twin: "
                         f"{random.model_dump(exclude_defaults=True)}")
    if spec.variants() != [None]:
        raise ValueError(f"the sequential reference trains on the training split only; a "
                         f"{spec.study.kind} study trains on other rows")  # type: ignore[union-attr]
