"""Retrying a database transaction while the database is away (restarting, failing over)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)
T = TypeVar("T")


def connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def with_retry(fn: Callable[[], T], seconds: float, what: str) -> T:
    """Run ``fn`` (one whole transaction) until it succeeds, backing off 0.1 s, 0.2 s, ...
    up to 5 s between tries, for at most ``seconds``. Other errors are raised at once."""
    deadline, pause = time.monotonic() + seconds, 0.1
    while True:
        try:
            return fn()
        except Exception as exc:
            if not connection_lost(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning("%s: database unreachable (%s); retrying in %.1f s", what, type(exc).__name__, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
