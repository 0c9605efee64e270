"""Shard state changes, each in its own short transaction."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.journal import refresh_status
from models.tables import TERMINAL, Job, Run, Shard, utcnow


@dataclass
class Claim:
    job_id: str
    spec: dict[str, Any]
    runs: list[int]
    checkpoint: bytes | None
    checkpoint_step: int


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def claim(session: Session, shard_id: int) -> Claim | None:
    """Mark the shard running, or return None when there is nothing to do (gone,
    finished already, or its job was cancelled)."""
    locked = lock(session, shard_id)
    if locked is None:
        return None
    job, shard = locked
    if shard.status in TERMINAL or job.spec is None:
        return None
    if job.cancel_requested:
        finish(session, shard_id, "cancelled")
        return None
    shard.status, shard.attempts, shard.owner = "running", shard.attempts + 1, owner_name()
    shard.heartbeat_at = utcnow()
    shard.started_at = shard.started_at or utcnow()
    session.execute(update(Run).where(Run.shard_id == shard_id, Run.status == "queued")
                    .values(status="running"))
    refresh_status(session, shard.job_id)
    return Claim(job.id, job.spec, list(shard.run_indices), shard.checkpoint, shard.checkpoint_step)


def finish(session: Session, shard_id: int, status: str, error: str | None = None) -> None:
    """Close the shard and its unfinished runs, then the job's status from all shards."""
    locked = lock(session, shard_id)
    if locked is None:
        return
    shard = locked[1]
    shard.status, shard.finished_at, shard.error = status, utcnow(), error
    run_status = "succeeded" if status == "succeeded" else status
    session.execute(update(Run).where(Run.shard_id == shard_id, Run.status.in_(("queued", "running")))
                    .values(status=run_status))
    refresh_status(session, shard.job_id)


def is_cancelled(session: Session, job_id: str) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
