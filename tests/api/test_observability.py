"""GET /metrics and the request log context, in-process on a migrated SQLite file.

The HTTP counters live in this test process for its whole run (as in a server process), so
each test compares a scrape before with one after its own requests."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.observability.http import ObservabilityMiddleware, route_of
from core.logs import JsonFormatter
from core.settings import Settings
from models.db import session_factory
from models.tables import Job, Shard, utcnow
from models.workers import WorkerRecord
from tests.conftest import add_key

SMALL = {"preset": "seed-wave", "overrides": {"train": {"steps": 50}}}


def scrape(client: TestClient) -> dict[tuple[str, frozenset], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_needs_a_key_and_stays_out_of_the_schema(anonymous: TestClient, client: TestClient) -> None:
    assert anonymous.get("/metrics", headers={"Authorization": ""}).status_code == 401
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
    # The route of a job's own metrics is untouched.
    assert client.get("/jobs/nope/metrics").status_code == 404


def test_requests_are_counted_by_route_template_method_and_status(client: TestClient,
                                                                   sqlite_settings: Settings) -> None:
    before = scrape(client)
    job = client.post("/jobs", json=SMALL).json()
    for _ in range(3):
        assert client.get(f"/jobs/{job['id']}").status_code == 200
    assert client.get("/jobs/no-such-job").status_code == 404
    assert client.get("/no/such/route").status_code == 404
    assert client.get("/jobs/x", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.put("/jobs").status_code == 405
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "optarena_http_requests_total"
    assert delta(requests, route="/jobs", method="POST", status="201") == 1
    # One series for every job: the template, never the id.
    assert delta(requests, route="/jobs/{job_id}", method="GET", status="200") == 3
    assert delta(requests, route="/jobs/{job_id}", method="GET", status="404") == 1
    assert delta(requests, route="/jobs/{job_id}", method="GET", status="401") == 1  # refused before routing
    assert delta(requests, route="unmatched", method="GET", status="404") == 1
    assert delta(requests, route="/jobs", method="PUT", status="405") == 1
    assert delta(requests, route="/metrics", method="GET", status="200") == 1  # the first scrape
    assert not any(job["id"] in str(labels) for _name, labels in after)
    latency = "optarena_http_request_duration_seconds"
    assert delta(f"{latency}_count", route="/jobs/{job_id}", method="GET") == 5
    assert delta(f"{latency}_bucket", route="/jobs/{job_id}", method="GET", le="+Inf") == 5
    assert delta(f"{latency}_sum", route="/jobs/{job_id}", method="GET") > 0
    assert value(after, "optarena_sse_streams_open") == 0


def test_every_route_of_the_schema_is_labelled_by_its_own_template(client: TestClient) -> None:
    app = client.app
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        concrete = path.replace("{", "").replace("}", "")  # /jobs/{job_id} -> /jobs/job_id
        for method in operations:
            scope = {"type": "http", "path": concrete, "method": method.upper(), "app": app, "root_path": ""}
            assert route_of(scope)[0] == path, (method, path)


def test_job_shard_and_worker_gauges_match_the_database(client: TestClient,
                                                        sqlite_settings: Settings) -> None:
    ids = [client.post("/jobs", json=SMALL).json()["id"] for _ in range(4)]
    sessions = session_factory(sqlite_settings.database_url)
    with sessions() as session, session.begin():
        session.get(Job, ids[0]).status = "running"
        session.get(Job, ids[1]).status = "succeeded"
        for index, status in enumerate(("running", "succeeded", "succeeded", "failed")):
            session.add(Shard(job_id=ids[0], index=index, run_indices=[index], status=status))
        now = utcnow()
        for name, seen in (("live", now), ("gone", now - timedelta(hours=1))):
            session.add(WorkerRecord(id=name, hostname="h", queues=["cpu"], devices=["cpu"], optimizers=[],
                                     started_at=seen, seen_at=seen))
    samples = scrape(client)
    with sessions() as session:
        jobs = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        shards = dict(session.execute(select(Shard.status, func.count()).group_by(Shard.status)).all())
    assert jobs == {"queued": 2, "running": 1, "succeeded": 1}
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        assert value(samples, "optarena_jobs", status=status) == jobs.get(status, 0), status
        assert value(samples, "optarena_shards", status=status) == shards.get(status, 0), status
    assert value(samples, "optarena_shards", status="succeeded") == 2
    assert value(samples, "optarena_workers_live") == 1  # the one seen long ago is gone
    assert value(samples, "optarena_database_up") == 1


def test_gauges_count_every_owner_and_a_scraper_key_sees_them(client: TestClient,
                                                             sqlite_settings: Settings) -> None:
    client.post("/jobs", json=SMALL)
    scraper = {"Authorization": f"Bearer {add_key(sqlite_settings, 'prometheus')}"}
    text = client.get("/metrics", headers=scraper).text
    assert 'optarena_jobs{status="queued"} 1.0' in text


def test_a_request_about_a_job_logs_its_id() -> None:
    """The middleware puts the path's job id in the context of everything logged meanwhile."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def job(request: Request) -> PlainTextResponse:
        logger.info("looking at %s", request.path_params["job_id"])
        return PlainTextResponse("ok")

    def health(_request: Request) -> PlainTextResponse:
        logger.info("fine")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/jobs/{job_id}", job), Route("/healthz", health)])
    app.add_middleware(ObservabilityMiddleware)
    try:
        with TestClient(app) as c:
            assert c.get("/jobs/j-42").status_code == 200
            assert c.get("/healthz").status_code == 200
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["job_id"] == "j-42" and first["message"] == "looking at j-42"
    assert first["level"] == "INFO" and first["logger"] == "tests.observability"
    assert first["timestamp"].endswith("+00:00")
    assert "job_id" not in second  # the context ends with its request
