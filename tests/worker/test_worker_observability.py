"""A real API and a real Celery worker with OPTARENA_LOG_FORMAT=json and a metrics port:
the worker's lines are JSON objects that name the job, the shard and the worker, its port
counts what it trained, and the API's /metrics gauges follow the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import flows
from tests.support.procs import Service, free_port, running, service_env, wait_for

STEPS = 200


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cwd = tmp_path_factory.mktemp("observed")
    port = free_port()
    env = service_env({"OPTARENA_LOG_FORMAT": "json", "OPTARENA_WORKER_METRICS_PORT": str(port)})
    with running(env, cwd) as svc:
        svc.worker_metrics = f"http://127.0.0.1:{port}/metrics"  # type: ignore[attr-defined]
        yield svc


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def worker_samples(svc: Service) -> dict[tuple[str, frozenset], float]:
    return samples(httpx.get(svc.worker_metrics, timeout=10).text)  # type: ignore[attr-defined]


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line that is a JSON object, each parsed; Celery prints its banner as plain text
    before logging starts, and those lines are not log records."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_trained_shard_is_logged_as_json_with_its_job_shard_and_worker(service: Service) -> None:
    job = flows.submit(service, STEPS)
    final = flows.wait_status(service, job["id"], {"succeeded", "failed"}, timeout=180)
    assert final["status"] == "succeeded", final["error"]
    lines = json_lines(service.log("w1"))
    assert len(lines) > 5
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= set(line), line
        assert line["worker"].startswith("w1@"), line  # every line, the worker's threads' too
    about = [line for line in lines if line.get("job_id") == job["id"]]
    shard_ids = {line["shard_id"] for line in about}
    assert len(shard_ids) == len(final["shards"]) == 1
    messages = [line["message"] for line in about]
    assert any(m.endswith(": 3 runs, from step 0") for m in messages), messages
    assert any(": succeeded after " in m for m in messages), messages
    # Lines outside a shard's training carry no job.
    assert any("job_id" not in line for line in lines)


def test_the_worker_port_counts_shards_steps_and_durations(service: Service) -> None:
    before = worker_samples(service)
    job = flows.submit(service, STEPS, seeds=[0, 1])
    final = flows.wait_status(service, job["id"], {"succeeded", "failed"}, timeout=180)
    assert final["status"] == "succeeded", final["error"]
    after = worker_samples(service)

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("optarena_worker_shards_total", status="succeeded") == len(final["shards"])
    assert delta("optarena_worker_run_steps_total") == STEPS * final["n_runs"] == STEPS * 6
    assert delta("optarena_worker_shard_duration_seconds_count", status="succeeded") == len(final["shards"])
    assert delta("optarena_worker_shard_duration_seconds_sum", status="succeeded") > 0
    assert ("optarena_worker_shards_total", frozenset({("status", "lost")})) in after  # at 0 from the start


def test_the_api_gauges_follow_the_database_of_a_live_service(service: Service) -> None:
    job = flows.submit(service, STEPS)
    flows.wait_status(service, job["id"], {"succeeded"}, timeout=180)
    listed = flows.get(service, "/jobs", params={"limit": 200}).json()
    api = samples(flows.get(service, "/metrics").text)
    succeeded = sum(1 for j in listed["items"] if j["status"] == "succeeded")
    assert api[("optarena_jobs", frozenset({("status", "succeeded")}))] == succeeded >= 1
    assert api[("optarena_jobs", frozenset({("status", "running")}))] == 0
    assert api[("optarena_workers_live", frozenset())] == 1
    shards = sum(s["status"] == "succeeded" for j in listed["items"]
                 for s in flows.get(service, f"/jobs/{j['id']}").json()["shards"])
    assert api[("optarena_shards", frozenset({("status", "succeeded")}))] == shards


def test_an_open_event_stream_is_counted_until_it_closes(service: Service) -> None:
    job = flows.submit(service, 1_000_000)

    def streams() -> float:
        return samples(flows.get(service, "/metrics").text)[("optarena_sse_streams_open", frozenset())]

    assert streams() == 0
    url = f"{service.url}/jobs/{job['id']}/events"
    with httpx.stream("GET", url, headers=service.headers, timeout=60) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()  # kept: a line iterator dropped half-way closes the connection
        for line in lines:
            if line.startswith("event:"):
                break
        assert streams() == 1
    flows.post(service, f"/jobs/{job['id']}/cancel")
    flows.wait_status(service, job["id"], {"cancelled"}, timeout=30)
    wait_for(lambda: streams() == 0, 15, "the stream's end")
    # The stream's own request is counted once it has ended, under its template.
    text = flows.get(service, "/metrics").text
    assert 'route="/jobs/{job_id}/events",status="200"' in text
