"""The response schema of GET /jobs/{id}/results (built by api/reports/results.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Interval(BaseModel):
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    std: float | None


class ArmResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    arm: str = Field(description="the arm's label")
    n_seeds: int
    n_diverged: int
    rank: float
    group: str = Field(description="arms sharing a letter are not significantly different")
    final_val: Interval
    final_test: Interval
    best_val: Interval
    gap: Interval
    time_to_target: dict[str, Any]


class ResultsOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    status: str
    n_finished: int
    n_runs: int
    arms: list[ArmResult] = Field(description="best first")
    pairs: list[dict[str, Any]] = Field(description="each pair's test on final validation loss")
    warnings: list[str]
    target: float | None
    ranking: list[dict[str, Any]]
    rank_rule: str
    ci_method: str
    ci_level: float
    ci_description: str
