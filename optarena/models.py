"""The client's typed results: the API's response schemas (``/openapi.json``), as pydantic
models. Fields the server adds later are kept, not refused (``extra="allow"``), so an older
client keeps working against a newer API. ``to_dataframe()`` needs pandas, which optarena
does not install: ``pip install pandas``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from optarena.frames import frame


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Run(ApiModel):
    index: int
    arm: int
    label: str
    optimizer: str
    seed: int
    batch_size: int
    hyperparams: dict[str, Any]
    status: str
    step: int
    init_hash: str | None = None
    batch_hash: str | None = None
    optimizer_package: str | None = None
    optimizer_version: str | None = None
    summary: dict[str, Any] | None = None


class Shard(ApiModel):
    index: int
    run_indices: list[int]
    queue: str
    status: str
    step: int
    attempts: int
    owner: str | None = None
    heartbeat_at: datetime | None = None
    error: str | None = None


class JobSummary(ApiModel):
    id: str
    status: str
    preset: str | None = None
    source: str
    n_runs: int
    steps: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: Any | None = None
    name: str | None = None
    tags: list[str] = []

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


class Job(JobSummary):
    spec: dict[str, Any] | None = None
    notes: str | None = None
    progress: float
    runs: list[Run]
    shards: list[Shard]

    def to_dataframe(self) -> Any:
        """One row per run; the summary's entries become columns (``final_val_loss``, ...)."""
        rows = []
        for run in self.runs:
            row = run.model_dump(exclude={"summary", "hyperparams"})
            rows.append(row | (run.summary or {}))
        return frame(rows)


class JobPage(ApiModel):
    items: list[JobSummary]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = None

    def to_dataframe(self) -> Any:
        return frame([j.model_dump() for j in self.items])


class Dataset(ApiModel):
    id: str
    name: str
    kind: str
    target: str
    n_rows: int
    n_features: int
    feature_names: list[str]
    class_names: list[str] | None = None
    sha256: str
    created_at: datetime


class DatasetPage(ApiModel):
    items: list[Dataset]
    total: int
    limit: int
    offset: int

    def to_dataframe(self) -> Any:
        return frame([d.model_dump() for d in self.items])


class Preset(ApiModel):
    name: str
    description: str
    spec: dict[str, Any]
