"""Jobs with stored curves, written through the worker's own path (plan, claim, write_batch,
consolidate, finish) instead of training, so that read tests stay fast."""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import select

from core.planning import plan_shards
from engine.events import MetricPoints, Progress, RunFinished
from models.db import session_factory
from models.tables import Shard
from worker.buffer import EventBuffer
from worker.persist import consolidate, write_batch
from worker.shards import claim, finish

WORKER = "tests"
EVAL_EVERY = 50


def plan(url: str, job_id: str, shard_size: int = 40) -> list[int]:
    """Shard ids of the job, each claimed (running), as a worker would leave them."""
    sessions = session_factory(url)
    with sessions() as session, session.begin():
        plan_shards(session, job_id, shard_size=shard_size)
        ids = list(session.scalars(select(Shard.id).where(Shard.job_id == job_id).order_by(Shard.index)))
    for shard_id in ids:
        with sessions() as session, session.begin():
            assert claim(session, shard_id, WORKER, 3600, 3) is not None
    return ids


def runs_of(url: str, shard_id: int) -> list[int]:
    with session_factory(url)() as session:
        return list(session.get(Shard, shard_id).run_indices)


def write(url: str, job_id: str, shard_id: int, start: int, end: int, f32: bool = False) -> None:
    """Steps start+1..end of every run of the shard: train loss each step (run 0 diverges for
    a moment, so non-finite values are exercised; with ``f32``, float32 values widened, as
    the engine streams them), validation loss every EVAL_EVERY steps (float64)."""
    runs = runs_of(url, shard_id)
    buffer = EventBuffer()
    steps = np.arange(start + 1, end + 1)
    for r in runs:
        train = np.exp(-steps / (300 + 40 * r)) + 0.01 * np.sin(steps * (r + 1))
        if r == 0:
            train[(steps > 120) & (steps <= 123)] = math.nan
        if f32:
            train = train.astype(np.float32).astype(np.float64)
        buffer.add(MetricPoints(r, "train_loss", steps.tolist(), train.tolist()))
        evals = [s for s in steps.tolist() if s % EVAL_EVERY == 0]
        if evals:
            val = [1.1 * math.exp(-s / (250 + 30 * r)) for s in evals]
            buffer.add(MetricPoints(r, "val_loss", evals, val))
    buffer.add(Progress(runs, end, end))
    with session_factory(url)() as session, session.begin():
        write_batch(session, job_id, shard_id, buffer.take())


def close(url: str, job_id: str, shard_id: int, steps: int, status: str = "succeeded") -> None:
    """End the shard: summaries and consolidated series when it succeeded, as the worker does."""
    runs = runs_of(url, shard_id)
    with session_factory(url)() as session, session.begin():
        if status == "succeeded":
            buffer = EventBuffer()
            for r in runs:
                final = 1.1 * math.exp(-steps / (250 + 30 * r))
                buffer.add(RunFinished(r, {
                    "diverged": False, "steps_trained": steps, "examples_seen": steps * 64,
                    "final_train_loss": 0.9 * final, "final_val_loss": final, "final_test_loss": final,
                    "best_val_loss": final, "best_step": steps, "generalization_gap": 0.1 * final,
                    "wall_time": steps / 1000, "baseline_val_loss": 1.2}))
            write_batch(session, job_id, shard_id, buffer.take())
            consolidate(session, job_id, runs)
        assert finish(session, shard_id, status, None if status == "succeeded" else "boom", owner=WORKER)


def finished_job(url: str, job_id: str, steps: int) -> None:
    for shard_id in plan(url, job_id):
        write(url, job_id, shard_id, 0, steps)
        close(url, job_id, shard_id, steps)
