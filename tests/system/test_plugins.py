"""An optimizer plugin, installed the way a user installs one, through the whole service.

The example package (examples/optarena-signum) is pip-installed into a folder that only one
of two workers has on its path. The API never imports it: it learns of ``signum`` from the
workers' published capabilities, validates arms against its schema, and the job's shards go
to the queue only that worker consumes. Once that worker stops, ``signum`` is refused again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from models.tables import Shard
from tests.support import flows
from tests.support.procs import BIN, ROOT, Service, running, service_env, wait_for

EXAMPLE = ROOT / "examples" / "optarena-signum"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed by pip, as a user would, into a folder of its own."""
    src = tmp_path_factory.mktemp("src") / EXAMPLE.name
    shutil.copytree(EXAMPLE, src)
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run([str(BIN / "pip"), "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (target / "optarena_signum").is_dir()
    return target


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = service_env({"OPTARENA_HEARTBEAT_SECONDS": "1", "OPTARENA_WORKER_TTL_SECONDS": "5"})
    with running(env, tmp_path_factory.mktemp("plugins"), workers={"plain": "cpu"}) as svc:
        yield svc


def _signum_job(**arm: Any) -> dict[str, Any]:
    return {"preset": "seed-wave", "overrides": {
        "arms": [{"optimizer": "signum", "lr": 1e-3} | arm, {"optimizer": "adam", "lr": 1e-2}],
        "seeds": [0, 1], "train": {"steps": 200, "eval_every": 50}}}


def _catalogue(svc: Service) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in flows.get(svc, "/optimizers").json()}


def _refusal(svc: Service, body: dict[str, Any]) -> list[tuple[str, str]]:
    r = flows.post(svc, "/jobs", json=body)
    assert r.status_code == 422, r.text
    return [(e["field"], e["msg"]) for e in r.json()["detail"]]


def _shards(svc: Service, job_id: str) -> list[Shard]:
    engine = create_engine(f"sqlite:///{svc.cwd / 'var' / 'optarena.db'}")
    with Session(engine) as session:
        return list(session.scalars(select(Shard).where(Shard.job_id == job_id)))


def test_a_plugin_is_offered_while_a_worker_that_has_it_runs(service: Service, plugin_path: Path) -> None:
    # Installed nowhere yet: an unknown optimizer, with the names that are known.
    [(field, msg)] = _refusal(service, _signum_job())
    assert field == "overrides.arms.0.optimizer" and "'signum'" in msg and "adam" in msg
    assert "signum" not in _catalogue(service)

    worker = service.start_worker("with-plugin", env={"PYTHONPATH": f"{ROOT}{os.pathsep}{plugin_path}"})
    wait_for(lambda: "signum" in _catalogue(service), 20, "signum in GET /optimizers")
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

    r = flows.post(service, "/jobs", json=_signum_job())
    assert r.status_code == 201, r.text
    final = flows.wait_status(service, r.json()["id"], {"succeeded", "failed"}, timeout=120)
    assert final["status"] == "succeeded", final["error"]
    recorded = {(x["optimizer"], x["optimizer_package"], x["optimizer_version"]) for x in final["runs"]}
    assert recorded == {("signum", "optarena-signum", "0.2.0"), ("adam", "torch", metadata.version("torch"))}
    assert len({x["init_hash"] for x in final["runs"] if x["seed"] == 0}) == 1  # same start for both
    # Its shards went to the queue only the plugin's worker consumes, and that worker trained them.
    shards = _shards(service, final["id"])
    assert {s.queue for s in shards} == {"cpu.signum"}
    assert {s.owner.rsplit(":", 1)[1] for s in shards} == {str(worker.pid)}

    # Stopped (its shutdown withdraws it): signum is refused again and no longer listed.
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(30)
    assert "signum" not in _catalogue(service)
    [(field, msg)] = _refusal(service, _signum_job())
    assert field == "overrides.arms.0.optimizer" and "'signum'" in msg
