"""A finished shard keeps each point once, compactly: its chunks become one series row per
curve, in the dtype the values were computed in, and every reader (curves, the event replay,
a resume) gets back exactly what the chunks gave."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from api.events.service import fetch
from api.metrics.service import load_series
from core.requests import parse_request
from core.settings import Settings
from core.submission import create_job
from engine.events import MetricPoints, Progress
from models.codec import F32, SHUFFLE, ZLIB, pack_series, unpack_curve
from models.db import session_factory
from models.tables import MetricChunk, MetricSeries, Shard
from tests.support.procs import migrate, service_env
from worker.buffer import EventBuffer
from worker.persist import consolidate, drop_consolidated, stored_steps, write_batch
from worker.shards import finish


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit, NaN included."""
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("values", [
    np.float32(np.random.default_rng(0).random(500)).astype(np.float64),  # computed in float32
    np.random.default_rng(1).random(500),  # float64
    np.array([1.0, math.nan, math.inf, -math.inf, -0.0, 3e38]),
    np.array([1e300, -1e-310, 0.1]),  # out of float32's range, subnormal, not a float32
])
def test_series_round_trip_bit_for_bit(values: np.ndarray) -> None:
    for steps in (np.arange(1, len(values) + 1) * 5, np.cumsum(np.arange(1, len(values) + 1))):
        p = pack_series(steps, values)
        got_steps, got = unpack_curve(p.start_step, p.n, p.stride, p.steps, p.values, p.codec)
        assert same(got, values) and np.array_equal(got_steps, steps)
        assert p.nonfinite == (not np.isfinite(values).all())


def test_series_take_the_narrowest_exact_dtype_and_compress_only_where_it_pays() -> None:
    loss = np.float32(2.3 * np.exp(-np.arange(2000) / 500) + 0.01 * np.random.default_rng(0).random(2000))
    p = pack_series(np.arange(1, 2001), loss.astype(np.float64))
    assert p.codec & F32 and p.codec & ZLIB and p.codec & SHUFFLE and p.stride == 1 and p.steps is None
    assert len(p.values) < 4 * 2000 * 0.9  # below float32's 4 bytes a point
    noise = np.random.default_rng(1).random(2000)
    p = pack_series(np.arange(1, 2001), noise)
    assert not p.codec & F32 and len(p.values) <= 8 * 2000
    p = pack_series(np.array([7]), np.array([0.5]))
    assert p.codec == F32 and len(p.values) == 4  # one point: zlib would only add bytes


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_settings")
    url = request.getfixturevalue("pg_url")
    assert migrate(service_env({"OPTARENA_DATABASE_URL": url}), request.getfixturevalue("tmp_path")
                   ).returncode == 0
    return Settings(database_url=url)


def _job(sessions: Callable[..., Any], runs: int = 2) -> tuple[str, int]:
    with sessions() as session, session.begin():
        job = create_job(session, parse_request({"preset": "seed-wave"}))
        shard = Shard(job_id=job.id, index=0, run_indices=list(range(runs)), queue="cpu", status="running",
                      attempts=1, checkpoint=b"state", checkpoint_step=6)
        session.add(shard)
    return job.id, shard.id


def _stream(sessions: Callable[..., Any], job_id: str, shard_id: int, starts: range) -> None:
    """Batches as the engine hands them over: float32 losses, float64 learning rates, a NaN."""
    buf = EventBuffer()
    for start in starts:
        for run in (0, 1):
            loss = np.float32(1 / (start + np.arange(3) + run)).astype(np.float64)
            if start == 4 and run == 1:
                loss[1] = math.nan
            buf.add(MetricPoints(run, "train_loss", list(range(start, start + 3)), loss.tolist()))
            buf.add(MetricPoints(run, "lr", [start + 2], [0.1 / (start + 2)]))
        buf.add(Progress([0, 1], start + 2, 12))
        with sessions() as session, session.begin():
            write_batch(session, job_id, shard_id, buf.take())


def _chunks(sessions: Callable[..., Any], job_id: str) -> list[tuple[Any, ...]]:
    c = MetricChunk
    with sessions() as session:
        return [tuple(r) for r in session.execute(
            select(c.run, c.metric, c.seq, c.start_step, c.end_step, c.n, c.stride, c.steps, c.values,
                   c.nonfinite).where(c.job_id == job_id).order_by(c.run, c.metric, c.start_step))]


def _read(sessions: Callable[..., Any], job_id: str) -> tuple[dict, list]:
    with sessions() as session:
        return load_series(session, job_id, None, None, 0), fetch(session, job_id, 0, limit=1000)[0]


def _assert_same(a: dict, b: dict) -> None:
    assert {r: sorted(m) for r, m in a.items()} == {r: sorted(m) for r, m in b.items()}
    for run, curves in a.items():
        for metric, (steps, values) in curves.items():
            assert np.array_equal(steps, b[run][metric][0]) and same(values, b[run][metric][1])


def test_ending_a_shard_keeps_each_point_once_and_every_reader_the_same(settings: Settings) -> None:
    sessions = session_factory(settings.database_url)
    job_id, shard_id = _job(sessions)
    _stream(sessions, job_id, shard_id, range(1, 13, 3))
    chunks = _chunks(sessions, job_id)
    live_curves, live_events = _read(sessions, job_id)
    with sessions() as session, session.begin():
        consolidate(session, job_id, [0, 1])
        assert finish(session, shard_id, "succeeded")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MetricChunk)
                              .where(MetricChunk.job_id == job_id)) == 0
        assert session.scalar(select(Shard.checkpoint).where(Shard.id == shard_id)) is None
        codecs = dict(session.execute(select(MetricSeries.metric, MetricSeries.codec)
                                      .where(MetricSeries.job_id == job_id, MetricSeries.run == 0)).all())
    assert codecs["train_loss"] & F32 and not codecs["lr"] & F32  # as each was computed
    curves, events = _read(sessions, job_id)
    _assert_same(curves, live_curves)
    # Last-Event-ID replay: the same events, points and order, then the job's final status.
    assert events[:-1] == live_events and events[-1][1:] == ("status", {"status": "succeeded"})
    assert any(None in p["values"] for e in events if e[1] == "metrics" for p in e[2]["metrics"])
    with sessions() as session:  # a reconnect from the middle of the stream
        cut = live_events[len(live_events) // 2][0]
        assert fetch(session, job_id, cut, limit=1000)[0] == [e for e in events if e[0] > cut]

    # Trained again (a resumed shard): the chunks come back as they were, seqs included.
    with sessions() as session, session.begin():
        drop_consolidated(session, job_id, [0, 1])
        assert stored_steps(session, job_id, [0, 1])[(1, "train_loss")] == 12
    assert _chunks(sessions, job_id) == chunks
    assert _read(sessions, job_id)[1] == events


def test_a_cancelled_shard_keeps_its_checkpoint(sqlite_settings: Settings) -> None:
    sessions = session_factory(sqlite_settings.database_url)
    job_id, shard_id = _job(sessions)
    with sessions() as session, session.begin():
        assert finish(session, shard_id, "cancelled")
    with sessions() as session:
        assert session.scalar(select(Shard.checkpoint).where(Shard.id == shard_id)) == b"state"


def test_a_late_consolidation_loses_nothing(sqlite_settings: Settings) -> None:
    """A worker that lost its lease may still consolidate while the new owner writes chunks:
    readers merge series and chunks, and the owner's own consolidation merges them for good."""
    sessions = session_factory(sqlite_settings.database_url)
    job_id, shard_id = _job(sessions)
    ref_id, ref_shard = _job(sessions)
    _stream(sessions, job_id, shard_id, range(1, 7, 3))
    _stream(sessions, ref_id, ref_shard, range(1, 13, 3))
    with sessions() as session, session.begin():
        consolidate(session, job_id, [0, 1])  # the old owner
    _stream(sessions, job_id, shard_id, range(7, 13, 3))  # the new owner goes on
    ref = _read(sessions, ref_id)[0]
    _assert_same(_read(sessions, job_id)[0], ref)
    with sessions() as session, session.begin():
        consolidate(session, job_id, [0, 1])
    _assert_same(_read(sessions, job_id)[0], ref)
    assert not _chunks(sessions, job_id)
    events = [e for e in _read(sessions, job_id)[1] if e[1] == "metrics"]
    assert [sum(len(p["steps"]) for p in e[2]["metrics"]) for e in events] == [8] * 4
