"""Job services: list, describe, cancel, delete (creating one is core.submission). The route commits."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models.journal import refresh_status
from models.response_cache import CachedResponse
from models.tables import TERMINAL, Job, JobEvent, MetricChunk, MetricSeries, Run, Shard


def page(session: Session, owner: str, status: str | None, limit: int,
         offset: int) -> tuple[list[Job], int]:
    q = select(Job).where(Job.owner == owner)
    if status is not None:
        q = q.where(Job.status == status)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    items = session.scalars(q.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)).all()
    return list(items), total


def describe(session: Session, job: Job) -> dict[str, Any]:
    runs = session.scalars(select(Run).where(Run.job_id == job.id).order_by(Run.index)).all()
    shards = session.scalars(select(Shard).where(Shard.job_id == job.id).order_by(Shard.index)).all()
    done = sum(r.step for r in runs)
    progress = 1.0 if job.status == "succeeded" else done / max(1, job.n_runs * job.steps)
    out = {c: getattr(job, c) for c in ("id", "status", "preset", "source", "n_runs", "steps",
                                        "cancel_requested", "created_at", "started_at",
                                        "finished_at", "error", "spec")}
    return out | {"progress": round(min(progress, 1.0), 4), "runs": runs, "shards": shards}


def cancel(session: Session, job: Job) -> Job:
    """Flag the job; queued shards stop here, running ones within the engine's next check."""
    if job.status in TERMINAL and not job.cancel_requested:
        raise HTTPException(409, f"job {job.id} already {job.status}; nothing to cancel")
    job = session.execute(select(Job).where(Job.id == job.id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one()
    job.cancel_requested = True
    session.execute(update(Shard).where(Shard.job_id == job.id, Shard.status == "queued")
                    .values(status="cancelled"))
    session.execute(update(Run).where(Run.job_id == job.id, Run.status == "queued")
                    .values(status="cancelled"))
    return refresh_status(session, job.id)


def remove(session: Session, job: Job) -> None:
    if job.status not in TERMINAL:
        raise HTTPException(409, f"job {job.id} is {job.status}; cancel it (POST /jobs/{job.id}/cancel) "
                                 "and delete it once it has stopped")
    # Cached responses too: ON DELETE CASCADE would take them, but only where the connection
    # enforces foreign keys (SQLite needs a pragma), and a cached body must never outlive its job.
    for table in (CachedResponse, MetricChunk, MetricSeries, JobEvent, Run, Shard):
        session.execute(delete(table).where(table.job_id == job.id))
    session.execute(delete(Job).where(Job.id == job.id))
