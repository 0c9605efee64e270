"""The sign-in link `make run` prints (`optarena keys local`), GET /login?token=<one-time token>,
in-process on migrated SQLite and PostgreSQL databases: it signs a browser in once, as the local
key's owner, and redirects to the dashboard; a second use, an expired token, a token from off
this machine, and a key in place of a token are refused without touching an existing session;
of two browsers opening one link at the same moment, exactly one is signed in."""

from __future__ import annotations

import re
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.main import create_app
from core.settings import Settings, get_settings
from models import apikeys, login_links
from models.db import session_factory
from models.login_links import LoginLink
from models.tables import ApiKey, utcnow
from tests.conftest import add_key
from tests.support.procs import BIN, migrate, service_env

LOOPBACK = ("127.0.0.1", 50000)
LINK = re.compile(r"http://127\.0\.0\.1:8000/login\?token=(\S+)")
TINY_JOB = {"preset": "seed-wave", "overrides": {"train": {"steps": 10}}, "name": "mine"}


def _client(settings: Settings, base_url: str = "http://127.0.0.1:8000",
            client: tuple[str, int] = LOOPBACK) -> TestClient:
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app, base_url=base_url, client=client, follow_redirects=False)


def _keys_local(settings: Settings, cwd: Path) -> str:
    """What `make run` prints at start: `optarena keys local`, against this database."""
    done = subprocess.run([str(BIN / "optarena"), "keys", "local"], cwd=cwd, capture_output=True, text=True,
                          env=service_env({"OPTARENA_DATABASE_URL": settings.database_url}), timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _local_key_and_token(settings: Settings) -> tuple[str, str]:
    with session_factory(settings.database_url)() as session, session.begin():
        key = apikeys.create(session, "local", "local", local=True)
        return key, login_links.mint(session) or ""


def _browser_keys(settings: Settings) -> int:
    with session_factory(settings.database_url)() as session:
        return session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.parent_id.is_not(None)))


def test_printed_link_signs_in_once_as_the_local_owner(sqlite_settings: Settings, tmp_path: Path) -> None:
    first = _keys_local(sqlite_settings, tmp_path)
    token, key = LINK.search(first).group(1), first.strip().splitlines()[-1]
    assert "works once" in first and apikeys.split(key)
    with _client(sqlite_settings) as browser:
        assert browser.get("/jobs").status_code == 401
        r = browser.get("/login", params={"token": token})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        # The cookie holds a key of its own: neither the spent token nor the local key.
        assert token not in cookie and key not in cookie
        job = browser.post("/jobs", json=TINY_JOB, headers={"Authorization": f"Bearer {key}"})
        assert job.status_code == 201, job.text
        # Signed in as the local key's owner: the browser sees the job the local key submitted.
        assert [j["name"] for j in browser.get("/jobs").json()["items"]] == ["mine"]
        assert browser.get(r.headers["location"]).status_code == 200  # the dashboard, no token in its URL

    with _client(sqlite_settings) as other:  # the same link again, in another browser
        again = other.get("/login", params={"token": token})
        assert again.status_code == 401 and "set-cookie" not in again.headers
        assert "not valid" in again.text and "keys local" in again.text and token not in again.text
        assert again.headers["www-authenticate"] == "Bearer" and again.headers["cache-control"] == "no-store"
        assert other.get("/jobs").status_code == 401

    # Each start prints a new link; the key is shown on the first start only.
    later = _keys_local(sqlite_settings, tmp_path)
    assert LINK.search(later).group(1) != token and "oa_" not in later
    with _client(sqlite_settings) as c:
        assert c.get("/login", params={"token": LINK.search(later).group(1)}).status_code == 303


def test_expired_link_is_refused(sqlite_settings: Settings) -> None:
    _, token = _local_key_and_token(sqlite_settings)
    with session_factory(sqlite_settings.database_url)() as session, session.begin():
        session.execute(update(LoginLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    with _client(sqlite_settings) as c:
        r = c.get("/login", params={"token": token})
        assert r.status_code == 401 and "set-cookie" not in r.headers and "10 minutes" in r.text
        assert c.get("/jobs").status_code == 401


def test_wrong_tokens_and_keys_are_refused_and_keep_the_session(sqlite_settings: Settings) -> None:
    key, token = _local_key_and_token(sqlite_settings)
    named = add_key(sqlite_settings, "alice")
    with _client(sqlite_settings) as c:
        assert c.get("/login", params={"token": token}).status_code == 303
        # Keys, the local one too, are not link tokens: only the form (POST /session) takes a key.
        for wrong in ("", "nope", token[:-1] + ("x" if token[-1] != "x" else "y"), token + "x" * 300,
                      key, named):
            r = c.get("/login", params={"token": wrong})
            assert r.status_code == 401 and "set-cookie" not in r.headers, wrong
            assert "not valid" in r.text and (not wrong or wrong not in r.text)
        assert c.get("/login").status_code == 401  # no token at all
        assert c.get("/jobs").status_code == 200  # a forged link cannot sign the browser out
        assert c.post("/session", json={"key": named}).status_code == 200  # the form still takes keys


def test_link_is_refused_off_loopback_and_stays_unspent(sqlite_settings: Settings) -> None:
    _, token = _local_key_and_token(sqlite_settings)
    # A client elsewhere, and a loopback client that reached a non-loopback address.
    for base_url, client in (("http://127.0.0.1:8000", ("203.0.113.7", 40000)),
                             ("http://192.0.2.10:8000", LOOPBACK)):
        with _client(sqlite_settings, base_url, client) as c:
            r = c.get("/login", params={"token": token})
            assert r.status_code == 403 and "set-cookie" not in r.headers, (base_url, client)
            assert "only on this machine" in r.text
    with _client(sqlite_settings) as c:  # the refusal spent nothing: this machine still signs in
        assert c.get("/login", params={"token": token}).status_code == 303


def test_revoking_the_local_key_refuses_its_links_and_signs_browsers_out(sqlite_settings: Settings) -> None:
    key, token = _local_key_and_token(sqlite_settings)
    with _client(sqlite_settings) as c:
        assert c.get("/login", params={"token": token}).status_code == 303
        cookies = dict(c.cookies)
    with session_factory(sqlite_settings.database_url)() as session, session.begin():
        unused = login_links.mint(session) or ""
        assert apikeys.revoke(session, apikeys.split(key) or "")
    with _client(sqlite_settings) as c:
        c.cookies.update(cookies)
        assert c.get("/jobs").status_code == 401
        assert c.get("/login", params={"token": unused}).status_code == 401


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_one_link_opened_at_once_by_many_signs_in_exactly_one(database: str, sqlite_settings: Settings,
                                                              request: pytest.FixtureRequest,
                                                              tmp_path: Path) -> None:
    settings = sqlite_settings
    if database == "postgresql":
        url = request.getfixturevalue("pg_url")
        assert migrate(service_env({"OPTARENA_DATABASE_URL": url}), tmp_path).returncode == 0
        settings = sqlite_settings.model_copy(update={"database_url": url})
    before = _browser_keys(settings)
    _, token = _local_key_and_token(settings)
    n = 6
    start, codes = threading.Barrier(n), []

    def open_link(c: TestClient) -> None:
        start.wait()
        codes.append(c.get("/login", params={"token": token}))

    with _client(settings) as c:
        # One app, many browsers: the requests overlap in its thread pool and in the database.
        threads = [threading.Thread(target=open_link, args=(c,)) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    statuses = sorted(r.status_code for r in codes)
    assert statuses == [303] + [401] * (n - 1), statuses
    assert sum("set-cookie" in r.headers for r in codes) == 1
    assert _browser_keys(settings) == before + 1
    winner = next(r for r in codes if r.status_code == 303)
    key = winner.cookies["optarena_session"]
    with _client(settings) as c:
        assert c.get("/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
