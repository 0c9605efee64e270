"""Train one shard: claim it, resume from its checkpoint, stream events to the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from engine.runner import resolve_device, train_runs
from engine.spec import ComparisonSpec
from optarena.settings import Settings
from worker.buffer import EventBuffer
from worker.persist import consolidate, drop_consolidated, stored_steps
from worker.shards import Claim, claim, finish, is_cancelled
from worker.writer import ShardWriter

log = logging.getLogger(__name__)


class CancelCheck:
    """``should_stop`` for the engine: reads the job's cancel flag at most every
    ``period`` seconds, and stops at once if the writer thread has failed."""

    def __init__(self, sessions: Callable[[], Session], job_id: str, writer: ShardWriter, period: float):
        self.sessions, self.job_id, self.writer, self.period = sessions, job_id, writer, period
        self.last, self.cancelled = 0.0, False

    def __call__(self) -> bool:
        if self.writer.error is not None:
            return True
        now = time.monotonic()
        if not self.cancelled and now - self.last >= self.period:
            self.last = now
            with self.sessions() as session:
                self.cancelled = is_cancelled(session, self.job_id)
        return self.cancelled


def run_shard(settings: Settings, sessions: Callable[[], Session], shard_id: int) -> str:
    """Returns the shard's final status ('skipped' when there was nothing to do)."""
    with sessions() as session, session.begin():
        job = claim(session, shard_id)
    if job is None:
        return "skipped"
    try:
        completed = _train(settings, sessions, shard_id, job)
    except Exception as exc:
        log.exception("shard %s failed", shard_id)
        with sessions() as session, session.begin():
            finish(session, shard_id, "failed", f"{type(exc).__name__}: {exc}")
        return "failed"
    status = "succeeded" if completed else "cancelled"
    with sessions() as session, session.begin():
        consolidate(session, job.job_id, job.runs)
        finish(session, shard_id, status)
    return status


def _train(settings: Settings, sessions: Callable[[], Session], shard_id: int, job: Claim) -> bool:
    spec = ComparisonSpec.model_validate(job.spec)
    with sessions() as session, session.begin():
        drop_consolidated(session, job.job_id, job.runs)
        buffer = EventBuffer(stored_steps(session, job.job_id, job.runs))
    writer = ShardWriter(sessions, job.job_id, shard_id, buffer, interval=settings.write_interval,
                         heartbeat=settings.heartbeat_seconds)
    with writer:
        stop = CancelCheck(sessions, job.job_id, writer, settings.cancel_poll_seconds)
        completed = train_runs(spec, job.runs, writer.on_event, device=resolve_device(spec.train.device),
                               resume=job.checkpoint, should_stop=stop, on_checkpoint=writer.on_checkpoint,
                               checkpoint_every=settings.checkpoint_every,
                               flush_seconds=settings.flush_seconds)
    return completed and not stop.cancelled
