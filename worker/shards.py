"""Shard state changes, each in its own short transaction.

The database decides who trains a shard, not the broker (which may deliver a task twice):
a claim takes a lease (owner, expiry) that the shard's writer renews every heartbeat. A
delivery that finds a live lease held by another worker backs off; an expired lease is
taken over, and the new owner resumes from the shard's checkpoint. Every claim counts as
an attempt; past ``max_attempts`` the shard is failed with the reason instead.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.journal import refresh_status
from models.tables import TERMINAL, Job, Run, Shard, utcnow


class LeaseLost(RuntimeError):
    """Another worker took the shard over (this one was presumed dead): stop, write nothing."""


@dataclass
class Claim:
    job_id: str
    spec: dict[str, Any]
    runs: list[int]
    checkpoint: bytes | None
    checkpoint_step: int
    stage: int = 0
    study_state: dict[str, Any] | None = None


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def lease_live(shard: Shard, now: datetime) -> bool:
    expires = aware(shard.lease_expires_at)
    return shard.status == "running" and expires is not None and expires > now


def lock(session: Session, shard_id: int) -> tuple[Job, Shard] | None:
    """Lock the job row, then the shard row: every writer takes the job first, so two
    transactions of one job never wait on each other in a cycle."""
    job_id = session.scalar(select(Shard.job_id).where(Shard.id == shard_id))
    if job_id is None:
        return None
    job = session.execute(select(Job).where(Job.id == job_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one()
    shard = session.execute(select(Shard).where(Shard.id == shard_id).with_for_update()
                            .execution_options(populate_existing=True)).scalar_one()
    return job, shard


def gave_up(shard: Shard) -> str:
    return (f"gave up after {shard.attempts} attempts: the worker training this shard stopped without "
            f"finishing each time (last owner {shard.owner}); see OPTARENA_MAX_ATTEMPTS")


def claim(session: Session, shard_id: int, owner: str, lease_seconds: float,
          max_attempts: int) -> Claim | None:
    """Take the shard's lease and mark it running, or return None when there is nothing to
    do: gone, finished, cancelled, leased by a live worker, or out of attempts."""
    locked = lock(session, shard_id)
    if locked is None:
        return None
    job, shard = locked
    now = utcnow()
    if shard.status in TERMINAL or job.spec is None:
        return None
    if job.cancel_requested:
        finish(session, shard_id, "cancelled")
        return None
    if lease_live(shard, now) and shard.owner != owner:
        return None
    if shard.attempts >= max_attempts:
        finish(session, shard_id, "failed", gave_up(shard))
        return None
    shard.status, shard.attempts, shard.owner = "running", shard.attempts + 1, owner
    shard.heartbeat_at, shard.lease_expires_at = now, now + timedelta(seconds=lease_seconds)
    shard.started_at = shard.started_at or now
    session.execute(update(Run).where(Run.shard_id == shard_id, Run.status == "queued")
                    .values(status="running"))
    refresh_status(session, shard.job_id)
    return Claim(job.id, job.spec, list(shard.run_indices), shard.checkpoint, shard.checkpoint_step,
                 shard.stage, job.study_state)


def renew(session: Session, shard_id: int, owner: str, lease_seconds: float, values: dict[str, Any]) -> None:
    """The heartbeat: extend the lease (and store ``values``) only while we still hold it."""
    now = utcnow()
    done = session.execute(update(Shard).where(Shard.id == shard_id, Shard.owner == owner,
                                               Shard.status == "running")
                           .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds),
                                   **values))
    if not done.rowcount:
        raise LeaseLost(f"shard {shard_id} is no longer leased to {owner}")


def finish(session: Session, shard_id: int, status: str, error: str | None = None,
           owner: str | None = None) -> bool:
    """Close the shard and its unfinished runs, then the job's status from all shards.
    With ``owner``, only while that worker still holds the shard."""
    locked = lock(session, shard_id)
    if locked is None:
        return False
    shard = locked[1]
    if owner is not None and (shard.owner != owner or shard.status in TERMINAL):
        return False
    shard.status, shard.finished_at, shard.error = status, utcnow(), error
    shard.lease_expires_at = None
    if status == "succeeded":
        # Nothing resumes a succeeded shard: its checkpoint is dead weight. A failed or
        # cancelled one keeps the state it stopped in.
        shard.checkpoint = None
    run_status = "succeeded" if status == "succeeded" else status
    session.execute(update(Run).where(Run.shard_id == shard_id, Run.status.in_(("queued", "running")))
                    .values(status=run_status))
    refresh_status(session, shard.job_id)
    return True


def is_cancelled(session: Session, job_id: str) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
