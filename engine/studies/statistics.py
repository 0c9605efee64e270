"""Statistics over seeds: what a reviewer needs before believing "optimizer A beats B".

- ``mean_band``: an arm's mean curve with a percentile-bootstrap confidence band over seeds.
- ``bootstrap_ci``: the same interval for one final metric.
- ``wilcoxon``: the paired Wilcoxon signed-rank test between two arms on the same seeds, with
  the p-values of ``scipy.stats.wilcoxon`` (default arguments), computed here without scipy.
- ``holm``: Holm-Bonferroni adjusted p-values for the family of all arm pairs.
- ``probability_of_improvement``: P(a run of A beats a run of B) over all seed pairs, with a
  bootstrap interval; unlike a p-value it says how often, not how surely.
- ``compare_arms``: all of the above for a finished comparison, JSON-ready, with a ranking
  that states which pairwise differences are significant.

Every bootstrap is seeded, so the same results always give the same intervals.
Lower is better for losses; metrics whose name ends in "accuracy" are higher-is-better.
Runs that diverged (non-finite metric) count as the worst possible value in rank-based
statistics, and are left out of means (their count is reported).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

N_BOOT = 2000


def _num(x: float) -> float | None:
    """JSON has no NaN or infinity: send null."""
    return float(x) if math.isfinite(x) else None


def _resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) multiplicities of each seed in each bootstrap resample.

    Why counts instead of index arrays: a resampled mean is then one matrix product,
    which makes bands over long curves cheap.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.arange(n_boot)[:, None], idx), 1.0)
    return counts


def bootstrap_ci(values: Sequence[float], level: float = 0.95, n_boot: int = N_BOOT,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval for the mean of ``values`` (one value per seed)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 1:
        return float(v[0]), float(v[0])
    means = _resample_counts(len(v), n_boot, seed) @ v / len(v)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def mean_band(curves: Sequence[tuple[Sequence[int], Sequence[float]]], level: float = 0.95,
              n_boot: int = N_BOOT, seed: int = 0, chunk: int = 1024) -> dict[str, list]:
    """Mean curve over seeds with a pointwise bootstrap band, on the steps every seed has.

    Runs stopped early (diverged, early stopping) have shorter curves; averaging only the
    common steps keeps every point a mean over the same seeds.
    """
    common = sorted(set.intersection(*(set(s) for s, _ in curves)))
    V = np.array([[dict(zip(s, v, strict=True))[t] for t in common] for s, v in curves], dtype=np.float64)
    counts = _resample_counts(V.shape[0], n_boot, seed) / V.shape[0]
    tail = 100 * (1 - level) / 2
    lo, hi = np.empty(len(common)), np.empty(len(common))
    for a in range(0, len(common), chunk):  # bounded memory: n_boot x chunk at a time
        with np.errstate(invalid="ignore"):  # a diverged seed's inf makes the band null there
            boot = counts @ V[:, a:a + chunk]
            lo[a:a + chunk], hi[a:a + chunk] = np.percentile(boot, [tail, 100 - tail], axis=0)
    return {"steps": common, "mean": [_num(x) for x in V.mean(0)],
            "low": [_num(x) for x in lo], "high": [_num(x) for x in hi], "n_seeds": V.shape[0]}


def rankdata(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based) of ``a`` and the size of each group of tied values."""
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    sizes = np.diff(np.r_[starts, len(a)])
    avg = starts + (sizes + 1) / 2.0  # the mean of ranks start+1 .. start+size
    ranks = np.empty(len(a))
    ranks[order] = np.repeat(avg, sizes)
    return ranks, sizes


def _signed_rank_null(n: int) -> np.ndarray:
    """How many of the 2^n sign patterns of ranks 1..n give each positive-rank sum k.

    Under H0 each pattern is equally likely; counts fit float64 exactly for n <= 50.
    """
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()  # rank r either joins the positive set or not
    return counts


def _two_sided(le: float, ge: float) -> float:
    return float(min(1.0, 2 * min(le, ge)))


def _exact_p(r_plus: float, n: int) -> float:
    pmf = _signed_rank_null(n) / 2.0**n
    cdf = pmf[: math.ceil(r_plus) + 1].sum()
    sf = pmf[math.floor(r_plus):].sum()
    return _two_sided(cdf, sf)


def _sign_flip_p(ranks: np.ndarray, r_plus: float) -> float:
    """Exact p over all sign flips of the observed ranks: valid with ties (scipy's choice for n <= 13)."""
    patterns = np.array(list(itertools.product((0.0, 1.0), repeat=len(ranks))))
    null = patterns @ ranks
    tol = 1e-12 * max(1.0, abs(r_plus))
    return _two_sided(np.mean(null <= r_plus + tol), np.mean(null >= r_plus - tol))


def _normal_p(r_plus: float, n: int, tie_sizes: np.ndarray) -> float:
    mean = n * (n + 1) / 4
    # Ties shrink the variance of the rank sum by sum(t^3 - t) / 48.
    var = (n * (n + 1) * (2 * n + 1) - np.sum(tie_sizes**3 - tie_sizes) / 2) / 24
    z = (r_plus - mean) / math.sqrt(var)
    return math.erfc(abs(z) / math.sqrt(2))


def wilcoxon(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Two-sided paired Wilcoxon signed-rank test of x - y, as scipy.stats.wilcoxon(x, y).

    Zero differences are dropped (Wilcoxon's rule). Exact null distribution when there are
    no ties or zeros and n <= 50; with ties or zeros and n <= 13, the exact distribution
    over all sign flips of the tied ranks; otherwise the normal approximation with the
    tie correction of the variance (no continuity correction).
    """
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    d[np.isnan(d)] = 0.0  # both runs diverged (inf - inf): a tie, not evidence either way
    n_total, nonzero = len(d), d[d != 0]
    n = len(nonzero)
    if n == 0:
        return {"statistic": 0.0, "pvalue": 1.0, "method": "all differences zero", "n": 0}
    ranks, tie_sizes = rankdata(np.abs(nonzero))
    r_plus, r_minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
    if n_total <= 50 and n == n_total and np.all(tie_sizes == 1):
        p, method = _exact_p(r_plus, n), "exact"
    elif n_total <= 13:
        p, method = _sign_flip_p(ranks, r_plus), "exact (sign flips, ties or zeros)"
    else:
        p, method = _normal_p(r_plus, n, tie_sizes), "normal approximation"
    return {"statistic": min(r_plus, r_minus), "pvalue": p, "method": method, "n": n,
            "r_plus": r_plus, "r_minus": r_minus}


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


def probability_of_improvement(a: Sequence[float], b: Sequence[float], level: float = 0.95,
                               n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """P(a random run of A scores lower than a random run of B), ties counting one half.

    Over all (seed of A, seed of B) pairs, i.e. the Mann-Whitney U of B over A divided by
    n_A * n_B. The interval resamples the seeds of A and of B independently.
    """
    sa, sb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    wins = (sa[:, None] < sb[None, :]) + 0.5 * (sa[:, None] == sb[None, :])  # (n_A, n_B)
    ca = _resample_counts(len(sa), n_boot, seed)
    cb = _resample_counts(len(sb), n_boot, seed + 1)
    boot = ((ca @ wins) * cb).sum(1) / (len(sa) * len(sb))
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return {"estimate": float(wins.mean()), "low": float(lo), "high": float(hi)}


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


def final_metric_table(groups: dict[str, dict[int, float]], level: float = 0.95,
                       n_boot: int = N_BOOT, seed: int = 0) -> list[dict[str, Any]]:
    """Per arm: mean, bootstrap CI, median, spread over seeds (diverged runs counted, not averaged)."""
    table = []
    for label, by_seed in groups.items():
        v = np.array(list(by_seed.values()))
        ok = v[np.isfinite(v)]
        lo, hi = bootstrap_ci(ok, level, n_boot, seed) if len(ok) else (math.nan, math.nan)
        table.append({"arm": label, "n_seeds": len(v), "n_diverged": int(len(v) - len(ok)),
                      "mean": _num(ok.mean()) if len(ok) else None, "ci_low": _num(lo), "ci_high": _num(hi),
                      "median": _num(float(np.median(ok))) if len(ok) else None,
                      "std": _num(float(ok.std(ddof=1))) if len(ok) > 1 else None,
                      "values": [_num(x) for x in v]})
    return table


def pairwise_tests(groups: dict[str, dict[int, float]], higher_is_better: bool, alpha: float = 0.05,
                   n_boot: int = N_BOOT, seed: int = 0) -> list[dict[str, Any]]:
    """Wilcoxon on the seeds both arms share, Holm-corrected over all pairs, plus P(improvement)."""
    pairs = []
    for a, b in itertools.combinations(groups, 2):
        shared = sorted(set(groups[a]) & set(groups[b]))
        sa = _scores([groups[a][s] for s in shared], higher_is_better)
        sb = _scores([groups[b][s] for s in shared], higher_is_better)
        test = wilcoxon(sa, sb)
        pi = probability_of_improvement(_scores(list(groups[a].values()), higher_is_better),
                                        _scores(list(groups[b].values()), higher_is_better),
                                        n_boot=n_boot, seed=seed)
        # A is better when its negative differences carry more rank weight.
        better = a if test.get("r_minus", 0) > test.get("r_plus", 0) else b
        pairs.append({"a": a, "b": b, "n_pairs": len(shared), "wilcoxon_statistic": test["statistic"],
                      "method": test["method"], "p_value": test["pvalue"], "better": better,
                      "p_a_beats_b": pi, "min_attainable_p": min_attainable_p(test["n"])})
    for pair, p_adj in zip(pairs, holm([p["p_value"] for p in pairs]), strict=True):
        pair["p_holm"] = p_adj
        pair["significant"] = p_adj < alpha
    return pairs


def rank_arms(groups: dict[str, dict[int, float]], pairs: list[dict[str, Any]],
              higher_is_better: bool) -> list[dict[str, Any]]:
    """Arms from best to worst mean; ``rank`` = 1 + arms significantly better than this one.

    Arms sharing a rank are not distinguishable at the chosen alpha, so a reader sees at a
    glance which orderings are real and which are noise.
    """
    def key(label: str) -> tuple[float, float]:
        s = _scores(list(groups[label].values()), higher_is_better)
        return float(np.mean(s)), float(np.median(s))

    beats = {label: [] for label in groups}
    for p in pairs:
        if p["significant"]:
            loser = p["b"] if p["better"] == p["a"] else p["a"]
            beats[p["better"]].append(loser)
    out = []
    for label in sorted(groups, key=key):
        n_better = sum(label in losers for losers in beats.values())
        ties = [o for o in groups if o != label and o not in beats[label] and label not in beats[o]]
        out.append({"arm": label, "rank": 1 + n_better, "significantly_better_than": beats[label],
                    "not_distinguishable_from": ties})
    return out


def compare_arms(results: dict[int, Any], metric: str = "final_test_loss", alpha: float = 0.05,
                 curve_metric: str | None = "val_loss", n_boot: int = N_BOOT,
                 seed: int = 0) -> dict[str, Any]:
    """The multi-seed statistics of a finished comparison (``engine.compare``'s output), JSON-ready."""
    higher = metric.endswith("accuracy")
    groups = _group_by_arm(results, metric)
    pairs = pairwise_tests(groups, higher, alpha, n_boot, seed)
    out: dict[str, Any] = {
        "metric": metric, "higher_is_better": higher, "alpha": alpha,
        "table": final_metric_table(groups, n_boot=n_boot, seed=seed),
        "pairs": pairs, "ranking": rank_arms(groups, pairs, higher), "warnings": [],
    }
    warning = power_warning(min(len(g) for g in groups.values()), len(pairs), alpha)
    if warning:
        out["warnings"].append(warning)
    if curve_metric:
        out["curves"] = {}
        for label in groups:
            curves = [r.curves[curve_metric] for r in results.values()
                      if r.label == label and curve_metric in r.curves]
            if curves:
                out["curves"][label] = mean_band(curves, n_boot=n_boot, seed=seed)
    return out


def spearman(x: Sequence[float], y: Sequence[float], n_perm: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Spearman's rank correlation with a two-sided permutation p-value (exact enough for
    small samples, no distributional assumption). Pairs with a non-finite member are dropped."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = len(a)
    if n < 3:
        return {"rho": None, "p_value": None, "n": n}
    ra, rb = rankdata(a)[0], rankdata(b)[0]
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    if denom == 0:
        return {"rho": None, "p_value": None, "n": n}
    rho = float((ra * rb).sum() / denom)
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(rb) for _ in range(n_perm)])
    null = (perms @ ra) / denom
    p = (1 + int((np.abs(null) >= abs(rho) - 1e-12).sum())) / (n_perm + 1)
    return {"rho": rho, "p_value": p, "n": n}
