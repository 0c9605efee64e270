"""A worker's presence: its row in ``workers`` with what it can train, kept fresh.

Published when the worker is ready (its queues are known then), refreshed every
``heartbeat_seconds`` by a thread, and deleted when it shuts down; a worker killed without
shutting down stops being refreshed and is taken as gone after ``worker_ttl_seconds``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core import capabilities
from core.settings import Settings
from engine import model_defs, plugins
from engine.model_defs import MODELS
from engine.optimizer_defs import describe
from engine.registry import REGISTRY, package_version

log = logging.getLogger(__name__)


def optimizers() -> list[dict[str, Any]]:
    """Every optimizer this worker can train: the built-ins and its installed plugins."""
    defs = list(REGISTRY.values()) + list(plugins.installed().values())
    return [describe(d, package_version(d)) for d in defs]


def models() -> list[dict[str, Any]]:
    """Every model this worker can train: the built-ins and its installed plugins."""
    defs = list(MODELS.values()) + list(plugins.installed_models().values())
    return [model_defs.describe(d, package_version(d)) for d in defs]


def devices() -> list[str]:
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def plugin_queues(consumed: list[str]) -> list[str]:
    """The queues of this worker's plugins: ``<queue>.<plugin>`` for each base queue it consumes
    (``<queue>.model-<name>`` for a model plugin)."""
    suffixes = sorted(plugins.installed()) + [capabilities.model_queue_suffix(m)
                                              for m in sorted(plugins.installed_models())]
    return [f"{q}.{suffix}" for q in consumed if "." not in q for suffix in suffixes]


class Presence(threading.Thread):
    def __init__(self, sessions: Callable[[], Session], settings: Settings, queues: list[str]):
        super().__init__(name="optarena-presence", daemon=True)
        self.sessions, self.settings, self.queues = sessions, settings, queues
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopped = threading.Event()
        self.offer, self.models = optimizers(), models()
        self.devices = devices()

    def publish(self) -> None:
        with self.sessions() as session, session.begin():
            capabilities.publish(session, self.worker_id, socket.gethostname(), self.queues,
                                 self.devices, self.offer, self.models)

    def run(self) -> None:
        while not self.stopped.wait(self.settings.heartbeat_seconds):
            try:
                self.publish()
            except Exception:  # noqa: BLE001 - the database is away: try again next beat
                log.warning("presence: heartbeat failed; retrying", exc_info=True)

    def withdraw(self) -> None:
        self.stopped.set()
        try:
            with self.sessions() as session, session.begin():
                capabilities.withdraw(session, self.worker_id, self.settings.worker_ttl_seconds)
        except Exception:  # noqa: BLE001 - the row then expires after worker_ttl_seconds
            log.warning("presence: could not withdraw %s", self.worker_id, exc_info=True)
