"""The named Celery tasks. Arguments are IDs or a JSON spec; the database holds the rest."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    celeryd_init,
    task_postrun,
    task_prerun,
    worker_ready,
    worker_shutdown,
)
from sqlalchemy import select, update

from core import logs, planning
from core.queueing import PLAN_JOB, PUBLISH_RETRY, RUN_SHARD, SUBMIT_JOB
from core.settings import get_settings
from core.submission import submit_from_queue
from models import apikeys
from models.db import session_factory
from models.tables import Shard, utcnow
from worker import observability, shard_runner
from worker.celery_app import app
from worker.presence import Presence, plugin_queues
from worker.sweeper import Sweeper
from worker.webhooks import Notifier

log = logging.getLogger(__name__)
_sweeper: list[Sweeper | Notifier] = []  # threads stopped at shutdown
_presence: list[Presence] = []
_metrics_server: list[Any] = []


def _sessions():  # noqa: ANN202 - a sessionmaker
    return session_factory(get_settings().database_url)


def send(name: str, args: list[Any], queue: str) -> None:
    app.send_task(name, args=args, queue=queue, retry=True, retry_policy=PUBLISH_RETRY)


@celeryd_after_setup.connect
def _consume_plugin_queues(sender: str, instance: Any, **_kw: Any) -> None:
    """Shards of a plugin's optimizer are sent to ``<queue>.<plugin>``: consumed here only
    by workers that have the plugin (core/capabilities.py)."""
    queues = instance.app.amqp.queues
    for name in plugin_queues(sorted(queues.consume_from or queues)):
        queues.select_add(name)


@celeryd_init.connect
def _name_log_lines(sender: str, **_kw: Any) -> None:
    """Every line of this process names the worker, its threads' lines too."""
    logs.set_process_fields(worker=sender)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_log_lines(logger: logging.Logger, **_kw: Any) -> None:
    """Celery sets up its handlers itself; with OPTARENA_LOG_FORMAT=json they write JSON lines."""
    if get_settings().log_format == "json":
        logs.use_json(logger)


@worker_ready.connect
def _start_threads(sender: Any, **_kw: Any) -> None:
    server = observability.serve(get_settings())
    if server is not None:
        _metrics_server.append(server)
    sweeper = Sweeper(_sessions(), get_settings(), send, PLAN_JOB, RUN_SHARD)
    sweeper.start()
    _sweeper.append(sweeper)
    notifier = Notifier(_sessions(), get_settings())
    notifier.start()
    _sweeper.append(notifier)
    queues = sender.app.amqp.queues
    presence = Presence(_sessions(), get_settings(), sorted(queues.consume_from or queues))
    presence.publish()
    presence.start()
    _presence.append(presence)
    log.info("worker %s offers %d optimizers on queues %s", presence.worker_id, len(presence.offer),
             presence.queues)


@worker_shutdown.connect
def _stop_threads(**_kw: Any) -> None:
    for sweeper in _sweeper:
        sweeper.stopped.set()
    for presence in _presence:
        presence.withdraw()
    for server in _metrics_server:
        server.shutdown()


_shards: list[observability.ShardWatch] = []


def _shard_watch() -> observability.ShardWatch:
    if not _shards:
        _shards.append(observability.ShardWatch(_sessions()))
    return _shards[0]


@task_prerun.connect
def _shard_started(task_id: str, task: Any, args: Any = (), **_kw: Any) -> None:
    """Lines logged while a shard trains carry its job, shard and worker; it is timed."""
    if task.name == RUN_SHARD and args:
        _shard_watch().started(task_id, int(args[0]), task.request.hostname)


@task_postrun.connect
def _shard_ended(task_id: str, task: Any, retval: Any = None, **_kw: Any) -> None:
    if task.name == RUN_SHARD:
        _shard_watch().ended(task_id, retval)


@app.task(name=RUN_SHARD)
def run_shard(shard_id: int) -> str:
    """Train one shard; a shard that already finished does nothing, a started one resumes,
    one leased by a live worker is left to it. A shard that ends its stage plans the
    study's next stage, if it has one."""
    status = shard_runner.train_shard(get_settings(), _sessions(), int(shard_id))
    if status == "succeeded":
        with _sessions()() as session:
            job_id = session.scalar(select(Shard.job_id).where(Shard.id == int(shard_id)))
        if job_id is not None:
            plan_job(job_id)
    return status


@app.task(name=PLAN_JOB)
def plan_job(job_id: str) -> int:
    """Cut a stored job into shards and enqueue them (after the commit)."""
    with _sessions()() as session, session.begin():
        settings = get_settings()
        todo = planning.plan_shards(session, job_id, settings.shard_size, settings.shard_examples,
                                     settings.worker_ttl_seconds)
    for shard_id, queue in todo:
        send(RUN_SHARD, [shard_id], queue)
    if todo:
        with _sessions()() as session, session.begin():
            sent = [s for s, _ in todo]
            session.execute(update(Shard).where(Shard.id.in_(sent)).values(enqueued_at=utcnow()))
    return len(todo)


@app.task(name=SUBMIT_JOB)
def submit_job(spec: Any, key: str | None = None) -> str | None:
    """Job-queue submission, through the same checks as ``POST /jobs`` (the spec, the limits,
    the owner's data sets and active jobs). ``spec`` is a spec or ``{"preset": ...,
    "overrides": ...}``, as an object or a JSON string; ``key`` is an API key, whose owner
    owns the job. A refused request is stored as a failed job carrying the reasons, each at
    its field's path; a missing or invalid key stores nothing (nobody could read the job)."""
    with _sessions()() as session:
        principal = apikeys.verify(session, key) if isinstance(key, str) else None
    if principal is None:
        log.error("submission refused: %s", "invalid or revoked API key" if key else
                  "no API key (send it as the task's second argument or kwargs={'key': ...})")
        return None
    with _sessions()() as session, session.begin():
        job = submit_from_queue(session, get_settings(), principal.owner, spec)
    log.info("submitted job %s (%s) for %s", job.id, job.status, principal.owner)
    if job.status == "queued":
        plan_job(job.id)
    return job.id
