"""The distributed set-up: PostgreSQL for data, Redis as broker, two workers sharing one job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import flows
from tests.support.procs import Service, running, service_env
from tests.support.sse import read_events

STEPS = 300


@pytest.fixture(scope="module")
def service(pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cwd: Path = tmp_path_factory.mktemp("distributed")
    env = service_env({"OPTARENA_DATABASE_URL": pg_url, "OPTARENA_BROKER_URL": redis_url,
                       "OPTARENA_SHARD_SIZE": "1"})
    with running(env, cwd, {"w1": "cpu", "w2": "gpu,cpu"}) as svc:
        yield svc


def test_two_workers_share_one_job(service: Service) -> None:
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready == {"status": "ready", "database": True, "broker": True}
    job = flows.submit(service, STEPS)
    url = f"{service.url}/jobs/{job['id']}/events"
    head = read_events(url, service.key, limit=5)  # a client that drops off mid-job...
    rest = read_events(url, service.key, last_event_id=head[-1]["id"])  # ...and comes back
    events = head + rest
    flows.check_stream(events, n_runs=3, steps=STEPS)
    flows.check_stored(service, job["id"], n_runs=3, steps=STEPS)
    final = flows.get(service, f"/jobs/{job['id']}").json()
    assert final["status"] == "succeeded"
    assert [s["run_indices"] for s in final["shards"]] == [[0], [1], [2]]
    owners = {s["owner"] for s in final["shards"]}
    assert len(owners) == 2, f"both workers should have trained a shard: {owners}"
    assert all(s["attempts"] == 1 for s in final["shards"])
    flows.check_resume(service, url, events)
