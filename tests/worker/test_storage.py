"""Metric chunks round-trip, downsampling keeps extremes, a resumed shard stores each point once."""

from __future__ import annotations

import math

import numpy as np

from api.metrics.downsample import minmax_indices
from engine.events import MetricPoints, Progress
from models.codec import pack, unpack_steps, unpack_values
from worker.buffer import EventBuffer


def test_regular_steps_are_stored_as_a_range() -> None:
    p = pack([5, 10, 15], [1.0, math.nan, math.inf])
    assert (p.stride, p.steps, p.nonfinite) == (5, None, True)
    assert unpack_steps(p.start_step, p.n, p.stride, p.steps).tolist() == [5, 10, 15]
    v = unpack_values(p.values)
    assert v[0] == 1.0 and math.isnan(v[1]) and math.isinf(v[2])


def test_irregular_steps_are_stored_explicitly() -> None:
    p = pack([100, 200, 250], [1.0, 2.0, 3.0])
    assert p.stride == 0 and not p.nonfinite
    assert unpack_steps(p.start_step, p.n, p.stride, p.steps).tolist() == [100, 200, 250]


def test_downsampling_keeps_extremes_ends_and_nan() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=10_000)
    v[1234], v[7777], v[4321] = 50.0, -50.0, math.nan
    idx = minmax_indices(v, 1000)
    assert len(idx) <= 1000 and idx[0] == 0 and idx[-1] == len(v) - 1
    assert {1234, 7777, 4321} <= set(idx.tolist())
    assert np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, minmax_indices(v, 1000))  # deterministic
    assert minmax_indices(v[:10], 1000).tolist() == list(range(10))


def test_buffer_merges_chunks_and_drops_points_already_stored() -> None:
    buf = EventBuffer(stored={(0, "train_loss"): 4})
    buf.add(MetricPoints(0, "train_loss", [3, 4, 5, 6], [0.3, 0.4, 0.5, 0.6]))
    buf.add(MetricPoints(0, "train_loss", [7], [0.7]))
    buf.add(MetricPoints(1, "val_loss", [100], [1.0]))
    buf.add(Progress([0, 1], 7, 10))
    batch = buf.take()
    assert batch.series[(0, "train_loss")] == ([5, 6, 7], [0.5, 0.6, 0.7])
    assert batch.series[(1, "val_loss")] == ([100], [1.0])
    assert batch.progress is not None and batch.progress["step"] == 7 and batch.progress["runs"] == [0, 1]
    buf.add(MetricPoints(0, "train_loss", [6, 7, 8], [0.6, 0.7, 0.8]))  # re-emitted after a resume
    assert buf.take().series[(0, "train_loss")] == ([8], [0.8])


def test_curves_read_the_same_from_chunks_and_from_consolidated_rows(sqlite_settings) -> None:  # noqa: ANN001
    """A running job is read from its chunks, a finished one from one row per curve."""
    from api.metrics.service import load_series
    from core.requests import parse_request
    from core.submission import create_job
    from models.db import session_factory
    from models.tables import Shard
    from worker.persist import consolidate, write_batch

    sessions = session_factory(sqlite_settings.database_url)
    with sessions() as session, session.begin():
        job = create_job(session, parse_request({"preset": "seed-wave"}))
        shard = Shard(job_id=job.id, index=0, run_indices=[0], queue="cpu", status="running")
        session.add(shard)
    buf = EventBuffer()
    for start in (1, 4, 7):
        buf.add(MetricPoints(0, "train_loss", [start, start + 1, start + 2], [1.0, math.nan, 3.0]))
        buf.add(MetricPoints(0, "val_loss", [start + 2], [float(start)]))
        with sessions() as session, session.begin():
            write_batch(session, job.id, shard.id, buf.take())
            write_batch(session, job.id, shard.id, buf.take())  # an empty batch is a heartbeat
    with sessions() as session:
        live = load_series(session, job.id, None, None, 2)
    with sessions() as session, session.begin():
        consolidate(session, job.id, [0])
        consolidate(session, job.id, [0])  # a repeated consolidation replaces the first
    with sessions() as session:
        done = load_series(session, job.id, None, None, 2)
    for curves in (live, done):
        steps, values = curves[0]["train_loss"]
        assert steps.tolist() == list(range(3, 10))
        assert np.isnan(values[[2, 5]]).all() and values[0] == 3.0
        assert curves[0]["val_loss"][0].tolist() == [3, 6, 9]
