"""API keys, sessions, tenancy and limits, in-process on a migrated SQLite file."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings, get_settings
from tests.conftest import add_key

SMALL = {"preset": "seed-wave", "overrides": {"train": {"steps": 50}}}
PROTECTED = [("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/optimizers"), ("GET", "/models"),
             ("GET", "/tasks"), ("GET", "/presets"), ("GET", "/jobs/x"), ("GET", "/jobs/x/metrics"),
             ("GET", "/jobs/x/events"),
             ("GET", "/jobs/x/metrics.jsonl"), ("POST", "/jobs/x/cancel"), ("DELETE", "/jobs/x"),
             ("GET", "/not-a-route")]


def _app(settings: Settings) -> TestClient:
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app, raise_server_exceptions=False)


def test_every_route_but_the_public_ones_needs_a_key(anonymous: TestClient) -> None:
    for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer oa_12345678_" + "x" * 43},
                {"Authorization": "Basic dXNlcjpwYXNz"}, {"Cookie": "optarena_session=oa_x"}):
        for method, path in PROTECTED:
            r = anonymous.request(method, path, headers=bad, json=SMALL if method == "POST" else None)
            assert r.status_code == 401, (method, path, bad, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer" and "API key" in r.json()["detail"]
    for path in ("/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"):
        assert anonymous.get(path).status_code == 200, path
    # The dashboard's shell is public: the page must load before its login form.
    assert anonymous.get("/").status_code == 200
    assert anonymous.get("/ui/no-such-file.js").status_code in (404, 200)


def test_session_cookie_signs_a_browser_in_and_out(anonymous: TestClient, sqlite_settings: Settings) -> None:
    key = add_key(sqlite_settings, "browser")
    assert anonymous.post("/session", json={"key": key + "x"}).status_code == 401
    r = anonymous.post("/session", json={"key": key})
    assert r.status_code == 200 and r.json()["owner"] == "browser"
    cookie = r.headers["set-cookie"]
    assert "optarena_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert anonymous.get("/jobs").status_code == 200  # the cookie jar now sends it
    assert anonymous.delete("/session").status_code == 204
    assert anonymous.get("/jobs").status_code == 401


def test_revoked_key_is_refused(anonymous: TestClient, sqlite_settings: Settings) -> None:
    from models import apikeys
    from models.db import session_factory

    key = add_key(sqlite_settings, "short-lived")
    assert anonymous.get("/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    with session_factory(sqlite_settings.database_url)() as session, session.begin():
        assert apikeys.revoke(session, apikeys.split(key) or "")
    import time

    time.sleep(2.1)  # the key cache's lifetime
    assert anonymous.get("/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_another_owners_job_is_404_everywhere(client: TestClient, sqlite_settings: Settings) -> None:
    job = client.post("/jobs", json=SMALL, headers={"Idempotency-Key": "same"}).json()
    bob = {"Authorization": f"Bearer {add_key(sqlite_settings, 'bob')}"}
    for method, path in (("GET", ""), ("GET", "/metrics"), ("GET", "/events"), ("GET", "/metrics.jsonl"),
                         ("POST", "/cancel"), ("DELETE", "")):
        r = client.request(method, f"/jobs/{job['id']}{path}", headers=bob)
        assert r.status_code == 404, (method, path, r.status_code)
    assert client.get("/jobs", headers=bob).json()["total"] == 0
    # Idempotency keys are per owner: bob's "same" makes bob's own job.
    mine = client.post("/jobs", json=SMALL, headers=bob | {"Idempotency-Key": "same"})
    assert mine.status_code == 201 and mine.json()["id"] != job["id"]
    assert client.get(f"/jobs/{job['id']}").status_code == 200


def test_spec_limits_name_the_field_and_the_limit(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"max_runs_per_job": 4, "max_steps_per_run": 1000,
                                                  "max_params_per_net": 5000, "max_compute_per_job": 1e6})
    with _app(settings) as c:
        c.headers["Authorization"] = f"Bearer {add_key(settings, 'alice')}"
        cases = [({"arms": [{"optimizer": "sgd"}], "seeds": [0, 1, 2, 3, 4]}, "arms", "4 runs"),
                 ({"arms": [{"optimizer": "sgd"}], "train": {"steps": 1001}}, "train.steps", "1000 steps"),
                 ({"arms": [{"optimizer": "sgd"}], "net": {"hidden": [100, 100]}}, "net.hidden", "5000"),
                 ({"arms": [{"optimizer": "sgd"}], "train": {"steps": 900}}, "train.steps", "compute budget"),
                 ({"preset": "seed-wave", "overrides": {"train": {"steps": 5000}}}, "overrides.train.steps",
                  "1000 steps")]
        for body, field, words in cases:
            r = c.post("/jobs", json=body)
            assert r.status_code == 422, (body, r.text)
            detail = r.json()["detail"]
            assert any(e["field"] == field and words in e["msg"] for e in detail), detail


def test_body_size_limit_also_without_content_length(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"max_body_bytes": 2000})
    with _app(settings) as c:
        c.headers["Authorization"] = f"Bearer {add_key(settings, 'alice')}"
        big = b'{"preset": "seed-wave", "overrides": {"x": "' + b"a" * 3000 + b'"}}'
        assert c.post("/jobs", content=big, headers={"content-type": "application/json"}).status_code == 413

        def chunks():  # a generator body goes out chunked, with no Content-Length
            for i in range(0, len(big), 500):
                yield big[i:i + 500]

        r = c.post("/jobs", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "OPTARENA_MAX_BODY_BYTES" in r.json()["detail"]
        assert c.post("/jobs", json=SMALL).status_code == 201


def test_active_jobs_and_request_rate_answer_429(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"max_active_jobs_per_owner": 2, "rate_limit_per_second": 1,
                                                  "rate_limit_burst": 6})
    with _app(settings) as c:
        c.headers["Authorization"] = f"Bearer {add_key(settings, 'alice')}"
        assert [c.post("/jobs", json=SMALL).status_code for _ in range(3)] == [201, 201, 429]
        codes = [c.get("/jobs") for _ in range(5)]
        assert [r.status_code for r in codes][:3] == [200, 200, 200] and codes[-1].status_code == 429
        assert int(codes[-1].headers["retry-after"]) >= 1


def test_cors_is_closed_by_default_and_opens_to_the_allow_list(sqlite_settings: Settings) -> None:
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    with _app(sqlite_settings) as c:
        assert "access-control-allow-origin" not in c.options("/jobs", headers=pre).headers
    settings = sqlite_settings.model_copy(update={"cors_origins": ["https://dash.example"]})
    with _app(settings) as c:
        assert "access-control-allow-origin" not in c.options("/jobs", headers=pre).headers
        ok = c.options("/jobs", headers=pre | {"Origin": "https://dash.example"})
        assert ok.headers["access-control-allow-origin"] == "https://dash.example"


def test_local_key_refuses_a_non_loopback_bind(sqlite_settings: Settings) -> None:
    from models import apikeys
    from models.db import session_factory

    with session_factory(sqlite_settings.database_url)() as session, session.begin():
        apikeys.create(session, "local", "local", local=True)
    settings = sqlite_settings.model_copy(update={"bind_host": "0.0.0.0"})
    try:
        with _app(settings):
            raise AssertionError("the app started with local credentials on 0.0.0.0")
    except RuntimeError as exc:
        assert "refusing to serve 0.0.0.0" in str(exc)
