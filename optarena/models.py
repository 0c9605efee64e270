"""The client's typed results: the API's response schemas (``/openapi.json``), as pydantic
models. Fields the server adds later are kept, not refused (``extra="allow"``), so an older
client keeps working against a newer API; ``answer["field"]`` reads like the JSON does.
``to_dataframe()`` needs pandas: ``pip install 'optarena[notebook]'``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from optarena import frames
from optarena.frames import frame

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})  # a job's final statuses


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    def __getitem__(self, name: str) -> Any:
        """A field by its JSON name, as in the answer's dict (``study["kind"]``)."""
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


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
        return self.status in TERMINAL


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
    image_shape: list[int] | None = None  # (C, H, W) of an .npz of images
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


class Interval(ApiModel):
    """The mean over seeds, its confidence interval and the spread; None where undefined."""

    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    std: float | None = None


class Reach(ApiModel):
    """Steps until the validation loss first reached the job's target, per run that did."""

    steps: list[int] = []
    n_runs: int = 0
    n_reached: int = 0
    mean_step: float | None = None


class ArmResult(ApiModel):
    arm: str
    n_seeds: int
    n_diverged: int
    rank: int
    group: str
    final_val: Interval
    final_test: Interval
    best_val: Interval
    gap: Interval
    time_to_target: Reach


class Results(ApiModel):
    """``GET /jobs/{id}/results``: per arm, statistics over seeds of the finished runs,
    ranked by mean final validation loss; ``pairs`` are the paired tests between arms."""

    job_id: str
    status: str
    n_finished: int
    n_runs: int
    arms: list[ArmResult]
    pairs: list[dict[str, Any]] = []
    warnings: list[str] = []
    target: float | None = None
    ranking: list[dict[str, Any]] = []
    rank_rule: str | None = None
    ci_description: str | None = None

    def to_dataframe(self) -> Any:
        """One row per arm (index ``arm``), best first: ``final_test_mean``, ``final_val_ci_low``, ..."""
        return frames.arms_frame([a.model_dump() for a in self.arms])


class Study(ApiModel):
    """``GET /jobs/{id}/study``: what the job's study found. The fields here are every kind's;
    the rest depend on ``kind`` (tuning, batch_size, ...: see /docs) and are attributes too."""

    job_id: str
    status: str
    kind: str | None
    complete: bool
    n_runs: int | None = None
    n_finished: int | None = None
    fitting: list[dict[str, Any]] | None = None  # per run: over/underfitting flags and reasons
    target: float | None = None


class Profile(ApiModel):
    """``GET /profiles``: per arm, the fraction of the jobs in which it reached the job's
    target within ``tau`` times the fastest arm's cost (``measure``)."""

    measure: str
    jobs: list[str]
    costs: dict[str, dict[str, float | None]]  # job -> arm -> cost (None: not reached)
    profile: dict[str, list[float]]  # "tau" and one list per arm

    def to_dataframe(self) -> Any:
        """One row per tau (the index), one column per arm: ``.plot(drawstyle="steps-post")``."""
        return frame(self.profile).set_index("tau")


@dataclass(frozen=True)
class Report:
    """A job's report (``png``, ``svg`` or ``html``); a notebook shows it as a cell's value."""

    format: str
    content: bytes

    def save(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        out.write_bytes(self.content)
        return out

    def _repr_png_(self) -> bytes | None:
        return self.content if self.format == "png" else None

    def _repr_svg_(self) -> str | None:
        return self.content.decode() if self.format == "svg" else None

    def _repr_html_(self) -> str | None:
        return self.content.decode() if self.format == "html" else None
