"""A shard interrupted mid-way resumes from its checkpoint: every point stored exactly once,
and the resumed curves equal an uninterrupted run of the same spec."""

from __future__ import annotations

import threading
import time

import numpy as np
from sqlalchemy import select, update

from api.metrics.service import load_series
from core import planning
from core.requests import parse_request
from core.settings import Settings
from core.submission import create_job
from models.db import session_factory
from models.tables import Job, Shard
from worker import shard_runner

# Large batches, so that 600 steps take long enough for the cancel to land between a checkpoint
# and the end (seed-wave's batches of 64 train them in a few tens of milliseconds).
SPEC = {"preset": "seed-wave", "overrides": {"train": {"steps": 600, "eval_every": 100, "batch_size": 2048}}}


def _job(sessions) -> tuple[str, int]:  # noqa: ANN001 - a sessionmaker
    with sessions() as session, session.begin():
        job = create_job(session, parse_request(SPEC))
    with sessions() as session, session.begin():
        [(shard_id, _)] = planning.plan_shards(session, job.id, shard_size=3)
    return job.id, shard_id


def _cancel_when_checkpointed(sessions, job_id: str, shard_id: int) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with sessions() as session:
            if (session.scalar(select(Shard.checkpoint_step).where(Shard.id == shard_id)) or 0) > 0:
                break
        time.sleep(0.02)
    with sessions() as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))


def test_interrupted_shard_resumes_exactly_once(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"checkpoint_every": 50, "flush_seconds": 0.05,
                                                     "cancel_poll_seconds": 0.01})
    sessions = session_factory(settings.database_url)
    ref_id, ref_shard = _job(sessions)
    assert shard_runner.train_shard(settings, sessions, ref_shard) == "succeeded"

    job_id, shard_id = _job(sessions)
    stopper = threading.Thread(target=_cancel_when_checkpointed, args=(sessions, job_id, shard_id))
    stopper.start()
    assert shard_runner.train_shard(settings, sessions, shard_id) == "cancelled"
    stopper.join()
    # As if the worker had died: the shard is "running" again, redelivered, and resumes.
    with sessions() as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=False, status="running"))
        session.execute(update(Shard).where(Shard.id == shard_id).values(status="running"))
        ckpt = session.scalar(select(Shard.checkpoint_step).where(Shard.id == shard_id))
    assert 0 < ckpt < 600
    assert shard_runner.train_shard(settings, sessions, shard_id) == "succeeded"
    assert shard_runner.train_shard(settings, sessions, shard_id) == "skipped"  # redelivered again

    with sessions() as session:
        ref, got = load_series(session, ref_id, None, None, 0), load_series(session, job_id, None, None, 0)
    for run in range(3):
        for metric in ("train_loss", "grad_norm", "val_loss", "test_loss"):
            (s_ref, v_ref), (s, v) = ref[run][metric], got[run][metric]
            assert np.array_equal(s, s_ref), (run, metric)
            assert len(np.unique(s)) == len(s)
            np.testing.assert_allclose(v, v_ref, rtol=1e-6, err_msg=f"run {run} {metric}")
