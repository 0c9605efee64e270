"""Seed statistics against scipy and hand-worked values on fixed inputs."""

import math

import numpy as np
import pytest
from scipy import stats

from engine.runner import RunResult
from engine.studies.coverage import coverage
from engine.studies.ranking import compare_arms, letter_groups, rank_arms
from engine.studies.statistics import (
    holm,
    interval,
    mean_band,
    probability_of_improvement,
    spearman,
    wilcoxon,
)

RNG = np.random.default_rng(1234)
CASES = {
    "exact, no ties": (RNG.normal(size=9), RNG.normal(size=9)),
    "exact, one-sided data": (np.arange(1.0, 8.0), np.zeros(7)),
    "ties, small n": ([1, 2, 2, 3, 5, 5, 5, 8, 9, 4], [0, 0, 1, 1, 3, 3, 6, 2, 2, 2]),
    "zeros, small n": ([1, 2, 3, 4, 5, 6, 7, 8], [1, 0, 3, 1, 2, 6, 9, 1]),
    "ties, n=20": (np.round(RNG.normal(size=20), 1), np.round(RNG.normal(0.5, 1, size=20), 1)),
    "no ties, n=60": (RNG.normal(size=60), RNG.normal(0.3, 1, size=60)),
    "zeros and ties, n=70": (np.round(RNG.normal(size=70), 1), np.round(RNG.normal(size=70), 1)),
}


@pytest.mark.parametrize("name", CASES)
def test_wilcoxon_matches_scipy(name):
    x, y = CASES[name]
    ours, ref = wilcoxon(x, y), stats.wilcoxon(x, y)
    assert ours["statistic"] == pytest.approx(ref.statistic)
    assert ours["pvalue"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12), ours["method"]


def test_wilcoxon_all_equal_is_no_evidence():
    assert wilcoxon([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])["pvalue"] == 1.0


def test_holm_by_hand():
    # sorted p: 0.01*4=0.04, 0.02*3=0.06, 0.03*2=0.06 (monotone), 0.5*1=0.5
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_probability_of_improvement_is_mann_whitney_u():
    a, b = [0.1, 0.2, 0.2, 0.5, 0.3], [0.2, 0.4, 0.6, 0.35]
    u_b_over_a = stats.mannwhitneyu(b, a).statistic  # pairs where b > a, ties 1/2
    pi = probability_of_improvement(a, b)
    assert pi["estimate"] == pytest.approx(u_b_over_a / (len(a) * len(b)))
    assert pi["low"] <= pi["estimate"] <= pi["high"]
    assert probability_of_improvement(a, b) == pi  # seeded: same input, same interval


def test_student_t_interval_by_hand():
    v = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, s = 1.291, t(0.975, 3) = 3.1824
    lo, hi = interval(v)
    half = 3.182446305284263 * 1.2909944487358056 / 2
    assert (lo, hi) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-12)
    assert all(math.isnan(x) for x in interval([0.3]))  # one seed: no interval, not a zero-width one


def test_bca_interval_is_scipy_bootstrap():
    v = np.random.default_rng(5).exponential(size=12)
    lo, hi = interval(v, method="bca", seed=3)
    ref = stats.bootstrap((v,), np.mean, n_resamples=2000, rng=3).confidence_interval
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-12)
    with pytest.raises(ValueError, match="student-t"):
        interval(v, method="percentile")


@pytest.mark.parametrize("n", [3, 5, 10])
def test_nominal_95_percent_intervals_cover_95_percent_of_normal_samples(n):
    """2,000 simulated samples of n seeds each: the default interval must really cover.
    (The percentile bootstrap it replaced covered 76% at n = 3; bench/coverage.py.)"""
    assert coverage("student-t", "normal", n, trials=2000)["coverage"] >= 0.93
    assert coverage("percentile", "normal", 3, trials=500)["coverage"] < 0.85  # the test can tell


def test_mean_band_uses_common_steps_and_brackets_mean():
    curves = [([1, 2, 3], [1.0, 2.0, 3.0]), ([1, 2, 3], [3.0, 2.0, 1.0]), ([1, 2], [2.0, 5.0])]
    band = mean_band(curves)
    assert band["steps"] == [1, 2]  # the third run stopped after step 2
    assert band["mean"] == pytest.approx([2.0, 3.0])
    assert all(lo <= m <= hi for lo, m, hi in zip(band["low"], band["mean"], band["high"], strict=True))
    assert band == mean_band(curves)


def _fake(results, label, values, start):
    for seed, v in enumerate(values):
        run = start + seed
        results[run] = RunResult(run, label, label.lower(), seed,
                                 curves={"val_loss": ([10, 20], [v * 2, v])},
                                 summary={"final_test_loss": v})


def test_compare_arms_ranks_and_flags_significance():
    results: dict = {}
    _fake(results, "Adam", [0.01, 0.02, 0.015, 0.012, 0.011, 0.013, 0.02, 0.018], 0)
    _fake(results, "SGD", [0.10, 0.12, 0.11, 0.09, 0.13, 0.10, 0.12, 0.11], 8)
    # Momentum: SGD's values plus noise of both signs, so SGD vs Momentum is not significant.
    _fake(results, "Momentum", [0.11, 0.11, 0.12, 0.08, 0.14, 0.09, 0.125, 0.115], 16)
    _fake(results, "Broken", [math.inf] + [0.5] * 7, 24)
    out = compare_arms(results)
    ranking = {r["arm"]: r for r in out["ranking"]}
    assert [r["arm"] for r in out["ranking"]][0] == "Adam" and ranking["Adam"]["rank"] == 1
    assert set(ranking["Adam"]["significantly_better_than"]) == {"SGD", "Momentum", "Broken"}
    assert "Momentum" in ranking["SGD"]["not_distinguishable_from"]
    table = {t["arm"]: t for t in out["table"]}
    assert table["Broken"]["n_diverged"] == 1 and table["Broken"]["values"][0] is None
    adam_sgd = next(p for p in out["pairs"] if {p["a"], p["b"]} == {"Adam", "SGD"})
    assert adam_sgd["p_value"] == pytest.approx(stats.wilcoxon(
        [0.01, 0.02, 0.015, 0.012, 0.011, 0.013, 0.02, 0.018],
        [0.10, 0.12, 0.11, 0.09, 0.13, 0.10, 0.12, 0.11]).pvalue)
    assert adam_sgd["p_a_beats_b"]["estimate"] == 1.0
    assert out["curves"]["Adam"]["steps"] == [10, 20] and out["warnings"] == []
    assert out["ci_method"] == "student-t" and table["Adam"]["ci_level"] == 0.95
    # Momentum's mean is above SGD's: a rank of its own, but the same letter group as SGD
    assert [(r["arm"], r["rank"], r["group"]) for r in out["ranking"]] == [
        ("Adam", 1, "a"), ("SGD", 2, "b"), ("Momentum", 3, "b"), ("Broken", 4, "c")]


def test_compare_arms_warns_when_seeds_cannot_reach_alpha():
    results: dict = {}
    _fake(results, "A", [1.0, 2.0, 3.0], 0)
    _fake(results, "B", [2.0, 3.0, 4.0], 3)
    out = compare_arms(results, curve_metric=None)
    assert "no Holm-corrected test can reach" in out["warnings"][0]
    assert not out["pairs"][0]["significant"]


def _groups(**arms):
    return {label: dict(enumerate(values)) for label, values in arms.items()}


def test_arms_with_different_means_get_different_ranks_when_no_test_is_significant():
    """3 seeds cannot reach significance; a 25x difference in means must still read as an order."""
    groups = _groups(SGD=[0.08, 0.085, 0.081], Adam=[0.0035, 0.0034, 0.0036], Momentum=[0.01, 0.02, 0.015])
    pairs = [{"a": a, "b": b, "significant": False, "better": a} for a, b in
             [("SGD", "Adam"), ("SGD", "Momentum"), ("Adam", "Momentum")]]
    ranking = rank_arms(groups, pairs, higher_is_better=False)
    assert [(r["arm"], r["rank"], r["group"]) for r in ranking] == [
        ("Adam", 1, "a"), ("Momentum", 2, "a"), ("SGD", 3, "a")]
    assert ranking[0]["statistic"] == pytest.approx(0.0035)
    assert ranking[2]["not_distinguishable_from"] == ["Adam", "Momentum"]
    by_median = rank_arms(_groups(A=[1.0, 1.0, 9.0], B=[2.0, 2.0, 2.0]), [], False, rank_by="median")
    assert [r["arm"] for r in by_median] == ["A", "B"]  # mean would put B first
    tie = rank_arms(_groups(A=[1.0, 2.0], B=[2.0, 1.0], C=[3.0, 3.0]), [], False)
    assert [r["rank"] for r in tie] == [1, 1, 3]


def test_letter_groups_follow_non_transitive_tests():
    """A ~ B and B ~ C but A differs from C: B shares a letter with each, A and C share none."""
    pairs = [{"a": "A", "b": "B", "significant": False}, {"a": "B", "b": "C", "significant": False},
             {"a": "A", "b": "C", "significant": True}, {"a": "A", "b": "D", "significant": True},
             {"a": "B", "b": "D", "significant": True}, {"a": "C", "b": "D", "significant": True}]
    assert letter_groups(["A", "B", "C", "D"], pairs) == {"A": "a", "B": "ab", "C": "b", "D": "c"}


def test_spearman_matches_scipy_with_an_exact_permutation_p():
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.3, 0.1, 0.5, 0.4, 0.9, 0.8]
    out = spearman(x, y)
    assert out["rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    # all 720 pairings enumerated: count those at least as extreme as rho = 0.8286
    null = [stats.spearmanr(x, list(p)).statistic for p in __import__("itertools").permutations(y)]
    assert out["p_value"] == pytest.approx(np.mean(np.abs(null) >= abs(out["rho"]) - 1e-12))
    assert spearman([1.0, 2.0, math.inf], [1.0, 2.0, 3.0])["rho"] is None  # two finite pairs left
