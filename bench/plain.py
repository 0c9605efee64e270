"""The baseline the engine is measured against: the loop a user writes in a notebook.

Nothing here comes from the engine. Per run: an ``nn.Sequential`` with ``nn.Tanh``, an
optimizer class from its package, ``F.mse_loss`` on a random batch of the user's own data,
``loss.item()`` every step. The runs of a comparison advance together, one Python loop over
them per step, as a notebook comparing optimizers does (bench/engine.py also runs the same
loop split over one process per core, as joblib or Ray Tune would).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# The seven optimizers of the notes (the seed-wave-all preset) as a user writes them.
NOTES_OPTIMIZERS: list[tuple[str, Callable[..., torch.optim.Optimizer], dict]] = [
    ("SGD", torch.optim.SGD, {"lr": 1e-2}),
    ("Momentum", torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}),
    ("Nesterov", torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", torch.optim.Adagrad, {"lr": 1e-2}),
    ("Adadelta", torch.optim.Adadelta, {"lr": 1.0}),
    ("RMSprop", torch.optim.RMSprop, {"lr": 1e-2}),
    ("Adam", torch.optim.Adam, {"lr": 1e-2}),
]
SEEDS = [0, 1, 2, 3, 4]


def wave_net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))


class PlainLoop:
    """``runs``: (optimizer class, its keyword arguments, seed) per run. ``make``, if given,
    builds each run's optimizer from its net instead (param groups, a train() call)."""

    def __init__(self, runs: list[tuple[Callable[..., torch.optim.Optimizer], dict, int]],
                 batch_size: int = 64, device: str = "cpu",
                 make: Callable[[nn.Sequential], torch.optim.Optimizer] | None = None):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(8000, 1, generator=g) * 6 - 3
        y = torch.exp(-x**2) * torch.cos(10 * x) + 0.03 * torch.randn(8000, 1, generator=g)
        self.x, self.y, self.batch_size, self.device = x.to(device), y.to(device), batch_size, device
        self.runs, self.step = [], 0
        for cls, kwargs, seed in runs:
            torch.manual_seed(seed)
            net = wave_net().to(device)
            opt = make(net) if make is not None else cls(net.parameters(), **kwargs)
            self.runs.append((net, opt))
        self.losses: list[float] = []

    def advance(self, until: int) -> None:
        while self.step < until:
            idx = torch.randint(0, len(self.x), (self.batch_size,), device=self.device)
            xb, yb = self.x[idx], self.y[idx]
            for net, opt in self.runs:
                loss = F.mse_loss(net(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses.append(loss.item())
            self.step += 1


def notes_runs(seeds: list[int] = SEEDS) -> list[tuple[Callable[..., torch.optim.Optimizer], dict, int]]:
    return [(cls, kwargs, s) for _, cls, kwargs in NOTES_OPTIMIZERS for s in seeds]
