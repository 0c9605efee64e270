"""Job services: list, describe, relabel, cancel, delete (creating one is core.submission).
The route commits."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from api.jobs import filters
from api.jobs.cursor import Cursor
from api.jobs.filters import JobFilter
from core.labels import Labels
from models.journal import refresh_status
from models.response_cache import CachedResponse
from models.tables import TERMINAL, Job, JobEvent, MetricChunk, MetricSeries, Run, Shard
from models.webhooks import JobWebhook, WebhookDelivery


def page(session: Session, owner: str, f: JobFilter, limit: int,
         offset: int) -> tuple[list[Job], int, str | None]:
    """One page of the owner's jobs that pass the filter, the count of all of them, and the
    cursor of the next page (None after the last)."""
    where = [Job.owner == owner, *filters.conditions(session, f)]
    total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    if (after := filters.after_cursor(f)) is not None:
        where.append(after)
    # The sort key comes back with each row: the next cursor holds it exactly as the database
    # compares it (its lower() and its time format), never a value recomputed here.
    rows = session.execute(select(Job, f.key.label("sort_key")).where(*where).order_by(*filters.order(f))
                           .limit(limit + 1).offset(offset)).all()
    jobs = [row[0] for row in rows[:limit]]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return jobs, total, None if last is None else Cursor.after(f.sort, last[1], last[0].id).encode()


def relabel(session: Session, job: Job, labels: Labels) -> Job:
    """Set the labels the request gave; those it left out keep their values."""
    for column, value in labels.columns(given_only=True).items():
        setattr(job, column, value)
    session.flush()
    return job


def describe(session: Session, job: Job) -> dict[str, Any]:
    runs = session.scalars(select(Run).where(Run.job_id == job.id).order_by(Run.index)).all()
    shards = session.scalars(select(Shard).where(Shard.job_id == job.id).order_by(Shard.index)).all()
    done = sum(r.step for r in runs)
    progress = 1.0 if job.status == "succeeded" else done / max(1, job.n_runs * job.steps)
    out = {c: getattr(job, c) for c in ("id", "status", "preset", "source", "n_runs", "steps",
                                        "cancel_requested", "created_at", "started_at",
                                        "finished_at", "error", "spec", "name", "tags", "notes")}
    return out | {"progress": round(min(progress, 1.0), 4), "runs": runs, "shards": shards,
                  "notify": _notify(session, job.id)}


def _notify(session: Session, job_id: str) -> dict[str, Any] | None:
    hook = session.get(JobWebhook, job_id)
    if hook is None:
        return None
    deliveries = session.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)
                                 .order_by(WebhookDelivery.id)).all()
    return {"url": hook.url, "deliveries": deliveries}


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
    for table in (CachedResponse, WebhookDelivery, JobWebhook, MetricChunk, MetricSeries, JobEvent, Run,
                  Shard):
        session.execute(delete(table).where(table.job_id == job.id))
    session.execute(delete(Job).where(Job.id == job.id))
