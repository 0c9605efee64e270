"""Fitting flags on curves with a known shape, on real runs, and time to target."""

import pytest
import torch

from engine import compare, preset
from engine.runner import load_task
from engine.studies.fitting import (
    constant_baseline_loss,
    fitting_flags,
    performance_profile,
    run_fitting,
    run_time_to_target,
    time_to_target,
)

STEPS = list(range(1, 101))
FALLING = [1.0 / s for s in STEPS]


def test_val_u_shape_with_falling_train_is_overfitting():
    val = [(s - 40) ** 2 / 1000 + 0.1 for s in STEPS]  # minimum 0.1 at step 40, ends at 3.7
    out = fitting_flags((STEPS, FALLING), (STEPS, val))
    assert out["status"] == "overfitting" and "minimum 0.1 at step 40" in out["reasons"][0]


def test_small_val_wiggle_is_not_overfitting():
    val = [0.1 + 0.005 * (s % 2) for s in STEPS]  # 5% noise around a flat line
    assert fitting_flags((STEPS, FALLING), (STEPS, val))["status"] == "good fit"


def test_flat_train_loss_or_near_baseline_is_underfitting():
    flat = fitting_flags((STEPS, [1.0] * 100), (STEPS, [1.0] * 100))
    assert flat["underfitting"] and "fell only 0.0%" in flat["reasons"][0]
    near = fitting_flags((STEPS, [0.4 + 1 / s for s in STEPS]), (STEPS, [0.45] * 100), baseline_loss=0.5)
    assert near["underfitting"] and "of a constant predictor's loss 0.5" in near["reasons"][0]


def test_non_finite_train_loss_is_diverged():
    out = fitting_flags((STEPS, FALLING[:10] + [float("inf")] * 90), (STEPS, FALLING))
    assert out["status"] == "diverged" and "step 11" in out["reasons"][0]


def test_time_to_target_by_hand():
    curve = ([10, 20, 30, 40, 50], [5.0, 4.0, 3.0, 2.0, 1.0])
    wall = ([20, 40], [1.0, 3.0])
    assert time_to_target(curve, 2.5, 64, wall) == {"steps": 40, "examples": 2560, "seconds": 3.0}
    assert time_to_target(curve, 5.0, 64, wall)["seconds"] == pytest.approx(0.5)  # between (0, 0) and (20, 1)
    assert time_to_target(curve, 0.5, 64, wall) == {"steps": None, "examples": None, "seconds": None}


def test_performance_profile_by_hand():
    costs = {"wave": {"adam": 100, "sgd": 300}, "moons": {"adam": 200, "sgd": 100},
             "spirals": {"adam": 50, "sgd": None}}
    prof = performance_profile(costs, [1.0, 2.0, 3.0])
    assert prof["adam"] == pytest.approx([2 / 3, 1.0, 1.0])
    assert prof["sgd"] == pytest.approx([1 / 3, 1 / 3, 2 / 3])  # never solves spirals


def test_real_runs_flags_and_target_agree_with_engine():
    spec = preset("seed-wave", {"task": {"n": 1000}, "net": {"hidden": [16, 16]},
                                "train": {"steps": 300, "eval_every": 25, "target_loss": 0.1},
                                "arms": [{"optimizer": "sgd", "lr": 1e-3},
                                         {"optimizer": "adam", "lr": 1e-2}]})
    sgd, adam = compare(spec).values()
    data = load_task(spec, torch.device("cpu"))
    baseline = constant_baseline_loss(data)
    assert baseline == pytest.approx(float(((data.val.y - data.train.y.mean()) ** 2).mean()))
    assert run_fitting(sgd, baseline)["underfitting"]  # SGD at lr 1e-3 barely beats predicting the mean
    assert run_fitting(adam, baseline)["status"] == "good fit"
    for run in (sgd, adam):  # the engine's own target check and ours agree, including "not reached"
        assert run_time_to_target(run, 0.1)["steps"] == run.summary["steps_to_target"]
    assert run_time_to_target(sgd, 0.1)["steps"] is None
    assert run_time_to_target(adam, 0.1)["seconds"] > 0
