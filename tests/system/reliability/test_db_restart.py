"""Fault 4: PostgreSQL restarted mid-job. A private cluster (stopping the shared one would
break every other test), a real API and worker on it, the SQLite broker (which does not go
away with PostgreSQL, so this test is about the database alone).

While the database is down the worker keeps training and retries its writes with backoff
(OPTARENA_DB_RETRY_SECONDS); the API answers 503 on every database-backed route; once it is
back the job completes with every (run, metric, step) point stored exactly once, and the API
answers again without being restarted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import flows
from tests.support.procs import Service, running, service_env
from tests.system.reliability import checks
from tests.system.reliability.servers import PrivatePostgres

STEPS = 1500
DOWN_SECONDS = 4.0
# Flush and write often so that writes are in flight when the database goes; a lease far
# longer than the outage, so that what is tested is the retry, not a takeover (fault 1's).
ENV = {"OPTARENA_SHARD_SIZE": "3", "OPTARENA_FLUSH_SECONDS": "0.1", "OPTARENA_WRITE_INTERVAL": "0.1",
       "OPTARENA_HEARTBEAT_SECONDS": "0.5", "OPTARENA_LEASE_SECONDS": "60", "OPTARENA_SWEEP_SECONDS": "1",
       "OPTARENA_DB_RETRY_SECONDS": "60", "OPTARENA_CHECKPOINT_EVERY": "200"}


@pytest.fixture()
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture()
def service(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Service]:
    env = service_env({"OPTARENA_DATABASE_URL": postgres.url,
                       "OPTARENA_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.sqlite",
                       "OPTARENA_BROKER_POLL_SECONDS": "0.2"} | ENV)
    with running(env, tmp_path) as svc:
        yield svc


def test_postgres_restart_mid_job(service: Service, postgres: PrivatePostgres) -> None:
    job = flows.submit(service, STEPS)
    url = service.env["OPTARENA_DATABASE_URL"]
    checks.wait_until(lambda: any(s.status == "running" and 0 < s.step < STEPS // 2
                                  for s in checks.shards(url, job["id"])), 60, "training under way")

    postgres.stop()
    down_at = time.monotonic()
    for path in (f"/jobs/{job['id']}", "/jobs", f"/jobs/{job['id']}/metrics"):
        r = flows.get(service, path)
        assert r.status_code == 503, (path, r.status_code, r.text)
        assert r.headers.get("Retry-After")
    assert httpx.get(f"{service.url}/readyz", timeout=10).status_code == 503
    assert httpx.get(f"{service.url}/healthz", timeout=10).status_code == 200  # the process lives
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down_at)))
    postgres.start()

    # The API recovers by itself (its pool reconnects); nothing was restarted.
    checks.wait_until(lambda: flows.get(service, f"/jobs/{job['id']}").status_code == 200, 20, "the API")
    final = flows.wait_status(service, job["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
    assert final["status"] == "succeeded", final
    assert all(s["attempts"] == 1 for s in final["shards"]), final["shards"]  # no takeover: retries
    total, dup = checks.points_once(url, job["id"])
    assert dup == 0 and total > 0
    flows.check_stored(service, job["id"], n_runs=3, steps=STEPS)  # every step, no gap
    log = service.log("w1")
    assert "database unreachable" in log  # the writes really were retried
