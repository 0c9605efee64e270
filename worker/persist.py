"""One transaction per batch: metric chunks, run events, progress, heartbeat, checkpoint;
and when a shard ends, its chunks consolidated into one compact row per curve."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.codec import (
    Packed,
    columns_by_series,
    pack,
    pack_index,
    pack_series,
    split_by_index,
    unpack_curve,
    unpack_series,
)
from models.journal import add_event, next_seq
from models.jsonsafe import finite_or_none
from models.tables import JobEvent, MetricChunk, MetricSeries, Run, Shard, utcnow
from worker.buffer import Batch
from worker.shards import renew


def insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, so a repeated write is harmless."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(table).on_conflict_do_nothing(), rows)


def stored_steps(session: Session, job_id: str, runs: list[int]) -> dict[tuple[int, str], int]:
    """The last stored step of every series of these runs, from their chunks (a resumed
    shard's series have been turned back into chunks: ``drop_consolidated``)."""
    q = (select(MetricChunk.run, MetricChunk.metric, func.max(MetricChunk.end_step))
         .where(MetricChunk.job_id == job_id, MetricChunk.run.in_(runs))
         .group_by(MetricChunk.run, MetricChunk.metric))
    return {(r, m): int(s) for r, m, s in session.execute(q)}


def chunk_row(job_id: str, run: int, metric: str, p: Packed, seq: int) -> dict[str, Any]:
    return {"job_id": job_id, "run": run, "metric": metric, "start_step": p.start_step,
            "end_step": p.end_step, "n": p.n, "stride": p.stride, "steps": p.steps,
            "values": p.values, "nonfinite": p.nonfinite, "seq": seq}


def chunk_rows(job_id: str, batch: Batch, seq: int) -> list[dict[str, Any]]:
    return [chunk_row(job_id, run, metric, pack(steps, values), seq)
            for (run, metric), (steps, values) in batch.series.items()]


def _record_started(session: Session, job_id: str, started: list[dict[str, Any]]) -> None:
    for ev in started:
        session.execute(update(Run).where(Run.job_id == job_id, Run.index == ev["run"]).values(
            status="running", init_hash=ev["init_hash"], batch_hash=ev["batch_hash"],
            batch_size=ev["batch_size"], optimizer_package=ev.get("optimizer_package") or None,
            optimizer_version=ev.get("optimizer_version")))
        add_event(session, job_id, "run_started", ev)


def _record_finished(session: Session, job_id: str, finished: list[dict[str, Any]]) -> None:
    for ev in finished:
        summary = finite_or_none(ev["summary"])
        status = "diverged" if summary.get("diverged") else "succeeded"
        outputs = ev.get("outputs")  # kept with the run, not in the event log
        session.execute(update(Run).where(Run.job_id == job_id, Run.index == ev["run"]).values(
            status=status, summary=summary, step=summary.get("steps_trained") or 0,
            outputs=None if outputs is None else finite_or_none(outputs)))
        add_event(session, job_id, "run_finished", {"run": ev["run"], "status": status,
                                                    "summary": summary})


def _record_metrics(session: Session, job_id: str, batch: Batch) -> int:
    if not batch.series and batch.progress is None:
        return 0
    seq = next_seq(session, job_id)
    payload: dict[str, Any] = {"progress": batch.progress, "points": batch.points()}
    session.add(JobEvent(job_id=job_id, seq=seq, kind="metrics", payload=payload))
    insert_ignore(session, MetricChunk.__table__, chunk_rows(job_id, batch, seq))
    if batch.progress is not None:
        p = batch.progress
        session.execute(update(Run).where(Run.job_id == job_id, Run.index.in_(p["runs"]),
                                          Run.status == "running").values(step=p["step"]))
    return batch.points()


def write_batch(session: Session, job_id: str, shard_id: int, batch: Batch,
                lease: tuple[str, float] | None = None) -> int:
    """Persist one batch (no commit); returns the number of points written. With ``lease``
    (owner, seconds) it also renews the shard's lease, and raises LeaseLost, so the caller
    rolls the whole batch back, when another worker has taken the shard over."""
    _record_started(session, job_id, batch.started)
    points = _record_metrics(session, job_id, batch)
    _record_finished(session, job_id, batch.finished)
    values: dict[str, Any] = {}
    if batch.progress is not None:
        values["step"] = batch.progress["step"]
    if batch.checkpoint is not None:
        values["checkpoint_step"], values["checkpoint"] = batch.checkpoint
    if lease is not None:
        renew(session, shard_id, lease[0], lease[1], values)
    else:
        session.execute(update(Shard).where(Shard.id == shard_id).values(heartbeat_at=utcnow(), **values))
    return points


def _series_rows(session: Session, job_id: str, runs: list[int]) -> list[Any]:
    m = MetricSeries
    return session.connection().execute(
        select(m.run, m.metric, m.start_step, m.n, m.stride, m.steps, m.values, m.codec, m.seqs)
        .where(m.job_id == job_id, m.run.in_(runs))).all()


def drop_consolidated(session: Session, job_id: str, runs: list[int]) -> None:
    """A shard that trains again (resumed) is read from its chunks until it ends again: its
    series go back to the chunks they were made of, same seqs and bytes, so the stored steps,
    the exactly-once filter and the event replay are as if it had never ended."""
    chunks = []
    for run, metric, *cols, index in _series_rows(session, job_id, runs):
        if index is None:
            continue  # consolidated before 0007: its chunks were never deleted
        for seq, steps, values in split_by_index(*unpack_curve(*cols), index):
            chunks.append(chunk_row(job_id, run, metric, pack(steps, values), seq))
    insert_ignore(session, MetricChunk.__table__, chunks)
    session.execute(delete(MetricSeries).where(MetricSeries.job_id == job_id, MetricSeries.run.in_(runs)))


def consolidate(session: Session, job_id: str, runs: list[int]) -> None:
    """Write each run's curves as one compact row per metric and delete their chunks, in the
    caller's transaction (the one that ends the shard): a reader sees either the chunks or
    the series. Series already there are merged back first, so a repeat loses nothing."""
    drop_consolidated(session, job_id, runs)
    c = MetricChunk
    q = (select(c.run, c.metric, c.start_step, c.n, c.stride, c.steps, c.values, c.seq)
         .where(c.job_id == job_id, c.run.in_(runs)).order_by(c.run, c.metric, c.start_step))
    rows = []
    for (run, metric), (*cols, seqs) in columns_by_series(session.connection().execute(q)).items():
        p = pack_series(*unpack_series(*cols))
        rows.append({"job_id": job_id, "run": run, "metric": metric, "start_step": p.start_step,
                     "end_step": p.end_step, "n": p.n, "stride": p.stride, "steps": p.steps,
                     "values": p.values, "nonfinite": p.nonfinite, "codec": p.codec,
                     "seqs": pack_index(seqs, cols[1]), "seq_lo": min(seqs), "seq_hi": max(seqs)})
    insert_ignore(session, MetricSeries.__table__, rows)
    session.execute(delete(c).where(c.job_id == job_id, c.run.in_(runs)))
