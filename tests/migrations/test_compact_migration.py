"""Migration 0007 compacts jobs stored before it: a finished job's reads (curves and the
event replay) return the same values from one compact row per curve, its chunks and its
succeeded shard's checkpoint are gone, a running job is untouched; downgrading gives the
old layout back byte for byte."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.events.service import fetch
from api.metrics.service import load_series
from core.planning import add_runs
from core.requests import parse_request
from core.submission import job_steps
from engine.design import stage, total_runs
from engine.events import MetricPoints, Progress
from models.codec import F32, columns_by_series, pack, unpack_series, unpack_steps, unpack_values
from models.db import make_engine, session_factory
from models.jsonsafe import finite_or_none
from models.tables import Job, Shard
from tests.support.procs import migrate, service_env
from worker.buffer import EventBuffer
from worker.persist import write_batch

CURVE = ("start_step", "end_step", "n", "stride", "steps", "values", "nonfinite")
OLD_SERIES = sa.table("metric_series", sa.column("job_id"), sa.column("run"), sa.column("metric"),
                      *map(sa.column, CURVE))
CHUNK_COLS = "run, metric, seq, start_step, end_step, n, stride, steps, \"values\", nonfinite"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/m.db"
        return
    name = f"optarena_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from models.db import engine_for

    engine_for.cache_clear()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alembic(url: str, cwd: Path, *args: str) -> None:
    done = migrate(service_env({"OPTARENA_DATABASE_URL": url}), cwd, *args)
    assert done.returncode == 0, done.stderr


def _job_at_0006(url: str, status: str) -> str:
    """A job stored as the code of revision 0006 did: chunks, and once finished, a raw float64
    series per curve beside them (the tables this writes through are the same at 0006)."""
    sessions = session_factory(url)
    with sessions() as session, session.begin():
        job_id = _create_job_0006(session)
        shard = Shard(job_id=job_id, index=0, run_indices=[0, 1], queue="cpu", status=status, attempts=1,
                      checkpoint=b"x" * 1000, checkpoint_step=5)
        session.add(shard)
    buf = EventBuffer()
    for start in range(1, 30, 4):
        for run in (0, 1):
            loss = np.float32(np.linspace(2, 1, 4) / (start + run)).astype(np.float64)
            loss[2] = math.nan if start == 9 else loss[2]
            buf.add(MetricPoints(run, "train_loss", list(range(start, start + 4)), loss.tolist()))
            buf.add(MetricPoints(run, "val_loss", [start + 3], [math.inf if start == 13 else 1 / start]))
        buf.add(Progress([0, 1], start + 3, 32))
        with sessions() as session, session.begin():
            write_batch(session, job_id, shard.id, buf.take())
    with sessions() as session, session.begin():
        session.execute(sa.text("UPDATE jobs SET status = :s WHERE id = :j"), {"s": status, "j": job_id})
        if status == "succeeded":
            rows = session.execute(sa.text('SELECT run, metric, start_step, n, stride, steps, "values" '
                                           "FROM metric_chunks WHERE job_id = :j "
                                           "ORDER BY run, metric, start_step"), {"j": job_id})
            for (run, metric), cols in columns_by_series(rows).items():
                p = pack(*unpack_series(*cols))
                session.execute(sa.insert(OLD_SERIES).values(job_id=job_id, run=run, metric=metric,
                                                             **{k: getattr(p, k) for k in CURVE}))
    return job_id


def _create_job_0006(session: Session) -> str:
    """``create_job``'s job row and first runs as revision 0006 wrote them: without the label
    columns that revision 0009 added to jobs (the ORM would write them)."""
    spec = parse_request({"preset": "seed-wave"}).spec
    assert spec is not None
    job_id = str(uuid.uuid4())
    session.execute(sa.insert(Job.__table__).values(
        id=job_id, preset="seed-wave", spec=spec.model_dump(mode="json"), n_runs=total_runs(spec),
        steps=job_steps(spec)))
    add_runs(session, job_id, stage(spec, 0))
    return job_id


def _rows(url: str, sql: str, job_id: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                    for r in conn.execute(sa.text(sql), {"j": job_id})]
    finally:
        engine.dispose()


def _expected(chunks: list[tuple[Any, ...]]) -> tuple[dict, dict]:
    """Curves and each event's points as revision 0006 served them, from its chunks."""
    curves: dict[int, dict[str, tuple[list[int], list[float]]]] = {}
    events: dict[int, list[dict[str, Any]]] = {}
    for run, metric, seq, start, _, n, stride, steps, values, _ in sorted(chunks,
                                                                           key=lambda r: (r[0], r[1], r[3])):
        s, v = unpack_steps(start, n, stride, steps).tolist(), unpack_values(values)
        have = curves.setdefault(run, {}).setdefault(metric, ([], []))
        have[0].extend(s)
        have[1].extend(v.tolist())
        events.setdefault(seq, []).append({"run": run, "metric": metric, "steps": s,
                                           "values": finite_or_none(v.tolist())})
    return curves, {seq: sorted(p, key=lambda x: (x["run"], x["metric"])) for seq, p in events.items()}


def test_finished_jobs_are_compacted_and_read_the_same(url: str, tmp_path: Path) -> None:
    _alembic(url, tmp_path, "upgrade", "0006")
    done, running = _job_at_0006(url, "succeeded"), _job_at_0006(url, "running")
    chunks = {j: _rows(url, f"SELECT {CHUNK_COLS} FROM metric_chunks WHERE job_id = :j ORDER BY id", j)
              for j in (done, running)}
    series = _rows(url, "SELECT * FROM metric_series WHERE job_id = :j ORDER BY run, metric", done)
    _alembic(url, tmp_path, "upgrade", "head")

    assert _rows(url, "SELECT id FROM metric_chunks WHERE job_id = :j", done) == []
    assert _rows(url, "SELECT checkpoint FROM shards WHERE job_id = :j", done) == [(None,)]
    assert _rows(url, f"SELECT {CHUNK_COLS} FROM metric_chunks WHERE job_id = :j ORDER BY id",
                 running) == chunks[running]
    assert _rows(url, "SELECT checkpoint FROM shards WHERE job_id = :j", running) == [(b"x" * 1000,)]
    codecs = _rows(url, "SELECT DISTINCT metric, codec FROM metric_series WHERE job_id = :j", done)
    assert sorted((m, c & F32) for m, c in codecs) == [("train_loss", F32), ("val_loss", 0)]  # as computed
    with session_factory(url)() as session:
        for job_id in (done, running):
            curves, points = _expected(chunks[job_id])
            got = load_series(session, job_id, None, None, 0)
            assert {r: sorted(c) for r, c in got.items()} == {r: sorted(c) for r, c in curves.items()}
            for run, by_metric in curves.items():
                for metric, (steps, values) in by_metric.items():
                    s, v = got[run][metric]
                    assert s.tolist() == steps and v.tobytes() == np.array(values).tobytes()
            events = fetch(session, job_id, 0, limit=1000)[0]
            assert {seq: p["metrics"] for seq, kind, p in events if kind == "metrics"} == points

    _alembic(url, tmp_path, "downgrade", "0006")
    assert sorted(_rows(url, f"SELECT {CHUNK_COLS} FROM metric_chunks WHERE job_id = :j", done)) == \
        sorted(chunks[done])
    assert _rows(url, "SELECT * FROM metric_series WHERE job_id = :j ORDER BY run, metric", done) == series
