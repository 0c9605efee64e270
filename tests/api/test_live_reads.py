"""A running job's curves are shared by the requests of one API process while the job's state
(its last event id and its runs' statuses) is unchanged: computed once, by the first of
concurrent readers, byte for byte the fresh answer, recomputed as soon as points arrive or a
run changes status, and never shown to another owner."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.metrics.service
from api.cache import LIVE
from api.metrics.service import metrics_json
from core.settings import Settings
from models.db import session_factory
from tests.api import stored_jobs
from tests.conftest import add_key
from worker.shards import finish

JOB = {"preset": "seed-wave", "overrides": {"seeds": [0, 1], "train": {"steps": 300, "eval_every": 50}}}
PATH = "/jobs/{}/metrics?max_points=500"


def _running(client: TestClient, settings: Settings, shard_size: int = 3) -> tuple[str, list[int]]:
    """A job of 6 runs in shards of ``shard_size``, all claimed, the first with 100 steps of points."""
    r = client.post("/jobs", json=JOB)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    shards = stored_jobs.plan(settings.database_url, job_id, shard_size=shard_size)
    stored_jobs.write(settings.database_url, job_id, shards[0], 0, 100)
    return job_id, shards


def _fresh(settings: Settings, job_id: str) -> bytes:
    with session_factory(settings.database_url)() as session:
        return metrics_json(session, job_id, None, None, 0, 500).encode()


def _statuses(r: Any) -> list[str]:
    return [run["status"] for run in r.json()["runs"]]


def _boom(*_args: Any, **_kw: Any) -> Any:
    raise AssertionError("computed again though the job's state had not changed")


def test_a_running_jobs_curves_are_shared_until_its_state_changes(
        client: TestClient, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, shards = _running(client, sqlite_settings)
    first = client.get(PATH.format(job_id))
    assert first.status_code == 200 and first.headers["cache-control"] == LIVE
    assert first.content == _fresh(sqlite_settings, job_id)
    with monkeypatch.context() as m:
        m.setattr(api.metrics.service, "metrics_json", _boom)
        again = client.get(PATH.format(job_id))
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        revalidated = client.get(PATH.format(job_id), headers={"If-None-Match": first.headers["etag"]})
        assert revalidated.status_code == 304

    # New points: a new event id, so a new body, the fresh one.
    stored_jobs.write(sqlite_settings.database_url, job_id, shards[0], 100, 200)
    later = client.get(PATH.format(job_id))
    assert later.json()["next_after_step"] == 200 and later.content == _fresh(sqlite_settings, job_id)

    # The first shard is cancelled while the second trains on: its runs change status, and
    # the job, still running, logs no event.
    assert _statuses(later) == ["running"] * 3
    with session_factory(sqlite_settings.database_url)() as session, session.begin():
        assert finish(session, shards[0], "cancelled")
    ended = client.get(PATH.format(job_id))
    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
    assert _statuses(ended) == ["cancelled"] * 3 and ended.content == _fresh(sqlite_settings, job_id)


def test_concurrent_readers_of_one_state_share_one_computation(
        client: TestClient, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, _ = _running(client, sqlite_settings)
    calls: list[float] = []
    compute = api.metrics.service.metrics_json

    def slow(*args: Any, **kw: Any) -> str:
        calls.append(time.monotonic())
        time.sleep(0.3)  # long enough for every reader to arrive while it computes
        return compute(*args, **kw)

    monkeypatch.setattr(api.metrics.service, "metrics_json", slow)
    bodies: list[bytes] = []
    barrier = threading.Barrier(8)

    def read() -> None:
        barrier.wait()
        r = client.get(PATH.format(job_id))
        assert r.status_code == 200
        bodies.append(r.content)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(bodies) == 8 and set(bodies) == {_fresh(sqlite_settings, job_id)}


def test_another_owner_gets_404_for_a_shared_body(client: TestClient, sqlite_settings: Settings) -> None:
    job_id, _ = _running(client, sqlite_settings)
    r = client.get(PATH.format(job_id))
    assert r.status_code == 200
    bob = {"Authorization": f"Bearer {add_key(sqlite_settings, 'bob')}"}
    for extra in ({}, {"If-None-Match": r.headers["etag"]}):
        other = client.get(PATH.format(job_id), headers=bob | extra)
        assert other.status_code == 404 and "etag" not in other.headers


QUERIES = [{"max_points": 500}, {}, {"metric": "val_loss"}, {"after_step": 150},
           {"run": [4, 0], "metric": "train_loss", "after_step": 120, "max_points": 30}]


def _fresh_query(settings: Settings, job_id: str, q: dict[str, Any]) -> bytes:
    runs, metric = q.get("run"), q.get("metric")
    with session_factory(settings.database_url)() as session:
        return metrics_json(session, job_id, runs, [metric] if metric else None, q.get("after_step", 0),
                            q.get("max_points")).encode()


def test_curves_kept_between_reads_grow_as_a_fresh_read_does(client: TestClient,
                                                             sqlite_settings: Settings) -> None:
    """The API keeps a running job's curves decoded and reads only newer chunks; after every
    write, and after a shard ends (its chunks become series rows), each query answers what a
    read of the whole database answers."""
    url = sqlite_settings.database_url
    job_id, shards = _running(client, sqlite_settings, shard_size=2)  # the third keeps it running
    steps = {shards[0]: 100, shards[1]: 0}
    # (shard, steps to write it to or None to end it, read afterwards): the second shard's last
    # points are consolidated before any read has fetched their chunks.
    writes = ((shards[1], 60, True), (shards[0], 130, True), (shards[1], 200, True),
              (shards[0], 250, True), (shards[0], None, True), (shards[1], 280, True),
              (shards[1], 300, False), (shards[1], None, True))
    for shard, end, read in writes:
        if end is None:
            stored_jobs.close(url, job_id, shard, steps[shard])  # consolidated, its runs succeeded
        else:
            stored_jobs.write(url, job_id, shard, steps[shard], end)
            steps[shard] = end
        for q in QUERIES if read else ():
            got = client.get(f"/jobs/{job_id}/metrics", params=q)
            assert got.status_code == 200 and got.headers["cache-control"] == LIVE
            assert got.content == _fresh_query(sqlite_settings, job_id, q), (shard, end, q)
