"""Read bodies of running jobs, shared by the requests of one API process.

A running job's curves change as points arrive, so they cannot be stored as a finished job's
are (api/cache.py). But they change only with the job's events: every batch of points, every
run started or finished takes the next ``jobs.last_seq`` (models/journal.py), and the runs'
statuses are read with it. A body computed after reading that state holds at least what the
state says, so while the state reads the same, the body answers for it: ten dashboards
re-reading a job between two flushes of its worker cost one computation, not ten. The first
request for a state computes; the others for the same body wait for it rather than compute
it again beside it.

Bodies are kept per process, least recently used first out, within ``live_cache_bytes``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.tables import Job, Run

V = TypeVar("V")


class Entry(NamedTuple):
    content: bytes
    media_type: str
    etag: str


def job_state(session: Session, job: Job) -> Hashable:
    """What a running job's read depends on, cheaply: its last event id and its runs' statuses
    (a run is claimed, and a shard re-queued, without an event of its own)."""
    return job.last_seq, run_statuses(session, job.id)


def run_statuses(session: Session, job_id: str) -> tuple[tuple[int, str], ...]:
    rows = session.execute(select(Run.index, Run.status).where(Run.job_id == job_id).order_by(Run.index))
    return tuple(map(tuple, rows))


class Store(Generic[V]):
    """Values by key, least recently used out first within ``max_bytes``; each key's value is
    made under that key's lock, so concurrent askers of one key wait for one making."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._values: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()  # key: (value, bytes)
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._bytes = 0

    def update(self, key: Hashable, make: Callable[[V | None], tuple[V, int]]) -> V:
        """``make(the kept value or None)`` gives the value to keep and its size; returned."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                held = self._values.get(key)
            value, size = make(None if held is None else held[0])
            self._keep(key, value, size)
        with self._guard:  # a lock lives as long as its value, or its making
            if key not in self._values and not lock.locked():
                self._locks.pop(key, None)
        return value

    def _keep(self, key: Hashable, value: V, size: int) -> None:
        with self._guard:
            old = self._values.pop(key, None)
            self._bytes -= old[1] if old is not None else 0
            if size > self.max_bytes:
                return
            self._values[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                gone, (_, dropped) = self._values.popitem(last=False)
                self._bytes -= dropped
                lock = self._locks.get(gone)
                if lock is not None and not lock.locked():
                    del self._locks[gone]


class LiveBodies:
    """Each key's body for the job state it was computed at."""

    def __init__(self, max_bytes: int):
        self._store: Store[tuple[Hashable, Entry]] = Store(max_bytes)

    def get(self, key: Hashable, version: Hashable, compute: Callable[[], Entry]) -> Entry:
        """The body of ``key`` at ``version``: kept, or computed once by the first to ask."""
        def make(held: tuple[Hashable, Entry] | None) -> tuple[tuple[Hashable, Entry], int]:
            kept = held if held is not None and held[0] == version else (version, compute())
            return kept, len(kept[1].content)

        return self._store.update(key, make)[1]
