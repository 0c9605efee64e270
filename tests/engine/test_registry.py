"""Optimizer registry: real torch defaults, validated hyperparameters, all of them train."""

import inspect
import math
from importlib import metadata

import pytest
from pydantic import ValidationError

from engine import compare
from engine.registry import REGISTRY, catalogue
from engine.spec import ComparisonSpec
from engine.tasks import make_task
from engine.torch_stepper import optimizer_class
from tests.engine.conftest import ALL_OPTIMIZERS, small_wave


def test_registry_names_and_torch_defaults():
    assert set(ALL_OPTIMIZERS) <= set(REGISTRY)
    for entry in catalogue():
        d = REGISTRY[entry["name"]]
        assert entry["torch_class"] == d.factory and entry["version"] == metadata.version(d.distribution)
        sig = inspect.signature(optimizer_class(d)).parameters
        for h in entry["hyperparameters"]:
            name = h["name"]
            if name.startswith("beta"):
                torch_default = sig["betas"].default[int(name[-1]) - 1]
            elif d.torch_class == "SGD" and name == "momentum" and entry["name"] != "gd":
                continue  # momentum/nesterov presets choose 0.9 where torch's SGD says 0
            else:
                torch_default = sig[name].default
            assert h["default"] == torch_default, (entry["name"], name)


def test_every_optimizer_beats_a_constant_predictor_within_the_default_budget():
    d = small_wave(steps=10_000, log_every=500, eval_every=5_000)
    d["arms"] = [{"optimizer": n, "lr": 1.0 if n == "adadelta" else 1e-2} for n in ALL_OPTIMIZERS]
    spec = ComparisonSpec.model_validate(d)
    data = make_task(spec.task)
    constant = ((data.test.y - data.train.y.mean()) ** 2).mean().item()
    for r in compare(spec).values():
        assert not r.summary["diverged"]
        loss = r.summary["final_test_loss"]
        assert loss < 0.9 * constant, (r.label, loss, constant)


def _errors(spec: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as exc:
        ComparisonSpec.model_validate(spec)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.value.errors()]


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"arms": [{"optimizer": "adam", "lr": -1}]}, "arms.0.adam.lr"),
        ({"arms": [{"optimizer": "adam", "beta1": math.nan}]}, "arms.0.adam.beta1"),
        ({"arms": [{"optimizer": "adam", "beta2": 1.0}]}, "arms.0.adam.beta2"),
        ({"arms": [{"optimizer": "rmsprop", "alpha": 2}]}, "arms.0.rmsprop.alpha"),
        ({"train": {"steps": 0}}, "train.steps"),
        ({"arms": []}, "arms"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"arms": [{"optimizer": "sgd", "momentum": 0.9}]}, "arms.0.sgd.momentum"),
    ],
)
def test_bad_specs_name_the_field(patch, path):
    spec = small_wave() | patch
    errors = _errors(spec)
    assert any(loc == path for loc, _ in errors), errors


def test_unknown_optimizer_lists_the_known_ones():
    ((loc, msg),) = _errors(small_wave() | {"arms": [{"optimizer": "sophia"}]})
    assert loc == "arms.0.optimizer" and "'sophia'" in msg
    listed = msg.split("choose one of: ")[1].split(" (")[0].split(", ")
    assert listed == list(REGISTRY)
