"""Uploaded data sets: a parsed CSV or .npz stored as arrays (bytes), never as anything executable.

The feature matrix is stored as float64 bytes in row-major order, the target as float64
(regression) or int64 class indices (classification); both are read back with
``np.frombuffer``. A data set belongs to one owner: every lookup filters by owner, so one
tenant's data is invisible to another (the API answers 404, exactly as for a missing id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, undefer

from models.base import Base
from models.tables import Job, utcnow

if TYPE_CHECKING:
    from engine.datasets import ParsedDataset


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # "regression" | "classification"
    target: Mapped[str] = mapped_column(String(200))
    feature_names: Mapped[list[str]] = mapped_column(JSON)
    class_names: Mapped[list[str] | None] = mapped_column(JSON)
    n_rows: Mapped[int] = mapped_column(Integer)
    n_features: Mapped[int] = mapped_column(Integer)
    # (C, H, W) of an image upload: a row is then an image, for a cnn or an image model.
    image_shape: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    # ids 0 .. vocab - 1 of an upload of integer sequences: a token model may read its rows.
    vocab: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Deferred: listing and describing never load the arrays, only training does.
    x: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    y: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass
class DatasetArrays:
    """What the engine trains on (``engine.tasks.dataset_task``)."""

    x: np.ndarray  # (n, d) float64
    y: np.ndarray  # (n,) float64 for regression, int64 class indices for classification
    kind: str
    n_classes: int  # 0 for regression
    feature_names: list[str]
    image_shape: tuple[int, int, int] | None = None
    vocab: int | None = None  # token sequences: ids 0 .. vocab - 1


def store(session: Session, owner: str, name: str, parsed: ParsedDataset) -> Dataset:
    """Add a data set (no commit)."""
    y_dtype = np.int64 if parsed.kind == "classification" else np.float64
    row = Dataset(id=str(uuid.uuid4()), owner=owner, name=name, kind=parsed.kind, target=parsed.target,
                  feature_names=list(parsed.feature_names), class_names=parsed.class_names,
                  n_rows=parsed.n_rows, n_features=parsed.n_features,
                  image_shape=list(parsed.image_shape) if parsed.image_shape else None, vocab=parsed.vocab,
                  x=np.ascontiguousarray(parsed.x, dtype=np.float64).tobytes(),
                  y=np.ascontiguousarray(parsed.y, dtype=y_dtype).tobytes(),
                  sha256=parsed.sha256, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def get(session: Session, dataset_id: str, owner: str) -> Dataset | None:
    """The owner's data set, else None (also when it belongs to someone else)."""
    return session.scalar(select(Dataset).where(Dataset.id == dataset_id, Dataset.owner == owner))


def list_for(session: Session, owner: str, limit: int | None = None, offset: int = 0) -> list[Dataset]:
    """The owner's data sets, newest first."""
    q = select(Dataset).where(Dataset.owner == owner).order_by(Dataset.created_at.desc(), Dataset.id)
    return list(session.scalars(q.limit(limit).offset(offset)))


def load_arrays(session: Session, dataset_id: str) -> DatasetArrays:
    """The arrays of a data set a stored job names (its owner was checked when the job was
    stored). LookupError when it has been deleted since."""
    row = session.get(Dataset, dataset_id, options=[undefer(Dataset.x), undefer(Dataset.y)])
    if row is None:
        raise LookupError(f"dataset {dataset_id} no longer exists (deleted after the job was submitted)")
    y_dtype = np.int64 if row.kind == "classification" else np.float64
    x = np.frombuffer(row.x, dtype=np.float64).reshape(row.n_rows, row.n_features)
    return DatasetArrays(x, np.frombuffer(row.y, dtype=y_dtype), row.kind,
                         len(row.class_names or []), list(row.feature_names), image_shape(row), row.vocab)


def image_shape(row: Dataset) -> tuple[int, int, int] | None:
    return tuple(row.image_shape) if row.image_shape else None  # type: ignore[return-value]


def active_jobs_using(session: Session, dataset: Dataset) -> list[str]:
    """Ids of the owner's queued or running jobs that train on this data set."""
    q = select(Job.id, Job.spec).where(Job.owner == dataset.owner, Job.status.in_(("queued", "running")))
    return [job_id for job_id, spec in session.execute(q) if _names(spec, dataset.id)]


def _names(spec: dict[str, Any] | None, dataset_id: str) -> bool:
    task = (spec or {}).get("task") or {}
    return task.get("name") == "dataset" and task.get("dataset") == dataset_id


def remove(session: Session, dataset: Dataset) -> None:
    session.execute(delete(Dataset).where(Dataset.id == dataset.id))
