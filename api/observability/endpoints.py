"""``GET /metrics``: the Prometheus text format.

It needs an API key like every other route (the scraper sends one, see the README): the
counts are of every owner's jobs, and the API may listen on every address (docker compose
binds 0.0.0.0), so "open on loopback" would not keep them in. Left out of the OpenAPI
schema: it is for the scraper, not a JSON route of the API.

With several API processes (``uvicorn --workers N``) each counts its own requests, and a
scrape reaches one of them. Set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory for all
of them, and every scrape then sums the counters of all processes.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from api.deps import SettingsDep
from api.observability.collector import DatabaseGauges

router = APIRouter(tags=["observability"])

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MULTIPROC_DIR:
    # A stopped process's open-stream gauge must stop counting (livesum reads live files only).
    atexit.register(mark_process_dead, os.getpid())


class _Scrape:
    """The process's (or all processes') metrics, then the database's gauges."""

    def __init__(self, sources: Iterable[object]):
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()  # type: ignore[attr-defined]


def _process_metrics() -> object:
    if not MULTIPROC_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, MULTIPROC_DIR)
    return registry


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, settings: SettingsDep) -> Response:
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    scrape = _Scrape([_process_metrics(), DatabaseGauges(settings.database_url, settings.worker_ttl_seconds)])
    return Response(encode(scrape), media_type=content_type)  # type: ignore[arg-type]
