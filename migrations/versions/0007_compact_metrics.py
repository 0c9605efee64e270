"""compact metric storage: metric_series gains codec (float32 when exact, zlib) and seqs (which
event carried which points); finished jobs' series are re-encoded, the chunks they cover deleted,
and succeeded shards' checkpoints dropped

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 03:00:00.000000

Downgrade gives the data back in the old layout too (raw float64 series, the chunks restored
from the index), so the code of 0006 reads it unchanged; dropped checkpoints stay dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models.codec import (
    columns_by_series,
    pack,
    pack_index,
    pack_series,
    split_by_index,
    unpack_curve,
    unpack_series,
)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A batch is this many runs of one job: a 35-run, 10k-step job is one batch of ~1M points.
RUNS_PER_BATCH = 64
CURVE = ("start_step", "end_step", "n", "stride", "steps", "values", "nonfinite")

jobs = sa.table("jobs", sa.column("id"), sa.column("status"))
shards = sa.table("shards", sa.column("status"), sa.column("checkpoint"))
chunks = sa.table("metric_chunks", sa.column("job_id"), sa.column("run"), sa.column("metric"),
                  sa.column("seq"), *map(sa.column, CURVE))
series = sa.table("metric_series", sa.column("job_id"), sa.column("run"), sa.column("metric"),
                  sa.column("codec"), sa.column("seqs"), sa.column("seq_lo"), sa.column("seq_hi"),
                  *map(sa.column, CURVE))
SERIES_CURVE = (series.c.start_step, series.c.n, series.c.stride, series.c.steps, series.c["values"])


def upgrade() -> None:
    with op.batch_alter_table("metric_series", schema=None) as batch_op:
        batch_op.add_column(sa.Column("codec", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("seqs", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("seq_lo", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("seq_hi", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    # A running job's series (if a shard's lease was lost mid-close) stays as it is: its chunks
    # are what the worker resumes from.
    finished = (sa.select(series.c.job_id, series.c.run).distinct()
                .join(jobs, jobs.c.id == series.c.job_id)
                .where(jobs.c.status.in_(("succeeded", "failed", "cancelled")))
                .order_by(series.c.job_id, series.c.run))
    by_job: dict[str, list[int]] = {}
    for job_id, run in conn.execute(finished):
        by_job.setdefault(job_id, []).append(run)
    for job_id, runs in by_job.items():
        for i in range(0, len(runs), RUNS_PER_BATCH):
            _compact(conn, job_id, runs[i:i + RUNS_PER_BATCH])
    conn.execute(sa.update(shards).where(shards.c.status == "succeeded", shards.c.checkpoint.is_not(None))
                 .values(checkpoint=None))


def _compact(conn: sa.Connection, job_id: str, runs: list[int]) -> None:
    """Rebuild these runs' series from their chunks, as a shard ending now would, and delete
    those chunks; a series with no chunk left is only re-encoded."""
    old = {(run, metric): cols for run, metric, *cols in conn.execute(
        sa.select(series.c.run, series.c.metric, *SERIES_CURVE)
        .where(series.c.job_id == job_id, series.c.run.in_(runs)))}
    q = (sa.select(chunks.c.run, chunks.c.metric, chunks.c.start_step, chunks.c.n, chunks.c.stride,
                   chunks.c.steps, chunks.c["values"], chunks.c.seq)
         .where(chunks.c.job_id == job_id, chunks.c.run.in_(runs))
         .order_by(chunks.c.run, chunks.c.metric, chunks.c.start_step))
    parts = columns_by_series(conn.execute(q))
    rows = []
    for (run, metric), cols in old.items():
        index: dict[str, object] = {"seqs": None, "seq_lo": None, "seq_hi": None}
        if (run, metric) in parts:
            *curve, seqs = parts[(run, metric)]
            p = pack_series(*unpack_series(*curve))
            index = {"seqs": pack_index(seqs, curve[1]), "seq_lo": min(seqs), "seq_hi": max(seqs)}
        else:
            p = pack_series(*unpack_curve(*cols, 0))
        rows.append({"job_id": job_id, "run": run, "metric": metric, "codec": p.codec, **index,
                     **{k: getattr(p, k) for k in CURVE}})
    conn.execute(sa.delete(series).where(series.c.job_id == job_id, series.c.run.in_(runs)))
    if rows:
        conn.execute(sa.insert(series), rows)
    for run, metric in old.keys() & parts.keys():
        conn.execute(sa.delete(chunks).where(chunks.c.job_id == job_id, chunks.c.run == run,
                                             chunks.c.metric == metric))


def downgrade() -> None:
    conn = op.get_bind()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    job_ids = conn.scalars(sa.select(series.c.job_id).distinct()
                           .where(sa.or_(series.c.codec != 0, series.c.seqs.is_not(None)))).all()
    for job_id in job_ids:
        q = (sa.select(series.c.run, series.c.metric, *SERIES_CURVE, series.c.codec, series.c.seqs)
             .where(series.c.job_id == job_id, sa.or_(series.c.codec != 0, series.c.seqs.is_not(None))))
        for run, metric, *cols, index in conn.execute(q).all():
            steps, values = unpack_curve(*cols)
            key = (series.c.job_id == job_id) & (series.c.run == run) & (series.c.metric == metric)
            p = pack(steps, values)
            conn.execute(sa.update(series).where(key).values(steps=p.steps, values=p.values, codec=0))
            if index is None:
                continue
            restored = []
            for seq, s, v in split_by_index(steps, values, index):
                c = pack(s, v)
                restored.append({"job_id": job_id, "run": run, "metric": metric, "seq": seq,
                                 **{k: getattr(c, k) for k in CURVE}})
            if restored:
                conn.execute(insert(chunks).on_conflict_do_nothing(), restored)
    with op.batch_alter_table("metric_series", schema=None) as batch_op:
        batch_op.drop_column("seq_hi")
        batch_op.drop_column("seq_lo")
        batch_op.drop_column("seqs")
        batch_op.drop_column("codec")
