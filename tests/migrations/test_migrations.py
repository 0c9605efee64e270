"""The real migrations build the schema on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from models.db import make_engine
from tests.support.procs import migrate, service_env

TABLES = {"jobs", "shards", "runs", "metric_chunks", "job_events", "alembic_version"}


def _cycle(url: str, cwd: Path) -> None:
    env = service_env({"OPTARENA_DATABASE_URL": url})
    for step in (("upgrade", "head"), ("check",), ("downgrade", "base"), ("upgrade", "head"), ("check",)):
        done = migrate(env, cwd, *step)
        assert done.returncode == 0, f"alembic {' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
    engine = make_engine(url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        uniques = {u["name"] for u in inspect(engine).get_unique_constraints("metric_chunks")}
        assert "uq_metric_chunks_job_id_run_metric_start_step" in uniques
    finally:
        engine.dispose()


def test_sqlite_upgrade_check_downgrade(tmp_path: Path) -> None:
    _cycle(f"sqlite:///{tmp_path}/m.db", tmp_path)


def test_postgres_upgrade_check_downgrade(pg_url: str, tmp_path: Path) -> None:
    _cycle(pg_url, tmp_path)


def test_default_url_is_a_sqlite_file_under_var(tmp_path: Path) -> None:
    """With no settings at all, the schema lands in ./var/optarena.db (the embedded default)."""
    done = migrate(service_env(), tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "var" / "optarena.db").exists()
