"""Job services: create (idempotent), list, describe, cancel, delete. The route commits."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import validation_error
from models.journal import refresh_status
from models.tables import TERMINAL, Job, JobEvent, MetricChunk, MetricSeries, Run, Shard
from optarena.settings import Settings
from optarena.submission import create_job, parse_request, request_hash, with_dataset, within_limits


def find_by_key(session: Session, owner: str, key: str, body_hash: str) -> Job | None:
    job = session.scalar(select(Job).where(Job.owner == owner, Job.idempotency_key == key))
    if job is not None and job.request_hash != body_hash:
        raise HTTPException(409, "this Idempotency-Key was already used with a different body; "
                                 "use a new key for a new job")
    return job


def check_active(session: Session, settings: Settings, owner: str) -> None:
    active = session.scalar(select(func.count()).select_from(Job).where(
        Job.owner == owner, Job.status.in_(("queued", "running")))) or 0
    if active >= settings.max_active_jobs_per_owner:
        limit = settings.max_active_jobs_per_owner
        raise HTTPException(429, f"{active} jobs are queued or running, the limit per owner is {limit} "
                                 "(OPTARENA_MAX_ACTIVE_JOBS_PER_OWNER); wait for one to finish or cancel one",
                            headers={"Retry-After": "10"})


def submit(session: Session, settings: Settings, owner: str, body: Any,
           key: str | None) -> tuple[Job, bool]:
    """Returns (job, created). A known key with the same body returns the stored job."""
    body_hash = request_hash(body)
    if key is not None and (job := find_by_key(session, owner, key, body_hash)) is not None:
        return job, False
    parsed = within_limits(parse_request(body), settings)
    # An uploaded data set must be the caller's: checked here so that a bad id answers 422.
    parsed = with_dataset(session, parsed, owner, settings)
    if parsed.spec is None:
        raise validation_error(parsed.errors)
    check_active(session, settings, owner)
    try:
        job = create_job(session, parsed, source="http", owner=owner, idempotency_key=key,
                         body_hash=body_hash)
        session.flush()
    except IntegrityError:
        # Another request with the same key won the race: answer with its job.
        session.rollback()
        job = find_by_key(session, owner, key or "", body_hash)
        if job is None:
            raise
        return job, False
    return job, True


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
    for table in (MetricChunk, MetricSeries, JobEvent, Run, Shard):
        session.execute(delete(table).where(table.job_id == job.id))
    session.execute(delete(Job).where(Job.id == job.id))
