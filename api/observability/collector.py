"""Gauges read from the database when Prometheus scrapes: jobs and shards by status, live
workers. The database is the one place that knows them whichever process changed them, so
they are right with any number of API processes and need no update on the write paths.

Three grouped counts per scrape: ``jobs.status`` is indexed, ``shards`` is scanned (one
row per few dozen runs), ``workers`` holds one row per running worker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from models.db import session_factory
from models.tables import Job, Shard, utcnow
from models.workers import WorkerRecord

log = logging.getLogger(__name__)

# Every status is exposed, at 0 when no row has it: a series that vanishes reads as "no data"
# in Prometheus, not as zero.
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class DatabaseGauges:
    def __init__(self, database_url: str, worker_ttl_seconds: float):
        self.url, self.ttl = database_url, worker_ttl_seconds

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("optarena_database_up", "1 if the scrape could read the database")
        try:
            with session_factory(self.url)() as session:
                jobs = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
                shards = dict(session.execute(select(Shard.status, func.count())
                                              .group_by(Shard.status)).all())
                cutoff = utcnow() - timedelta(seconds=self.ttl)
                workers = session.scalar(select(func.count()).select_from(WorkerRecord)
                                         .where(WorkerRecord.seen_at >= cutoff))
        except SQLAlchemyError:
            # The HTTP metrics are still worth a scrape while the database is away.
            log.warning("metrics: the database could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _by_status("optarena_jobs", "jobs by status", jobs)
        yield _by_status("optarena_shards", "shards (Celery tasks of a job) by status", shards)
        yield GaugeMetricFamily("optarena_workers_live", "workers seen within OPTARENA_WORKER_TTL_SECONDS",
                                value=workers or 0)


def _by_status(name: str, doc: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["status"])
    for status in dict.fromkeys([*STATUSES, *sorted(counts)]):
        family.add_metric([status], counts.get(status, 0))
    return family
