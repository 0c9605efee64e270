"""The API's side of the broker: send named tasks with IDs, check reachability."""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery
from sqlalchemy import update

from core.queueing import CPU_QUEUE, PLAN_JOB, PUBLISH_RETRY, celery_config
from core.settings import Settings
from models.db import session_factory
from models.tables import Job, utcnow

log = logging.getLogger(__name__)


@lru_cache
def client(broker_url: str) -> Celery:
    app = Celery("optarena-api")
    app.conf.update(celery_config(Settings(broker_url=broker_url)))
    return app


def enqueue_plan(settings: Settings, job_id: str) -> bool:
    """Called after the job's commit: the worker finds everything else in the database.
    A broker that is down does not fail the request: the job is stored and queued, and the
    workers' sweeper sends it once the broker is back (see worker/sweeper.py)."""
    try:
        client(settings.broker_url).send_task(PLAN_JOB, args=[job_id], queue=CPU_QUEUE,
                                              retry=True, retry_policy=PUBLISH_RETRY)
    except Exception:  # noqa: BLE001 - any broker failure leaves the job to the sweeper
        log.warning("broker unreachable; job %s stays queued for the sweeper", job_id, exc_info=True)
        return False
    with session_factory(settings.database_url)() as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=utcnow()))
    return True


def broker_reachable(settings: Settings) -> bool:
    try:
        with client(settings.broker_url).connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False
