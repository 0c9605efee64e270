"""Any nn.Module trained as K runs at once through torch.func (engine/functional_net.py)
computes what one module and one optimizer per run compute.

Tolerances: tests/engine/agreement.py (C * noise + floor, never looser than 1e-6 in float64);
besides, every float64 run must stay within 1e-9 of its reference. Every test runs at 1 and
2 threads (conftest.py)."""

import pytest
import torch
from pydantic import ValidationError

from engine.functional_net import FunctionalNet
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec
from tests.engine.agreement import check
from tests.engine.conftest import assert_resume_is_exact, small_wave

pytestmark = pytest.mark.usefixtures("threads")

ISSUE_BOUND = 1e-9  # float64, 200 steps: the generic path's promise
ARMS = [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "momentum", "lr": 0.02},
        {"optimizer": "adam", "lr": 1e-3}, {"optimizer": "adamw", "lr": 1e-3},
        {"optimizer": "lion", "lr": 1e-4}, {"optimizer": "lamb", "lr": 1e-3}]
# The seed task's rates (tests/engine/conftest.py): SGD at 0.05 is chaotic there.
WAVE_ARMS = [{"optimizer": n, "lr": 1e-2} for n in ("sgd", "momentum", "adam", "lion")]


def digits(net: dict, steps: int = 200, arms: list[dict] = ARMS, dtype: str = "float64",
           eval_every: int | None = None) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "task": {"name": "digits", "n": 600}, "net": net, "arms": arms, "seeds": [0],
        "train": {"steps": steps, "batch_size": 32, "eval_every": eval_every or steps, "dtype": dtype}})


def within_issue_bound(figures) -> None:
    worst = max(f.engine for f in figures)
    assert worst <= ISSUE_BOUND, [str(f) for f in figures]


def test_resnet_mini_with_batch_norm_matches_a_module_per_run() -> None:
    spec = digits({"kind": "module", "model": "resnet-mini", "config": {"channels": 4, "blocks": 1}})
    within_issue_bound(check(spec, "resnet-mini, float64"))


def test_the_mlp_through_torch_func_matches_its_stacked_form_and_torch() -> None:
    stacked = ComparisonSpec.model_validate(small_wave(steps=200, dtype="float64", eval_every=200)
                                            | {"seeds": [0], "arms": WAVE_ARMS})
    functional = stacked.model_copy(update={"net": stacked.net.model_copy(update={"path": "functional"})})
    within_issue_bound(check(functional, "mlp through torch.func, float64"))
    runs = list(range(len(stacked.runs())))
    a, b = make_cohort(stacked, runs), make_cohort(functional, runs)
    assert isinstance(b.net, FunctionalNet) and not isinstance(a.net, FunctionalNet)
    assert torch.equal(a.P, b.P)  # the same initial weights, row for row
    a.train(Collector())
    b.train(Collector())
    assert ((a.P - b.P).abs() / a.P.abs().clamp_min(1e-3)).max() <= ISSUE_BOUND


def test_a_cnn_with_batch_norm_through_torch_func_matches_torch() -> None:
    spec = digits({"kind": "cnn", "channels": [4], "hidden": [16], "norm": "batch", "path": "functional"},
                  arms=ARMS[:3])
    within_issue_bound(check(spec, "cnn + batch norm through torch.func, float64"))


def test_resume_equals_uninterrupted_on_the_functional_path() -> None:
    spec = digits({"kind": "module", "model": "resnet-mini", "config": {"channels": 4, "blocks": 1}},
                  steps=40, dtype="float32", eval_every=10)  # a checkpoint is taken at a flush
    assert_resume_is_exact(spec, 20)


def test_one_seed_starts_every_arm_from_the_same_module_weights() -> None:
    spec = digits({"kind": "module", "model": "resnet-mini"}, steps=10, arms=ARMS[:2]).model_copy(
        update={"seeds": [3, 4]})
    runs = spec.runs()
    cohort = make_cohort(spec, list(range(len(runs))))
    first = {}
    for k, r in enumerate(runs):
        first.setdefault(r.seed, k)
        assert torch.equal(cohort.P[k], cohort.P[first[r.seed]])
    assert not torch.equal(cohort.P[first[3]], cohort.P[first[4]])
    assert cohort.init_hash[3] != cohort.init_hash[4]


@pytest.mark.parametrize(("net", "extra", "field", "words"), [
    ({"kind": "module", "model": "vgg"}, {}, "net.model", "unknown model 'vgg'"),
    ({"kind": "module", "model": "resnet-mini", "config": {"width": 3}}, {}, "net.config", "width"),
    ({"kind": "module", "model": "resnet-mini", "config": {"channels": 0}}, {}, "net.config", "channels"),
    ({"kind": "module"}, {}, "net", "give 'model'"),
    ({"kind": "module", "model": "resnet-mini"}, {"task": {"name": "wave"}}, "net", "image task"),
    ({"kind": "module", "model": "resnet-mini"}, {"regularization": {"dropout": 0.1}}, "regularization",
     "dropout"),
    ({"kind": "module", "model": "resnet-mini"},
     {"arms": [{"optimizer": "sgd", "sam": {"rho": 0.05}}]}, "arms", "batch norm"),
])
def test_bad_models_are_refused_with_their_field(net, extra, field, words) -> None:
    body = {"task": {"name": "digits"}, "net": net, "arms": [{"optimizer": "sgd"}]} | extra
    with pytest.raises(ValidationError) as err:
        ComparisonSpec.model_validate(body)
    e = err.value.errors()[0]
    assert ".".join(str(p) for p in e["loc"]).startswith(field) and words in e["msg"], e
