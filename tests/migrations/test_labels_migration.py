"""Migration 0009 on SQLite and PostgreSQL: a job stored before it has no name, no tags and no
notes, and a tag filter passes over it; downgrading drops the labels and nothing else (on SQLite
a table copy would cascade-delete every job's runs)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.jobs import service
from api.jobs.filters import JobFilter
from models.db import make_engine, session_factory
from models.tables import Job
from tests.support.procs import migrate, service_env

OWNER = "old-timer"


def _alembic(url: str, cwd: Path, *args: str) -> None:
    done = migrate(service_env({"OPTARENA_DATABASE_URL": url}), cwd, *args)
    assert done.returncode == 0, done.stderr


def _sql(url: str, sql: str, **params: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _job_columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("jobs")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_upgrade_keeps_old_jobs_and_downgrade_only_drops_the_labels(db: str, request: pytest.FixtureRequest,
                                                                    tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db" if db == "sqlite" else request.getfixturevalue("pg_url")
    _alembic(url, tmp_path, "upgrade", "head")
    _alembic(url, tmp_path, "downgrade", "0008")
    assert not {"name", "tags", "notes"} & _job_columns(url)
    job_id = str(uuid.uuid4())
    _sql(url, "INSERT INTO jobs (id, status, source, owner, cancel_requested, last_seq, n_runs, steps, "
              "created_at) VALUES (:j, 'succeeded', 'http', :o, false, 0, 1, 10, '2026-01-01 00:00:00')",
         j=job_id, o=OWNER)
    _sql(url, "INSERT INTO runs (job_id, \"index\", arm, label, optimizer, seed, batch_size, hyperparams, "
              "status, step, stage) VALUES (:j, 0, 0, 'SGD', 'sgd', 0, 32, '{}', 'succeeded', 10, 0)",
         j=job_id)

    _alembic(url, tmp_path, "upgrade", "head")
    with session_factory(url)() as session:
        old = session.get(Job, job_id)
        assert old is not None and (old.name, old.tags, old.notes) == (None, [], None)
        assert service.page(session, OWNER, JobFilter(tags=["a"]), 10, 0)[:2] == ([], 0)
        old.name, old.tags, old.notes = "kept", ["a"], "n"
        session.commit()
        assert [j.id for j in service.page(session, OWNER, JobFilter(tags=["a"]), 10, 0)[0]] == [job_id]

    _alembic(url, tmp_path, "downgrade", "0008")
    assert not {"name", "tags", "notes"} & _job_columns(url)
    assert _sql(url, "SELECT status FROM jobs WHERE id = :j", j=job_id) == [("succeeded",)]
    assert _sql(url, "SELECT label FROM runs WHERE job_id = :j", j=job_id) == [("SGD",)]
    _alembic(url, tmp_path, "upgrade", "head")
