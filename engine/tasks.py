"""Synthetic tasks, each generated from its seed alone; nothing is downloaded.

A task yields train/validation/test splits drawn from the same distribution and,
for regression, the noise-free function (later studies need the truth).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.spec import TaskSpec


@dataclass
class Split:
    x: torch.Tensor  # (n, in_dim)
    y: torch.Tensor  # regression: (n, 1) float; classification: (n,) int64


@dataclass
class TaskData:
    name: str
    kind: str  # "regression" | "classification"
    in_dim: int
    out_dim: int
    train: Split
    val: Split
    test: Split
    truth: Callable[[torch.Tensor], torch.Tensor] | None = None

    def to(self, device: torch.device, dtype: torch.dtype) -> TaskData:
        def move(s: Split) -> Split:
            y = s.y.to(device, dtype) if self.kind == "regression" else s.y.to(device)
            return Split(s.x.to(device, dtype), y)

        return TaskData(
            self.name, self.kind, self.in_dim, self.out_dim,
            move(self.train), move(self.val), move(self.test), self.truth,
        )

    def all(self) -> Split:
        return Split(
            torch.cat([self.train.x, self.val.x, self.test.x]),
            torch.cat([self.train.y, self.val.y, self.test.y]),
        )


def wave_truth(x: torch.Tensor) -> torch.Tensor:
    """The reference curve: exp(-x^2) * cos(10x)."""
    return torch.exp(-(x**2)) * torch.cos(10 * x)


def _wave(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(spec.n, 1, generator=g, dtype=torch.float64) * 6 - 3
    y = wave_truth(x) + spec.noise * torch.randn(spec.n, 1, generator=g, dtype=torch.float64)
    return x, y


def _moons(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    label = torch.randint(0, 2, (spec.n,), generator=g)
    t = torch.rand(spec.n, generator=g, dtype=torch.float64) * math.pi
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where(label[:, None] == 0, upper, lower)
    x = x + spec.noise * torch.randn(spec.n, 2, generator=g, dtype=torch.float64)
    return x, label


def _spirals(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    label = torch.randint(0, 2, (spec.n,), generator=g)
    r = torch.rand(spec.n, generator=g, dtype=torch.float64)
    angle = 3 * math.pi * r + math.pi * label
    x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1) * 3
    x = x + spec.noise * torch.randn(spec.n, 2, generator=g, dtype=torch.float64)
    return x, label


_GENERATORS = {"wave": ("regression", 1, 1, _wave), "moons": ("classification", 2, 2, _moons),
               "spirals": ("classification", 2, 2, _spirals)}


def split_sizes(spec: TaskSpec) -> tuple[int, int, int]:
    """(train, val, test) sizes."""
    n_test = max(1, round(spec.n * spec.test_fraction))
    n_val = max(1, round(spec.n * spec.val_fraction))
    return spec.n - n_val - n_test, n_val, n_test


def make_task(spec: TaskSpec) -> TaskData:
    kind, in_dim, out_dim, gen = _GENERATORS[spec.name]
    g = torch.Generator().manual_seed(spec.seed)
    x, y = gen(spec, g)
    perm = torch.randperm(spec.n, generator=g)
    _, n_val, n_test = split_sizes(spec)
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    truth = wave_truth if spec.name == "wave" else None
    return TaskData(
        spec.name, kind, in_dim, out_dim,
        Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test]), truth,
    )
