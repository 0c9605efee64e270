"""From a job's spec to the runs that answer it: one or more stages of plain comparisons.

Torch-free (the API counts runs with it). Stage specs are derived, never stored: the
worker derives the same stage from the same job spec every time, so a resumed or
redelivered shard trains exactly what was planned.

- tuning: stage 0 expands every arm over the grid (one derived arm per point) on
  ``seeds``; stage 1 re-runs each arm's chosen point on ``test_seeds``. The choice is a
  pure function of stage 0's summaries (``choose``), stored with the job.
- search: stage c (one per cohort of ``study.batch`` trials) derives one arm per proposed
  trial of every arm, on ``seeds``; the proposals are made between stages from the stored
  results (engine/search_plan.py) and kept with the job. The last stage re-runs each arm's
  best trial on ``test_seeds``, as tuning's second stage does.
- batch_size: one derived arm per (arm, batch size).
- everything else: the spec as it is (cross-validation folds and bootstrap resamples
  are data variants of its runs, see ``ComparisonSpec.runs``).

Run numbers are global over a job: stage s's runs follow all of stage s-1's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.spec import ArmBase, ComparisonSpec, RunPlan

LABEL_MAX = 64


@dataclass(frozen=True)
class Stage:
    index: int
    spec: ComparisonSpec  # what the engine trains for this stage
    base_arm: list[int]  # the job's arm behind each of the stage's arms
    offset: int  # global number of the stage's first run

    @property
    def n_runs(self) -> int:
        return len(self.spec.runs())


Proposals = dict[int, list[dict[str, Any]]]  # arm -> each trial's hyperparameters, for one cohort


def n_stages(spec: ComparisonSpec) -> int:
    if spec.study is not None and spec.study.kind == "search":
        return len(spec.study.cohorts()) + 1
    return 2 if spec.study is not None and spec.study.kind == "tuning" else 1


def _search_stage(spec: ComparisonSpec, index: int, chosen: dict[int, dict[str, Any]] | None,
                  proposals: Proposals | None) -> Stage:
    study = spec.study
    assert study is not None and study.kind == "search"
    cohorts, per_trial = study.cohorts(), len(spec.seeds)
    offset = sum(len(c) for c in cohorts[:index]) * len(spec.arms) * per_trial
    if index == len(cohorts):  # each arm's best trial on fresh seeds
        if chosen is None or set(chosen) != set(range(len(spec.arms))):
            raise ValueError("search's last stage needs the best trial of every arm")
        arms = [arm.model_copy(update=chosen[a]) for a, arm in enumerate(spec.arms)]
        derived = spec.model_copy(update={"arms": arms, "seeds": list(study.test_seeds)})
        return Stage(index, derived, list(range(len(spec.arms))), offset)
    if not 0 <= index < len(cohorts):
        raise ValueError(f"this search has no stage {index}")
    numbers = cohorts[index]
    if proposals is None or any(len(proposals.get(a, [])) != len(numbers) for a in range(len(spec.arms))):
        raise ValueError(f"search stage {index} needs {len(numbers)} proposed trials for every arm")
    arms, base = [], []
    for a, arm in enumerate(spec.arms):
        for number, params in zip(numbers, proposals[a], strict=True):
            arms.append(_derive(arm, params, f"#{number}"))
            base.append(a)
    return Stage(index, spec.model_copy(update={"arms": arms}), base, offset)


def chosen_points(state: Mapping[str, Any] | None) -> dict[int, dict[str, Any]] | None:
    """Each arm's chosen point (tuning) or best trial (search) as stored in the job's study
    state (JSON keys are text); None before it is decided."""
    got = (state or {}).get("chosen")
    return None if got is None else {int(a): hp for a, hp in got.items()}


def proposals_of(state: Mapping[str, Any] | None, index: int) -> Proposals | None:
    """A search stage's proposals as stored in the job's study state."""
    got = ((state or {}).get("proposals") or {}).get(str(index))
    return None if got is None else {int(a): list(ps) for a, ps in got.items()}


def search_trial(spec: ComparisonSpec, index: int, stage_arm: int) -> tuple[int, int]:
    """(the job's arm, the trial's number within it) of arm ``stage_arm`` of search stage ``index``."""
    assert spec.study is not None and spec.study.kind == "search"
    numbers = spec.study.cohorts()[index]
    return stage_arm // len(numbers), numbers[stage_arm % len(numbers)]


def _label(name: str, suffix: str) -> str:
    """``name suffix`` in at most LABEL_MAX characters. The name is shortened, not the
    suffix: the suffix is what tells the derived arms of one arm apart."""
    text = f"{name} {suffix}"
    if len(text) <= LABEL_MAX:
        return text
    keep = max(1, LABEL_MAX - len(suffix) - 2)
    return f"{name[:keep]}… {suffix}"[:LABEL_MAX]


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def _digits(values: list[float]) -> int:
    """Fewest significant digits (at least 3) that print distinct values distinctly: a
    narrow grid (1e-3 to 1.003e-3) would otherwise give several arms the same label."""
    return next((d for d in range(3, 18) if len({_fmt(v, d) for v in values}) == len(set(values))), 17)


def grid_points(spec: ComparisonSpec, arm: ArmBase) -> list[dict[str, float]]:
    """The tuning grid of one arm: lr x every searched hyperparameter the arm has."""
    study = spec.study
    assert study is not None and study.kind == "tuning"
    names = ["lr", *[n for n in study.grid if n in arm.hyperparams()]]
    values = [study.lr.values(), *[study.grid[n] for n in names[1:]]]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _derive(arm: ArmBase, update: dict[str, Any], suffix: str) -> ArmBase:
    return arm.model_copy(update=update | {"label": _label(arm.display(), suffix)})


def _tuning_arms(spec: ComparisonSpec) -> tuple[list[ArmBase], list[int]]:
    arms, base = [], []
    for a, arm in enumerate(spec.arms):
        points = grid_points(spec, arm)
        digits = {k: _digits([p[k] for p in points]) for k in points[0]}
        for point in points:
            arms.append(_derive(arm, point, " ".join(f"{k}={_fmt(v, digits[k])}" for k, v in point.items())))
            base.append(a)
    return arms, base


def _batch_size_arms(spec: ComparisonSpec) -> tuple[list[ArmBase], list[int]]:
    assert spec.study is not None and spec.study.kind == "batch_size"
    arms, base = [], []
    for a, arm in enumerate(spec.arms):
        for bs in spec.study.batch_sizes:
            arms.append(_derive(arm, {"batch_size": bs}, "full batch" if bs == 0 else f"bs={bs}"))
            base.append(a)
    return arms, base


def stage(spec: ComparisonSpec, index: int, chosen: dict[int, dict[str, Any]] | None = None,
          proposals: Proposals | None = None) -> Stage:
    """Stage ``index`` of ``spec``; tuning's stage 1 and search's last need ``chosen`` (arm ->
    hyperparameters), a search's other stages their cohort's ``proposals``."""
    kind = spec.study.kind if spec.study is not None else None
    if kind == "search":
        return _search_stage(spec, index, chosen, proposals)
    base = list(range(len(spec.arms)))
    if kind == "tuning" and index == 0:
        arms, base = _tuning_arms(spec)
        return Stage(0, spec.model_copy(update={"arms": arms}), base, 0)
    if kind == "tuning" and index == 1:
        if chosen is None or set(chosen) != set(base):
            raise ValueError("tuning's second stage needs the chosen point of every arm")
        arms = [arm.model_copy(update=chosen[a]) for a, arm in enumerate(spec.arms)]
        derived = spec.model_copy(update={"arms": arms, "seeds": list(spec.study.test_seeds)})
        return Stage(1, derived, base, stage(spec, 0).n_runs)
    if index != 0:
        raise ValueError(f"this study has no stage {index}")
    if kind == "batch_size":
        arms, base = _batch_size_arms(spec)
        return Stage(0, spec.model_copy(update={"arms": arms}), base, 0)
    if kind == "trajectories":  # a path depends on the optimizer only: one run per arm
        return Stage(0, spec.model_copy(update={"seeds": spec.seeds[:1]}), base, 0)
    return Stage(0, spec, base, 0)


def total_runs(spec: ComparisonSpec) -> int:
    """Runs of every stage, known before any of them trains."""
    if spec.study is not None and spec.study.kind == "search":
        return len(spec.arms) * (spec.study.trials * len(spec.seeds) + len(spec.study.test_seeds))
    first = stage(spec, 0).n_runs
    if n_stages(spec) == 1:
        return first
    assert spec.study is not None and spec.study.kind == "tuning"
    return first + len(spec.arms) * len(spec.study.test_seeds)


def run_train_size(spec: ComparisonSpec, n_train: int) -> int:
    """Rows one run trains on: a cross-validation fold trains on train + validation minus
    its own fold (engine/variants.py), which may be fewer or more rows than the split."""
    study = spec.study
    if study is not None and study.kind == "cross_validation":
        pool = n_train + spec.task.split_sizes()[1]
        return pool - pool // study.folds
    return n_train


def max_steps(spec: ComparisonSpec, n_train: int) -> int:
    """The most steps any run of the job takes (an examples budget gives small batches more,
    an arm's steps_factor multiplies its own).

    Mirrors the trainer: batch sizes are resolved against the rows a run trains on (a
    fold's under cross-validation, effective_batch_size), and so is the budget."""
    # A search's trials change optimizer hyperparameters only, never a run's steps.
    st = spec if spec.study is not None and spec.study.kind == "search" else stage(spec, 0).spec
    rows = run_train_size(spec, n_train)
    return max(st.steps_for(min(st.batch_size_of(a) or rows, rows), rows, a) for a in st.arms)


def run_steps(spec: ComparisonSpec, run: RunPlan) -> int:
    """The steps one run trains, as its cohort's trainer counts them."""
    n_train = run_train_size(spec, spec.task.split_sizes()[0])
    return spec.steps_for(effective_batch_size(spec, run), n_train, spec.arms[run.arm])


def choose(spec: ComparisonSpec, rows: list[tuple[int, dict[str, Any], dict[str, Any] | None]]
           ) -> dict[int, dict[str, float]]:
    """Each arm's grid point with the lowest mean validation metric over seeds.

    ``rows``: (stage-0 arm index, hyperparameters, summary or None) of every stage-0 run.
    A diverged or missing run counts as +inf, so a point that diverged on any seed loses
    to one that never did. Only validation numbers are read: test loss plays no part.
    """
    assert spec.study is not None and spec.study.kind == "tuning"
    st = stage(spec, 0)
    metric = spec.study.select_on
    scores: dict[int, list[float]] = {}
    for arm, _hp, summary in rows:
        v = (summary or {}).get(metric)
        bad = v is None or (summary or {}).get("diverged") or not math.isfinite(float(v))
        scores.setdefault(arm, []).append(math.inf if bad else float(v))
    out: dict[int, dict[str, float]] = {}
    for a, user_arm in enumerate(st.base_arm):
        mean = sum(scores.get(a, [math.inf])) / max(1, len(scores.get(a, [])))
        points = grid_points(spec, spec.arms[user_arm])
        point = points[a - st.base_arm.index(user_arm)]
        best = out.get(user_arm)
        if best is None or mean < best["_score"]:
            out[user_arm] = point | {"_score": mean}
    return {a: {k: v for k, v in p.items() if k != "_score"} for a, p in out.items()}


def effective_batch_size(spec: ComparisonSpec, run: RunPlan) -> int:
    """The batch size a run trains with, against the rows it trains on (a cross-validation
    fold trains on train + validation minus its fold, not on the training split)."""
    n_train = run_train_size(spec, spec.task.split_sizes()[0])
    return n_train if run.batch_size <= 0 else min(run.batch_size, n_train)


def plan_cohorts(spec: ComparisonSpec, max_runs: int | None = None,
                 max_examples: int | None = None) -> list[list[int]]:
    """Run indices grouped by batch size, SAM and steps (runs of a group train stacked), in
    chunks of at most ``max_runs`` runs and, with ``max_examples``, at most that many examples
    per step (always at least one run). Full-batch groups thus split into small shards: a stack
    of (K, n, width) activations that outgrows the caches is slower per run than several
    small ones, and small shards spread over the workers. Arm-major order keeps each arm's
    runs in contiguous rows."""
    groups: dict[tuple[int, bool, int], list[int]] = {}
    for r in spec.runs():
        # SAM arms train apart: their cohort takes two passes a step, the others one. A cohort
        # trains one number of steps (an arm's steps_factor changes its runs').
        sam = spec.arms[r.arm].sam is not None
        groups.setdefault((effective_batch_size(spec, r), sam, run_steps(spec, r)), []).append(r.index)
    out = []
    for (bs, _, _), runs in groups.items():
        size = max_runs or len(runs)
        if max_examples:
            size = max(1, min(size, max_examples // bs))
        out += [runs[i:i + size] for i in range(0, len(runs), size)]
    return out
