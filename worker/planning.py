"""Split a stored job into shards (the engine's cohorts, at most ``shard_size`` runs each)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.runner import plan_cohorts
from engine.spec import ComparisonSpec
from models.journal import refresh_status
from models.tables import Job, Run, Shard
from optarena.queueing import queue_for


def plan_job(session: Session, job_id: str, shard_size: int) -> list[tuple[int, str]]:
    """Create the job's shards once; returns (shard id, queue) of every shard still queued,
    so a redelivered planning task re-sends what may not have been sent."""
    job = session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
    if job is None or job.spec is None or job.status in ("failed", "succeeded", "cancelled"):
        return []
    existing = session.scalars(select(Shard).where(Shard.job_id == job_id)).all()
    if not existing:
        if job.cancel_requested:
            refresh_status(session, job_id)
            return []
        existing = _create_shards(session, job, shard_size)
    return [(s.id, s.queue) for s in existing if s.status == "queued"]


def _create_shards(session: Session, job: Job, shard_size: int) -> list[Shard]:
    spec = ComparisonSpec.model_validate(job.spec)
    queue = queue_for(spec.train.device)
    shards = []
    for i, runs in enumerate(plan_cohorts(spec, shard_size)):
        shard = Shard(job_id=job.id, index=i, run_indices=runs, queue=queue, status="queued",
                      step=0, attempts=0, checkpoint_step=0)
        session.add(shard)
        session.flush()
        session.execute(update(Run).where(Run.job_id == job.id, Run.index.in_(runs))
                        .values(shard_id=shard.id))
        shards.append(shard)
    return shards
