"""Many viewers of one running job, through a real uvicorn and a real Celery worker (the
embedded SQLite set-up of `make run`): Server-Sent Events and JSON Lines streams, fresh ones
and ones resuming from the middle, each get the job's events exactly once and in order, and
the API reads the job's event log as often as it would for a single viewer. Then the feed's
bound on what it keeps, and a stream's lifetime."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.events.broadcast import Feed
from api.events.frames import Frame
from api.events.service import PAGE
from api.main import create_app
from core.settings import Settings, get_settings
from tests.conftest import add_key
from tests.support import flows
from tests.support.procs import Service, running, service_env
from tests.support.sse import read_events

VIEWERS = 20
STEPS = 12_000  # a few seconds of training: the viewers join while it runs
POLL = 0.2  # OPTARENA_SSE_POLL_SECONDS: under the default (0.5), so the job spans many intervals


def event_reads(svc: Service) -> dict[str, float]:
    """optarena_event_reads_total by reader ("feed" or "stream"), from GET /metrics."""
    text = flows.get(svc, "/metrics").text
    return {s.labels["by"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "optarena_event_reads_total"}


def read_jsonl(url: str, key: str, after: int) -> list[dict[str, Any]]:
    params = {"follow": "true", "after": str(after)}
    with httpx.stream("GET", url, params=params, headers={"Authorization": f"Bearer {key}"},
                      timeout=180) as resp:
        assert resp.status_code == 200
        return [json.loads(line) for line in resp.iter_lines() if line]


def view(svc: Service, job_id: str, i: int, middle: int) -> tuple[int, list[dict[str, Any]]]:
    """Viewer ``i``: SSE or JSON Lines, from the start or resuming after ``middle``."""
    cursor = middle if i % 4 >= 2 else 0
    if i % 2:
        return cursor, read_jsonl(f"{svc.url}/jobs/{job_id}/metrics.jsonl", svc.key, cursor)
    return cursor, read_events(f"{svc.url}/jobs/{job_id}/events", svc.key, last_event_id=cursor or None)


def test_viewers_share_one_poll_and_each_get_every_event_once(tmp_path: Path) -> None:
    env = service_env({"OPTARENA_FLUSH_SECONDS": "0.2", "OPTARENA_SSE_POLL_SECONDS": str(POLL)})
    with running(env, tmp_path) as svc:
        job = flows.submit(svc, STEPS)
        # Under way: a first viewer saw some metrics (and left, which stopped its feed).
        middle = read_events(f"{svc.url}/jobs/{job['id']}/events", svc.key, limit=4)[-1]["id"]
        before, t0 = event_reads(svc), time.monotonic()
        with ThreadPoolExecutor(VIEWERS) as pool:
            # The resuming viewers first: their feed starts at `middle`, so the fresh ones that
            # follow have the events before it to read from the database.
            resuming = [pool.submit(view, svc, job["id"], i, middle) for i in range(VIEWERS) if i % 4 >= 2]
            time.sleep(0.5)
            fresh = [pool.submit(view, svc, job["id"], i, middle) for i in range(VIEWERS) if i % 4 < 2]
            seen = [f.result() for f in resuming + fresh]
        window = time.monotonic() - t0
        reads = {k: v - before.get(k, 0) for k, v in event_reads(svc).items()}
        reference = [json.loads(line) for line in
                     flows.get(svc, f"/jobs/{job['id']}/metrics.jsonl").text.splitlines()]
    assert reference[-1]["data"] == {"status": "succeeded"}
    assert [e["id"] for e in reference] == list(range(1, len(reference) + 1))
    for cursor, events in seen:
        assert events == [e for e in reference if e["id"] > cursor], cursor
    # One poller's reads: at most one per poll interval (more only for a backlog of whole
    # pages), and its start and end; 20 viewers polling on their own would read about 20
    # times window / POLL.
    new = len([e for e in reference if e["id"] > middle])
    assert reads["feed"] <= window / POLL + new / PAGE + 4, (reads, window, new)
    assert window / POLL > 5, "the job ended too soon to show the difference"
    # A viewer reads the database itself only to catch up to the feed (a gap of fewer than 200
    # events: one read at most), never to poll.
    assert 0 < reads.get("stream", 0) <= VIEWERS, reads


def test_a_viewer_behind_the_kept_events_is_sent_to_the_database() -> None:
    """The feed keeps ``sse_feed_bytes`` of the newest events (the newest always): a cursor
    before them gets None (read the gap), one within them the events after it."""
    feed = Feed(Settings(sse_feed_bytes=25), "job", 0)
    assert feed.after(0) is None  # not started: nothing is known to be kept
    feed.base = feed.head = 3
    feed._keep([Frame(seq, "status", {"status": "running"}) for seq in (4, 5, 6)])  # 20 bytes each
    assert feed.base == 5 and [f.seq for f in feed.frames] == [6]
    assert feed.after(4) is None
    assert [f.seq for f in feed.after(5)] == [6] and feed.after(6) == [] and feed.after(9) == []


def test_a_stream_of_a_job_that_does_not_move_ends_at_its_lifetime(sqlite_settings: Settings) -> None:
    """No worker here: the job stays queued, and each stream closes after SSE_MAX_LIFETIME."""
    settings = sqlite_settings.model_copy(update={"sse_max_lifetime": 1.0})
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {add_key(settings, 'alice')}"
        job = client.post("/jobs", json={"preset": "seed-wave"}).json()
        for path, params in (("events", {}), ("metrics.jsonl", {"follow": "true"})):
            t0 = time.monotonic()
            r = client.get(f"/jobs/{job['id']}/{path}", params=params)
            assert r.status_code == 200 and r.text.count('"status":"queued"') == 1, r.text
            assert 1.0 <= time.monotonic() - t0 < 5, path
