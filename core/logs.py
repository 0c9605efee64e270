"""Log lines as JSON objects (``OPTARENA_LOG_FORMAT=json``), carrying what the line is about.

``job_id``, ``shard_id`` and ``worker`` come from a context variable, set per request in the
API and around a shard's training in a worker, so a line logged deep inside the engine or
the database layer still says which job it belongs to without every call passing it on.
Threads start with an empty context; fields that hold for the whole process (a worker's
name) are kept apart so that those threads' lines carry them too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FIELDS = ("job_id", "shard_id", "worker")

# Never mutated: each change sets a new dict, so a context's copy is never seen to change.
_context: ContextVar[dict[str, Any] | None] = ContextVar("optarena_log_context", default=None)
_process: dict[str, Any] = {}


def context() -> dict[str, Any]:
    """The fields a line logged here and now carries."""
    return _process | (_context.get() or {})


def set_process_fields(**fields: Any) -> None:
    _process.update({k: v for k, v in fields.items() if v is not None})


def push(**fields: Any) -> dict[str, Any] | None:
    """Add ``fields`` to this context; returns what to hand to ``restore`` afterwards.

    Celery announces a task's start and end in two signals, so a ``with`` block cannot
    span them: hence this pair beside ``log_context``."""
    previous = _context.get()
    _context.set((previous or {}) | {k: v for k, v in fields.items() if v is not None})
    return previous


def restore(previous: dict[str, Any] | None) -> None:
    _context.set(previous)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    previous = push(**fields)
    try:
        yield
    finally:
        restore(previous)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, RFC 3339), level, logger, message, the
    context's fields where known, and the traceback of an exception as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = context()
        for name in FIELDS:
            # ``extra={"job_id": ...}`` on the call wins over the context.
            value = getattr(record, name, fields.get(name))
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def use_json(logger: logging.Logger) -> None:
    """Give every handler of ``logger`` the JSON formatter (Celery's loggers, set up by Celery)."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


_HANDLER_NAME = "optarena-json"
# uvicorn gives these loggers handlers of their own with its text format; in JSON mode they
# pass their lines on to the root logger's JSON handler instead.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure(fmt: str, level: int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process; ``text`` leaves the logging as the server
    (uvicorn, Celery) set it up. Calling it again replaces its own handler, never adds one."""
    if fmt != "json":
        return
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
