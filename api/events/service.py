"""The job's event log, read after a cursor. Metric events get their points from the
metric chunks written in the same transaction (same seq)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core.settings import Settings
from models.codec import unpack_steps, unpack_values
from models.db import session_factory
from models.jsonsafe import finite_or_none
from models.tables import TERMINAL, Job, JobEvent, MetricChunk

Event = tuple[int, str, dict[str, Any]]


def _points(session: Session, job_id: str, seqs: list[int]) -> dict[int, list[dict[str, Any]]]:
    c = MetricChunk
    q = (select(c.seq, c.run, c.metric, c.start_step, c.n, c.stride, c.steps, c.values)
         .where(c.job_id == job_id, c.seq.in_(seqs)).order_by(c.seq, c.run, c.metric, c.start_step))
    out: dict[int, list[dict[str, Any]]] = {s: [] for s in seqs}
    for seq, run, metric, start, n, stride, steps, values in session.execute(q):
        vals = finite_or_none(unpack_values(values).tolist())
        steps_list = unpack_steps(start, n, stride, steps).tolist()
        out[seq].append({"run": run, "metric": metric, "steps": steps_list, "values": vals})
    return out


def fetch(session: Session, job_id: str, after: int, limit: int = 200) -> tuple[list[Event], bool]:
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


async def follow(settings: Settings, job_id: str, after: int, keep_going: bool,
                 disconnected: Callable[[], Any]) -> AsyncIterator[Event]:
    """Every event after ``after`` in order; with ``keep_going``, wait for new ones until the
    job finishes, the client leaves or the stream's lifetime ends."""
    sessions = session_factory(settings.database_url)
    deadline = time.monotonic() + settings.sse_max_lifetime

    def read(cursor: int) -> tuple[list[Event], bool]:
        with sessions() as session:
            return fetch(session, job_id, cursor)

    while True:
        events, complete = await run_in_threadpool(read, after)
        for ev in events:
            after = ev[0]
            yield ev
        if complete:
            return
        if events:
            continue
        if not keep_going or time.monotonic() > deadline or await disconnected():
            return
        await asyncio.sleep(settings.sse_poll_seconds)


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, allow_nan=False, separators=(",", ":"))
