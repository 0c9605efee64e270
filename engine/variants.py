"""Data variants of the runs of a cohort: which rows each run trains and validates on.

A run with ``variant`` set reads its own rows of a training pool instead of the shared
training split:

- cross-validation fold f: the pool is train + validation; fold f's validation rows are
  the f-th block of one fixed permutation of the pool (from the task seed and k), its
  training rows all the others. Every fold has the same sizes (the pool's remainder of
  n mod k always trains), so the folds of all arms still train stacked. Test is untouched.
- bootstrap replicate b: rows drawn with replacement from the training split (one table
  from ``resample_seed``); the last replicate is the whole split, for bagging's single net.

Arms share variants exactly like they share seeds: replicate b / fold f is the same rows
for every arm. The batch stream still comes from the run's seed; its indices pick rows of
the run's own table, and the run's batch hash covers that table too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from engine.losses import baseline_loss
from engine.spec import ComparisonSpec, RunPlan
from engine.tasks import Split, TaskData


def _generator(*parts: object) -> torch.Generator:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


def fold_tables(n_pool: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(k, n_pool - m) training rows and (k, m) validation rows, m = n_pool // k."""
    perm = torch.randperm(n_pool, generator=_generator("folds", seed, k, n_pool))
    m = n_pool // k
    val = perm[: k * m].view(k, m)
    train = torch.stack([torch.cat([perm[: f * m], perm[(f + 1) * m:]]) for f in range(k)])
    return train, val


def resample_table(n_train: int, n_boot: int, seed: int) -> torch.Tensor:
    """(n_boot + 1, n_train): n_boot bootstrap resamples, then the identity (the full-data net)."""
    g = torch.Generator().manual_seed(seed)
    boots = torch.randint(0, n_train, (n_boot, n_train), generator=g)
    return torch.cat([boots, torch.arange(n_train).unsqueeze(0)])


def _take(split: Split, rows: torch.Tensor) -> Split:
    return Split(split.x[rows], split.y[rows])


@dataclass
class DataView:
    data: TaskData  # its ``train`` is the pool that ``train_rows`` index
    train_rows: torch.Tensor | None  # (K, n_train) or None: every run uses data.train as is
    train: Split  # per run (K, n, ...) when rows differ, else shared
    val: Split
    all: Split
    n_train: int
    baseline_val_loss: list[float]
    rows_digest: list[str | None]

    @classmethod
    def build(cls, spec: ComparisonSpec, runs: list[RunPlan], data: TaskData,
              device: torch.device) -> DataView:
        study = spec.study
        variants = [r.variant for r in runs]
        everything = data.all()
        if all(v is None for v in variants) or study is None:
            base = baseline_loss(data.kind, data.out_dim, data.train.y, data.val.y)
            return cls(data, None, data.train, data.val, everything, data.train.x.shape[0],
                       [base] * len(runs), [None] * len(runs))
        if study.kind == "cross_validation":
            pool = Split(torch.cat([data.train.x, data.val.x]), torch.cat([data.train.y, data.val.y]))
            train_t, val_t = fold_tables(pool.x.shape[0], study.folds, spec.task.seed)
            data = TaskData(data.name, data.kind, data.in_dim, data.out_dim, pool, data.val, data.test,
                            data.truth, data.image_shape)
            rows, val_rows = train_t[variants].to(device), val_t[variants].to(device)
            val = _take(pool, val_rows)
        elif study.kind == "bias_variance":
            table = resample_table(data.train.x.shape[0], study.resamples, study.resample_seed)
            rows, val, val_rows = table[variants].to(device), data.val, None
        else:
            raise ValueError(f"study {study.kind!r} has no data variants")
        base = [baseline_loss(data.kind, data.out_dim, data.train.y[rows[k]],
                              val.y[k] if val_rows is not None else val.y) for k in range(len(runs))]
        digests = [hashlib.sha256(rows[k].cpu().to(torch.int64).numpy().tobytes()).hexdigest()
                   for k in range(len(runs))]
        return cls(data, rows, _take(data.train, rows), val, everything, rows.shape[1], base, digests)

    def batch_hash(self, stream_digest: str, k: int) -> str:
        """The stream's digest, combined with the run's row table when it has one."""
        if self.rows_digest[k] is None:
            return stream_digest
        return hashlib.sha256(f"{stream_digest}:{self.rows_digest[k]}".encode()).hexdigest()
