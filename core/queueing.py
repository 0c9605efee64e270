"""What the API and the workers agree on about the broker: task names, queues, Celery config.

The API only sends tasks by name with IDs, so it never imports ``worker``.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from models.db import ensure_sqlite_dir

SUBMIT_JOB = "optarena.submit_job"
PLAN_JOB = "optarena.plan_job"
RUN_SHARD = "optarena.run_shard"

# A send gives up quickly when the broker is down: the job is in the database already, and
# the sweeper re-sends what was not delivered (a request must not hang on the broker).
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"


def queue_for(device: str) -> str:
    """A ``cuda`` spec needs a GPU worker; ``cpu`` and ``auto`` go to the queue that CPU
    and GPU workers both consume (GPU workers are started with ``-Q gpu,cpu``)."""
    return GPU_QUEUE if device == "cuda" else CPU_QUEUE


def _ensure_broker_dir(url: str) -> None:
    if url.startswith("sqla+sqlite"):
        ensure_sqlite_dir(url.removeprefix("sqla+"))


def celery_config(settings: Settings) -> dict[str, Any]:
    _ensure_broker_dir(settings.broker_url)
    transport: dict[str, Any] = {}
    if url_scheme(settings.broker_url) in ("redis", "rediss"):
        # A shard may train for longer than Redis's default one-hour visibility
        # timeout, which would redeliver it while it is still training.
        transport["visibility_timeout"] = 6 * 3600
        transport["socket_connect_timeout"] = 2
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2,
        "task_publish_retry_policy": PUBLISH_RETRY,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": CPU_QUEUE,
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": False,
    }


def url_scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0]
