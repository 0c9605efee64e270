"""The embedded default, as `make run` starts it: real uvicorn and a real Celery worker,
no settings at all (SQLite database and SQLite broker under ./var)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from celery import Celery

from core.queueing import SUBMIT_JOB
from tests.support import flows
from tests.support.procs import Service, running, service_env
from tests.support.sse import read_events

STEPS = 300


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cwd = tmp_path_factory.mktemp("embedded")
    with running(service_env(), cwd) as svc:
        yield svc


def test_job_over_http_is_streamed_and_stored(service: Service) -> None:
    job = flows.submit(service, STEPS)
    url = f"{service.url}/jobs/{job['id']}/events"
    events = read_events(url, service.key)
    flows.check_stream(events, n_runs=3, steps=STEPS)
    stored = flows.check_stored(service, job["id"], n_runs=3, steps=STEPS)
    assert all(r["status"] == "succeeded" for r in stored["runs"])
    flows.check_resume(service, url, events)
    lines = flows.get(service, f"/jobs/{job['id']}/metrics.jsonl").text.splitlines()
    assert len(lines) == len(events)
    final = flows.get(service, f"/jobs/{job['id']}").json()
    assert final["status"] == "succeeded" and final["progress"] == 1.0
    assert all(r["summary"]["full_data_loss"] > 0 for r in final["runs"])
    # Every arm saw the same batches from the same initial weights.
    assert len({r["batch_hash"] for r in final["runs"]}) == 1
    assert len({r["init_hash"] for r in final["runs"]}) == 1


def test_catalogue_and_sam_arms_train_and_record_their_package(service: Service) -> None:
    """A comparison of catalogue optimizers and a SAM arm, through HTTP and the worker: every
    run records the package and version of the class that trained it."""
    from importlib import metadata

    arms = [{"optimizer": "lion", "lr": 1e-3}, {"optimizer": "adamw_schedulefree"},
            {"optimizer": "lamb"}, {"optimizer": "sgd", "lr": 1e-2, "sam": {"rho": 0.05}}]
    job = flows.submit(service, 100, arms=arms, seeds=[0])
    final = flows.wait_status(service, job["id"], {"succeeded", "failed"}, timeout=120)
    assert final["status"] == "succeeded", final["error"]
    got = {r["label"]: (r["optimizer_package"], r["optimizer_version"]) for r in final["runs"]}
    assert got == {"Lion": ("pytorch-optimizer", metadata.version("pytorch-optimizer")),
                   "AdamW (schedule-free)": ("schedulefree", metadata.version("schedulefree")),
                   "LAMB": ("pytorch-optimizer", metadata.version("pytorch-optimizer")),
                   "SGD": ("torch", metadata.version("torch"))}
    assert all(r["summary"]["final_val_loss"] > 0 for r in final["runs"])


def test_a_model_of_the_catalogue_trains_through_http_and_the_worker(service: Service) -> None:
    """resnet-digits (resnet-mini through torch.func), shortened: the job succeeds, every arm of
    a seed starts from the same module weights, results and the report come back."""
    r = flows.post(service, "/jobs", json={"preset": "resnet-digits", "overrides": {
        "net": {"config": {"channels": 4, "blocks": 1}}, "seeds": [0, 1],
        "train": {"steps": 60, "eval_every": 30}}})
    assert r.status_code == 201, r.text
    final = flows.wait_status(service, r.json()["id"], {"succeeded", "failed"}, timeout=180)
    assert final["status"] == "succeeded", final["error"]
    assert final["spec"]["net"]["config"] == {"channels": 4, "blocks": 1}
    hashes = {(run["seed"], run["init_hash"]) for run in final["runs"]}
    assert len(final["runs"]) == 8 and len(hashes) == 2  # one initial state per seed
    assert all(0 < run["summary"]["final_test_accuracy"] <= 1 for run in final["runs"])
    results = flows.get(service, f"/jobs/{final['id']}/results")
    assert results.status_code == 200 and len(results.json()["arms"]) == 4
    assert flows.get(service, f"/jobs/{final['id']}/report.svg").status_code == 200


def test_cancel_stops_a_running_job_and_keeps_its_metrics(service: Service) -> None:
    job = flows.submit(service, 1_000_000)
    first = read_events(f"{service.url}/jobs/{job['id']}/events", service.key, limit=6, timeout=120)
    assert any(e["event"] == "metrics" for e in first)
    t0 = time.monotonic()
    assert flows.post(service, f"/jobs/{job['id']}/cancel").status_code == 200
    final = flows.wait_status(service, job["id"], {"cancelled"}, timeout=10)
    assert time.monotonic() - t0 < 2.5
    assert all(r["status"] == "cancelled" for r in final["runs"])
    kept = flows.get(service, f"/jobs/{job['id']}/metrics", params={"metric": "train_loss"}).json()
    assert len(kept["runs"]) == 3 and len(kept["runs"][0]["metrics"]["train_loss"]["steps"]) > 0
    assert httpx.delete(f"{service.url}/jobs/{job['id']}", headers=service.headers).status_code == 204


def test_job_queue_submission(service: Service) -> None:
    """A system sharing the broker submits by task name with its API key; a bad spec becomes a
    failed job of that key's owner, and a submission without a valid key is not stored."""
    sender = Celery(broker=f"sqla+sqlite:///{service.cwd}/var/broker.sqlite")
    sender.conf.task_serializer = "json"
    sender.send_task(SUBMIT_JOB, args=[{"preset": "seed-wave", "overrides": {"train": {"steps": 100}}}],
                     kwargs={"key": service.key}, queue="cpu")
    sender.send_task(SUBMIT_JOB, args=['{"arms": [{"optimizer": "adam", "lr": -1}]}', service.key],
                     queue="cpu")
    sender.send_task(SUBMIT_JOB, args=[{"preset": "seed-wave"}, "oa_00000000_" + "x" * 43], queue="cpu")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        queued = [j for j in flows.get(service, "/jobs", params={"limit": 50}).json()["items"]
                  if j["source"] == "queue"]
        if len(queued) == 2 and all(j["status"] in ("succeeded", "failed") for j in queued):
            break
        time.sleep(0.3)
    by_status = {j["status"]: j for j in queued}
    assert set(by_status) == {"succeeded", "failed"}, queued
    errors = by_status["failed"]["error"]["validation_errors"]
    assert errors[0]["loc"] == ["arms", 0, "adam", "lr"]
    assert "submission refused: invalid or revoked API key" in service.log("w1")
    ok = flows.get(service, f"/jobs/{by_status['succeeded']['id']}/metrics",
                   params={"metric": "train_loss"}).json()
    assert [len(r["metrics"]["train_loss"]["steps"]) for r in ok["runs"]] == [100, 100, 100]
