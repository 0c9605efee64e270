"""GET /jobs/{id}/metrics: the stored curves, columnar per run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy.orm import Session

from api import cache
from api.deps import INT_MAX, JobId, OwnerDep, SettingsDep
from api.metrics import service
from api.metrics.live_series import live_series
from api.metrics.schemas import MetricsOut
from models.tables import TERMINAL, Job

router = APIRouter(prefix="/jobs", tags=["metrics"])

METRICS_DOC = """Curves of the job, per run and metric: `steps` and `values` arrays of equal length.
Non-finite values (a diverging run) are sent as `null`, with `nonfinite: true` and their steps in
`nonfinite_steps`. `after_step` returns only later points (pass the previous answer's
`next_after_step` to poll); `max_points` downsamples each curve deterministically to at most that
many points, keeping every bucket's minimum and maximum."""


@router.get("/{job_id}/metrics", response_model=MetricsOut, description=METRICS_DOC,
            responses={200: {"content": {"application/json": {"example": {
                "job_id": "…", "after_step": 0, "next_after_step": 300, "runs": [
                    {"run": 0, "label": "SGD", "status": "succeeded", "metrics": {"train_loss": {
                        "steps": [1, 2, 3], "values": [0.31, None, 0.29], "nonfinite": True,
                        "nonfinite_steps": [2]}}}]}}}}})
async def get_job_metrics(request: Request, settings: SettingsDep, owner: OwnerDep, job_id: JobId,
                      run: Annotated[list[Annotated[int, Field(ge=0, le=INT_MAX)]] | None,
                                     Query(description="run indices; all if absent")] = None,
                      metric: Annotated[list[str] | None,
                                        Query(description="e.g. train_loss, val_loss")] = None,
                      after_step: Annotated[int, Query(ge=0, le=INT_MAX,
                                                       description="only points after this step")] = 0,
                      max_points: Annotated[int | None, Query(ge=4, le=1_000_000)] = None) -> Response:
    # The answer does not depend on the order or repetition of runs and metrics (it is sorted),
    # so neither does its cache key.
    params = {"run": sorted(set(run or [])), "metric": sorted(set(metric or [])), "after_step": after_step,
              "max_points": max_points}

    def render(session: Session, job: Job) -> cache.Body:
        curves = None
        if job.status not in TERMINAL and settings.live_cache_bytes > 0:
            # Still changing: every curve kept decoded, only the newest chunks read.
            curves = live_series(settings.live_cache_bytes).curves(session, job.id)
        body = service.metrics_json(session, job.id, run, metric, after_step, max_points, curves)
        return cache.Body(body.encode(), "application/json")

    return await cache.serve(request, settings, owner, job_id, "metrics", params, render, live=True)
