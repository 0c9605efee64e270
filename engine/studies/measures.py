"""What a study measures on a cohort's runs once they have trained.

- batch_size: the sharpness of every final solution (engine/studies/sharpness.py), added
  to each run's summary;
- bias_variance: every run's test predictions, kept as the run's outputs for the
  decomposition (engine/studies/bias_variance.py).

Each function takes the runs' final weights (K, D) and batch norm's running statistics
as of each run's stop, and returns one entry per run.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.mlp import StackedMLP
from engine.studies.sharpness import net_loss_fn, perturbed_loss_increase, top_hessian_eigenvalue
from engine.study_spec import Study
from engine.tasks import Split, TaskData


def finishing_measures(study: Study | None, net: StackedMLP, data: TaskData, weights: torch.Tensor,
                       buffers: list[torch.Tensor]) -> list[dict[str, Any]]:
    """Per-run numbers a study adds to the summaries once training ends."""
    K = weights.shape[0]
    if study is None or study.kind != "batch_size":
        return [{} for _ in range(K)]
    # On the whole training split, in float64: the power iteration needs a smooth operator.
    P64 = weights.double()
    split = Split(data.train.x.double(), data.train.y.double() if data.kind == "regression" else data.train.y)
    # The running statistics in float64 too: a float32 buffer next to float64 weights is an
    # error in F.batch_norm.
    loss_fn = net_loss_fn(net, data.kind, split, [b.double() for b in buffers])
    lam, used = top_hessian_eigenvalue(loss_fn, P64, iters=study.power_iterations)
    pert = perturbed_loss_increase(loss_fn, P64, study.sharpness_radius, study.sharpness_directions,
                                   seed=0, relative=True)
    return [{"top_hessian_eigenvalue": float(lam[k]), "power_iterations": used,
             "sharpness_radius": study.sharpness_radius,
             "loss_increase_mean": float(pert["mean"][k]), "loss_increase_std": float(pert["std"][k])}
            for k in range(K)]


@torch.no_grad()
def run_outputs(study: Study | None, net: StackedMLP, data: TaskData, weights: torch.Tensor,
                buffers: list[torch.Tensor]) -> list[dict[str, Any] | None]:
    """Per-run arrays a study needs later: bias-variance keeps every run's test predictions
    (and the test targets and true function, so the decomposition needs no torch)."""
    K = weights.shape[0]
    if study is None or study.kind != "bias_variance" or data.truth is None:
        return [None] * K
    test = data.test
    out = net.forward(net.views(weights), test.x, buffers=buffers)  # (K, n_test, 1)
    shared = {"test_y": test.y[:, 0].tolist(), "test_truth": data.truth(test.x)[:, 0].tolist()}
    return [{"test_pred": out[k, :, 0].tolist()} | shared for k in range(K)]
