"""Reads of a finished job are computed once and then served from the response_cache table:
byte for byte the fresh answer, with an ETag and 304s, never to another owner, never for a job
that can still change, and gone with the job."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

import api.metrics.service
import api.reports.results
import api.reports.service
import api.studies.endpoints
from api.cache import FINAL, LIVE, cache_key, etag_of, json_body, store
from api.metrics.service import metrics_json
from api.reports.results import job_results
from api.reports.service import figure
from api.studies.service import study_view
from core.settings import Settings
from models.db import session_factory
from models.response_cache import CachedResponse
from models.tables import Job
from tests.api import stored_jobs
from tests.conftest import add_key
from tests.support.procs import migrate, service_env

STEPS = 300
JOB = {"preset": "seed-wave", "overrides": {"seeds": [0, 1], "train": {"steps": STEPS, "eval_every": 50}}}
# (query, the arguments of metrics_json it stands for: runs, metrics, after_step, max_points)
METRIC_QUERIES = [
    ({}, (None, None, 0, None)),
    ({"max_points": 4}, (None, None, 0, 4)),
    ({"max_points": 37}, (None, None, 0, 37)),
    ({"max_points": 500}, (None, None, 0, 500)),
    ({"run": [2, 0], "metric": "train_loss", "after_step": 100, "max_points": 20},
     ([2, 0], ["train_loss"], 100, 20)),
]


def _submit(client: TestClient) -> str:
    r = client.post("/jobs", json=JOB)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _rows(settings: Settings, job_id: str) -> dict[str, bytes]:
    with session_factory(settings.database_url)() as session:
        c = CachedResponse
        return {key: body for key, body in session.execute(select(c.key, c.body).where(c.job_id == job_id))}


def _job(session: Any, job_id: str) -> Job:
    return session.get(Job, job_id)


@pytest.fixture()
def finished(client: TestClient, sqlite_settings: Settings) -> str:
    job_id = _submit(client)
    stored_jobs.finished_job(sqlite_settings.database_url, job_id, STEPS)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
    return job_id


def _boom(*_args: Any, **_kw: Any) -> Any:
    raise AssertionError("computed again instead of served from the cache")


def test_cached_bodies_equal_fresh_computations(client: TestClient, sqlite_settings: Settings, finished: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url, base = sqlite_settings.database_url, f"/jobs/{finished}"
    with session_factory(url)() as session:
        job = _job(session, finished)
        fresh = {f"metrics{i}": metrics_json(session, finished, *args).encode()
                 for i, (_, args) in enumerate(METRIC_QUERIES)}
        fresh |= {"results": json_body(job_results(session, job)).content,
                  "study": json_body(study_view(session, job)).content,
                  "svg": figure(session, job, "svg")}
    requests = {f"metrics{i}": (f"{base}/metrics", q) for i, (q, _) in enumerate(METRIC_QUERIES)}
    requests |= {"results": (f"{base}/results", {}), "study": (f"{base}/study", {}),
                 "svg": (f"{base}/report.svg", {})}
    first = {name: client.get(path, params=q) for name, (path, q) in requests.items()}
    assert all(r.status_code == 200 for r in first.values())
    assert set(_rows(sqlite_settings, finished).values()) == {r.content for r in first.values()}

    # From here on nothing may be computed: every answer comes from the table.
    for module, name in ((api.metrics.service, "metrics_json"), (api.reports.results, "job_results"),
                         (api.studies.endpoints, "study_view"), (api.reports.service, "figure")):
        monkeypatch.setattr(module, name, _boom)
    for name, (path, q) in requests.items():
        again = client.get(path, params=q)
        assert again.status_code == 200, (name, again.text)
        assert again.content == first[name].content == fresh[name], name
        assert again.headers["content-type"] == first[name].headers["content-type"]
        assert again.headers["etag"] == first[name].headers["etag"] == etag_of(fresh[name])
        assert again.headers["cache-control"] == FINAL
    # The order and repetition of runs and metrics do not matter: the same cached answer.
    same = client.get(f"{base}/metrics", params={"run": [0, 2, 0], "metric": "train_loss", "after_step": 100,
                                                  "max_points": 20})
    assert same.content == fresh["metrics4"]


def test_json_bytes_are_what_fastapi_sent_before(sqlite_settings: Settings, finished: str) -> None:
    """Results and study were dicts that FastAPI serialized; the bytes on the wire are unchanged."""
    with session_factory(sqlite_settings.database_url)() as session:
        job = _job(session, finished)
        data = {"results": job_results(session, job), "study": study_view(session, job)}
    app = FastAPI()

    @app.get("/{name}")
    def plain(name: str) -> dict[str, Any]:
        return data[name]

    with TestClient(app) as plain_client:
        for name, value in data.items():
            assert plain_client.get(f"/{name}").content == json_body(value).content


def test_etag_and_304(client: TestClient, finished: str) -> None:
    path = f"/jobs/{finished}/metrics?max_points=50"
    r = client.get(path)
    etag = r.headers["etag"]
    assert r.headers["vary"] == "Authorization, Cookie"
    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        nm = client.get(path, headers={"If-None-Match": header})
        assert nm.status_code == 304 and nm.content == b"", header
        assert nm.headers["etag"] == etag and nm.headers["cache-control"] == FINAL
    other = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == r.content
    # Another query is another representation, with its own tag.
    assert client.get(f"/jobs/{finished}/metrics?max_points=60").headers["etag"] != etag


def test_another_owner_gets_404_even_when_cached(client: TestClient, sqlite_settings: Settings,
                                                 finished: str) -> None:
    paths = [f"/jobs/{finished}/{p}" for p in ("metrics?max_points=500", "results", "study")]
    etags = {p: client.get(p).headers["etag"] for p in paths}
    assert len(_rows(sqlite_settings, finished)) == len(paths)
    bob = {"Authorization": f"Bearer {add_key(sqlite_settings, 'bob')}"}
    for p in paths:
        for extra in ({}, {"If-None-Match": etags[p]}):
            r = client.get(p, headers=bob | extra)
            assert r.status_code == 404, (p, r.status_code)
            assert r.json() == {"detail": f"no job with id {finished!r}; list jobs with GET /jobs"}
            assert "etag" not in r.headers


def test_running_job_is_computed_each_time(client: TestClient, sqlite_settings: Settings) -> None:
    url = sqlite_settings.database_url
    job_id = _submit(client)
    (shard,) = stored_jobs.plan(url, job_id)
    stored_jobs.write(url, job_id, shard, 0, 100)
    path = f"/jobs/{job_id}/metrics?max_points=500"
    before = client.get(path)
    assert before.json()["next_after_step"] == 100
    assert before.headers["cache-control"] == LIVE
    # Unchanged data: the tag still spares the body.
    assert client.get(path, headers={"If-None-Match": before.headers["etag"]}).status_code == 304
    assert client.get(f"/jobs/{job_id}/results").headers["cache-control"] == LIVE
    assert _rows(sqlite_settings, job_id) == {}

    stored_jobs.write(url, job_id, shard, 100, 200)
    after = client.get(path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.json()["next_after_step"] == 200
    assert after.content != before.content and after.headers["etag"] != before.headers["etag"]
    assert _rows(sqlite_settings, job_id) == {}

    stored_jobs.close(url, job_id, shard, 200)
    done = client.get(path)
    assert done.headers["cache-control"] == FINAL and len(_rows(sqlite_settings, job_id)) == 1


def test_failed_job_is_cached_only_once_its_other_shards_end(client: TestClient,
                                                             sqlite_settings: Settings) -> None:
    """A failed shard fails the job at once while the other shards still train."""
    url = sqlite_settings.database_url
    job_id = _submit(client)
    first, second = stored_jobs.plan(url, job_id, shard_size=3)
    stored_jobs.close(url, job_id, first, 0, status="failed")
    stored_jobs.write(url, job_id, second, 0, 100)
    path = f"/jobs/{job_id}/metrics?max_points=500"
    early = client.get(path)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "failed"
    assert early.headers["cache-control"] == LIVE and _rows(sqlite_settings, job_id) == {}

    stored_jobs.write(url, job_id, second, 100, 200)
    stored_jobs.close(url, job_id, second, 200)
    late = client.get(path)
    assert late.content != early.content and late.json()["next_after_step"] == 200
    assert late.headers["cache-control"] == FINAL and len(_rows(sqlite_settings, job_id)) == 1


def test_deleting_a_job_deletes_its_cached_responses(client: TestClient, sqlite_settings: Settings,
                                                     finished: str) -> None:
    client.get(f"/jobs/{finished}/results")
    assert len(_rows(sqlite_settings, finished)) == 1
    assert client.delete(f"/jobs/{finished}").status_code == 204
    assert _rows(sqlite_settings, finished) == {}
    assert client.get(f"/jobs/{finished}/results").status_code == 404


def test_foreign_key_cascade_on_sqlite(client: TestClient, sqlite_settings: Settings, finished: str) -> None:
    client.get(f"/jobs/{finished}/study")
    assert len(_rows(sqlite_settings, finished)) == 1
    with session_factory(sqlite_settings.database_url)() as session, session.begin():
        session.execute(delete(Job).where(Job.id == finished))
    assert _rows(sqlite_settings, finished) == {}


def test_per_job_budget(client: TestClient, sqlite_settings: Settings, finished: str) -> None:
    small = client.get(f"/jobs/{finished}/results")
    sqlite_settings.response_cache_bytes_per_job = len(small.content) + 10
    big = client.get(f"/jobs/{finished}/metrics")  # over the budget: answered, not stored
    assert big.status_code == 200 and big.headers["cache-control"] == FINAL
    assert list(_rows(sqlite_settings, finished).values()) == [small.content]


def _fill_concurrently(url: str, job_id: str, threads: int = 6) -> None:
    """Readers storing the same key at the same moment: none fails, one row stays."""
    settings = Settings(database_url=url)
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    body = json_body({"x": 1})

    def fill() -> None:
        try:
            with session_factory(url)() as session:
                barrier.wait(timeout=30)
                store(session, settings, job_id, cache_key("race", {}), body, etag_of(body.content))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=fill) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    with session_factory(url)() as session:
        c = CachedResponse
        n = session.scalar(select(func.count()).select_from(c)
                           .where(c.job_id == job_id, c.key == cache_key("race", {})))
    assert n == 1


def test_concurrent_fill_sqlite(sqlite_settings: Settings, finished: str) -> None:
    _fill_concurrently(sqlite_settings.database_url, finished)


def test_postgres_fill_hit_and_cascade(pg_url: str, tmp_path: Path) -> None:
    done = migrate(service_env({"OPTARENA_DATABASE_URL": pg_url}), tmp_path)
    assert done.returncode == 0, done.stderr
    settings = Settings(database_url=pg_url, rate_limit_per_second=0)
    from api.main import create_app
    from core.settings import get_settings

    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {add_key(settings, 'carol')}"
        job_id = _submit(client)
        stored_jobs.finished_job(pg_url, job_id, STEPS)
        path = f"/jobs/{job_id}/metrics?max_points=40"
        first, second = client.get(path), client.get(path)
        with session_factory(pg_url)() as session:
            fresh = metrics_json(session, job_id, None, None, 0, 40).encode()
        assert first.content == second.content == fresh
        _fill_concurrently(pg_url, job_id)
        assert len(_rows(settings, job_id)) == 2
    # The foreign key's ON DELETE CASCADE, as the migration created it.
    with session_factory(pg_url)() as session, session.begin():
        session.execute(delete(Job).where(Job.id == job_id))
    assert _rows(settings, job_id) == {}
