"""Bias-variance and bagging: the decomposition adds up, on closed-form inputs and on the wave task."""

import math

import pytest
import torch

from engine import preset
from engine.runner import load_task
from engine.studies.bias_variance import (
    BootstrapCohort,
    bias_variance_study,
    decompose,
    resample_table,
)


def test_decompose_on_known_predictions():
    # f = 0; y = +-0.1 (noise 0.01); members predict 0.5 + {-0.2, +0.2}: bias^2 0.25, variance 0.04.
    y = torch.tensor([[0.1], [-0.1], [0.1], [-0.1]])
    preds = torch.stack([torch.full((4, 1), 0.3), torch.full((4, 1), 0.7)])
    out = decompose(preds, y, torch.zeros(4, 1))
    assert out["bias2"] == pytest.approx(0.25) and out["variance"] == pytest.approx(0.04)
    assert out["noise"] == pytest.approx(0.01) and out["cross_term"] == pytest.approx(0.0, abs=1e-12)
    assert out["expected_test_error"] == pytest.approx(0.30)


def test_each_run_trains_on_its_own_resample():
    spec = preset("seed-wave", {"task": {"n": 200}, "net": {"hidden": [4]}, "seeds": [0, 1],
                                "train": {"steps": 3, "batch_size": 16}})
    data = load_task(spec, torch.device("cpu"))
    positive = torch.nonzero(data.train.x[:, 0] > 0).flatten()
    table = resample_table(len(data.train.x), 1, seed=0)
    table[1] = positive[torch.arange(len(data.train.x)) % len(positive)]  # run 1 sees only x > 0
    runs = [spec.runs()[i].model_copy(update={"batch_size": 16}) for i in (0, 1)]
    cohort = BootstrapCohort(spec, runs, data, torch.device("cpu"), torch.float32, table)
    x, _ = cohort._batch(0)
    assert x.shape == (2, 16, 1) and bool((x[1] > 0).all()) and not bool((x[0] > 0).all())


@pytest.fixture(scope="module")
def study():
    spec = preset("seed-wave", {"task": {"n": 2000}, "net": {"hidden": [16, 16]},
                                "train": {"steps": 300, "eval_every": 300}})
    spec = spec.model_copy(update={"arms": [spec.arms[0], spec.arms[2]]})  # SGD, Adam
    return {a["arm"]: a for a in bias_variance_study(spec, n_boot=8)["arms"]}


def test_parts_add_up_to_measured_error_within_bootstrap_error(study):
    for arm in study.values():
        err = math.hypot(arm["cross_term_se"], arm["expected_test_error_se"])
        assert abs(arm["expected_test_error"] - arm["sum"]) <= 3 * err, arm
        assert arm["noise"] == pytest.approx(0.03**2, rel=0.3)  # the task's label noise, sigma = 0.03
        assert arm["bias2"] > 0 and arm["variance"] > 0


def test_adam_has_less_bias_and_bagging_removes_variance(study):
    assert study["Adam"]["bias2"] < study["SGD"]["bias2"]  # the notes: Adam fits the curve best
    for arm in study.values():
        bag = arm["bagging"]
        assert bag["ensemble_test_mse"] == pytest.approx(bag["mean_member_test_mse"] - arm["variance"])
        assert math.isfinite(bag["single_net_test_mse"])
