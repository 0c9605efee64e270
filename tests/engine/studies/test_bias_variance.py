"""Bias-variance and bagging: the decomposition adds up, on closed-form inputs and on the wave task."""

import math

import numpy as np
import pytest
import torch

from engine import preset
from engine.runner import load_task
from engine.spec import ComparisonSpec
from engine.studies.bias_variance import decompose
from engine.trainer import Cohort
from tests.engine.conftest import bias_variance_arms


def test_decompose_on_known_predictions():
    # f = 0; y = +-0.1 (noise 0.01); members predict 0.5 + {-0.2, +0.2}: bias^2 0.25, variance 0.04.
    y = np.array([0.1, -0.1, 0.1, -0.1])
    preds = np.stack([np.full(4, 0.3), np.full(4, 0.7)])
    out = decompose(preds, y, np.zeros(4))
    assert out["bias2"] == pytest.approx(0.25) and out["variance"] == pytest.approx(0.04)
    assert out["noise"] == pytest.approx(0.01) and out["cross_term"] == pytest.approx(0.0, abs=1e-12)
    assert out["expected_test_error"] == pytest.approx(0.30)


def test_each_run_trains_on_its_own_resample():
    spec = preset("seed-wave", {"task": {"n": 200}, "net": {"hidden": [4]},
                                "train": {"steps": 3, "batch_size": 16},
                                "study": {"kind": "bias_variance", "resamples": 2}})
    data = load_task(spec, torch.device("cpu"))
    runs = [r.model_copy(update={"batch_size": 16}) for r in spec.runs()[:3]]
    assert [(r.variant, r.seed) for r in runs] == [(0, 0), (1, 1), (2, 2)]  # replicate b: seed + b
    cohort = Cohort(spec, runs, data, torch.device("cpu"), torch.float32)
    x, _ = cohort.batches.at(0)
    assert x.shape == (3, 16, 1)
    rows = cohort.view.train_rows
    assert len(set(rows[0].tolist())) < len(rows[0])  # drawn with replacement
    assert rows[2].tolist() == list(range(len(data.train.x)))  # the last replicate: the whole split
    # Replicate b is the same rows for every arm: arms 0 and 1 share batch hashes per replicate.
    other = ComparisonSpec.model_validate(spec.model_dump() | {"arms": spec.model_dump()["arms"][::-1]})
    mine = Cohort(other, runs, data, torch.device("cpu"), torch.float32)
    assert [mine._started(k, r).batch_hash for k, r in enumerate(runs)] == \
        [cohort._started(k, r).batch_hash for k, r in enumerate(runs)]


@pytest.fixture(scope="module")
def study():
    spec = preset("seed-wave", {"task": {"n": 2000}, "net": {"hidden": [16, 16]},
                                "train": {"steps": 300, "eval_every": 300},
                                "study": {"kind": "bias_variance", "resamples": 8}})
    spec = spec.model_copy(update={"arms": [spec.arms[0], spec.arms[2]]})  # SGD, Adam
    return bias_variance_arms(spec)


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
