"""A running job's curves at full resolution, decoded once per API process and extended as
points arrive: a read fetches only the chunks of events after the last one it has.

Event ids (seq) commit in order (models/journal.py): once a read has seen seq N, no chunk with
a smaller seq can commit later, so "the chunks after N" misses nothing. What changes a job's
curves otherwise (a shard ending, whose chunks become one series row; a shard resumed, whose
series go back to chunks; a shard re-queued) changes its runs' statuses or its series rows:
then the curves are read again whole. A step read twice (a resumed shard replaying from its
checkpoint) is kept once, as a fresh read keeps it.

Jobs are kept least recently used first out, within ``live_cache_bytes`` per process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.metrics.service import Series, merged, read_curves
from models.tables import MetricSeries, Run

Curves = Mapping[tuple[int, str], Series]


class Held(NamedTuple):
    state: tuple[object, ...]  # the runs' statuses and the series rows' count and last seq
    seq: int  # the last event whose chunks are in ``curves``
    curves: Curves
    nbytes: int


class LiveSeries:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._jobs: OrderedDict[str, Held] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._bytes = 0

    def curves(self, session: Session, job_id: str) -> Curves:
        """Every curve of the job, as a fresh read of the database would give it now."""
        statuses = tuple(map(tuple, session.execute(
            select(Run.index, Run.status).where(Run.job_id == job_id).order_by(Run.index))))
        series = tuple(session.execute(select(func.count(), func.max(MetricSeries.seq_hi))
                                       .where(MetricSeries.job_id == job_id)).one())
        state = (statuses, series)
        with self._guard:
            lock = self._locks.setdefault(job_id, threading.Lock())
        with lock:
            with self._guard:
                held = self._jobs.get(job_id)
            if held is None or held.state != state:
                found, seq = read_curves(session, job_id, None, None, 0)
            else:
                new, seq = read_curves(session, job_id, None, None, 0, after_seq=held.seq)
                found = dict(held.curves)
                for key, part in new.items():
                    found[key] = merged(found[key], part) if key in found else part
            nbytes = sum(s.nbytes + v.nbytes for s, v in found.values())
            self._keep(job_id, Held(state, seq, found, nbytes))
            return found

    def _keep(self, job_id: str, held: Held) -> None:
        with self._guard:
            old = self._jobs.pop(job_id, None)
            self._bytes -= old.nbytes if old is not None else 0
            if held.nbytes > self.max_bytes:
                return
            self._jobs[job_id] = held
            self._bytes += held.nbytes
            while self._bytes > self.max_bytes:
                gone, dropped = self._jobs.popitem(last=False)
                self._bytes -= dropped.nbytes
                lock = self._locks.get(gone)
                if lock is not None and not lock.locked():
                    del self._locks[gone]


@lru_cache
def live_series(max_bytes: int) -> LiveSeries:
    """The process's store (one per budget: the budget is a setting)."""
    return LiveSeries(max_bytes)
