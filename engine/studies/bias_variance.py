"""Bias-variance decomposition and bagging, by retraining every arm on bootstrap resamples.

For a regression task whose true function f is known (the wave task), the expected test
error of a learner over training sets D splits exactly, on each test point, into

    E_D (y - h_D(x))^2 = (y - f)^2 + (f - hbar)^2 + Var_D h_D(x) + 2 (y - f)(f - hbar),

with hbar = E_D h_D. Averaged over test points: noise + bias^2 + variance + a cross term
whose expectation is zero (test noise is independent of the fit). The study reports the
three parts, the directly measured expected error, and the cross term with its standard
error, so a reader can check the parts add up. D ranges over bootstrap resamples of the
training split; each replicate also has its own initial weights and batch order (its seed),
so "variance" is everything that changes from one training run to the next.

Bagging falls out of the same runs: the ensemble's prediction is hbar, and its error is
compared with that of one net trained on the full training split.

All replicates of all arms train stacked in one Cohort per batch size; replicate b uses the
same resample for every arm, so the arms are compared on identical data.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.runner import effective_batch_size, load_task, plan_cohorts, resolve_device
from engine.spec import ComparisonSpec
from engine.tasks import TaskData
from engine.trainer import Cohort


class BootstrapCohort(Cohort):
    """A Cohort in which run k draws its batches from its own resample of the training split.

    ``resample`` (K, n_train) maps the batch stream's indices to rows of the training split.
    Evaluation (val/test/summary) still uses the original splits.
    """

    def __init__(self, spec: ComparisonSpec, runs: list, data: TaskData, device: torch.device,
                 dtype: torch.dtype, resample: torch.Tensor):
        super().__init__(spec, runs, data, device, dtype)
        self.resample = resample.to(device)

    def _batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        tr = self.data.train
        if self.full_batch:
            rows = self.resample  # (K, n): every run's whole resampled set
        else:
            e, j = divmod(step, self.streams[0].steps_per_epoch)
            per_stream = torch.stack([s.epoch(e)[j] for s in self.streams]).to(self.device)  # (S, B)
            rows = self.resample.gather(1, per_stream[self.stream_of_run])  # (K, B)
        return tr.x[rows], tr.y[rows]


def resample_table(n_train: int, n_boot: int, seed: int) -> torch.Tensor:
    """(n_boot + 1, n_train): n_boot bootstrap resamples, then the identity (the full-data net)."""
    g = torch.Generator().manual_seed(seed)
    boots = torch.randint(0, n_train, (n_boot, n_train), generator=g)
    return torch.cat([boots, torch.arange(n_train).unsqueeze(0)])


def train_on_resamples(spec: ComparisonSpec, n_boot: int, seed: int = 0,
                       device: torch.device | None = None) -> tuple[ComparisonSpec, TaskData, dict]:
    """Train every arm on n_boot resamples plus the full split; returns test predictions per arm.

    Result: label -> (n_boot + 1, n_test, out) predictions, the last row from the full-data net.
    """
    device = device or resolve_device(spec.train.device)
    base = spec.seeds[0]
    spec = spec.model_copy(update={"seeds": [base + b for b in range(n_boot + 1)]})
    data = load_task(spec, device)
    table = resample_table(data.train.x.shape[0], n_boot, seed)
    plans = spec.runs()
    preds: dict[str, list[torch.Tensor | None]] = {a.display(): [None] * (n_boot + 1) for a in spec.arms}
    for group in plan_cohorts(spec):
        runs = [plans[i].model_copy(update={"batch_size": effective_batch_size(spec, plans[i])})
                for i in group]
        cohort = BootstrapCohort(spec, runs, data, device, getattr(torch, spec.train.dtype),
                                 table[[r.seed_pos for r in runs]])
        cohort.train(lambda ev: None)
        with torch.no_grad():
            out = cohort.net.forward(cohort.net.views(cohort.final_weights()), data.test.x)  # (K, n_test, 1)
        for k, r in enumerate(runs):
            preds[spec.arms[r.arm].display()][r.seed_pos] = out[k]
    return spec, data, {label: torch.stack(p) for label, p in preds.items()}


def decompose(preds: torch.Tensor, y: torch.Tensor, f: torch.Tensor) -> dict[str, float]:
    """bias^2, variance, noise and measured expected error from member predictions.

    preds (B, n, 1) test predictions of B members; y (n, 1) noisy test targets; f (n, 1) the
    true function there. The variance uses the 1/B (population) form: with it, measured =
    bias^2 + variance + noise + cross term holds exactly, so any gap is the cross term.
    """
    preds, y, f = preds.double(), y.double(), f.double()
    hbar = preds.mean(0)
    cross = 2 * (y - f) * (f - hbar)  # (n, 1), mean zero in expectation
    member_err = (y - preds).square().mean((1, 2))  # (B,) each member's test MSE
    n = cross.numel()
    out = {
        "bias2": float((hbar - f).square().mean()),
        "variance": float(preds.var(0, unbiased=False).mean()),
        "noise": float((y - f).square().mean()),
        "expected_test_error": float(member_err.mean()),
        # Error bars: over test points for the cross term; over members for the measured error.
        "cross_term": float(cross.mean()),
        "cross_term_se": float(cross.std() / math.sqrt(n)),
        "expected_test_error_se": float(member_err.std() / math.sqrt(len(member_err))),
    }
    out["sum"] = out["bias2"] + out["variance"] + out["noise"]
    return out


def bagging(members: torch.Tensor, single: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Test MSE of the bagged ensemble (mean prediction) vs one net trained on all the data.

    Also the mean member's error: the ensemble beats it by exactly the variance term.
    """
    y = y.double()
    ensemble = members.double().mean(0)
    return {"ensemble_test_mse": float((y - ensemble).square().mean()),
            "single_net_test_mse": float((y - single.double()).square().mean()),
            "mean_member_test_mse": float((y - members.double()).square().mean()),
            "n_members": members.shape[0]}


def bias_variance_study(spec: ComparisonSpec, n_boot: int = 10, seed: int = 0,
                        device: torch.device | None = None) -> dict[str, Any]:
    """The bias-variance and bagging study for every arm of ``spec`` (regression with known truth)."""
    if spec.task.name != "wave":
        raise ValueError(f"bias-variance needs a regression task with a known true function; "
                         f"{spec.task.name!r} has none")
    if not 2 <= n_boot <= 99:
        raise ValueError("n_boot must be between 2 and 99 (seeds are limited to 100 per spec)")
    spec, data, preds = train_on_resamples(spec, n_boot, seed, device)
    y, f = data.test.y, data.truth(data.test.x)
    arms = []
    for arm in spec.arms:
        label = arm.display()
        members, single = preds[label][:n_boot], preds[label][n_boot]
        finite = torch.isfinite(members).flatten(1).all(1)  # a diverged member would swamp every mean
        row: dict[str, Any] = {"arm": label, "optimizer": arm.optimizer, "n_diverged": int((~finite).sum())}
        if int(finite.sum()) >= 2:
            row.update(decompose(members[finite], y, f))
            row["bagging"] = bagging(members[finite], single, y)
        arms.append(row)
    return {"study": "bias_variance", "n_boot": n_boot, "resample_seed": seed,
            "noise_nominal": spec.task.noise**2, "n_test": int(y.shape[0]), "arms": arms}
