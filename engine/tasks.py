"""Tasks, each generated (or subsampled) from its seed alone; nothing is downloaded.

A task yields train/validation/test splits drawn from the same distribution and, for
the synthetic tasks with a closed form, ``truth``: the noise-free function for
regression (wave, sines), the Bayes class posterior for blobs (later studies need it).
``digits`` is scikit-learn's bundled 8x8 digit images, stored flat (n, 64) in [0, 1];
``image_shape`` says how to view them as (C, H, W); ``digits-reconstruct`` is the same
images with themselves as targets (n, 64). ``tokens`` holds sequences of integer ids
(stored as floats, like every row) labelled by a rule over the whole sequence.
``dataset`` is an uploaded CSV, whose arrays the caller passes in (the engine reads no
database).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from engine.spec import TaskSpec
from engine.task_table import TASKS


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
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) of a flat row, image tasks only

    def to(self, device: torch.device, dtype: torch.dtype) -> TaskData:
        def move(s: Split) -> Split:
            y = s.y.to(device, dtype) if self.kind == "regression" else s.y.to(device)
            return Split(s.x.to(device, dtype), y)

        return TaskData(
            self.name, self.kind, self.in_dim, self.out_dim,
            move(self.train), move(self.val), move(self.test), self.truth, self.image_shape,
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


def sines_truth(x: torch.Tensor) -> torch.Tensor:
    """A 2-D sum of sines: sin(2 x1) + sin(3 x2) + 0.5 sin(x1 + x2), x in [-2, 2]^2."""
    x1, x2 = x[:, :1], x[:, 1:2]
    return torch.sin(2 * x1) + torch.sin(3 * x2) + 0.5 * torch.sin(x1 + x2)


def _sines(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(spec.n, 2, generator=g, dtype=torch.float64) * 4 - 2
    return x, sines_truth(x) + spec.noise * torch.randn(spec.n, 1, generator=g, dtype=torch.float64)


BLOB_CLASSES, BLOB_RADIUS, BLOB_SPREAD = TASKS["blobs"].out_dim or 0, 2.0, 0.6


def _blob_centers() -> torch.Tensor:
    angle = torch.arange(BLOB_CLASSES, dtype=torch.float64) * (2 * math.pi / BLOB_CLASSES)
    return BLOB_RADIUS * torch.stack([torch.cos(angle), torch.sin(angle)], 1)  # (C, 2)


def _blobs(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Four isotropic Gaussian classes on a circle; spread 0.6, plus ``noise`` jitter."""
    label = torch.randint(0, BLOB_CLASSES, (spec.n,), generator=g)
    x = _blob_centers()[label] + BLOB_SPREAD * torch.randn(spec.n, 2, generator=g, dtype=torch.float64)
    return x + spec.noise * torch.randn(spec.n, 2, generator=g, dtype=torch.float64), label


def blobs_truth(noise: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The Bayes posterior P(class | x), (n, C): equal priors, one shared isotropic variance."""
    var = BLOB_SPREAD**2 + noise**2

    def posterior(x: torch.Tensor) -> torch.Tensor:
        centers = _blob_centers().to(x.device, x.dtype)
        return (-(x[:, None, :] - centers).square().sum(-1) / (2 * var)).softmax(-1)

    return posterior


@functools.cache
def _digits_all() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    return torch.tensor(d.data, dtype=torch.float64) / 16.0, torch.tensor(d.target, dtype=torch.int64)


def _some(spec: TaskSpec, g: torch.Generator, x: torch.Tensor, y: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """min(n, the collection's size) of a fixed collection's examples, chosen by the data seed."""
    if spec.size < len(x):
        keep = torch.randperm(len(x), generator=g)[: spec.size]
        x, y = x[keep], y[keep]
    return x, y


def _digits(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """min(n, 1797) of the images, chosen by the data seed; flat rows of 64 pixels in [0, 1]."""
    return _some(spec, g, *_digits_all())


def _digits_reconstruct(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``digits`` (the same ones for the same seed), each its own target."""
    x, _ = _digits(spec, g)
    return x, x.clone()


@functools.cache
def _bundled(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One of scikit-learn's bundled tables (no download), every feature standardized with the
    whole table's mean and standard deviation (a fixed transform of the published data, the same
    for every run; ``digits`` is scaled by its fixed pixel range instead), a regression target
    too, so its loss is on the scale of its variance."""
    from sklearn import datasets

    loaders = {"iris": datasets.load_iris, "wine": datasets.load_wine,
               "breast-cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}
    d = loaders[name]()
    x = torch.tensor(d.data, dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0)
    if TASKS[name].kind == "classification":
        return x, torch.tensor(d.target, dtype=torch.int64)
    y = torch.tensor(d.target, dtype=torch.float64).unsqueeze(1)
    return x, (y - y.mean()) / y.std()


def _table_task(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return _some(spec, g, *_bundled(spec.name))


_TOKENS = TASKS["tokens"]
TOKEN_LENGTH, TOKEN_VOCAB, TOKEN_CLASSES = _TOKENS.in_dim or 0, _TOKENS.vocab or 0, _TOKENS.out_dim or 0


def token_label(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(label, tied) of sequences ids (n, T): the token among 0..C-1 that occurs most often,
    and whether another of them occurs as often."""
    counts = torch.stack([(ids == c).sum(1) for c in range(TOKEN_CLASSES)], 1)  # (n, C)
    top = counts.max(1, keepdim=True).values
    return counts.argmax(1), (counts == top).sum(1) > 1


def _tokens(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform sequences with no tie for the most frequent of tokens 0..C-1, drawn in rounds
    until there are n. By symmetry between those tokens, every class is equally likely."""
    kept: list[torch.Tensor] = []
    have = 0
    while have < spec.n:
        ids = torch.randint(0, TOKEN_VOCAB, (2 * spec.n, TOKEN_LENGTH), generator=g)
        ids = ids[~token_label(ids)[1]]
        kept.append(ids)
        have += len(ids)
    ids = torch.cat(kept)[: spec.n]
    return ids.to(torch.float64), token_label(ids)[0]


# Kinds and widths are the task table's (engine/task_table.py); tests/core/test_limits.py
# checks that each generator's arrays have them.
_GENERATORS = {"wave": _wave, "sines": _sines, "moons": _moons, "spirals": _spirals, "blobs": _blobs,
               "digits": _digits, "digits-reconstruct": _digits_reconstruct, "tokens": _tokens,
               **dict.fromkeys(("iris", "wine", "breast-cancer", "diabetes"), _table_task)}
_TRUTHS = {"wave": wave_truth, "sines": sines_truth}


def split_sizes(spec: TaskSpec) -> tuple[int, int, int]:
    """(train, val, test) sizes."""
    return spec.split_sizes()


class DatasetLike(Protocol):
    """An uploaded data set's arrays (``models.datasets.DatasetArrays``)."""

    x: np.ndarray  # (rows, d) float64
    y: np.ndarray  # (rows,) float64 for regression, int64 class indices for classification
    kind: str
    n_classes: int
    image_shape: tuple[int, int, int] | None
    vocab: int | None  # rows of token ids 0 .. vocab - 1: kept as ids, not standardized


def _split(spec: TaskSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of (train, val, test): one permutation drawn from the data seed."""
    perm = torch.randperm(spec.size, generator=g)
    _, n_val, n_test = split_sizes(spec)
    return perm[n_test + n_val:], perm[n_test:n_test + n_val], perm[:n_test]


def make_task(spec: TaskSpec, dataset: DatasetLike | None = None) -> TaskData:
    """The task's splits; ``dataset`` carries the arrays of an uploaded CSV (task 'dataset')."""
    if spec.name == "dataset":
        if dataset is None:
            raise ValueError(f"task 'dataset' ({spec.dataset}) needs its arrays: pass dataset=")
        return dataset_task(spec, dataset)
    info = TASKS[spec.name]
    g = torch.Generator().manual_seed(spec.seed)
    x, y = _GENERATORS[spec.name](spec, g)
    train, val, test = _split(spec, g)
    truth = blobs_truth(spec.noise) if spec.name == "blobs" else _TRUTHS.get(spec.name)
    assert info.kind is not None and info.in_dim is not None and info.out_dim is not None
    return TaskData(
        spec.name, info.kind, info.in_dim, info.out_dim,
        Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test]), truth, info.image_shape,
    )


def dataset_task(spec: TaskSpec, arrays: DatasetLike) -> TaskData:
    """An uploaded data set, split like every task: ``n`` of its rows chosen by the data seed
    (all when ``n`` equals the row count), then one permutation into train/val/test.

    Features are standardized with the mean and standard deviation of the *training* split
    only: statistics taken over all rows would let the validation and test rows shape the
    inputs the nets learn from, a leak that flatters the held-out losses. A constant training
    column keeps its scale (std 1). Targets are left as they are, so losses are in the data's
    own units. Token sequences (an upload with a vocabulary) keep their ids."""
    rows = len(arrays.x)
    if spec.size > rows:
        raise ValueError(f"task.n ({spec.size}) exceeds the data set's {rows} rows; "
                         "set task.n to at most the row count")
    g = torch.Generator().manual_seed(spec.seed)
    x = torch.tensor(arrays.x, dtype=torch.float64)  # a copy: the stored arrays are read-only
    if arrays.kind == "classification":
        y, out_dim = torch.tensor(arrays.y, dtype=torch.int64), arrays.n_classes
    else:
        y, out_dim = torch.tensor(arrays.y, dtype=torch.float64).reshape(-1, 1), 1
    if spec.size < rows:
        keep = torch.randperm(rows, generator=g)[: spec.size]
        x, y = x[keep], y[keep]
    train, val, test = _split(spec, g)
    if arrays.vocab is None:  # token ids are indices: they stay as they are
        mean, std = x[train].mean(0), x[train].std(0)  # (d,) each
        std = torch.where(std > 0, std, torch.ones_like(std))
        x = (x - mean) / std
    return TaskData(spec.name, arrays.kind, x.shape[1], out_dim,
                    Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test]),
                    image_shape=arrays.image_shape)
