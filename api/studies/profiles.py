"""Performance profiles across jobs: each job is one problem (its task and settings), each
arm label one solver; cost = the median steps, examples or seconds its seeds took to reach
the job's target validation loss (engine/studies/fitting.py: time_to_target)."""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.metrics.service import load_series
from api.studies.views import fitting_target
from engine.spec import stored
from engine.studies.fitting import performance_profile, time_to_target
from models.tables import Job, Run

TAUS = [1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]


def job_costs(session: Session, job: Job, measure: str) -> dict[str, float | None]:
    """Arm label -> median cost over its seeds; None (not reached) unless half its seeds got there."""
    spec = stored(job.spec)
    cols = [Run.index, Run.label, Run.batch_size, Run.summary, Run.seed, Run.variant]
    runs = [r._asdict() for r in session.execute(
        select(*cols).where(Run.job_id == job.id, Run.summary.is_not(None)).order_by(Run.index))]
    curves = load_series(session, job.id, [r["index"] for r in runs],
                         ["train_loss", "val_loss", "wall_time"], 0)
    target = fitting_target(spec, runs)
    per_arm: dict[str, list[float | None]] = {}
    for r in runs:  # time to target only: the fitting flags are not needed here
        val = curves.get(r["index"], {}).get("val_loss")
        cost = None if target is None or val is None else time_to_target(
            val, target, r["batch_size"], curves[r["index"]].get("wall_time"))[measure]
        per_arm.setdefault(r["label"], []).append(cost)
    out: dict[str, float | None] = {}
    for label, costs in per_arm.items():
        reached = [c for c in costs if c is not None]
        out[label] = statistics.median(reached) if 2 * len(reached) >= len(costs) and reached else None
    return out


def profile(session: Session, jobs: list[Job], measure: str) -> dict[str, Any]:
    costs = {job.id: job_costs(session, job, measure) for job in jobs}
    return {"measure": measure, "jobs": [j.id for j in jobs], "costs": costs,
            "profile": performance_profile(costs, TAUS)}
