"""The named Celery tasks. Arguments are IDs or a JSON spec; the database holds the rest."""

from __future__ import annotations

import logging
from typing import Any

from models.db import session_factory
from optarena.queueing import PLAN_JOB, RUN_SHARD, SUBMIT_JOB
from optarena.settings import get_settings
from optarena.submission import create_job, parse_request, parse_text
from worker import planning, shard_runner
from worker.celery_app import app

log = logging.getLogger(__name__)


def _sessions():  # noqa: ANN202 - a sessionmaker
    return session_factory(get_settings().database_url)


@app.task(name=RUN_SHARD)
def run_shard(shard_id: int) -> str:
    """Train one shard; a shard that already finished does nothing, a started one resumes."""
    return shard_runner.run_shard(get_settings(), _sessions(), int(shard_id))


@app.task(name=PLAN_JOB)
def plan_job(job_id: str) -> int:
    """Cut a stored job into shards and enqueue them (after the commit)."""
    with _sessions()() as session, session.begin():
        todo = planning.plan_job(session, job_id, get_settings().shard_size)
    for shard_id, queue in todo:
        app.send_task(RUN_SHARD, args=[shard_id], queue=queue)
    return len(todo)


@app.task(name=SUBMIT_JOB)
def submit_job(spec: Any) -> str:
    """Job-queue submission: validate and store like ``POST /jobs``. The argument is a
    spec or ``{"preset": ..., "overrides": ...}``, as an object or a JSON string; an
    invalid one is stored as a failed job carrying the validation errors."""
    parsed = parse_text(spec) if isinstance(spec, str) else parse_request(spec)
    with _sessions()() as session, session.begin():
        job = create_job(session, parsed, source="queue")
    log.info("submitted job %s (%s)", job.id, job.status)
    if job.status == "queued":
        plan_job(job.id)
    return job.id
