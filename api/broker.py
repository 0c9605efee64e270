"""The API's side of the broker: send named tasks with IDs, check reachability."""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from optarena.queueing import CPU_QUEUE, PLAN_JOB, celery_config
from optarena.settings import Settings


@lru_cache
def client(broker_url: str) -> Celery:
    app = Celery("optarena-api")
    app.conf.update(celery_config(Settings(broker_url=broker_url)))
    return app


def enqueue_plan(settings: Settings, job_id: str) -> None:
    """Called after the job's commit: the worker finds everything else in the database."""
    client(settings.broker_url).send_task(PLAN_JOB, args=[job_id], queue=CPU_QUEUE)


def broker_reachable(settings: Settings) -> bool:
    try:
        with client(settings.broker_url).connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False
