"""Each study kind's summary, computed from stored run summaries, curves and outputs.

numpy only (the engine's statistics modules), never torch: the API does not train.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.metrics.service import load_series
from api.studies import views
from engine.spec import stored
from engine.studies.fitting import RULE as FITTING_RULE
from models.tables import Job, Run


def study_view(session: Session, job: Job) -> dict[str, Any]:
    base: dict[str, Any] = {"job_id": job.id, "status": job.status}
    if job.spec is None:
        return base | {"kind": None, "complete": False}
    spec = stored(job.spec)
    kind = spec.study.kind if spec.study is not None else "comparison"
    want_outputs = kind in ("bias_variance", "trajectories")
    cols = [Run.index, Run.label, Run.optimizer, Run.arm, Run.base_arm, Run.stage, Run.variant,
            Run.seed, Run.batch_size,
            Run.hyperparams, Run.status, Run.summary] + ([Run.outputs] if want_outputs else [])
    rows = [r._asdict() for r in session.execute(select(*cols).where(Run.job_id == job.id)
                                                 .order_by(Run.index))]
    done = [r for r in rows if r["summary"] is not None]
    base |= {"kind": kind, "n_runs": job.n_runs, "n_finished": len(done),
             "complete": job.status == "succeeded" and len(done) == job.n_runs}
    curves = load_series(session, job.id, [r["index"] for r in done],
                         ["train_loss", "val_loss", "traj_x", "traj_y"] if kind == "trajectories"
                         else ["train_loss", "val_loss", "wall_time"], 0)
    if kind == "trajectories":
        return base | views.trajectories(spec, done, curves)
    out = base | {"fitting": views.fitting(spec, done, curves), "fitting_rule": FITTING_RULE,
                  "target": views.fitting_target(spec, done)}
    if kind == "tuning":
        out |= views.tuning(spec, done, job.study_state or {})
    elif kind == "search":
        from api.studies.search_view import search  # Optuna's importances: only for a search

        out |= search(spec, done, job.study_state or {})
    elif kind == "batch_size":
        out |= views.batch_size(spec, done)
    elif kind == "cross_validation":
        out |= views.cross_validation(spec, done)
    elif kind == "bias_variance":
        out |= views.bias_variance(spec, done)
    return out


def search_inputs(session: Session, job: Job) -> tuple[Any, list[dict[str, Any]], dict[str, Any]] | None:
    """(spec, finished runs, study state) of a search job; None for any other job."""
    if job.spec is None or (job.spec.get("study") or {}).get("kind") != "search":
        return None
    cols = [Run.index, Run.label, Run.arm, Run.base_arm, Run.stage, Run.variant, Run.seed, Run.hyperparams,
            Run.summary]
    query = select(*cols).where(Run.job_id == job.id).order_by(Run.index)
    rows = [r._asdict() for r in session.execute(query)]
    return stored(job.spec), [r for r in rows if r["summary"] is not None], job.study_state or {}
