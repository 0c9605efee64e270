"""Between a search study's stages: the next cohort's proposals, or each arm's best trial, from
what the finished stages stored.

The job keeps its decisions in ``study_state``::

    {"stages": n, "proposals": {"<stage>": {"<arm>": [params, ...]}}, "chosen": {"<arm>": params}}

Each decision is a function of the job's spec and the stored summaries alone (engine/search.py
replays the stored trials into a fresh sampler), so whichever worker plans a stage, and however
often a planning is redelivered, the same trials are proposed.

A trial's value is its ``final_val_loss`` averaged over ``seeds`` (a diverged run counts as
+inf, the worst); a trial stopped at a rung (engine/search_pruning.py) is "pruned", told to the
sampler with its losses at the rungs it reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.design import n_stages, proposals_of, search_trial
from engine.search import TrialResult, propose
from engine.spec import ComparisonSpec

SELECT_ON = "final_val_loss"
T = TypeVar("T")


@dataclass(frozen=True)
class StoredRun:
    """What a decision reads of one run of a search stage."""

    stage: int
    arm: int  # the arm's index within its stage (a trial)
    summary: Mapping[str, Any] | None  # None while it has not finished


def _cohort(spec: ComparisonSpec, index: int, history: Mapping[int, list[TrialResult]]) -> dict[str, Any]:
    assert spec.study is not None and spec.study.kind == "search"
    return {str(a): [p.params for p in propose(spec.study, arm.display(), arm.definition, history.get(a, []))]
            for a, arm in enumerate(spec.arms)}


def first_state(spec: ComparisonSpec) -> dict[str, Any]:
    """A new search job's state: its first cohort proposed (no results yet)."""
    return {"stages": n_stages(spec), "proposals": {"0": _cohort(spec, 0, {})}}


def proposed_trials(spec: ComparisonSpec, state: Mapping[str, Any], runs: Iterable[tuple[int, int, T]],
                    stages: int | None = None) -> dict[int, list[tuple[int, dict[str, Any], list[T]]]]:
    """Per arm, each trial proposed in search stages ``0 .. stages - 1`` (all proposed so far by
    default), in number order: (number, params, the items of its runs given). ``runs`` are
    (stage, the arm's index within its stage, item)."""
    assert spec.study is not None and spec.study.kind == "search"
    cohorts = spec.study.cohorts()[:stages]
    items: dict[tuple[int, int], list[T]] = {}
    for stage_index, stage_arm, item in runs:
        if stage_index < len(cohorts):
            items.setdefault(search_trial(spec, stage_index, stage_arm), []).append(item)
    out: dict[int, list[tuple[int, dict[str, Any], list[T]]]] = {a: [] for a in range(len(spec.arms))}
    for index, numbers in enumerate(cohorts):
        proposed = proposals_of(state, index)
        if proposed is None:
            break
        for a, trials in out.items():
            trials += [(n, proposed[a][j], items.get((a, n), [])) for j, n in enumerate(numbers)]
    return out


def history(spec: ComparisonSpec, state: Mapping[str, Any], runs: Iterable[StoredRun],
            stages: int) -> dict[int, list[TrialResult]]:
    """Each arm's trials of search stages ``0 .. stages - 1``, in number order; a trial with
    no finished run counts as failed."""
    grouped = proposed_trials(spec, state, ((r.stage, r.arm, r.summary) for r in runs), stages)
    return {a: [outcome(n, params, summaries or [None]) for n, params, summaries in trials]
            for a, trials in grouped.items()}


def outcome(number: int, params: Mapping[str, Any], summaries: list[Mapping[str, Any] | None]) -> TrialResult:
    if any(s is None for s in summaries):
        return TrialResult(number, params, "failed")
    done = [s for s in summaries if s is not None]
    rungs: dict[int, list[float]] = {}
    for s in done:
        for step, loss in (s.get("rung_val_losses") or {}).items():
            rungs.setdefault(int(step), []).append(_worst_if_bad(loss))
    rung_losses = {step: sum(v) / len(v) for step, v in rungs.items()}
    if any(s.get("stopped") == "pruned" for s in done):
        return TrialResult(number, params, "pruned", rung_losses=rung_losses)
    values = [math.inf if s.get("diverged") else _worst_if_bad(s.get(SELECT_ON)) for s in done]
    return TrialResult(number, params, "complete", sum(values) / len(values), rung_losses)


def _worst_if_bad(v: Any) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else math.inf


def best(trials: list[TrialResult]) -> TrialResult:
    """The complete trial with the lowest value (ties: the lower number); with none complete,
    trial 0, so that the re-run stage still runs and shows what failed."""
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    return min(complete, key=lambda t: (t.value, t.number)) if complete else trials[0]


def advance(spec: ComparisonSpec, finished: int, state: Mapping[str, Any],
            runs: Iterable[StoredRun]) -> dict[str, Any]:
    """The state once stage ``finished`` is done: the next cohort's proposals, or after the last
    cohort each arm's best trial (``chosen``)."""
    assert spec.study is not None and spec.study.kind == "search"
    trials = history(spec, state, runs, finished + 1)
    if finished + 1 < len(spec.study.cohorts()):
        nxt = {str(finished + 1): _cohort(spec, finished + 1, trials)}
        proposals = dict(state.get("proposals") or {}) | nxt
        return dict(state) | {"proposals": proposals}
    return dict(state) | {"chosen": {str(a): dict(best(t).params) for a, t in trials.items()}}
