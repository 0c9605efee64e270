"""Statistics over seeds: what a reviewer needs before believing "optimizer A beats B".

- ``interval``: a confidence interval for the mean of one final metric over seeds. The
  default is Student's t, whose coverage holds at the 3-10 seeds people run (a percentile
  bootstrap covers only 76-88% there); ``bca`` (``scipy.stats.bootstrap``) where a
  distribution-free interval is wanted. ``bench/coverage.py`` prints the coverage of each.
- ``mean_band``: an arm's mean curve with a pointwise Student-t band over seeds.
- ``wilcoxon``: the paired Wilcoxon signed-rank test between two arms on the same seeds
  (``scipy.stats.wilcoxon``).
- ``holm``: Holm-Bonferroni adjusted p-values for the family of all arm pairs.
- ``probability_of_improvement``: P(a run of A beats a run of B) over all seed pairs, with a
  BCa bootstrap interval; unlike a p-value it says how often, not how surely.
- ``rank_arms``: arms ranked by a stated statistic (the mean), and, separately, letter groups
  of the arms the tests cannot tell apart.
- ``compare_arms``: all of the above for a finished comparison, JSON-ready.

Every resampling is seeded, so the same results always give the same intervals.
Lower is better for losses; metrics whose name ends in "accuracy" are higher-is-better.
Runs that diverged (non-finite metric) count as the worst possible value in rank-based
statistics and in the ranking, and are left out of means and intervals (their count is reported).
"""

from __future__ import annotations

import itertools
import math
import string
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

N_BOOT = 2000
LEVEL = 0.95
CI_METHODS = {"student-t": "Student-t interval of the mean over seeds",
              "bca": "BCa bootstrap interval of the mean over seeds (scipy.stats.bootstrap)"}
RANK_RULE = ("rank: by mean final value over seeds (a diverged run counts as the worst value), 1 = best; "
             "arms sharing a letter are not significantly different (paired Wilcoxon, Holm-corrected)")


def _num(x: float) -> float | None:
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
    return {"steps": common, "mean": [_num(x) for x in mean], "low": [_num(x) for x in lo],
            "high": [_num(x) for x in hi], "n_seeds": n} | ci_info(level)


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


def _scores(values: Sequence[float], higher_is_better: bool) -> np.ndarray:
    """Lower-is-better scores; a diverged run (non-finite) gets the worst score, +inf."""
    v = np.asarray(values, dtype=np.float64)
    s = -v if higher_is_better else v.copy()
    s[~np.isfinite(s)] = np.inf
    return s


def _group_by_arm(results: dict[int, Any], metric: str) -> dict[str, dict[int, float]]:
    """label -> {seed: metric value}, arms in run order (arm-major)."""
    groups: dict[str, dict[int, float]] = {}
    for r in sorted(results.values(), key=lambda r: r.run):
        v = r.summary.get(metric)
        groups.setdefault(r.label, {})[r.seed] = math.nan if v is None else float(v)
    return groups


def final_metric_table(groups: dict[str, dict[int, float]], level: float = LEVEL,
                       method: str = "student-t") -> list[dict[str, Any]]:
    """Per arm: mean, its interval, median, spread over seeds (diverged runs counted, not averaged)."""
    table = []
    for label, by_seed in groups.items():
        v = np.array(list(by_seed.values()))
        ok = v[np.isfinite(v)]
        lo, hi = interval(ok, level, method)
        table.append({"arm": label, "n_seeds": len(v), "n_diverged": int(len(v) - len(ok)),
                      "mean": _num(ok.mean()) if len(ok) else None, "ci_low": _num(lo), "ci_high": _num(hi),
                      "median": _num(float(np.median(ok))) if len(ok) else None,
                      "std": _num(float(ok.std(ddof=1))) if len(ok) > 1 else None,
                      "values": [_num(x) for x in v]} | ci_info(level, method))
    return table


def pairwise_tests(groups: dict[str, dict[int, float]], higher_is_better: bool, alpha: float = 0.05,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Wilcoxon on the seeds both arms share, Holm-corrected over all pairs, plus P(improvement)."""
    pairs = []
    for a, b in itertools.combinations(groups, 2):
        shared = sorted(set(groups[a]) & set(groups[b]))
        sa = _scores([groups[a][s] for s in shared], higher_is_better)
        sb = _scores([groups[b][s] for s in shared], higher_is_better)
        test = wilcoxon(sa, sb)
        pi = probability_of_improvement(_scores(list(groups[a].values()), higher_is_better),
                                        _scores(list(groups[b].values()), higher_is_better), seed=seed)
        # A is better when its negative differences carry more rank weight.
        better = a if test.get("r_minus", 0) > test.get("r_plus", 0) else b
        pairs.append({"a": a, "b": b, "n_pairs": len(shared), "wilcoxon_statistic": test["statistic"],
                      "method": test["method"], "p_value": test["pvalue"], "better": better,
                      "p_a_beats_b": pi, "min_attainable_p": min_attainable_p(test["n"])})
    for pair, p_adj in zip(pairs, holm([p["p_value"] for p in pairs]), strict=True):
        pair["p_holm"] = p_adj
        pair["significant"] = p_adj < alpha
    return pairs


def _maximal_cliques(nodes: list[str], linked: set[frozenset[str]]) -> list[set[str]]:
    """Maximal sets of mutually linked nodes (Bron-Kerbosch; a comparison has a handful of arms)."""
    out: list[set[str]] = []

    def grow(clique: set[str], candidates: list[str], excluded: set[str]) -> None:
        if not candidates and not excluded:
            out.append(clique)
        for i, v in enumerate(candidates):
            near = {u for u in nodes if frozenset((u, v)) in linked}
            grow(clique | {v}, [u for u in candidates[i + 1:] if u in near], excluded & near)
            excluded = excluded | {v}

    grow(set(), list(nodes), set())
    return out


def letter_groups(order: list[str], pairs: list[dict[str, Any]]) -> dict[str, str]:
    """Compact letter display: arms that share a letter are not significantly different.

    Each letter is a maximal set of arms with no significant difference between any two of
    them; letters go to those sets in the order of their best-ranked member, so the best
    arm's group is "a".
    """
    different = {frozenset((p["a"], p["b"])) for p in pairs if p["significant"]}
    same = {frozenset(q) for q in itertools.combinations(order, 2)} - different
    cliques = sorted(_maximal_cliques(order, same), key=lambda c: sorted(order.index(x) for x in c))
    letters = (string.ascii_lowercase + string.ascii_uppercase + string.digits)
    out = {label: "" for label in order}
    for i, clique in enumerate(cliques):
        for label in clique:
            out[label] += letters[i] if i < len(letters) else f"({i})"
    return out


def rank_arms(groups: dict[str, dict[int, float]], pairs: list[dict[str, Any]],
              higher_is_better: bool, rank_by: str = "mean") -> list[dict[str, Any]]:
    """Arms from best to worst by ``rank_by`` (mean or median over seeds, a diverged run
    counting as +inf), then the other statistic; equal statistics share a rank.

    The rank orders the arms; ``group`` (letters) and ``not_distinguishable_from`` say which
    of those orderings the paired tests cannot confirm. Keeping the two apart stops a 25x
    difference in means from reading as a tie just because the seeds are too few.
    """
    if rank_by not in ("mean", "median"):
        raise ValueError(f"rank_by must be 'mean' or 'median', not {rank_by!r}")

    def key(label: str) -> tuple[float, float]:
        s = _scores(list(groups[label].values()), higher_is_better)
        mean, median = float(np.mean(s)), float(np.median(s))
        return (mean, median) if rank_by == "mean" else (median, mean)

    keys = {label: key(label) for label in groups}
    order = sorted(groups, key=keys.__getitem__)
    ranks = {label: 1 + sum(keys[o] < keys[label] for o in order) for label in order}  # 1, 2, 2, 4
    beats: dict[str, list[str]] = {label: [] for label in groups}
    for p in pairs:
        if p["significant"]:
            beats[p["better"]].append(p["b"] if p["better"] == p["a"] else p["a"])
    letters = letter_groups(order, pairs)
    sign = -1.0 if higher_is_better else 1.0
    return [{"arm": label, "rank": ranks[label], "rank_by": rank_by, "statistic": _num(sign * keys[label][0]),
             "group": letters[label], "significantly_better_than": beats[label],
             "not_distinguishable_from": [o for o in order if o != label and o not in beats[label]
                                          and label not in beats[o]]}
            for label in order]


def compare_arms(results: dict[int, Any], metric: str = "final_test_loss", alpha: float = 0.05,
                 curve_metric: str | None = "val_loss", seed: int = 0,
                 rank_by: str = "mean") -> dict[str, Any]:
    """The multi-seed statistics of a finished comparison (``engine.compare``'s output), JSON-ready."""
    return compare_groups(_group_by_arm(results, metric), metric, alpha, seed, rank_by) | (
        {"curves": _curves(results, curve_metric)} if curve_metric else {})


def compare_groups(groups: dict[str, dict[int, float]], metric: str, alpha: float = 0.05, seed: int = 0,
                   rank_by: str = "mean") -> dict[str, Any]:
    """Table, pairwise tests, ranking and warnings for label -> {pairing key: value}."""
    higher = metric.endswith("accuracy")
    pairs = pairwise_tests(groups, higher, alpha, seed)
    warning = power_warning(min((len(g) for g in groups.values()), default=0), len(pairs), alpha)
    return {"metric": metric, "higher_is_better": higher, "alpha": alpha, "rank_rule": RANK_RULE,
            "table": final_metric_table(groups), "pairs": pairs,
            "ranking": rank_arms(groups, pairs, higher, rank_by),
            "warnings": [warning] if warning else []} | ci_info()


def _curves(results: dict[int, Any], curve_metric: str) -> dict[str, Any]:
    out = {}
    for label in dict.fromkeys(r.label for r in sorted(results.values(), key=lambda r: r.run)):
        curves = [r.curves[curve_metric] for r in results.values()
                  if r.label == label and curve_metric in r.curves]
        if curves:
            out[label] = mean_band(curves)
    return out


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
