"""A client generated from the running service's /openapi.json by openapi-python-client, as a
user would generate one: its typed request body submits the seed-wave preset to the real API and
a real worker, and its typed responses read the job's results once it has succeeded."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest

from tests.support.procs import BIN, Service, running, service_env

PACKAGE = "optarena_api"  # the generated package: the folder openapi-python-client writes


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running(service_env(), tmp_path_factory.mktemp("generated")) as svc:
        yield svc


@pytest.fixture(scope="module")
def generated(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated from what the service serves, and imported."""
    out = tmp_path_factory.mktemp("client")
    schema = out / "openapi.json"
    schema.write_bytes(httpx.get(f"{service.url}/openapi.json", timeout=30).content)
    done = subprocess.run([str(BIN / "openapi-python-client"), "generate", "--path", str(schema),
                           "--meta", "none", "--output-path", str(out / PACKAGE)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_generated_client_submits_seed_wave_and_reads_its_results(service: Service,
                                                                   generated: ModuleType) -> None:
    models = _module(generated, "models")
    create_job = _module(generated, "api.jobs.create_job")
    get_job = _module(generated, "api.jobs.get_job")
    get_job_results = _module(generated, "api.reports.get_job_results")
    client = generated.AuthenticatedClient(base_url=service.url, token=service.key, timeout=30)

    # The body is the schema's typed union: a preset, with a typed override of train.steps.
    body = models.PresetSubmission(
        preset=models.PresetSubmissionPreset("seed-wave"),
        overrides=models.SpecOverrides(train=models.TrainSpecOverride(steps=100, eval_every=50)),
        name="generated client", tags=["generated"])
    job = create_job.sync(client=client, body=body)
    assert isinstance(job, models.JobOut), job
    assert job.status == models.JobOutStatus.QUEUED and job.steps == 100 and job.name == "generated client"

    deadline = time.monotonic() + 120
    while (job := get_job.sync(job.id, client=client)).status not in (models.JobOutStatus.SUCCEEDED,
                                                                       models.JobOutStatus.FAILED):
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.5)
    assert job.status == models.JobOutStatus.SUCCEEDED, job.error

    results = get_job_results.sync(job.id, client=client)
    assert isinstance(results, models.ResultsOut)
    assert results.n_finished == results.n_runs == 3
    assert sorted(a.arm for a in results.arms) == ["Adam", "Momentum", "SGD"]
    assert [a.rank for a in results.arms] == sorted(a.rank for a in results.arms)
    assert all(a.final_val.mean > 0 for a in results.arms)


def test_generated_client_gets_each_bad_field_as_a_problem(service: Service, generated: ModuleType) -> None:
    """Each optimizer's arm is its own model with its hyperparameters; a value the server refuses
    comes back as the typed Problem, naming the field."""
    models = _module(generated, "models")
    create_job = _module(generated, "api.jobs.create_job")
    client = generated.AuthenticatedClient(base_url=service.url, token=service.key, timeout=30)

    arms = [models.SgdArm(optimizer="sgd", lr=0.01), models.AdamArm(optimizer="adam", beta1=0.9, beta2=0.999)]
    assert "beta2" in models.AdamArm.__annotations__ and "beta2" not in models.SgdArm.__annotations__
    spec = models.SpecSubmission(arms=arms, seeds=[0, 0])  # seeds must be distinct
    problem = create_job.sync(client=client, body=spec)
    assert isinstance(problem, models.Problem), problem
    assert [(e.field, e.type_) for e in problem.detail] == [("seeds", "value_error")]  # `type` is a builtin
