"""Norm options, the CNN and the deterministic regularizers agree with plain nn.Modules."""

import pytest
import torch

from engine import compare
from engine.reference import SequentialRuns, train_sequential
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec

ARMS = [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "momentum", "lr": 0.02, "momentum": 0.9},
        {"optimizer": "adam", "lr": 3e-3}]


def _spec(task: dict, net: dict, steps: int, **extra) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "task": task, "net": net, "arms": ARMS, "seeds": [0, 1],
        "train": {"steps": steps, "batch_size": 16, "eval_every": steps, "dtype": "float64"}, **extra})


def _assert_agree(spec: ComparisonSpec, tol: float = 1e-10) -> None:
    expected = train_sequential(spec)
    for run, result in compare(spec).items():
        a = torch.tensor(result.curves["train_loss"][1], dtype=torch.float64)
        b = torch.tensor(expected[run], dtype=torch.float64)
        rel = ((a - b).abs() / b.abs()).max().item()
        assert rel <= tol, f"{result.label} seed {result.seed}: max relative difference {rel:.2e}"


@pytest.mark.parametrize(("norm", "groups"), [("batch", 2), ("layer", 2), ("group", 4)])
def test_mlp_norms_match_torch_modules(norm, groups):
    net = {"hidden": [16, 16], "activation": "relu", "norm": norm, "groups": groups}
    _assert_agree(_spec({"name": "moons", "n": 400, "noise": 0.2}, net, 300))


DIGITS = {"name": "digits", "n": 600}


@pytest.mark.parametrize("norm", ["none", "batch", "instance", "layer", "group"])
def test_cnn_matches_torch_modules(norm):
    net = {"kind": "cnn", "channels": [4, 8], "hidden": [16], "activation": "relu", "norm": norm,
           "groups": 2}
    _assert_agree(_spec(DIGITS, net, 150))


def test_l2_penalty_and_label_smoothing_match_a_notebook_loss():
    reg = {"l2": 0.01, "label_smoothing": 0.1}
    _assert_agree(_spec({"name": "blobs", "n": 400}, {"hidden": [16]}, 300), tol=1e-10)
    _assert_agree(_spec({"name": "blobs", "n": 400}, {"hidden": [16]}, 300, regularization=reg))


def test_batch_norm_running_statistics_are_per_run_and_used_in_evaluation():
    spec = _spec({"name": "moons", "n": 400, "noise": 0.2}, {"hidden": [8], "norm": "batch"}, 100)
    cohort = make_cohort(spec, list(range(6)))
    cohort.train(Collector())
    ref = SequentialRuns(spec)
    for step in range(100):
        ref.step(step)
    for k, model in enumerate(ref.models):
        bn = model[1]
        assert torch.allclose(cohort.net.buffers[0][k], bn.running_mean, rtol=1e-8, atol=1e-10)
        assert torch.allclose(cohort.net.buffers[1][k], bn.running_var, rtol=1e-8, atol=1e-10)
        model.eval()
        with torch.no_grad():
            expected = model(cohort.data.test.x)
        got = cohort.net.forward(cohort.net.views(cohort.P[k:k + 1]), cohort.data.test.x,
                                 buffers=[b[k:k + 1] for b in cohort.net.buffers])[0]
        assert torch.allclose(got, expected, rtol=1e-7, atol=1e-7), (got - expected).abs().max()
    assert not torch.equal(cohort.net.buffers[0][0], cohort.net.buffers[0][2])  # runs keep their own


def test_sequential_reference_refuses_random_options():
    spec = _spec({"name": "blobs", "n": 200}, {"hidden": [8]}, 10, regularization={"dropout": 0.1})
    with pytest.raises(ValueError, match="dropout"):
        SequentialRuns(spec)
