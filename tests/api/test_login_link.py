"""The sign-in link `make run` prints, GET /login?token=<local key>, in-process on a migrated
SQLite file: it sets the form's session cookie and redirects to the dashboard; it refuses any
other key, and the local key from anywhere but loopback, without touching an existing session."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings, get_settings
from models import apikeys
from models.db import session_factory
from tests.conftest import add_key

LOOPBACK = ("127.0.0.1", 50000)


def _client(settings: Settings, base_url: str = "http://127.0.0.1:8000",
            client: tuple[str, int] = LOOPBACK) -> TestClient:
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app, base_url=base_url, client=client, follow_redirects=False)


def _local_key(settings: Settings) -> str:
    with session_factory(settings.database_url)() as session, session.begin():
        return apikeys.create(session, "local", "local", local=True)


def test_link_sets_the_session_cookie_and_redirects_without_the_token(sqlite_settings: Settings) -> None:
    key = _local_key(sqlite_settings)
    with _client(sqlite_settings) as c:
        assert c.get("/jobs").status_code == 401
        r = c.get("/login", params={"token": key})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert f"optarena_session={key}" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
        assert c.get("/jobs").status_code == 200  # the cookie jar now sends the key
        assert c.get(r.headers["location"]).status_code == 200  # the dashboard, no token in its URL


def test_wrong_token_is_401_with_a_message_and_keeps_the_session(sqlite_settings: Settings) -> None:
    key = _local_key(sqlite_settings)
    with _client(sqlite_settings) as c:
        for token in ("", "nope", key[:-1] + ("x" if key[-1] != "x" else "y"), key + "x" * 300):
            r = c.get("/login", params={"token": token})
            assert r.status_code == 401 and "set-cookie" not in r.headers, token
            assert "not valid" in r.text and 'href="/"' in r.text and key not in r.text
            assert r.headers["www-authenticate"] == "Bearer"
        assert c.get("/login").status_code == 401  # no token at all
        # A forged link cannot sign a browser out: the session from the good link survives.
        assert c.get("/login", params={"token": key}).status_code == 303
        assert c.get("/login", params={"token": "oa_12345678_" + "x" * 43}).status_code == 401
        assert c.get("/jobs").status_code == 200


def test_only_the_local_key_signs_in_by_link(sqlite_settings: Settings) -> None:
    # Else any page could sign a visitor's browser in to an account that page controls.
    named = add_key(sqlite_settings, "alice")
    with _client(sqlite_settings) as c:
        r = c.get("/login", params={"token": named})
        assert r.status_code == 403 and "set-cookie" not in r.headers and "make run" in r.text
        assert c.get("/jobs").status_code == 401
        assert c.post("/session", json={"key": named}).status_code == 200  # the form still takes it


def test_local_key_link_is_refused_off_loopback(sqlite_settings: Settings) -> None:
    key = _local_key(sqlite_settings)
    # A client elsewhere, and a loopback client that reached a non-loopback address.
    for base_url, client in (("http://127.0.0.1:8000", ("203.0.113.7", 40000)),
                             ("http://192.0.2.10:8000", LOOPBACK)):
        with _client(sqlite_settings, base_url, client) as c:
            r = c.get("/login", params={"token": key})
            assert r.status_code == 403 and "set-cookie" not in r.headers, (base_url, client)


def test_revoked_local_key_link_is_refused(sqlite_settings: Settings) -> None:
    key = _local_key(sqlite_settings)
    with session_factory(sqlite_settings.database_url)() as session, session.begin():
        assert apikeys.revoke(session, apikeys.split(key) or "")
    with _client(sqlite_settings) as c:
        assert c.get("/login", params={"token": key}).status_code == 401
