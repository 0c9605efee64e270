"""The results table of a job: per-arm statistics over seeds, from the stored summaries and
validation curves, computed with the engine's numpy-only statistics (no torch here)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.metrics.service import Series, load_series
from engine.studies.fitting import time_to_target as first_reach
from engine.studies.ranking import RANK_RULE, compare_arms
from engine.studies.statistics import ci_info, final_metric_table
from models.tables import Job, Run


@dataclass
class RunResult:
    """The attributes ``compare_arms`` reads from an engine result, filled from the database."""

    run: int
    label: str
    seed: int
    summary: dict[str, Any]
    curves: dict[str, Any] = field(default_factory=dict)


def finished_runs(session: Session, job_id: str, stage: int | None = None) -> dict[int, RunResult]:
    """Runs with a summary, keyed for pairing: arms are compared on the runs that share a
    seed and, in cross-validation, a fold (the key then packs both)."""
    q = select(Run).where(Run.job_id == job_id, Run.summary.is_not(None)).order_by(Run.index)
    if stage is not None:
        q = q.where(Run.stage == stage)
    return {r.index: RunResult(r.index, r.label, pairing_key(r.seed, r.variant), r.summary or {})
            for r in session.scalars(q)}


def pairing_key(seed: int, variant: int | None) -> int:
    return seed if variant is None else (variant + 1) * 2**32 + seed


def reported_stage(job: Job) -> int | None:
    """A study's results table describes its last stage (tuning: the re-runs on fresh seeds)."""
    stages = (job.study_state or {}).get("stages", 1)
    return stages - 1 if stages > 1 else None


def _groups(results: dict[int, RunResult], key: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in results.values():
        v = r.summary.get(key)
        out.setdefault(r.label, {})[r.seed] = math.nan if v is None else float(v)
    return out


def default_target(spec_target: float | None, summaries: Iterable[dict[str, Any]]) -> float | None:
    """The validation loss that time to target counts to: the spec's, or else the highest best
    validation loss of any run, a level every run reaches (so it says who gets there first)."""
    bests = [float(s["best_val_loss"]) for s in summaries if s.get("best_val_loss") is not None]
    return spec_target if spec_target is not None else (max(bests) if bests else None)


def _first_reach(series: Series | None, target: float) -> int | None:
    return None if series is None else first_reach(series, target, 0)["steps"]


def time_to_target(results: dict[int, RunResult], val: dict[int, dict[str, Series]],
                   spec_target: float | None) -> tuple[float | None, dict[str, dict[str, Any]]]:
    """Steps until validation loss first reaches the target (``default_target``)."""
    target = default_target(spec_target, (r.summary for r in results.values()))
    out: dict[str, dict[str, Any]] = {}
    for r in results.values():
        cell = out.setdefault(r.label, {"steps": [], "n_runs": 0})
        cell["n_runs"] += 1
        hit = None if target is None else _first_reach(val.get(r.run, {}).get("val_loss"), target)
        if hit is not None:
            cell["steps"].append(hit)
    for cell in out.values():
        cell["n_reached"] = len(cell["steps"])
        cell["mean_step"] = float(np.mean(cell["steps"])) if cell["steps"] else None
    return target, out


def job_results(session: Session, job: Job) -> dict[str, Any]:
    """JSON-ready: one row per arm, the pairwise tests on final validation loss, warnings."""
    results = finished_runs(session, job.id, reported_stage(job))
    base = {"job_id": job.id, "status": job.status, "n_finished": len(results), "n_runs": job.n_runs}
    if not results:
        return base | {"arms": [], "pairs": [], "warnings": [], "target": None, "ranking": [],
                       "rank_rule": RANK_RULE} | ci_info()
    stats = compare_arms(results, metric="final_val_loss", curve_metric=None)
    best = {row["arm"]: row for row in final_metric_table(_groups(results, "best_val_loss"))}
    gap = {row["arm"]: row for row in final_metric_table(_groups(results, "generalization_gap"))}
    test = {row["arm"]: row for row in final_metric_table(_groups(results, "final_test_loss"))}
    val = load_series(session, job.id, list(results), ["val_loss"], 0)
    spec_target = ((job.spec or {}).get("train") or {}).get("target_loss")
    target, reach = time_to_target(results, val, spec_target)
    ranking = {row["arm"]: row for row in stats["ranking"]}
    arms = [{"arm": row["arm"], "n_seeds": row["n_seeds"], "n_diverged": row["n_diverged"],
             "rank": ranking[row["arm"]]["rank"], "group": ranking[row["arm"]]["group"],
             "final_val": _ci(row), "final_test": _ci(test[row["arm"]]), "best_val": _ci(best[row["arm"]]),
             "gap": _ci(gap[row["arm"]]), "time_to_target": reach[row["arm"]]}
            for row in stats["table"]]
    arms.sort(key=lambda a: a["rank"])  # stable: equal ranks keep the spec's arm order
    return base | {"arms": arms, "pairs": stats["pairs"], "warnings": stats["warnings"],
                   "target": target, "ranking": stats["ranking"], "alpha": stats["alpha"],
                   "rank_rule": stats["rank_rule"]} | ci_info()


def _ci(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("mean", "ci_low", "ci_high", "std")}
