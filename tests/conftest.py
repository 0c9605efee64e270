"""Fixtures on real components: a fresh PostgreSQL database per session, SQLite files,
migrated by the real migrations."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings, get_settings
from models import apikeys
from models.db import session_factory
from tests.support.procs import migrate, reap_exiting, service_env

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"


def pytest_sessionfinish() -> None:
    reap_exiting()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A new database for this test session, dropped afterwards."""
    name = f"optarena_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from models.db import engine_for

    engine_for.cache_clear()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis database number picked at random, checked reachable. Left-over messages from
    another session could only name shards this database lacks, which workers skip."""
    db = 1 + uuid.uuid4().int % 14
    assert redis.Redis.from_url(f"{REDIS}/{db}").ping()
    return f"{REDIS}/{db}"


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file brought to head by the real migrations (alembic, in its own process),
    once per test session: each test gets a copy, a fresh database in milliseconds."""
    path = tmp_path_factory.mktemp("migrated") / "optarena.db"
    done = migrate(service_env({"OPTARENA_DATABASE_URL": f"sqlite:///{path}"}), path.parent)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture()
def sqlite_settings(tmp_path: Path, migrated_sqlite: Path) -> Settings:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/optarena.db",
                        broker_url=f"sqla+sqlite:///{tmp_path}/broker.sqlite")
    shutil.copyfile(migrated_sqlite, tmp_path / "optarena.db")
    return settings


def add_key(settings: Settings, name: str, owner: str | None = None) -> str:
    with session_factory(settings.database_url)() as session, session.begin():
        return apikeys.create(session, name, owner)


@pytest.fixture()
def anonymous(sqlite_settings: Settings) -> Iterator[TestClient]:
    """The app in-process on a migrated SQLite file, with nothing consuming its queue; no key."""
    app = create_app(sqlite_settings)
    app.dependency_overrides[get_settings] = lambda: sqlite_settings
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture()
def client(anonymous: TestClient, sqlite_settings: Settings) -> TestClient:
    """The same app, every request sent with the API key of owner 'alice'."""
    anonymous.headers["Authorization"] = f"Bearer {add_key(sqlite_settings, 'alice')}"
    return anonymous
