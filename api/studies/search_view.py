"""The search study's view: per arm its trials as proposed and as they ended, the best
validation loss so far against trials and against compute, the budget it spent, each searched
hyperparameter's importance, its best trial; then the paired comparison of the best trials on
the fresh test seeds, as tuning reports it."""

from __future__ import annotations

import math
from typing import Any

from api.studies.views import Runs, _compare
from engine.search import TrialResult, importances, write_journal
from engine.search_plan import SELECT_ON, outcome, proposed_trials
from engine.search_pruning import arm_budget
from engine.spec import ComparisonSpec


def _trials(spec: ComparisonSpec, state: dict[str, Any], runs: Runs
            ) -> dict[int, list[tuple[TrialResult | None, dict[str, Any], list[dict[str, Any]]]]]:
    """Per arm, every proposed trial: its outcome (None while a run of it trains), its
    params, and its finished runs."""
    grouped = proposed_trials(spec, state, ((r["stage"], r["arm"], r) for r in runs))
    return {a: [(outcome(n, params, [r["summary"] for r in done]) if len(done) == len(spec.seeds) else None,
                 params, done) for n, params, done in trials]
            for a, trials in grouped.items()}


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def search(spec: ComparisonSpec, runs: Runs, state: dict[str, Any]) -> dict[str, Any]:
    study = spec.study
    assert study is not None and study.kind == "search"
    n_train = spec.task.split_sizes()[0]
    chosen = {int(a): hp for a, hp in (state.get("chosen") or {}).items()}
    arms = []
    for a, trials in _trials(spec, state, runs).items():
        arm = spec.arms[a]
        batch = min(spec.batch_size_of(arm) or n_train, n_train)
        steps = spec.steps_for(batch, n_train, arm)
        planned = arm_budget(study, steps, batch)
        rows, curve, best, spent, examples = [], [], math.inf, 0, 0
        seconds: dict[int, float] = {}
        for result, params, done in trials:
            trained = sum(int(r["summary"].get("steps_trained") or 0) for r in done)
            spent += trained
            examples += sum(int(r["summary"].get("examples_seen") or 0) for r in done)
            for r in done:  # one shard per arm and cohort: its runs share the cohort's clock
                clock = float(r["summary"].get("wall_time") or 0)
                seconds[r["stage"]] = max(seconds.get(r["stage"], 0.0), clock)
            state_name = "running" if result is None else result.state
            value = None if result is None else result.value
            if result is not None and result.state == "complete" and value is not None:
                best = min(best, value)
            rows.append({"number": len(rows), "params": params, "state": state_name,
                         "value": _finite(value), "steps": trained,
                         "rung_val_losses": None if result is None else
                         {str(k): _finite(v) for k, v in sorted(result.rung_losses.items())}})
            if result is not None:
                curve.append({"trials": len(curve) + 1, "steps": spent, "best_value": _finite(best)})
        finished = [r for r, _, _ in trials if r is not None]
        try:
            importance = importances(study, arm.display(), arm.definition, finished)
        except ValueError:  # fewer than two complete trials with a finite loss
            importance = None
        arms.append({
            "arm": arm.display(), "optimizer": arm.optimizer, "trials": rows, "best_so_far": curve,
            "best_value": _finite(best),
            "budget": {"planned_steps": planned.steps * len(spec.seeds),
                       "planned_examples": planned.examples * len(spec.seeds),
                       "steps": spent, "examples": examples, "seconds": round(sum(seconds.values()), 3)},
            "importances": importance, "chosen": chosen.get(a)})
    reruns = [r for r in runs if r["stage"] == len(study.cohorts())]
    out: dict[str, Any] = {"select_on": SELECT_ON, "sampler": study.sampler, "trials": study.trials,
                           "batch": study.batch, "pruner": study.pruner.kind, "seeds": spec.seeds,
                           "test_seeds": study.test_seeds, "arms": arms,
                           "stage": len(state.get("proposals") or {}) - 1 + (1 if chosen else 0)}
    if reruns:
        out["test"] = _compare(reruns, "final_test_loss")
    return out


def optuna_journal(spec: ComparisonSpec, runs: Runs, state: dict[str, Any], name: str) -> bytes:
    """The search's finished trials as an Optuna journal file's bytes (one study per arm)."""
    import tempfile
    from pathlib import Path

    assert spec.study is not None and spec.study.kind == "search"
    trials = _trials(spec, state, runs)
    arms = [(arm.display(), arm.definition, [r for r, _, _ in trials[a] if r is not None])
            for a, arm in enumerate(spec.arms)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.log"
        write_journal(spec.study, name, arms, str(path))
        return path.read_bytes()
