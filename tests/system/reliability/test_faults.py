"""Faults injected into a real deployment (uvicorn, Celery workers, PostgreSQL, a private Redis):
killed workers, redelivered tasks, a broker restart, an API restart, a cancel, a crash loop.
Every job must end right, with every (run, metric, step) point stored exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery

from core.queueing import RUN_SHARD
from tests.support import flows
from tests.support.procs import Service, migrate, service_env
from tests.support.sse import read_events
from tests.system.reliability import checks
from tests.system.reliability.servers import PrivateRedis

# Short leases and sweeps so that a takeover happens in seconds, not minutes.
FAST = {"OPTARENA_SHARD_SIZE": "1", "OPTARENA_LEASE_SECONDS": "3", "OPTARENA_HEARTBEAT_SECONDS": "0.5",
        "OPTARENA_SWEEP_SECONDS": "0.5", "OPTARENA_RESEND_AFTER_SECONDS": "3", "OPTARENA_MAX_ATTEMPTS": "2",
        "OPTARENA_CHECKPOINT_EVERY": "50", "OPTARENA_FLUSH_SECONDS": "0.1"}
STEPS = 600
# The takeover test must catch a shard half-way: large batches make a step take milliseconds
# (seed-wave's batches of 64 train 600 steps in well under the time between two polls).
WIDE = {"train": {"steps": STEPS, "eval_every": 100, "batch_size": 512}}


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def service(pg_url: str, broker: PrivateRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cwd: Path = tmp_path_factory.mktemp("faults")
    env = service_env({"OPTARENA_DATABASE_URL": pg_url, "OPTARENA_BROKER_URL": broker.url} | FAST)
    assert migrate(env, cwd).returncode == 0
    svc = Service(env, cwd)
    try:
        svc.start_api()
        svc.workers = {"w1": svc.start_worker("w1"), "w2": svc.start_worker("w2")}  # type: ignore[attr-defined]
        yield svc
    finally:
        svc.stop()


def _db(service: Service) -> str:
    return service.env["OPTARENA_DATABASE_URL"]


def _pid_of(owner: str | None) -> int:
    return int((owner or "x:0").rsplit(":", 1)[1])


def _finish_clean(service: Service, job_id: str, n_runs: int = 3) -> dict:
    final = flows.wait_status(service, job_id, {"succeeded", "failed", "cancelled"}, timeout=150)
    assert final["status"] == "succeeded", final
    total, dup = checks.points_once(_db(service), job_id)
    assert dup == 0 and total > 0
    flows.check_stored(service, job_id, n_runs=n_runs, steps=final["steps"])
    return final


def test_killed_worker_is_taken_over_and_resumes_from_its_checkpoint(service: Service) -> None:
    ref = flows.submit(service, STEPS, **WIDE)
    _finish_clean(service, ref["id"])
    job = flows.submit(service, STEPS, **WIDE)
    url = _db(service)
    # About half-way through a shard, after a checkpoint: SIGKILL the worker training it.
    victim = checks.wait_until(lambda: next((s for s in checks.shards(url, job["id"])
                                             if s.status == "running" and s.checkpoint_step >= STEPS // 2),
                                            None), 120, "a checkpointed shard half-way")
    pid = _pid_of(victim.owner)
    name = next(n for n, p in service.workers.items() if p.pid == pid)  # type: ignore[attr-defined]
    checks.sigkill(pid)
    final = _finish_clean(service, job["id"])
    taken = next(s for s in final["shards"] if s["index"] == victim.index)
    assert taken["attempts"] == 2 and _pid_of(taken["owner"]) != pid
    checks.same_curves(url, job["id"], ref["id"], STEPS)
    service.workers[name] = service.start_worker(name + "b")  # type: ignore[attr-defined]


def test_redelivered_task_backs_off_while_the_lease_is_live(service: Service, broker: PrivateRedis) -> None:
    job = flows.submit(service, STEPS, arms=[{"optimizer": "adam"}])
    url = _db(service)
    running = checks.wait_until(lambda: next((s for s in checks.shards(url, job["id"])
                                              if s.status == "running"), None), 60, "a running shard")
    sender = Celery(broker=broker.url)
    sender.send_task(RUN_SHARD, args=[running.id], queue="cpu", serializer="json")  # the broker's redelivery
    # Every worker log, a restarted worker's too (it logs under its new name).
    logs = lambda: "".join(p.read_text(errors="replace") for p in service.cwd.glob("*.log"))  # noqa: E731
    checks.wait_until(lambda: f"shard {running.id}: nothing to do here" in logs(), 60, "the back-off")
    assert checks.shards(url, job["id"])[0].status == "running"  # still the first delivery's
    final = _finish_clean(service, job["id"], n_runs=1)
    assert final["shards"][0]["attempts"] == 1 and final["shards"][0]["owner"] == running.owner


def test_redis_restart_loses_no_job(service: Service, broker: PrivateRedis) -> None:
    job = flows.submit(service, STEPS)
    url = _db(service)
    checks.wait_until(lambda: any(s.status == "running" for s in checks.shards(url, job["id"])), 60,
                      "running")
    broker.stop()  # the queued shards' messages die with it
    down = flows.post(service, "/jobs", json={"preset": "seed-wave", "overrides": {"train": {"steps": 200}}})
    assert down.status_code == 201 and down.json()["status"] == "queued"  # stored; sent by the sweeper
    broker.start()
    _finish_clean(service, job["id"])
    _finish_clean(service, down.json()["id"])


def test_api_restart_while_following_events(service: Service) -> None:
    job = flows.submit(service, 600)
    url = f"{service.url}/jobs/{job['id']}/events"
    head = read_events(url, service.key, limit=6)
    api = service.procs[0]
    checks.sigkill(api.pid)
    api.wait(10)
    service.start_api("api2")
    rest = read_events(url, service.key, last_event_id=head[-1]["id"])
    flows.check_stream(head + rest, n_runs=3, steps=600)


def test_cancel_stops_within_two_seconds_and_the_worker_lives_on(service: Service) -> None:
    import time

    job = flows.submit(service, 1_000_000)
    url = _db(service)
    checks.wait_until(lambda: any(s.status == "running" and s.step > 0
                                  for s in checks.shards(url, job["id"])), 60, "training")
    t0 = time.monotonic()
    assert flows.post(service, f"/jobs/{job['id']}/cancel").status_code == 200
    flows.wait_status(service, job["id"], {"cancelled"}, timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert all(p.poll() is None for p in service.workers.values())  # type: ignore[attr-defined]
    _finish_clean(service, flows.submit(service, 100)["id"])


def test_a_shard_that_keeps_killing_its_worker_ends_failed(service: Service) -> None:
    job = flows.submit(service, 1_000_000, arms=[{"optimizer": "sgd"}])
    url = _db(service)
    for attempt in (1, 2):
        def running(a: int = attempt):  # noqa: ANN202 - the shard or None
            found = [s for s in checks.shards(url, job["id"]) if s.status == "running" and s.attempts == a]
            return found[0] if found else None

        shard = checks.wait_until(running, 60, f"attempt {attempt}")
        pid = _pid_of(shard.owner)
        name = next(n for n, p in service.workers.items() if p.pid == pid)  # type: ignore[attr-defined]
        checks.sigkill(pid)
        service.workers[name] = service.start_worker(f"{name}-{attempt}")  # type: ignore[attr-defined]
    final = flows.wait_status(service, job["id"], {"failed"}, timeout=60)
    assert "gave up after 2 attempts" in final["error"], final["error"]
    assert final["shards"][0]["status"] == "failed" and final["shards"][0]["attempts"] == 2
    assert httpx.get(f"{service.url}/healthz").status_code == 200
