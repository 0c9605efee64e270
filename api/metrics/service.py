"""Reading curves back: decode chunks and series with numpy, cut at a cursor, downsample, emit JSON.

The response is built as text: a 35-run job at full resolution is millions of
numbers, far too many for a generic encoder walk.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.metrics.downsample import minmax_indices
from models.codec import columns_by_series, unpack_curve, unpack_series
from models.numbers import values_json
from models.tables import MetricChunk, MetricSeries, Run

Series = tuple[np.ndarray, np.ndarray]


def _query(table: Any, job_id: str, runs: list[int] | None, metrics: list[str] | None,
           after_step: int, *extra: Any) -> Any:
    q = (select(table.run, table.metric, table.start_step, table.n, table.stride, table.steps, table.values,
                *extra).where(table.job_id == job_id, table.end_step > after_step))
    if runs:
        q = q.where(table.run.in_(runs))
    if metrics:
        q = q.where(table.metric.in_(metrics))
    return q


def read_curves(session: Session, job_id: str, runs: list[int] | None, metrics: list[str] | None,
                after_step: int, after_seq: int | None = None) -> tuple[dict[tuple[int, str], Series], int]:
    """Each curve by (run, metric), and the last event id (seq) of the chunks read (0: none).
    Finished runs come from their consolidated rows, the others from their chunks; with
    ``after_seq``, only the chunks of later events. Core rows, not ORM objects: a running
    35-run job is tens of thousands of chunks.

    The chunks are read first: a shard ending between the two reads (PostgreSQL reads each
    statement at its own snapshot) then shows in both, never in neither. A curve found in
    both is merged, each step once: the same points twice, or, when a worker that lost its
    lease consolidated anyway, the series plus the new owner's later chunks."""
    conn = session.connection()
    c, m = MetricChunk, MetricSeries
    q = _query(c, job_id, runs, metrics, after_step, c.seq)
    if after_seq is not None:
        q = q.where(c.seq > after_seq)
    found, last = {}, after_seq or 0
    rows = conn.execute(q.order_by(c.run, c.metric, c.start_step))
    for key, (*cols, seqs) in columns_by_series(rows).items():
        found[key] = unpack_series(*cols)
        last = max(last, *seqs)
    if after_seq is not None:
        return found, last
    for run, metric, *cols in conn.execute(_query(m, job_id, runs, metrics, after_step, m.codec)):
        found[(run, metric)] = merged(unpack_curve(*cols), found.get((run, metric)))
    return found, last


def merged(first: Series, then: Series | None) -> Series:
    """Two stretches of one curve, each step once (``first``'s value where both have it)."""
    if then is None or not len(then[0]):
        return first
    if len(first[0]) and then[0][0] > first[0][-1]:  # what follows a curve: appended
        return np.concatenate([first[0], then[0]]), np.concatenate([first[1], then[1]])
    s, keep = np.unique(np.concatenate([first[0], then[0]]), return_index=True)
    return s, np.concatenate([first[1], then[1]])[keep]


def by_run(curves: Mapping[tuple[int, str], Series], runs: list[int] | None, metrics: list[str] | None,
           after_step: int) -> dict[int, dict[str, Series]]:
    """The curves asked for, per run, each cut after ``after_step``."""
    out: dict[int, dict[str, Series]] = defaultdict(dict)
    want_runs, want_metrics = set(runs or ()), set(metrics or ())
    for (run, metric), (s, v) in curves.items():
        if (want_runs and run not in want_runs) or (want_metrics and metric not in want_metrics):
            continue
        if after_step > 0:
            keep = s > after_step
            s, v = s[keep], v[keep]
            if not len(s):  # as the query leaves out a curve with nothing after the cursor
                continue
        out[run][metric] = (s, v)
    return out


def load_series(session: Session, job_id: str, runs: list[int] | None, metrics: list[str] | None,
                after_step: int) -> dict[int, dict[str, Series]]:
    return by_run(read_curves(session, job_id, runs, metrics, after_step)[0], None, None, after_step)


def _steps(a: np.ndarray) -> str:
    # orjson writes a whole numpy array in C (about 10x json.dumps of its list).
    return orjson.dumps(np.ascontiguousarray(a, dtype=np.int64), option=orjson.OPT_SERIALIZE_NUMPY).decode()


def series_json(steps: np.ndarray, values: np.ndarray, max_points: int | None) -> str:
    if max_points is not None and len(steps) > max_points:
        idx = minmax_indices(values, max_points)
        steps, values = steps[idx], values[idx]
    bad = ~np.isfinite(values)
    return (f'{{"steps":{_steps(steps)},"values":{values_json(values).decode()},'
            f'"nonfinite":{"true" if bad.any() else "false"},'
            f'"nonfinite_steps":{_steps(steps[bad])}}}')


def metrics_json(session: Session, job_id: str, runs: list[int] | None, metrics: list[str] | None,
                 after_step: int, max_points: int | None,
                 curves: Mapping[tuple[int, str], Series] | None = None) -> str:
    """Columnar per run: {"runs": [{"run", "label", "status", "metrics": {name: {"steps",
    "values", "nonfinite", "nonfinite_steps"}}}], "next_after_step"}. ``curves``: all of the
    job's curves already read (api/metrics/live_series.py), else they are read here."""
    data = (by_run(curves, runs, metrics, after_step) if curves is not None
            else load_series(session, job_id, runs, metrics, after_step))
    meta = {r.index: r for r in session.scalars(select(Run).where(Run.job_id == job_id))}
    parts, last = [], after_step
    for run in sorted(data):
        curves = ",".join(f"{json.dumps(m)}:{series_json(s, v, max_points)}"
                          for m, (s, v) in sorted(data[run].items()))
        last = max([last] + [int(s[-1]) for s, _ in data[run].values() if len(s)])
        r = meta.get(run)
        head = json.dumps({"run": run, "label": r.label if r else None, "status": r.status if r else None})
        parts.append(f'{head[:-1]},"metrics":{{{curves}}}}}')
    return (f'{{"job_id":{json.dumps(job_id)},"after_step":{after_step},'
            f'"next_after_step":{last},"runs":[{",".join(parts)}]}}')
