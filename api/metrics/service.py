"""Reading curves back: decode chunks and series with numpy, cut at a cursor, downsample, emit JSON.

The response is built as text: a 35-run job at full resolution is millions of
numbers, far too many for a generic encoder walk.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.metrics.downsample import minmax_indices
from models.codec import columns_by_series, unpack_curve, unpack_series
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


def load_series(session: Session, job_id: str, runs: list[int] | None, metrics: list[str] | None,
                after_step: int) -> dict[int, dict[str, Series]]:
    """Finished runs from their consolidated rows, the others from their chunks. Core
    rows, not ORM objects: a running 35-run job is tens of thousands of chunks.

    The chunks are read first: a shard ending between the two reads (PostgreSQL reads each
    statement at its own snapshot) then shows in both, never in neither. A curve found in
    both is merged, each step once: the same points twice, or, when a worker that lost its
    lease consolidated anyway, the series plus the new owner's later chunks."""
    conn = session.connection()
    c, m = MetricChunk, MetricSeries
    found = {key: unpack_series(*cols) for key, cols in columns_by_series(
        conn.execute(_query(c, job_id, runs, metrics, after_step).order_by(c.run, c.metric, c.start_step))
    ).items()}
    for run, metric, *cols in conn.execute(_query(m, job_id, runs, metrics, after_step, m.codec)):
        s, v = unpack_curve(*cols)
        if (run, metric) in found:
            s, first = np.unique(np.concatenate([s, found[(run, metric)][0]]), return_index=True)
            v = np.concatenate([v, found[(run, metric)][1]])[first]
        found[(run, metric)] = (s, v)
    out: dict[int, dict[str, Series]] = defaultdict(dict)
    for (run, metric), (s, v) in found.items():
        if after_step > 0:
            keep = s > after_step
            s, v = s[keep], v[keep]
        out[run][metric] = (s, v)
    return out


def series_json(steps: np.ndarray, values: np.ndarray, max_points: int | None) -> str:
    if max_points is not None and len(steps) > max_points:
        idx = minmax_indices(values, max_points)
        steps, values = steps[idx], values[idx]
    bad = ~np.isfinite(values)
    vals: list[Any] = values.tolist()
    for i in np.flatnonzero(bad).tolist():
        vals[i] = None
    return (f'{{"steps":{json.dumps(steps.tolist())},"values":{json.dumps(vals)},'
            f'"nonfinite":{"true" if bad.any() else "false"},'
            f'"nonfinite_steps":{json.dumps(steps[bad].tolist())}}}')


def metrics_json(session: Session, job_id: str, runs: list[int] | None, metrics: list[str] | None,
                 after_step: int, max_points: int | None) -> str:
    """Columnar per run: {"runs": [{"run", "label", "status", "metrics": {name: {"steps",
    "values", "nonfinite", "nonfinite_steps"}}}], "next_after_step"}."""
    data = load_series(session, job_id, runs, metrics, after_step)
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
