"""Norm options, the CNN and the deterministic regularizers agree with plain nn.Modules.

Tolerances: tests/engine/agreement.py; every agreement test runs at 1 and 2 threads."""

import pytest
import torch

from engine.reference import SequentialRuns
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec
from tests.engine.agreement import TWIN_ULPS, Figure, assert_within, bound, check, max_rel, reference

ARMS = [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "momentum", "lr": 0.02, "momentum": 0.9},
        {"optimizer": "adam", "lr": 3e-3}]
MOONS = {"name": "moons", "n": 400, "noise": 0.2}
DIGITS = {"name": "digits", "n": 600}


def _spec(task: dict, net: dict, steps: int, **extra) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "task": task, "net": net, "arms": ARMS, "seeds": [0, 1],
        "train": {"steps": steps, "batch_size": 16, "eval_every": steps, "dtype": "float64"}, **extra})


@pytest.mark.usefixtures("threads")
@pytest.mark.parametrize(("norm", "groups"), [("batch", 2), ("layer", 2), ("group", 4)])
def test_mlp_norms_match_torch_modules(norm, groups):
    net = {"hidden": [16, 16], "activation": "relu", "norm": norm, "groups": groups}
    check(_spec(MOONS, net, 150), f"MLP, {norm} norm")


@pytest.mark.usefixtures("threads")
@pytest.mark.parametrize("norm", ["none", "batch", "instance", "layer", "group"])
def test_cnn_matches_torch_modules(norm):
    net = {"kind": "cnn", "channels": [4, 8], "hidden": [16], "activation": "relu", "norm": norm,
           "groups": 2}
    check(_spec(DIGITS, net, 60), f"CNN, {norm} norm")


@pytest.mark.usefixtures("threads")
@pytest.mark.parametrize("reg", [None, {"l2": 0.01, "label_smoothing": 0.1}], ids=["plain", "l2+smoothing"])
def test_l2_penalty_and_label_smoothing_match_a_notebook_loss(reg):
    check(_spec({"name": "blobs", "n": 400}, {"hidden": [16]}, 150, regularization=reg), f"blobs, {reg}")


@pytest.mark.usefixtures("threads")
def test_batch_norm_running_statistics_are_per_run_and_used_in_evaluation():
    """The engine's per-run running statistics are torch's, and evaluation uses them.

    The Linear bias before a batch norm has no true gradient (the norm subtracts it again),
    so its computed gradient is rounding noise (~1e-15, against ~0.3 for the weights). SGD
    moves it by lr * g, nothing; Adam divides by sqrt(v) + eps, so it moves it by about
    lr * g / eps, 1e8 times more, and that bias, with the running mean that follows it,
    drifts by an amount set by rounding alone (up to 1e-8 of the feature's std here, for
    the reference's twin as much as for the engine). So the running mean is compared in
    units of the feature's running std, which is what the norm divides it by, the outputs
    in units of their largest value, and everything against the twin."""
    steps = 100
    spec = _spec(MOONS, {"hidden": [8], "norm": "batch"}, steps)
    cohort = make_cohort(spec, list(range(6)))
    cohort.train(Collector())
    ref, twin = reference(spec), reference(spec, TWIN_ULPS)
    figures = []
    for k, (r, model, other) in enumerate(zip(ref.runs, ref.models, twin.models, strict=True)):
        bn, bn_twin = model[1], other[1]
        std = (bn.running_var + bn.eps).sqrt()  # what the norm divides the mean's error by
        got_out, want_out, twin_out = _evaluate(cohort, k, model, other)
        scale = want_out.abs().max()
        measured = {  # (engine, twin), each against the reference
            "running mean / std": (_gap(cohort.net.buffers[0][k], bn.running_mean, std),
                                   _gap(bn_twin.running_mean, bn.running_mean, std)),
            "running var": (max_rel(cohort.net.buffers[1][k], bn.running_var),
                            max_rel(bn_twin.running_var, bn.running_var)),
            "eval output / max": (_gap(got_out, want_out, scale), _gap(twin_out, want_out, scale)),
        }
        figures += [Figure(f"run {k} {what}", r.seed, e, n, bound(n, steps, "float64"))
                    for what, (e, n) in measured.items()]
    assert_within("batch-norm running statistics", figures, "float64")
    assert not torch.equal(cohort.net.buffers[0][0], cohort.net.buffers[0][2])  # runs keep their own


def _gap(a: torch.Tensor, b: torch.Tensor, unit: torch.Tensor) -> float:
    """Largest |a - b| in units of ``unit``."""
    return ((a - b).abs() / unit).max().item()


def _evaluate(cohort, k: int, model: torch.nn.Module, twin: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """Eval-mode test-split outputs of run k: the engine's (its running statistics), the
    reference's and the twin's."""
    x = cohort.data.test.x
    got = cohort.net.forward(cohort.net.views(cohort.P[k:k + 1]), x,
                             buffers=[b[k:k + 1] for b in cohort.net.buffers])[0]
    model.eval()
    twin.eval()
    with torch.no_grad():
        return got, model(x), twin(x)


def test_sequential_reference_refuses_random_options():
    spec = _spec({"name": "blobs", "n": 200}, {"hidden": [8]}, 10, regularization={"dropout": 0.1})
    with pytest.raises(ValueError, match="dropout"):
        SequentialRuns(spec)
