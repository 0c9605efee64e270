"""The job's event log, read after a cursor. Metric events get their points from the
metric chunks written in the same transaction (same seq), or from the series those chunks
were consolidated into when their shard ended."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.events.frames import Frame
from core.settings import Settings
from models.codec import split_by_index, unpack_curve, unpack_steps, unpack_values
from models.db import session_factory
from models.numbers import Values, encode_all
from models.tables import TERMINAL, Job, JobEvent, MetricChunk, MetricSeries

Event = tuple[int, str, dict[str, Any]]


def _points(session: Session, job_id: str, seqs: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each event's points: a running shard's are its chunks of that seq; an ended shard's are
    cut out of its series by their ``seqs`` index, the same points in the same order. Chunks
    are read first, so a shard ending between the two reads shows in both (kept once), never
    in neither."""
    if not seqs:
        return {}
    found: dict[int, dict[tuple[int, str], dict[str, Any]]] = {s: {} for s in seqs}

    def add(seq: int, run: int, metric: str, steps: np.ndarray, values: np.ndarray) -> None:
        found[seq].setdefault((run, metric), {"run": run, "metric": metric, "steps": steps.tolist(),
                                              "values": Values(values)})

    c, m = MetricChunk, MetricSeries
    q = (select(c.seq, c.run, c.metric, c.start_step, c.n, c.stride, c.steps, c.values)
         .where(c.job_id == job_id, c.seq.in_(seqs)))
    for seq, run, metric, start, n, stride, steps, values in session.execute(q):
        add(seq, run, metric, unpack_steps(start, n, stride, steps), unpack_values(values))
    q = (select(m.run, m.metric, m.start_step, m.n, m.stride, m.steps, m.values, m.codec, m.seqs)
         .where(m.job_id == job_id, m.seqs.is_not(None), m.seq_lo <= max(seqs), m.seq_hi >= min(seqs)))
    for run, metric, *cols, index in session.execute(q):
        for seq, steps, values in split_by_index(*unpack_curve(*cols), index):
            if seq in found:
                add(seq, run, metric, steps, values)
    encode_all([p["values"] for points in found.values() for p in points.values()])
    return {seq: [points[key] for key in sorted(points)] for seq, points in found.items()}


PAGE = 200  # events per read


def fetch(session: Session, job_id: str, after: int, limit: int = PAGE) -> tuple[list[Event], bool]:
    """Events after ``after`` and whether the stream is complete (job finished and every
    event read). The status is read first: a finished job's last event is committed."""
    status = session.scalar(select(Job.status).where(Job.id == job_id))
    rows = session.execute(select(JobEvent.seq, JobEvent.kind, JobEvent.payload)
                           .where(JobEvent.job_id == job_id, JobEvent.seq > after)
                           .order_by(JobEvent.seq).limit(limit)).all()
    points = _points(session, job_id, [s for s, k, _ in rows if k == "metrics"])
    events = [(s, k, p | {"metrics": points[s]} if k == "metrics" else p) for s, k, p in rows]
    complete = status is None or (status in TERMINAL and len(rows) < limit)
    return events, complete


def read_frames(settings: Settings, job_id: str, after: int) -> tuple[list[Frame], bool]:
    """``fetch`` in a session of its own, each event encoded once (run it in a thread)."""
    with session_factory(settings.database_url)() as session:
        events, complete = fetch(session, job_id, after)
    return [Frame(*ev) for ev in events], complete


def last_seq(settings: Settings, job_id: str) -> int:
    """The id of the job's latest event (0 if none): every lower id is committed, as ids are
    taken under the job row's lock and commit in order."""
    with session_factory(settings.database_url)() as session:
        return session.scalar(select(func.max(JobEvent.seq)).where(JobEvent.job_id == job_id)) or 0
