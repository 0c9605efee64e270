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
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.tables import Job, Run


class Entry(NamedTuple):
    content: bytes
    media_type: str
    etag: str


def job_state(session: Session, job: Job) -> Hashable:
    """What a running job's read depends on, cheaply: its last event id and its runs' statuses
    (a run is claimed, and a shard re-queued, without an event of its own)."""
    runs = session.execute(select(Run.index, Run.status).where(Run.job_id == job.id).order_by(Run.index))
    return job.last_seq, tuple(map(tuple, runs))


class LiveBodies:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Hashable, Entry]] = OrderedDict()  # key: (version, body)
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._bytes = 0

    def get(self, key: Hashable, version: Hashable, compute: Callable[[], Entry]) -> Entry:
        """The body of ``key`` at ``version``: kept, or computed once by the first to ask."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                hit = self._entries.get(key)
                if hit is not None and hit[0] == version:
                    self._entries.move_to_end(key)
                    return hit[1]
            entry = compute()
            self._keep(key, version, entry)
        with self._guard:  # a lock lives as long as its entry, or its computation
            if key not in self._entries and not lock.locked():
                self._locks.pop(key, None)
        return entry

    def _keep(self, key: Hashable, version: Hashable, entry: Entry) -> None:
        size = len(entry.content)
        with self._guard:
            old = self._entries.pop(key, None)
            self._bytes -= len(old[1].content) if old is not None else 0
            if size > self.max_bytes:
                return
            self._entries[key] = (version, entry)
            self._bytes += size
            while self._bytes > self.max_bytes:
                gone, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= len(dropped.content)
                lock = self._locks.get(gone)
                if lock is not None and not lock.locked():
                    del self._locks[gone]
