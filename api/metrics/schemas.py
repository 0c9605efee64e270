"""The response schema of GET /jobs/{id}/metrics (the body itself is written as text by
api/metrics/service.py, for speed; the fuzz test checks the two agree)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Curve(BaseModel):
    steps: list[int]
    values: list[float | None] = Field(description="null where the value was not finite")
    nonfinite: bool
    nonfinite_steps: list[int]


class RunCurves(BaseModel):
    run: int
    label: str | None
    status: str | None
    metrics: dict[str, Curve] = Field(description="by metric name, e.g. train_loss, val_loss")


class MetricsOut(BaseModel):
    job_id: str
    after_step: int
    next_after_step: int = Field(description="pass as after_step to get only newer points")
    runs: list[RunCurves]
