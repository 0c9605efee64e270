"""Over- and under-fitting flags from a run's curves, and time to a target loss.

Flags (each with a reason a user can check against the curves):
- underfitting: the final training loss is still a large fraction of a constant predictor's
  loss (the net learned little beyond the mean), or training loss barely fell at all;
- overfitting: validation loss rose by more than a threshold from its minimum while the
  training loss kept falling after that minimum: the gap is growing, not noise.
Mini-batch train losses are noisy, so "start" and "end" are means over a window of points.
numpy only: the API flags every stored run with it.

Time to target: the first logged point at or below a target, in steps, examples seen and
seconds. A target never reached is ``None`` ("not reached"), never zero, so it cannot be
mistaken for "instant" when averaged or ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Curve = tuple[Sequence[int], Sequence[float]]


def constant_baseline_loss(data: Any) -> float:
    """Validation loss of the best input-blind predictor fitted on the training split
    (the trainer puts it in every summary as ``baseline_val_loss``)."""
    from engine.variants import baseline_loss  # torch, only when given task data

    return baseline_loss(data.kind, data.out_dim, data.train.y, data.val.y)


def _window_mean(values: np.ndarray, start: bool, window: float) -> float:
    w = max(1, int(len(values) * window))
    return float(values[:w].mean() if start else values[-w:].mean())


def _underfitting(train: np.ndarray, baseline: float | None, ratio: float, min_drop: float,
                  window: float) -> str | None:
    start, end = _window_mean(train, True, window), _window_mean(train, False, window)
    if baseline is not None and end > ratio * baseline:
        return (f"final train loss {end:.4g} is {100 * end / baseline:.0f}% of a constant predictor's "
                f"loss {baseline:.4g} (threshold {100 * ratio:.0f}%)")
    if end > (1 - min_drop) * start:
        return f"train loss fell only {100 * (1 - end / start):.1f}% (from {start:.4g} to {end:.4g})"
    return None


def _overfitting(train: Curve, val: Curve, rise: float, window: float) -> str | None:
    vs, vv = np.asarray(val[0]), np.asarray(val[1], dtype=np.float64)
    i = int(np.argmin(vv))
    best, final = vv[i], vv[-1]
    if i == len(vv) - 1 or final <= best * (1 + rise):
        return None
    ts, tv = np.asarray(train[0]), np.asarray(train[1], dtype=np.float64)
    after = tv[ts > vs[i]]
    if len(after) == 0:
        return None
    at_best = _window_mean(tv[ts <= vs[i]], False, window)  # train loss around the val minimum
    at_end = _window_mean(after, False, window)
    if at_end >= at_best:
        return None  # both rising: instability, not overfitting
    return (f"validation loss rose {100 * (final / best - 1):.0f}% from its minimum {best:.4g} at step "
            f"{int(vs[i])} to {final:.4g}, while train loss kept falling ({at_best:.4g} -> {at_end:.4g})")


def fitting_flags(train: Curve, val: Curve, baseline_loss: float | None = None, under_ratio: float = 0.5,
                  min_drop: float = 0.05, overfit_rise: float = 0.1, window: float = 0.1) -> dict[str, Any]:
    """Flags and reasons for one run from its (steps, values) train and validation curves."""
    tv = np.asarray(train[1], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(tv))
    if len(bad) or not np.isfinite(np.asarray(val[1], dtype=np.float64)).all():
        at = int(np.asarray(train[0])[bad[0]]) if len(bad) else None
        return {"status": "diverged", "underfitting": False, "overfitting": False,
                "reasons": [f"loss became non-finite at step {at}" if at else "validation loss non-finite"]}
    under = _underfitting(tv, baseline_loss, under_ratio, min_drop, window)
    over = _overfitting(train, val, overfit_rise, window)
    reasons = [r for r in (under, over) if r]
    status = "underfitting" if under else "overfitting" if over else "good fit"
    return {"status": status, "underfitting": under is not None, "overfitting": over is not None,
            "reasons": reasons}


def run_fitting(result: Any, baseline_loss: float | None = None, **thresholds: float) -> dict[str, Any]:
    """``fitting_flags`` for an engine RunResult (train_loss and val_loss curves)."""
    return fitting_flags(result.curves["train_loss"], result.curves["val_loss"], baseline_loss, **thresholds)


def time_to_target(curve: Curve, target: float, batch_size: int,
                   wall_time: Curve | None = None) -> dict[str, float | int | None]:
    """Steps, examples and seconds until ``curve`` first reaches ``target``; None if never.

    Seconds are interpolated on the run's wall-time curve (logged at evaluations), taking
    time 0 at step 0; without that curve, seconds is None.
    """
    steps, values = np.asarray(curve[0]), np.asarray(curve[1], dtype=np.float64)
    hit = np.flatnonzero(np.isfinite(values) & (values <= target))
    if len(hit) == 0:
        return {"steps": None, "examples": None, "seconds": None}
    step = int(steps[hit[0]])
    seconds = None
    if wall_time is not None and len(wall_time[0]):
        ws = np.r_[0, np.asarray(wall_time[0], dtype=np.float64)]
        wt = np.r_[0.0, np.asarray(wall_time[1], dtype=np.float64)]
        seconds = float(np.interp(step, ws, wt))
    return {"steps": step, "examples": step * batch_size, "seconds": seconds}


def run_time_to_target(result: Any, target: float, metric: str = "val_loss") -> dict[str, Any]:
    """``time_to_target`` for an engine RunResult, by its ``metric`` curve."""
    return time_to_target(result.curves[metric], target, result.batch_size, result.curves.get("wall_time"))


def performance_profile(costs: dict[str, dict[str, float | None]], taus: Sequence[float]) -> dict[str, list]:
    """Dolan-More profile: per arm, the fraction of problems solved within tau x the best arm's cost.

    ``costs`` is problem -> arm -> cost to target (None: not reached, which never counts).
    """
    arms = sorted({a for row in costs.values() for a in row})
    out: dict[str, list] = {"tau": list(taus)}
    for arm in arms:
        frac = []
        for tau in taus:
            solved = 0
            for row in costs.values():
                reached = [c for c in row.values() if c is not None]
                c = row.get(arm)
                solved += c is not None and c <= tau * min(reached)
            frac.append(solved / len(costs))
        out[arm] = frac
    return out
