"""Optimizer and model plugins in the engine: the example packages, pip-installed, load through
their entry points, validate like built-ins and train the cohort as their class does per run;
malformed plugins are left out with a reason."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from core.settings import Settings
from engine import plugins
from engine.model_defs import ModelPlugin
from engine.modules import build_module
from engine.optimizer_defs import HParam, OptimizerPlugin
from engine.spec import ComparisonSpec, stored
from tests.engine.agreement import check, measure
from tests.engine.conftest import small_wave
from tests.support.examples import install_examples
from worker.model_limits import OverLimit, check_plugin_model


def _clear() -> None:
    plugins.installed.cache_clear()
    plugins.installed_models.cache_clear()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    target = install_examples(tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("site"))
    sys.path.insert(0, str(target))
    _clear()
    try:
        yield plugins.installed() | plugins.installed_models()
    finally:
        sys.path.remove(str(target))
        _clear()
        sys.modules.pop("optarena_signum", None)
        sys.modules.pop("optarena_gated_mlp", None)


def _spec(arms: list[dict[str, object]], **train: object) -> dict[str, object]:
    d = small_wave(steps=200, dtype="float64", eval_every=50)
    d["arms"], d["seeds"] = arms, [0, 1]
    d["train"] |= train
    return d


def test_the_example_plugin_loads_from_its_entry_point(installed: dict[str, object]) -> None:
    d = installed["signum"]
    assert (d.module, d.torch_class, d.distribution, d.granularity) == (
        "optarena_signum", "Signum", "optarena-signum", "elementwise")
    assert d.plugin and not d.vectorized and [h.name for h in d.hparams] == ["lr", "momentum", "weight_decay"]
    spec = ComparisonSpec.model_validate(_spec([{"optimizer": "signum", "lr": 1e-3}]))
    again = ComparisonSpec.model_validate(_spec([]) | {"arms": spec.arms})  # built arms pass as they are
    assert again.arms[0].hyperparams() == {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0}


def test_a_plugin_arm_is_validated_against_its_schema(installed: dict[str, object]) -> None:
    bad = (({"lr": 0.0}, "lr"), ({"momentum": 1.0}, "momentum"), ({"lr": "x"}, "lr"), ({"eps": 1}, "eps"))
    for arm, loc in bad:
        with pytest.raises(ValidationError) as info:
            ComparisonSpec.model_validate(_spec([{"optimizer": "signum"} | arm]))
        assert [e["loc"] for e in info.value.errors()] == [("arms", 0, "signum", loc)]
    # The API validates against what live workers offer, not against what is installed.
    with pytest.raises(ValidationError) as info:
        ComparisonSpec.model_validate(_spec([{"optimizer": "signum"}]), context={"optimizers": {}})
    assert info.value.errors()[0]["loc"] == ("arms", 0, "optimizer")


@pytest.mark.usefixtures("threads")
def test_a_plugin_trains_the_cohort_as_its_class_does_per_run(installed: dict[str, object]) -> None:
    arms = [{"optimizer": "signum", "lr": lr, "label": f"signum {lr}"} for lr in (1e-3, 5e-4)]
    spec = ComparisonSpec.model_validate(_spec(arms + [{"optimizer": "adam", "lr": 1e-2}]))
    figures = measure(spec)
    assert len(figures) == 6 and max(f.noise for f in figures) <= 1e-10
    assert max(f.engine for f in figures) <= 1e-9, [str(f) for f in figures]


def test_a_stored_plugin_job_reads_back_where_the_plugin_is_missing() -> None:
    """The API reads stored jobs without importing plugins: the arm keeps its values."""
    data = _spec([{"optimizer": "not_installed_here", "lr": 0.5, "label": "X"}])
    spec = stored(ComparisonSpec.model_validate(_spec([{"optimizer": "sgd"}])).model_dump(mode="json")
                  | {"arms": data["arms"]})
    assert spec.arms[0].hyperparams() == {"lr": 0.5} and spec.arms[0].display() == "X"
    assert spec.model_dump(mode="json")["arms"][0]["lr"] == 0.5
    with pytest.raises(ValidationError):  # outside storage, an unknown name is still refused
        ComparisonSpec.model_validate(data)


def _plugin() -> OptimizerPlugin:
    from torch.optim import SGD

    return OptimizerPlugin("mine", SGD, (HParam("lr", 0.1, 0.0, None, low_open=True),))


@pytest.mark.parametrize(("change", "reason"), [
    ({"name": "adam"}, "taken by a built-in"),
    ({"name": "Bad-Name"}, "lowercase"),
    ({"hparams": (HParam("momentum", 0.9),)}, "must include 'lr'"),
    ({"hparams": (HParam("lr", 0.1, 0.0, None, log=True),)}, "log scale"),
    ({"granularity": "rowwise"}, "granularity"),
])
def test_a_malformed_plugin_is_left_out_with_its_reason(change: dict[str, object], reason: str) -> None:
    plugin = dataclasses.replace(_plugin(), **change)
    assert reason in plugins.problem(plugin, {})


def test_a_plugin_that_declares_no_granularity_is_per_tensor() -> None:
    assert _plugin().granularity == "per_tensor" and plugins.problem(_plugin(), {}) is None


# -- model plugins (group optarena.models) ------------------------------------------------

GATED = {"kind": "module", "model": "gated-mlp", "config": {"width": 8}}


def _model_spec(net: dict[str, object]) -> dict[str, object]:
    return _spec([{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "adam", "lr": 1e-2}]) | {"net": net}


def test_the_example_model_plugin_loads_and_validates_like_a_built_in(installed: dict[str, object]) -> None:
    d = installed["gated-mlp"]
    assert (d.factory, d.distribution, d.plugin, d.count) == (
        "optarena_gated_mlp:GatedMLP", "optarena-gated-mlp", True, None)
    spec = ComparisonSpec.model_validate(_model_spec(GATED))
    assert spec.net.config == {"width": 8, "depth": 2} and spec.net.module is d  # defaults filled in
    for config, word in (({"width": 0}, "width"), ({"width": 2.5}, "width"), ({"heads": 2}, "heads")):
        with pytest.raises(ValidationError) as info:
            ComparisonSpec.model_validate(_model_spec(GATED | {"config": config}))
        [e] = info.value.errors()
        assert e["loc"] == ("net", "config") and word in e["msg"] and "gated-mlp" in e["msg"]
    # The API validates against what live workers offer, not against what is installed.
    with pytest.raises(ValidationError) as info:
        ComparisonSpec.model_validate(_model_spec(GATED), context={"optimizers": {}, "models": {}})
    [e] = info.value.errors()
    assert e["loc"] == ("net", "model") and "'gated-mlp'" in e["msg"] and "resnet-mini" in e["msg"]


def test_a_plugin_model_trains_the_cohort_as_one_module_per_run_does(installed: dict[str, object]) -> None:
    spec = ComparisonSpec.model_validate(_model_spec(GATED))
    figures = check(spec, "gated-mlp plugin, float64")
    assert len(figures) == 4 and max(f.engine for f in figures) <= 1e-9, [str(f) for f in figures]


def test_a_stored_plugin_model_reads_back_where_it_is_missing_and_fails_to_build_there() -> None:
    data = ComparisonSpec.model_validate(_spec([{"optimizer": "sgd"}])).model_dump(mode="json")
    data["net"] |= {"kind": "module", "model": "not-installed", "config": {"size": 3}}
    spec = stored(data)
    assert spec.net.module.plugin and spec.net.config == {"size": 3}
    assert spec.model_dump(mode="json")["net"]["config"] == {"size": 3}
    with pytest.raises(LookupError, match="'not-installed' is not installed"):
        build_module(spec.net, 1, 1)
    with pytest.raises(ValidationError):  # outside storage, an unknown name is still refused
        ComparisonSpec.model_validate(data)


def test_the_worker_refuses_a_plugin_model_over_the_parameter_limit(installed: dict[str, object]) -> None:
    spec = ComparisonSpec.model_validate(_model_spec(GATED | {"config": {"width": 64}}))
    # wave: 1 input, 1 output; gated layers of 64 units (linear maps to 128), then the head
    count = (1 * 128 + 128) + (64 * 128 + 128) + (64 * 1 + 1)
    check_plugin_model(spec, Settings(max_params_per_net=count), None)
    with pytest.raises(OverLimit, match=rf"^net\.config: the net has {count} parameters, above the limit "
                       rf"of {count - 1} \(OPTARENA_MAX_PARAMS_PER_NET\)"):
        check_plugin_model(spec, Settings(max_params_per_net=count - 1), None)


def _model_plugin() -> ModelPlugin:
    from torch.nn import Linear

    return ModelPlugin("mine", Linear, (HParam("bias", True),))


@pytest.mark.parametrize(("change", "reason"), [
    ({"name": "resnet-mini"}, "taken by a built-in"),
    ({"name": "Bad Name"}, "lowercase"),
    ({"factory": lambda shape, out: None}, "module-level"),
    ({"config": (HParam("not an identifier", 1),)}, "identifier"),
    ({"config": (HParam("scale", 1.0, 0.0, 2.0, log=True),)}, "log scale"),
])
def test_a_malformed_model_plugin_is_left_out_with_its_reason(change: dict[str, object], reason: str) -> None:
    assert plugins.model_problem(_model_plugin(), {}) is None
    assert reason in plugins.model_problem(dataclasses.replace(_model_plugin(), **change), {})
    assert "ModelPlugin" in plugins.model_problem(object(), {})
