"""Jobs, their shards and runs, metric chunks and the per-job event log.

While a shard trains, its metrics are stored as per-run chunks: one row per (job, run,
metric, start_step) holding the chunk's float64 values as bytes, and its steps either as an
arithmetic range (start_step, stride) or, when irregular, as int64 bytes. When the shard
ends its chunks become one compact row per curve (MetricSeries), so a finished job keeps
each point once, in a few bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

TERMINAL = ("succeeded", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("owner", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    preset: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="http")
    error: Mapped[Any | None] = mapped_column(JSON)
    # The API key's owner; None only for a job whose owner no longer exists.
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    # Idempotency keys are per owner: one tenant's key never finds another tenant's job.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every event of the job takes the next number from here, under the row lock, so
    # event ids commit in order even with several writers (see models.journal).
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # When ``optarena.plan_job`` was last sent for it: the sweeper re-sends a job still
    # unplanned long after this (the broker was down at submit time, or lost the message).
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    n_runs: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    # What a multi-stage study decided between stages (tuning: each arm's chosen point).
    study_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The owner's labels (core.labels). Tags are a JSON list of lower-case strings, matched by
    # GET /jobs?tag= through the database's JSON array functions (api.jobs.filters).
    name: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    notes: Mapped[str | None] = mapped_column(Text)


class Shard(Base):
    """A cohort of runs trained together by one Celery task; the unit of work and of resume."""

    __tablename__ = "shards"
    __table_args__ = (UniqueConstraint("job_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    run_indices: Mapped[list[int]] = mapped_column(JSON)
    stage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    queue: Mapped[str] = mapped_column(String(64), default="cpu")  # "cpu", "gpu", "cpu.<plugin>"
    status: Mapped[str] = mapped_column(String(16), default="queued")
    step: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When its task was last handed to the broker: the sweeper re-sends a shard still
    # queued long after this (a lost message), so the broker never holds the only copy.
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary)
    checkpoint_step: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Run(Base):
    """One (arm, variant, seed) of a job: its configuration, fairness hashes and summary."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("job_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    shard_id: Mapped[int | None] = mapped_column(ForeignKey("shards.id", ondelete="SET NULL"))
    arm: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(64))
    optimizer: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int] = mapped_column(BigInteger)
    batch_size: Mapped[int] = mapped_column(Integer)
    hyperparams: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    step: Mapped[int] = mapped_column(Integer, default=0)
    init_hash: Mapped[str | None] = mapped_column(String(64))
    batch_hash: Mapped[str | None] = mapped_column(String(64))
    # The package that provided the optimizer and its version where the run trained.
    optimizer_package: Mapped[str | None] = mapped_column(String(64))
    optimizer_version: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Studies: the stage that trained it, its fold or bootstrap replicate, the job's arm it
    # derives from (a tuning grid point or a batch size of that arm), and arrays kept for
    # the study's summary (bias-variance: test predictions), never streamed.
    stage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    variant: Mapped[int | None] = mapped_column(Integer)
    base_arm: Mapped[int | None] = mapped_column(Integer)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class EncodedCurve:
    """The columns of an encoded stretch of one curve (models.codec reads and writes them),
    shared by the streaming chunks and the consolidated per-run series."""

    start_step: Mapped[int] = mapped_column(Integer)
    end_step: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    stride: Mapped[int] = mapped_column(Integer, default=0, doc="0 when the steps are stored explicitly")
    steps: Mapped[bytes | None] = mapped_column(LargeBinary, doc="int64 steps when stride is 0")
    values: Mapped[bytes] = mapped_column(LargeBinary, doc="float64 values, a series' as its codec says; "
                                          "NaN/inf kept")
    nonfinite: Mapped[bool] = mapped_column(Boolean, default=False)


class MetricChunk(EncodedCurve, Base):
    """Consecutive points of one metric of one run. Unique per start step: re-inserting
    a chunk after a redelivery is ignored (insert ... on conflict do nothing)."""

    __tablename__ = "metric_chunks"
    __table_args__ = (
        UniqueConstraint("job_id", "run", "metric", "start_step"),
        Index("ix_metric_chunks_job_id_seq", "job_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger, doc="the 'metrics' event that carried this chunk")


class MetricSeries(EncodedCurve, Base):
    """A finished run's whole curve in one row, written when its shard ends, in the same
    transaction that deletes its chunks: reading a finished job touches a few hundred rows,
    and each point is kept once. ``seqs`` remembers which event carried which points, so the
    event stream of a finished job replays exactly as it streamed."""

    __tablename__ = "metric_series"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    run: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    codec: Mapped[int] = mapped_column(Integer, default=0, server_default="0",
                                       doc="models.codec bits: float32, zlib, byte shuffle; 0 = as chunks")
    seqs: Mapped[bytes | None] = mapped_column(LargeBinary, doc="models.codec.pack_index of its chunks; "
                                               "None for a series whose chunks were kept (before 0007)")
    seq_lo: Mapped[int | None] = mapped_column(BigInteger, doc="the first and last seq in ``seqs``")
    seq_hi: Mapped[int | None] = mapped_column(BigInteger)


class JobEvent(Base):
    """The job's event log; ``seq`` is the SSE event id. Metric events carry no points
    here: their points are the metric chunks with the same seq, or once the shard has
    ended, the stretches of its series that ``MetricSeries.seqs`` assigns to that seq."""

    __tablename__ = "job_events"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored as its SHA-256 only; ``prefix`` is a non-secret part of the key
    used to find the row and to name the key in listings."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    # Created by `make run` for the single local user: accepted on loopback connections only.
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    # The key a browser got from a sign-in link names the local key it stands for, so that
    # revoking that key signs those browsers out too (models/apikeys.py revoke).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
