"""Statistics over seeds: what a reviewer needs before believing "optimizer A beats B".

- ``interval``: a confidence interval for the mean of one final metric over seeds. The
  default is Student's t, whose coverage holds at the 3-10 seeds people run (a percentile
  bootstrap covers only 76-88% there); ``bca`` (``scipy.stats.bootstrap``) where a
  distribution-free interval is wanted. ``bench/coverage.py`` prints the coverage of each.
- ``mean_band``: an arm's mean curve with a pointwise Student-t band over seeds.
- ``final_metric_table``: per arm, the mean of a final metric with its interval.
- ``wilcoxon``: the paired Wilcoxon signed-rank test between two arms on the same seeds
  (``scipy.stats.wilcoxon``).
- ``holm``: Holm-Bonferroni adjusted p-values for the family of all arm pairs.
- ``probability_of_improvement``: P(a run of A beats a run of B) over all seed pairs, with a
  BCa bootstrap interval; unlike a p-value it says how often, not how surely.
- ``spearman``: rank correlation with a permutation p-value.

Ranking the arms of a comparison with these tests is engine/studies/ranking.py.
Every resampling is seeded, so the same results always give the same intervals.
Runs that diverged (non-finite metric) are left out of means and intervals (their count is
reported).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

N_BOOT = 2000
LEVEL = 0.95
CI_METHODS = {"student-t": "Student-t interval of the mean over seeds",
              "bca": "BCa bootstrap interval of the mean over seeds (scipy.stats.bootstrap)"}


def json_number(x: float) -> float | None:
    """JSON has no NaN or infinity: send null."""
    return float(x) if math.isfinite(x) else None


def ci_info(level: float = LEVEL, method: str = "student-t") -> dict[str, Any]:
    """How an interval was made, for a table's caption: method, level, words."""
    return {"ci_method": method, "ci_level": level,
            "ci_description": f"{100 * level:g}% {CI_METHODS[method]}"}


def _t_halfwidth(std: np.ndarray | float, n: int, level: float) -> np.ndarray | float:
    return stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)


def interval(values: Sequence[float], level: float = LEVEL, method: str = "student-t",
             seed: int = 0) -> tuple[float, float]:
    """An interval for the mean of ``values`` (one value per seed); NaN with fewer than 2,
    since one seed says nothing about the spread."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return math.nan, math.nan
    if np.all(v == v[0]):
        return float(v[0]), float(v[0])  # no spread at all: every method agrees, BCa would warn
    if method == "student-t":
        h = _t_halfwidth(float(v.std(ddof=1)), len(v), level)
        return float(v.mean() - h), float(v.mean() + h)
    if method == "bca":
        return bootstrap_interval((v,), lambda x, axis: np.mean(x, axis=axis), level, seed)
    raise ValueError(f"unknown interval method {method!r}; known: {sorted(CI_METHODS)}")


def bootstrap_interval(data: tuple[np.ndarray, ...], statistic: Any, level: float,
                       seed: int) -> tuple[float, float]:
    """BCa through scipy; where BCa is undefined (every resample gives the same value, so its
    acceleration divides by zero), the percentile interval, which is then that one value."""
    kw = {"n_resamples": N_BOOT, "confidence_level": level, "vectorized": True, "rng": seed}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # scipy's DegenerateDataWarning: handled just below
        ci = stats.bootstrap(data, statistic, method="BCa", **kw).confidence_interval
        if not (math.isfinite(ci.low) and math.isfinite(ci.high)):
            ci = stats.bootstrap(data, statistic, method="percentile", **kw).confidence_interval
    return float(ci.low), float(ci.high)


def mean_band(curves: Sequence[tuple[Sequence[int], Sequence[float]]],
              level: float = LEVEL) -> dict[str, Any]:
    """Mean curve over seeds with a pointwise Student-t band, on the steps every seed has.

    Runs stopped early (diverged, early stopping) have shorter curves; averaging only the
    common steps keeps every point a mean over the same seeds.
    """
    common = sorted(set.intersection(*(set(s) for s, _ in curves)))
    V = np.array([[dict(zip(s, v, strict=True))[t] for t in common] for s, v in curves], dtype=np.float64)
    n = V.shape[0]
    with np.errstate(invalid="ignore"):  # a diverged seed's inf makes the band null there
        mean = V.mean(0)
        if n >= 2:
            h = _t_halfwidth(V.std(0, ddof=1), n, level)
            lo, hi = mean - h, mean + h
        else:
            lo = hi = np.full(len(common), math.nan)
    return {"steps": common, "mean": [json_number(x) for x in mean], "low": [json_number(x) for x in lo],
            "high": [json_number(x) for x in hi], "n_seeds": n} | ci_info(level)


def _wilcoxon_method(n: int, ties_or_zeros: bool) -> str:
    """Which null distribution scipy's ``method='auto'`` uses, in words (its documented rule)."""
    if n <= 50 and not ties_or_zeros:
        return "exact"
    return "exact (sign flips, ties or zeros)" if n <= 13 else "normal approximation"


def wilcoxon(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Two-sided paired Wilcoxon signed-rank test of x - y (``scipy.stats.wilcoxon``, defaults).

    Zero differences are dropped (Wilcoxon's rule); two diverged runs (inf - inf) are a tie,
    not evidence either way. Also returns the positive and negative rank sums, which say
    which side is better.
    """
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    d[np.isnan(d)] = 0.0
    nonzero = d[d != 0]
    n = len(nonzero)
    if n == 0:
        return {"statistic": 0.0, "pvalue": 1.0, "method": "all differences zero", "n": 0}
    ranks = stats.rankdata(np.abs(nonzero))
    r_plus, r_minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
    test = stats.wilcoxon(d)
    ties_or_zeros = n < len(d) or len(np.unique(np.abs(nonzero))) < n
    return {"statistic": float(test.statistic), "pvalue": float(test.pvalue),
            "method": _wilcoxon_method(len(d), ties_or_zeros), "n": n, "r_plus": r_plus, "r_minus": r_minus}


def min_attainable_p(n: int) -> float:
    """The smallest two-sided p a signed-rank test on n pairs can give: 2 / 2^n."""
    return min(1.0, 2.0 / 2.0**n)


def power_warning(n: int, n_pairs: int, alpha: float) -> str | None:
    """Why no difference can come out significant, if so: with n pairs the smallest p is
    2 / 2^n, and Holm multiplies the smallest of ``n_pairs`` p-values by n_pairs."""
    if not n_pairs or n_pairs * min_attainable_p(n) < alpha:
        return None
    return (f"with {n} paired runs and {n_pairs} comparisons, no Holm-corrected test can reach "
            f"p < {alpha} (the smallest possible is {min(1.0, n_pairs * min_attainable_p(n)):.4g}); "
            "add seeds")


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, made monotone, capped at 1).

    Controls the family-wise error over all arm pairs without Bonferroni's full penalty.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out.tolist()


def _p_improvement(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Fraction of (a, b) pairs with a < b, ties one half; vectorized over resamples."""
    a, b = np.moveaxis(a, axis, -1)[..., :, None], np.moveaxis(b, axis, -1)[..., None, :]
    return ((a < b) + 0.5 * (a == b)).mean(axis=(-2, -1))


def probability_of_improvement(a: Sequence[float], b: Sequence[float], level: float = LEVEL,
                               seed: int = 0) -> dict[str, Any]:
    """P(a random run of A scores lower than a random run of B), ties counting one half.

    Over all (seed of A, seed of B) pairs, i.e. the Mann-Whitney U of B over A divided by
    n_A * n_B. The BCa interval resamples the seeds of A and of B independently.
    """
    sa, sb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    estimate = float(_p_improvement(sa, sb))
    if min(len(sa), len(sb)) < 2:
        return {"estimate": estimate, "low": None, "high": None}
    lo, hi = bootstrap_interval((sa, sb), _p_improvement, level, seed)
    return {"estimate": estimate, "low": lo, "high": hi}


def final_metric_table(groups: dict[str, dict[int, float]], level: float = LEVEL,
                       method: str = "student-t") -> list[dict[str, Any]]:
    """Per arm: mean, its interval, median, spread over seeds (diverged runs counted, not averaged)."""
    table = []
    for label, by_seed in groups.items():
        v = np.array(list(by_seed.values()))
        ok = v[np.isfinite(v)]
        lo, hi = interval(ok, level, method)
        table.append({"arm": label, "n_seeds": len(v), "n_diverged": int(len(v) - len(ok)),
                      "mean": json_number(ok.mean()) if len(ok) else None,
                      "ci_low": json_number(lo), "ci_high": json_number(hi),
                      "median": json_number(float(np.median(ok))) if len(ok) else None,
                      "std": json_number(float(ok.std(ddof=1))) if len(ok) > 1 else None,
                      "values": [json_number(x) for x in v]} | ci_info(level, method))
    return table


def _pearson(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.mean(axis=axis, keepdims=True)
    y = y - y.mean(axis=axis, keepdims=True)
    return (x * y).sum(axis=axis) / np.sqrt((x**2).sum(axis=axis) * (y**2).sum(axis=axis))


def spearman(x: Sequence[float], y: Sequence[float], n_perm: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Spearman's rank correlation with a two-sided permutation p-value (``scipy.stats.permutation_test``:
    exact over all pairings when there are at most ``n_perm``, no distributional assumption).
    Pairs with a non-finite member are dropped."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    ra, rb = stats.rankdata(a[keep]), stats.rankdata(b[keep])
    n = len(ra)
    if n < 3 or np.all(ra == ra[0]) or np.all(rb == rb[0]):
        return {"rho": None, "p_value": None, "n": n}
    # One sample permuted against the other fixed: n! pairings, enumerated when n! <= n_perm.
    test = stats.permutation_test((ra,), lambda r, axis=-1: _pearson(r, rb, axis),
                                  permutation_type="pairings", vectorized=True, n_resamples=n_perm, rng=seed)
    return {"rho": float(stats.spearmanr(a[keep], b[keep]).statistic), "p_value": float(test.pvalue), "n": n}
