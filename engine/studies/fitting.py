"""Over- and under-fitting flags from a run's curves, and time to a target loss.

Flags (each with a reason a user can check against the curves):
- underfitting: the final training loss is still a large fraction of a constant predictor's
  loss (the net learned little beyond the mean), or training loss barely fell at all.
  Mini-batch train losses are noisy, so "start" and "end" are means over a window of points.
- overfitting: judged on the trend of the validation curve, never on one evaluation. The
  evaluations are cut into consecutive blocks of a tenth of them (at least 5; the last block is
  the last evaluations), and each block is summarized by its median validation loss and the
  median train loss logged over the same steps. A run is overfitting when the last block's
  validation loss is above the lowest block's by more than ``overfit_rise`` (10%) and by more
  than ``noise_multiple`` (3) of the curve's typical evaluation-to-evaluation changes in a row
  (the median change by a factor, up or down, from the lowest block on: a trend or a rare spike
  barely moves it), while train loss fell between the two blocks, so the generalization gap
  (val - train) grew. Both rising is instability, not overfitting. With fewer than
  ``MIN_EVALS`` evaluations there is no trend to judge: the run is not flagged, and its
  reasons say so. Overfitting over within the first block (its minimum and whole rise there)
  is not seen.
A diverged run (a non-finite loss) gets neither flag.
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

MIN_EVALS = 10  # two blocks of 5: the fewest that can show a trend
RULE = ("Overfitting: the validation loss, as medians over blocks of a tenth of the evaluations "
        "(at least 5), ends more than 10% and more than 3 typical evaluation-to-evaluation changes "
        "in a row above its lowest block while train loss fell over the same steps, so the train-"
        "validation gap grew; one noisy evaluation never flags a run, and runs with fewer than 10 "
        "evaluations are not judged. Underfitting: final train loss above half a constant "
        "predictor's loss, or down less than 5% from its start.")


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


def _block_medians(train: Curve, val: Curve, w: int) -> tuple[np.ndarray, ...]:
    """Blocks of ``w`` consecutive evaluations from the first, the last block being the last ``w``:
    each block's first and last step, its median validation loss, and the median train loss
    logged over the same steps (after the evaluation before the block, up to its last)."""
    vs, vv = np.asarray(val[0]), np.asarray(val[1], dtype=np.float64)
    ts, tv = np.asarray(train[0]), np.asarray(train[1], dtype=np.float64)
    starts = np.r_[np.arange(0, len(vv) - w, w), len(vv) - w]  # disjoint, not running: O(n) on long runs
    val_med = np.array([np.median(vv[a:a + w]) for a in starts])
    lo = np.searchsorted(ts, np.r_[0, vs][starts], side="right")
    hi = np.searchsorted(ts, vs[starts + w - 1], side="right")
    train_med = np.array([np.median(tv[a:b]) if b > a else np.nan for a, b in zip(lo, hi, strict=True)])
    return vs[starts], vs[starts + w - 1], val_med, train_med


def _overfitting(train: Curve, val: Curve, rise: float, noise_multiple: float, window: float) -> str | None:
    n = len(val[1])
    w = max(5, int(n * window))
    first, last, vm, tm = _block_medians(train, val, w)
    i = int(np.argmin(vm))
    if i == len(vm) - 1:
        return None  # the last block is the lowest: still improving
    tiny = np.finfo(np.float64).tiny  # a loss of exactly 0 has no log
    logs = np.log(np.maximum(np.asarray(val[1], dtype=np.float64)[i * w:], tiny))  # from block i on
    # on a log scale a rise and a fall of one size weigh the same; the median ignores a trend or a spike
    change = float(np.expm1(np.median(np.abs(np.diff(logs)))))
    compounded = (1 + change) ** noise_multiple - 1
    up = max(vm[-1], tiny) / max(vm[i], tiny) - 1
    if up <= max(rise, compounded):
        return None
    if not tm[-1] < tm[i]:
        return None  # train loss rose too (or has no points there): instability, not overfitting
    return (f"validation loss (median of each block of {w} evaluations) rose {100 * up:.0f}% from its "
            f"minimum {vm[i]:.4g} (steps {int(first[i])}-{int(last[i])}) to {vm[-1]:.4g} (steps "
            f"{int(first[-1])}-{int(last[-1])}), more than {noise_multiple:g} typical evaluation-to-"
            f"evaluation changes of {100 * change:.1f}% in a row ({100 * compounded:.1f}%); over the same "
            f"steps train loss fell from {tm[i]:.4g} to {tm[-1]:.4g}, so the gap grew from "
            f"{vm[i] - tm[i]:.4g} to {vm[-1] - tm[-1]:.4g}")


def fitting_flags(train: Curve, val: Curve, baseline_loss: float | None = None, under_ratio: float = 0.5,
                  min_drop: float = 0.05, overfit_rise: float = 0.1, noise_multiple: float = 3.0,
                  window: float = 0.1) -> dict[str, Any]:
    """Flags and reasons for one run from its (steps, values) train and validation curves."""
    tv = np.asarray(train[1], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(tv))
    if len(bad) or not np.isfinite(np.asarray(val[1], dtype=np.float64)).all():
        at = int(np.asarray(train[0])[bad[0]]) if len(bad) else None
        return {"status": "diverged", "underfitting": False, "overfitting": False,
                "reasons": [f"loss became non-finite at step {at}" if at else "validation loss non-finite"]}
    under = _underfitting(tv, baseline_loss, under_ratio, min_drop, window)
    n_evals = len(val[1])
    if n_evals < MIN_EVALS:
        over, note = None, f"only {n_evals} evaluations: overfitting is judged from {MIN_EVALS} on"
    else:
        over, note = _overfitting(train, val, overfit_rise, noise_multiple, window), None
    reasons = [r for r in (under, over, note) if r]
    status = "underfitting" if under else "overfitting" if over else "good fit"
    return {"status": status, "underfitting": under is not None, "overfitting": over is not None,
            "reasons": reasons}


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
