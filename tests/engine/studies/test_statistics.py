"""Seed statistics against scipy and hand-worked values on fixed inputs."""

import math

import numpy as np
import pytest
from scipy import stats

from engine.runner import RunResult
from engine.studies.statistics import (
    bootstrap_ci,
    compare_arms,
    holm,
    mean_band,
    probability_of_improvement,
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


def test_bootstrap_ci_agrees_with_scipy_percentile():
    v = np.random.default_rng(5).exponential(size=12)
    lo, hi = bootstrap_ci(v, n_boot=20000)
    ref = stats.bootstrap((v,), np.mean, method="percentile", n_resamples=20000, random_state=0)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.05 * width)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.05 * width)


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
    _fake(results, "Momentum", [0.11, 0.11, 0.12, 0.08, 0.14, 0.09, 0.125, 0.105], 16)
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


def test_compare_arms_warns_when_seeds_cannot_reach_alpha():
    results: dict = {}
    _fake(results, "A", [1.0, 2.0, 3.0], 0)
    _fake(results, "B", [2.0, 3.0, 4.0], 3)
    out = compare_arms(results, curve_metric=None)
    assert "no Holm-corrected test can reach" in out["warnings"][0]
    assert not out["pairs"][0]["significant"]
