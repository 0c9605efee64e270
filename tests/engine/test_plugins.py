"""Optimizer plugins in the engine: the example package, pip-installed, loads through its entry
point, validates like a built-in and trains the cohort as its class does per run; malformed
plugins are left out with a reason."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine import plugins
from engine.optimizer_defs import HParam, OptimizerPlugin
from engine.spec import ComparisonSpec, stored
from tests.engine.agreement import measure
from tests.engine.conftest import small_wave

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    src = tmp_path_factory.mktemp("src") / "optarena-signum"
    shutil.copytree(ROOT / "examples" / "optarena-signum", src)
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True, timeout=300)
    sys.path.insert(0, str(target))
    plugins.installed.cache_clear()
    try:
        yield plugins.installed()
    finally:
        sys.path.remove(str(target))
        plugins.installed.cache_clear()
        sys.modules.pop("optarena_signum", None)


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
