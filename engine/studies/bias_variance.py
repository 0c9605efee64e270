"""Bias-variance decomposition and bagging, from nets retrained on bootstrap resamples.

For a regression task whose true function f is known (wave, sines), the expected test
error of a learner over training sets D splits exactly, on each test point, into

    E_D (y - h_D(x))^2 = (y - f)^2 + (f - hbar)^2 + Var_D h_D(x) + 2 (y - f)(f - hbar),

with hbar = E_D h_D. Averaged over test points: noise + bias^2 + variance + a cross term
whose expectation is zero (test noise is independent of the fit). The study reports the
three parts, the directly measured expected error, and the cross term with its standard
error, so a reader can check the parts add up. D ranges over bootstrap resamples of the
training split; each replicate also has its own initial weights and batch order (its seed),
so "variance" is everything that changes from one training run to the next.

Bagging falls out of the same runs: the ensemble's prediction is hbar, and its error is
compared with that of one net trained on the whole training split.

The runs are trained like any job's (``study: {"kind": "bias_variance"}``, see
engine/variants.py); this module only aggregates their test predictions. numpy only, so
the API computes it from stored outputs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def decompose(preds: np.ndarray, y: np.ndarray, f: np.ndarray) -> dict[str, float]:
    """bias^2, variance, noise and measured expected error from member predictions.

    preds (B, n) test predictions of B members; y (n,) noisy test targets; f (n,) the true
    function there. The variance uses the 1/B (population) form: with it, measured =
    bias^2 + variance + noise + cross term holds exactly, so any gap is the cross term.
    """
    preds, y, f = (np.asarray(a, dtype=np.float64) for a in (preds, y, f))
    hbar = preds.mean(0)
    cross = 2 * (y - f) * (f - hbar)  # (n,), mean zero in expectation
    member_err = np.square(y - preds).mean(1)  # (B,) each member's test MSE
    out = {
        "bias2": float(np.square(hbar - f).mean()),
        "variance": float(preds.var(0).mean()),
        "noise": float(np.square(y - f).mean()),
        "expected_test_error": float(member_err.mean()),
        # Error bars: over test points for the cross term; over members for the measured error.
        "cross_term": float(cross.mean()),
        "cross_term_se": float(cross.std(ddof=1) / math.sqrt(cross.size)),
        "expected_test_error_se": float(member_err.std(ddof=1) / math.sqrt(len(member_err))),
    }
    out["sum"] = out["bias2"] + out["variance"] + out["noise"]
    return out


def bagging(members: np.ndarray, single: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Test MSE of the bagged ensemble (mean prediction) vs one net trained on all the data.

    Also the mean member's error: the ensemble beats it by exactly the variance term.
    """
    members, single, y = (np.asarray(a, dtype=np.float64) for a in (members, single, y))
    return {"ensemble_test_mse": float(np.square(y - members.mean(0)).mean()),
            "single_net_test_mse": float(np.square(y - single).mean()),
            "mean_member_test_mse": float(np.square(y - members).mean()),
            "n_members": int(members.shape[0])}


def arm_decomposition(label: str, members: list[list[float] | None], single: list[float] | None,
                      y: list[float], f: list[float]) -> dict[str, Any]:
    """One arm's row: its bootstrap members' predictions (None for a run with none) and the
    whole-split net's. Diverged members are left out and counted: one would swamp every mean."""
    row: dict[str, Any] = {"arm": label}
    preds = [np.asarray(p, dtype=np.float64) for p in members if p is not None]
    finite = [p for p in preds if np.isfinite(p).all()]
    row["n_members"], row["n_diverged"] = len(finite), len(members) - len(finite)
    if len(finite) >= 2:
        stack = np.stack(finite)
        row.update(decompose(stack, np.asarray(y), np.asarray(f)))
        if single is not None and np.isfinite(np.asarray(single, dtype=np.float64)).all():
            row["bagging"] = bagging(stack, np.asarray(single), np.asarray(y))
    return row
