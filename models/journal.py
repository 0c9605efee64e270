"""The job's event log and status, shared by the API and the workers.

Event ids (``seq``) are taken from ``jobs.last_seq`` with an UPDATE, which holds the
job row's lock until commit. Writers of one job therefore commit their events in seq
order, and a reader that has seen seq N never later finds a smaller committed seq:
resuming from ``Last-Event-ID`` has no gap and no duplicate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models.tables import TERMINAL, Job, JobEvent, Shard, utcnow
from models.webhooks import JobWebhook, WebhookDelivery


def next_seq(session: Session, job_id: str, count: int = 1) -> int:
    """Reserve ``count`` event ids; returns the first."""
    last = session.execute(
        update(Job).where(Job.id == job_id).values(last_seq=Job.last_seq + count).returning(Job.last_seq)
    ).scalar_one()
    return int(last) - count + 1


def add_event(session: Session, job_id: str, kind: str, payload: dict[str, Any],
              seq: int | None = None) -> int:
    seq = next_seq(session, job_id) if seq is None else seq
    session.add(JobEvent(job_id=job_id, seq=seq, kind=kind, payload=payload))
    return seq


def derive_status(shard_statuses: list[str], cancel_requested: bool) -> str:
    """The job's status from its shards' (an unplanned job has none and stays queued)."""
    if not shard_statuses:
        return "cancelled" if cancel_requested else "queued"
    if "failed" in shard_statuses:
        return "failed"
    if all(s in TERMINAL for s in shard_statuses):
        return "cancelled" if "cancelled" in shard_statuses else "succeeded"
    if any(s != "queued" for s in shard_statuses):
        return "running"
    return "queued"


def set_status(session: Session, job: Job, status: str, error: Any = None) -> None:
    """Move the job to ``status`` and log a status event, if it changed."""
    if job.status == status:
        return
    job.status = status
    if status == "running" and job.started_at is None:
        job.started_at = utcnow()
    if status in TERMINAL:
        job.finished_at = utcnow()
        # Its webhook's delivery is due from this commit on (worker/webhooks.py sends it).
        if session.get(JobWebhook, job.id) is not None:
            session.add(WebhookDelivery(job_id=job.id, status=status))
    if error is not None:
        job.error = error
    payload: dict[str, Any] = {"status": status}
    if job.error is not None:
        payload["error"] = job.error
    add_event(session, job.id, "status", payload)


def refresh_status(session: Session, job_id: str) -> Job:
    """Lock the job row, recompute its status from all shards, log the change."""
    job = session.execute(
        select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    rows = session.execute(select(Shard.status, Shard.stage).where(Shard.job_id == job_id)).all()
    status = derive_status([s for s, _ in rows], job.cancel_requested)
    if status == "succeeded" and max(st for _, st in rows) + 1 < (job.study_state or {}).get("stages", 1):
        status = "running"  # a study's next stage is still to be planned and trained
    error = None
    if status == "failed":
        error = session.scalar(select(func.min(Shard.error)).where(Shard.job_id == job_id))
    set_status(session, job, status, error)
    return job
