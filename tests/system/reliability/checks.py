"""What every fault test checks afterwards: straight from the database, each stored point once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import literal, select

from api.metrics.service import load_series
from models.codec import unpack_steps
from models.db import session_factory
from models.tables import MetricChunk, MetricSeries, Shard


def shards(url: str, job_id: str) -> list[Shard]:
    with session_factory(url)() as session:
        return list(session.scalars(select(Shard).where(Shard.job_id == job_id).order_by(Shard.index)))


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def points_once(url: str, job_id: str) -> tuple[int, int]:
    """(points stored, duplicated (run, metric, step) points) over every chunk and every
    consolidated series of the job (a series keeps whatever its chunks held, duplicates too)."""
    seen: dict[tuple[int, str], list[np.ndarray]] = {}
    with session_factory(url)() as session:
        for t, codec in ((MetricChunk, literal(0)), (MetricSeries, MetricSeries.codec)):
            rows = session.execute(select(t.run, t.metric, t.start_step, t.n, t.stride, t.steps, codec)
                                   .where(t.job_id == job_id))
            for run, metric, *cols in rows:
                seen.setdefault((run, metric), []).append(unpack_steps(*cols))
    total = dup = 0
    for parts in seen.values():
        steps = np.concatenate(parts)
        total += len(steps)
        dup += len(steps) - len(np.unique(steps))
    return total, dup


def same_curves(url: str, job_id: str, ref_id: str, steps: int) -> None:
    with session_factory(url)() as session:
        got = load_series(session, job_id, None, None, 0)
        ref = load_series(session, ref_id, None, None, 0)
    assert sorted(got) == sorted(ref)
    for run in ref:
        for metric in ("train_loss", "val_loss", "grad_norm"):
            (s_ref, v_ref), (s, v) = ref[run][metric], got[run][metric]
            assert np.array_equal(s, s_ref) and s[-1] == steps, (run, metric)
            np.testing.assert_allclose(v, v_ref, rtol=1e-6, err_msg=f"run {run} {metric}")


def sigkill(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)
