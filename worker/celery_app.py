"""The Celery app. Start a worker with
``celery -A worker.celery_app worker -Q cpu`` (CPU) or ``-Q gpu,cpu`` (GPU)."""

from __future__ import annotations

from celery import Celery
from kombu import Queue
from kombu.transport import sqlalchemy as sql_transport

from core.queueing import CPU_QUEUE, GPU_QUEUE, celery_config
from core.settings import get_settings

settings = get_settings()
app = Celery("optarena", include=["worker.consumers"])
app.conf.update(celery_config(settings))
app.conf.task_queues = (Queue(CPU_QUEUE), Queue(GPU_QUEUE))

# The SQL transport polls for messages (1 s by default, a second of delay on every hand-over).
# It hands all its transport options to create_engine, so the period cannot be given there;
# it is the transport's documented class attribute instead.
sql_transport.Transport.polling_interval = settings.broker_poll_seconds
