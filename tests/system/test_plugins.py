"""An optimizer plugin and a model plugin, installed the way a user installs them, through the
whole service.

The example packages (examples/optarena-signum, examples/optarena-gated-mlp) are pip-installed
into a folder that only one of two workers has on its path. The API never imports them: it
learns of ``signum`` and ``gated-mlp`` from the workers' published capabilities, validates arms
and nets against their schemas, and the job's shards go to a queue only that worker consumes.
Once that worker stops, both are refused again.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from models.tables import Shard
from tests.support import flows
from tests.support.examples import install_examples
from tests.support.procs import ROOT, Service, running, service_env, wait_for


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples installed by pip, as a user would, into a folder of their own."""
    return install_examples(tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = service_env({"OPTARENA_HEARTBEAT_SECONDS": "1", "OPTARENA_WORKER_TTL_SECONDS": "5"})
    with running(env, tmp_path_factory.mktemp("plugins"), workers={"plain": "cpu"}) as svc:
        yield svc


GATED = {"kind": "module", "model": "gated-mlp", "config": {"width": 16}}


def _signum_job(net: dict[str, Any] | None = None, **arm: Any) -> dict[str, Any]:
    overrides = {"arms": [{"optimizer": "signum", "lr": 1e-3} | arm, {"optimizer": "adam", "lr": 1e-2}],
                 "seeds": [0, 1], "train": {"steps": 200, "eval_every": 50}}
    return {"preset": "seed-wave", "overrides": overrides | ({"net": net} if net else {})}


def _catalogue(svc: Service, what: str = "/optimizers") -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in flows.get(svc, what).json()}


def _refusal(svc: Service, body: dict[str, Any]) -> list[tuple[str, str]]:
    r = flows.post(svc, "/jobs", json=body)
    assert r.status_code == 422, r.text
    return [(e["field"], e["msg"]) for e in r.json()["detail"]]


def _shards(svc: Service, job_id: str) -> list[Shard]:
    engine = create_engine(f"sqlite:///{svc.cwd / 'var' / 'optarena.db'}")
    with Session(engine) as session:
        return list(session.scalars(select(Shard).where(Shard.job_id == job_id)))


def test_plugins_are_offered_while_a_worker_that_has_them_runs(service: Service, plugin_path: Path) -> None:
    # Installed nowhere yet: an unknown optimizer and model, with the names that are known.
    refused = dict(_refusal(service, _signum_job(GATED)))
    assert refused.keys() == {"overrides.arms.0.optimizer", "overrides.net.model"}
    optimizer, model = refused["overrides.arms.0.optimizer"], refused["overrides.net.model"]
    assert "'signum'" in optimizer and "adam" in optimizer
    assert "'gated-mlp'" in model and "resnet-mini" in model
    assert "signum" not in _catalogue(service) and "gated-mlp" not in _catalogue(service, "/models")

    worker = service.start_worker("with-plugin", env={"PYTHONPATH": f"{ROOT}{os.pathsep}{plugin_path}"})
    wait_for(lambda: "signum" in _catalogue(service), 20, "signum in GET /optimizers")
    models = _catalogue(service, "/models")
    gated = models["gated-mlp"]
    assert (gated["package"], gated["version"], gated["plugin"], gated["workers"]) == (
        "optarena-gated-mlp", "0.1.0", True, 1)
    assert models["resnet-mini"]["workers"] == 2 and not models["resnet-mini"]["plugin"]
    width = next(h for h in gated["config"] if h["name"] == "width")
    assert (width["type"], width["default"], width["min"], width["max"]) == ("int", 32, 1, 1024)
    [(field, msg)] = _refusal(service, _signum_job(GATED | {"config": {"width": 0}}))
    assert field == "overrides.net.config" and "width" in msg
    catalogue = _catalogue(service)
    signum = catalogue["signum"]
    assert (signum["package"], signum["version"], signum["granularity"]) == ("optarena-signum", "0.2.0",
                                                                              "elementwise")
    assert signum["plugin"] and signum["workers"] == 1 and catalogue["adam"]["workers"] == 2
    lr = next(h for h in signum["hyperparameters"] if h["name"] == "lr")
    schema = (lr["default"], lr["min"], lr["max"], lr["min_exclusive"], lr["log"])
    assert schema == (1e-4, 0.0, 1.0, True, True)

    # The plugin's schema is enforced at the field's path, as a built-in's is.
    assert [f for f, _ in _refusal(service, _signum_job(lr=2.0))] == ["overrides.arms.0.signum.lr"]
    assert [f for f, _ in _refusal(service, _signum_job(lr="fast"))] == ["overrides.arms.0.signum.lr"]
    assert [f for f, _ in _refusal(service, _signum_job(beta1=0.9))] == ["overrides.arms.0.signum.beta1"]

    # No live worker has it on the GPU queue.
    on_gpu = _signum_job()
    on_gpu["overrides"]["train"]["device"] = "cuda"
    [(field, msg)] = _refusal(service, on_gpu)
    assert field == "overrides.arms" and "signum" in msg and "'gpu'" in msg

    # Both plugins in one job: a gated MLP trained by Signum and by Adam.
    r = flows.post(service, "/jobs", json=_signum_job(GATED))
    assert r.status_code == 201, r.text
    final = flows.wait_status(service, r.json()["id"], {"succeeded", "failed"}, timeout=120)
    assert final["status"] == "succeeded", final["error"]
    recorded = {(x["optimizer"], x["optimizer_package"], x["optimizer_version"]) for x in final["runs"]}
    assert recorded == {("signum", "optarena-signum", "0.2.0"), ("adam", "torch", metadata.version("torch"))}
    assert len({x["init_hash"] for x in final["runs"] if x["seed"] == 0}) == 1  # same start for both
    assert final["spec"]["net"]["config"] == {"width": 16, "depth": 2}
    # Its shards went to a queue only the plugins' worker consumes, and that worker trained them.
    shards = _shards(service, final["id"])
    assert {s.queue for s in shards} == {"cpu.model-gated-mlp"}
    assert {s.owner.rsplit(":", 1)[1] for s in shards} == {str(worker.pid)}

    # Stopped (its shutdown withdraws it): signum is refused again and no longer listed.
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(30)
    assert "signum" not in _catalogue(service) and "gated-mlp" not in _catalogue(service, "/models")
    assert _refusal(service, _signum_job(GATED)) == list(refused.items())
