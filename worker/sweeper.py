"""The sweeper: a thread in every worker that re-sends what the broker may have lost.

The database is the source of truth; the broker only carries IDs, and can lose them (a
Redis restart without persistence, an outage while the API submitted a job). Every
``sweep_seconds`` each worker, in one short transaction per kind of work:

- re-sends ``plan_job`` for a job still queued and unplanned ``resend_after_seconds``
  after it was last sent (or created, if the send failed);
- re-sends ``run_shard`` for a shard still queued that long after it was last sent;
- re-sends ``run_shard`` for a running shard whose lease has expired (its worker died),
  at most once per lease period, or fails it with the reason once out of attempts.

Candidates are claimed with a conditional UPDATE of their ``enqueued_at``, so with several
workers each message is re-sent by one of them. A duplicate message is harmless anyway:
a finished shard is skipped and a live lease makes the second delivery back off.
Celery beat is not needed (the embedded default does not run it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from core.planning import unfinished_jobs_without_work
from core.settings import Settings
from models.tables import Job, Shard, utcnow
from worker.shards import finish, gave_up

log = logging.getLogger(__name__)

Send = Callable[[str, list, str], None]  # task name, args, queue


def stale_jobs(session: Session, settings: Settings) -> list[str]:
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.resend_after_seconds)
    unplanned = ~exists().where(Shard.job_id == Job.id)
    q = (update(Job).where(Job.status == "queued", Job.spec.is_not(None), unplanned,
                           func.coalesce(Job.enqueued_at, Job.created_at) < cutoff)
         .values(enqueued_at=now).returning(Job.id))
    return list(session.scalars(q))


def stale_shards(session: Session, settings: Settings) -> list[tuple[int, str]]:
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.resend_after_seconds)
    lease_cutoff = now - timedelta(seconds=settings.lease_seconds)
    queued = and_(Shard.status == "queued", or_(Shard.enqueued_at.is_(None), Shard.enqueued_at < cutoff))
    expired = and_(Shard.status == "running", Shard.lease_expires_at < now,
                   or_(Shard.enqueued_at.is_(None), Shard.enqueued_at < lease_cutoff))
    q = update(Shard).where(or_(queued, expired)).values(enqueued_at=now).returning(Shard.id, Shard.queue)
    return [(int(i), q_) for i, q_ in session.execute(q)]


def exhausted(session: Session, settings: Settings) -> list[int]:
    """Shards whose worker died on their last allowed attempt: failed here, not re-sent."""
    ids = list(session.scalars(select(Shard.id).where(
        Shard.status == "running", Shard.lease_expires_at < utcnow(),
        Shard.attempts >= settings.max_attempts)))
    for shard_id in ids:
        shard = session.get(Shard, shard_id)
        if shard is not None:
            finish(session, shard_id, "failed", gave_up(shard))
    return ids


def sweep(sessions: Callable[[], Session], settings: Settings, send: Send, plan: str, run: str) -> int:
    """One pass; returns how many messages were re-sent."""
    with sessions() as session, session.begin():
        failed = exhausted(session, settings)
    with sessions() as session, session.begin():
        jobs = stale_jobs(session, settings) + unfinished_jobs_without_work(session)
    with sessions() as session, session.begin():
        shards = stale_shards(session, settings)
    for job_id in jobs:
        send(plan, [job_id], "cpu")
    for shard_id, queue in shards:
        send(run, [shard_id], queue)
    if failed or jobs or shards:
        log.warning("sweeper: failed %s out of attempts; re-sent jobs %s, shards %s",
                    failed, jobs, [s for s, _ in shards])
    return len(jobs) + len(shards)


class Sweeper(threading.Thread):
    def __init__(self, sessions: Callable[[], Session], settings: Settings, send: Send, plan: str, run: str):
        super().__init__(name="optarena-sweeper", daemon=True)
        self.args_ = (sessions, settings, send, plan, run)
        self.period = settings.sweep_seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.period):
            try:
                sweep(*self.args_)
            except Exception:  # noqa: BLE001 - database or broker away: try again next period
                log.warning("sweeper: pass failed; retrying in %.1f s", self.period, exc_info=True)
