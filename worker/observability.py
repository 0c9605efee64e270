"""A worker's own metrics and the log context of the shard it trains.

Each worker serves its counters on ``OPTARENA_WORKER_METRICS_PORT`` (off by default): what
it trained, and for how long, is known only in its process, whereas the API's /metrics
reads the counts that the database holds (jobs, shards, live workers). The port has no key
check, hence the loopback default (``OPTARENA_WORKER_METRICS_HOST``). Give each worker of a
machine its own port. With a prefork pool the tasks run in child processes: set
``PROMETHEUS_MULTIPROC_DIR`` for the port to serve their sum (the documented runs use
``--pool solo``, one process).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import logs
from core.settings import Settings
from models.tables import Shard

log = logging.getLogger(__name__)

SHARDS = Counter("optarena_worker_shards", "shard tasks this worker ended, by outcome (succeeded, failed, "
                 "cancelled; skipped: nothing to do here; lost: taken over by another worker)", ["status"])
RUN_STEPS = Counter("optarena_worker_run_steps", "training steps this worker ran, summed over the runs "
                    "of its shards (a resumed shard counts from its checkpoint)")
SHARD_SECONDS = Histogram("optarena_worker_shard_duration_seconds", "seconds of one shard task, by outcome",
                          ["status"], buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600))
TRAINED = frozenset({"succeeded", "failed", "cancelled"})  # the outcomes that ran steps here
for _outcome in (*TRAINED, "skipped", "lost"):
    SHARDS.labels(_outcome)  # at 0 from the start: a series that appears late reads as missing data


def serve(settings: Settings) -> Any | None:
    """Start the metrics port in a thread; returns its server, or None when it is off or
    cannot bind (the worker trains on without it, and says why)."""
    if not settings.worker_metrics_port:
        return None
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = REGISTRY
    if multiproc:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, multiproc)
    try:
        server, _thread = start_http_server(settings.worker_metrics_port, settings.worker_metrics_host,
                                            registry=registry)
    except OSError:
        log.error("metrics: cannot serve on %s:%s (OPTARENA_WORKER_METRICS_PORT); none served",
                  settings.worker_metrics_host, settings.worker_metrics_port, exc_info=True)
        return None
    log.info("metrics on http://%s:%s/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
    return server


@dataclass
class _Started:
    shard_id: int
    from_step: int  # where this delivery resumes: the shard's checkpoint
    runs: int
    at: float
    log_fields: dict[str, Any] | None


class ShardWatch:
    """Opened when a shard task starts, closed when it ends (Celery's pre- and post-run
    signals, keyed by task id): sets the log context between the two, counts at the end."""

    def __init__(self, sessions: Callable[[], Session]):
        self.sessions = sessions
        self.open: dict[str, _Started] = {}

    def started(self, task_id: str, shard_id: int, worker: str | None) -> None:
        row = self._read(shard_id)
        job_id, from_step, runs = (row[0], row[1], row[3]) if row is not None else (None, 0, 0)
        previous = logs.push(job_id=job_id, shard_id=shard_id, worker=worker)
        self.open[task_id] = _Started(shard_id, from_step, runs, time.monotonic(), previous)
        log.info("shard %s: %d runs, from step %d", shard_id, runs, from_step)

    def ended(self, task_id: str, status: Any) -> None:
        begun = self.open.pop(task_id, None)
        if begun is None:
            return
        try:
            outcome = status if isinstance(status, str) else "error"
            seconds = time.monotonic() - begun.at
            log.info("shard %s: %s after %.1f s", begun.shard_id, outcome, seconds)
            SHARDS.labels(outcome).inc()
            SHARD_SECONDS.labels(outcome).observe(seconds)
            if outcome in TRAINED:
                row = self._read(begun.shard_id)
                if row is not None:
                    RUN_STEPS.inc(max(0, row[2] - begun.from_step) * begun.runs)
        finally:
            logs.restore(begun.log_fields)

    def _read(self, shard_id: int) -> tuple[str, int, int, int] | None:
        """The shard's job, checkpoint step, step reached and number of runs."""
        try:
            with self.sessions() as session:
                row = session.execute(select(Shard.job_id, Shard.checkpoint_step, Shard.step,
                                             Shard.run_indices).where(Shard.id == shard_id)).first()
        except Exception:  # noqa: BLE001 - metrics must never fail a shard
            log.warning("metrics: shard %s could not be read", shard_id, exc_info=True)
            return None
        if row is None:
            return None
        job_id, checkpoint_step, step, runs = row
        return job_id, checkpoint_step or 0, step or 0, len(runs or [])
