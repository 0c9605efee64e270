"""GET /jobs on SQLite and on PostgreSQL: every filter, the sort orders, and cursor paging that
neither skips nor repeats a job when many share a creation time; bad values name their parameter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.main import create_app
from core.settings import Settings, get_settings
from models.db import session_factory
from models.tables import Job
from tests.conftest import add_key
from tests.support.procs import migrate, service_env

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# name, tags, preset (None: a full spec), minutes after T0: five jobs share T0, two share T0+1.
JOBS = [("Alpha run", ["a", "b"], "seed-wave", 0), ("alpine", ["a"], None, 0),
        ("beta", ["b"], "seed-wave", 0), (None, [], "seed-wave", 0), ("Gamma 100%", ["a", "b", "c"], None, 0),
        ("delta", ["c"], "seed-wave", 1), ("epsilon", ["a"], "seed-wave", 1), ("zeta", [], "seed-wave", 2)]
FULL_SPEC = {"arms": [{"optimizer": "adam"}], "train": {"steps": 20}}


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """The app on a migrated database of either kind, a key of a new owner, and the URL."""
    url = f"sqlite:///{tmp_path}/o.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    done = migrate(service_env({"OPTARENA_DATABASE_URL": url}), tmp_path)
    assert done.returncode == 0, done.stderr
    settings = Settings(database_url=url, broker_url=f"sqla+sqlite:///{tmp_path}/broker.sqlite",
                        rate_limit_per_second=0, max_active_jobs_per_owner=100)
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {add_key(settings, f'owner-{uuid.uuid4().hex[:8]}')}"
        yield client, url


def _seed(client: TestClient, url: str) -> list[dict[str, Any]]:
    """The JOBS, with their creation times set; another owner's job carries the same tags."""
    jobs = []
    for name, tags, preset, minutes in JOBS:
        body = {"preset": preset, "overrides": {"train": {"steps": 20}}} if preset else dict(FULL_SPEC)
        r = client.post("/jobs", json=body | {"name": name, "tags": tags})
        assert r.status_code == 201, r.text
        jobs.append(r.json() | {"created": T0 + timedelta(minutes=minutes)})
    other_key = add_key(Settings(database_url=url), f"other-{uuid.uuid4().hex[:8]}")
    other = {"Authorization": f"Bearer {other_key}"}
    assert client.post("/jobs", json=FULL_SPEC | {"tags": ["a", "b", "c"]}, headers=other).status_code == 201
    with session_factory(url)() as session, session.begin():
        for j in jobs:
            session.execute(update(Job).where(Job.id == j["id"]).values(created_at=j["created"]))
    assert client.post(f"/jobs/{jobs[3]['id']}/cancel").status_code == 200
    return jobs


def _names(client: TestClient, **params: Any) -> list[str | None]:
    r = client.get("/jobs", params=params)
    assert r.status_code == 200, r.text
    return [j["name"] for j in r.json()["items"]]


def _walk(client: TestClient, limit: int, cursor: str | None = None, **params: Any) -> list[str]:
    """Every id from ``cursor`` on (the start if None), page after page; each page holds
    ``limit`` jobs but the last, and says the same total."""
    ids, total, start = [], None, cursor
    while True:
        page = client.get("/jobs", params=params | {"limit": limit} | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        body = page.json()
        total = body["total"] if total is None else total
        assert body["total"] == total and len(body["items"]) <= limit
        ids += [j["id"] for j in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            assert start is not None or len(ids) == total
            return ids
        assert len(body["items"]) == limit


def test_filters(api: tuple[TestClient, str]) -> None:
    client, url = api
    _seed(client, url)
    by_name = {"sort": "name"}
    assert _names(client, tag="a", **by_name) == ["Alpha run", "alpine", "epsilon", "Gamma 100%"]
    assert _names(client, tag=["a", "B"], **by_name) == ["Alpha run", "Gamma 100%"]  # all of them
    assert _names(client, tag=["a", "b", "c"]) == ["Gamma 100%"]  # not the other owner's job
    assert _names(client, tag="nope") == []
    assert _names(client, q="ALP", **by_name) == ["Alpha run", "alpine"]
    assert _names(client, q="100%") == ["Gamma 100%"]  # % is text, not a wildcard
    assert _names(client, q="%") == ["Gamma 100%"]
    assert _names(client, preset="seed-wave", tag="a", **by_name) == ["Alpha run", "epsilon"]
    assert _names(client, status="cancelled") == [None]
    # After: inclusive; before: exclusive; a time without an offset is UTC.
    at = (T0 + timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    assert _names(client, created_after=at, sort="name") == ["delta", "epsilon", "zeta"]
    assert _names(client, created_before=at, tag="b", sort="name") == ["Alpha run", "beta", "Gamma 100%"]
    window = {"created_after": (T0 + timedelta(seconds=30)).isoformat(),
              "created_before": (T0 + timedelta(minutes=2)).astimezone(UTC).isoformat()}
    assert _names(client, sort="name", **window) == ["delta", "epsilon"]


def test_sorts_and_cursor_paging(api: tuple[TestClient, str]) -> None:
    client, url = api
    jobs = _seed(client, url)
    by_time = [j["id"] for j in sorted(jobs, key=lambda j: (j["created"], j["id"]))]
    by_name = [j["id"] for j in sorted(jobs, key=lambda j: ((j["name"] or "").lower(), j["id"]))]
    expected = {"created_at": by_time, "-created_at": by_time[::-1], "name": by_name, "-name": by_name[::-1]}
    for sort, ids in expected.items():
        assert [j["id"] for j in client.get("/jobs", params={"sort": sort}).json()["items"]] == ids, sort
        for limit in (1, 2, 3):  # pages that end inside the group of five equal times
            assert _walk(client, limit, sort=sort) == ids, (sort, limit)
    assert _names(client, sort="name")[:3] == [None, "Alpha run", "alpine"]  # no name sorts first
    tagged = [i for i in by_time[::-1] if "a" in next(j["tags"] for j in jobs if j["id"] == i)]
    assert _walk(client, 2, tag="a", sort="-created_at") == tagged
    # A job created after the first page was read does not shift the pages that follow.
    first = client.get("/jobs", params={"limit": 3}).json()
    assert [j["id"] for j in first["items"]] == by_time[::-1][:3]
    assert client.post("/jobs", json=FULL_SPEC | {"name": "late"}).status_code == 201
    assert _walk(client, 3, first["next_cursor"]) == by_time[::-1][3:]


def test_bad_query_values_name_the_parameter(api: tuple[TestClient, str]) -> None:
    client, _ = api
    by_name = client.get("/jobs", params={"sort": "name", "limit": 1})
    client.post("/jobs", json=FULL_SPEC)
    client.post("/jobs", json=FULL_SPEC)
    cursor = client.get("/jobs", params={"sort": "name", "limit": 1}).json()["next_cursor"]
    assert by_name.status_code == 200 and cursor
    cases = [({"tag": ["ok", "has space"]}, "tag.1"), ({"sort": "size"}, "sort"), ({"limit": 0}, "limit"),
             ({"limit": 201}, "limit"), ({"created_after": "yesterday"}, "created_after"),
             ({"created_before": "2026-13-01"}, "created_before"), ({"cursor": "not-a-cursor"}, "cursor"),
             ({"cursor": cursor}, "cursor"),  # made for sort=name, sent with the default sort
             ({"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
              "created_before"),
             ({"status": "done"}, "status"), ({"q": "x" * 201}, "q")]
    for params, field in cases:
        r = client.get("/jobs", params=params)
        assert r.status_code == 422, (params, r.text)
        assert [e["field"] for e in r.json()["detail"]] == [field], params
    assert "sort=name" in client.get("/jobs", params={"cursor": cursor}).json()["detail"][0]["msg"]
