"""Ranking the arms of a finished comparison, and the tests behind the ranking.

- ``pairwise_tests``: the paired Wilcoxon test of every pair of arms on the seeds they share,
  Holm-corrected over all pairs, with P(A beats B) beside it;
- ``rank_arms``: arms ranked by a stated statistic (the mean), and, separately, letter groups
  of the arms the tests cannot tell apart (``letter_groups``);
- ``compare_groups`` / ``compare_arms``: all of the above with the table of final values and
  the mean curves, JSON-ready.

Lower is better for losses; metrics whose name ends in "accuracy" are higher-is-better.
Runs that diverged (non-finite metric) count as the worst possible value in rank-based
statistics and in the ranking.
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.studies.statistics import (
    ci_info,
    final_metric_table,
    holm,
    json_number,
    mean_band,
    min_attainable_p,
    power_warning,
    probability_of_improvement,
    wilcoxon,
)

RANK_RULE = ("rank: by mean final value over seeds (a diverged run counts as the worst value), 1 = best; "
             "arms sharing a letter are not significantly different (paired Wilcoxon, Holm-corrected)")


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
    return [{"arm": label, "rank": ranks[label], "rank_by": rank_by,
             "statistic": json_number(sign * keys[label][0]),
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
