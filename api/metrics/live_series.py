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

from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.live_cache import Store, run_statuses
from api.metrics.service import Series, merged, read_curves
from models.tables import MetricSeries

Curves = Mapping[tuple[int, str], Series]


class Held(NamedTuple):
    state: tuple[object, ...]  # the runs' statuses and the series rows' count and last seq
    seq: int  # the last event whose chunks are in ``curves``
    curves: Curves


class LiveSeries:
    def __init__(self, max_bytes: int):
        self._store: Store[Held] = Store(max_bytes)

    def curves(self, session: Session, job_id: str) -> Curves:
        """Every curve of the job, as a fresh read of the database would give it now."""
        statuses = run_statuses(session, job_id)
        series = tuple(session.execute(select(func.count(), func.max(MetricSeries.seq_hi))
                                       .where(MetricSeries.job_id == job_id)).one())
        state = (statuses, series)

        def make(held: Held | None) -> tuple[Held, int]:
            if held is None or held.state != state:
                found, seq = read_curves(session, job_id, None, None, 0)
            else:
                new, seq = read_curves(session, job_id, None, None, 0, after_seq=held.seq)
                found = dict(held.curves)
                for key, part in new.items():
                    found[key] = merged(found[key], part) if key in found else part
            nbytes = sum(s.nbytes + v.nbytes for s, v in found.values())
            return Held(state, seq, found), nbytes

        return self._store.update(job_id, make).curves


@lru_cache
def live_series(max_bytes: int) -> LiveSeries:
    """The process's store (one per budget: the budget is a setting)."""
    return LiveSeries(max_bytes)
