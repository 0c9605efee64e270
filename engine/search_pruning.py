"""Which trials of a cohort go on at each rung of a search, and what an arm's search costs.

A cohort's trials train side by side, so they all reach a rung at the same step. There the
best ``max(1, n // reduction_factor)`` of the ``n`` still running go on (lowest validation
loss; NaN and inf rank last, ties go to the lower trial number) and the others stop.

- successive_halving: every cohort is pruned at every rung.
- hyperband: the cohorts take turns through the brackets: cohort ``c`` is pruned only from
  rung ``c mod (R + 1)`` on, of the ``R`` rungs, so one cohort in ``R + 1`` trains fully. This
  is Hyperband's hedge against rungs that come too early, with one cohort per bracket rather
  than a different number of trials in each (a cohort's size is ``batch``).

Why not Optuna's SuccessiveHalvingPruner or HyperbandPruner: they decide one trial at a time,
as its report arrives, against the reports that arrived before it (asynchronous halving). In a
cohort the decision would then depend on the order in which the reports are read, and how many
go on would depend on every earlier trial's values, so arms would spend different compute,
against the fairness rule. Here the counts depend on the cohort's size alone: every arm spends
exactly ``arm_budget`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from engine.design import Stage, search_trial
from engine.search_space import Pruner, SearchStudy


def rung_steps(pruner: Pruner, steps: int) -> tuple[int, ...]:
    """The step of each rung, ``round(fraction * steps)``; a rung that would fall on step 0, on
    the last step or on the step of the rung before it is dropped (short runs have fewer)."""
    out: list[int] = []
    for fraction in pruner.rungs:
        step = round(fraction * steps)
        if 0 < step < steps and (not out or step > out[-1]):
            out.append(step)
    return tuple(out)


def cohort_rungs(pruner: Pruner, cohort: int, steps: int) -> tuple[int, ...]:
    """The steps at which cohort number ``cohort`` (0, 1, ...) is pruned."""
    if pruner.kind == "none":
        return ()
    rungs = rung_steps(pruner, steps)
    if pruner.kind == "hyperband":
        return rungs[cohort % (len(rungs) + 1):]
    return rungs


def survivors(pruner: Pruner, running: int) -> int:
    """How many of ``running`` trials go on past a rung."""
    return max(1, running // pruner.reduction_factor)


def to_stop(pruner: Pruner, losses: Mapping[int, float]) -> set[int]:
    """The trials to stop at a rung, given the validation loss of each one still running
    (trial number -> loss)."""
    ranked = sorted(losses, key=lambda n: (_worst_last(losses[n]), n))
    return set(ranked[survivors(pruner, len(ranked)):])


def _worst_last(loss: float) -> float:
    return loss if math.isfinite(loss) else math.inf


@dataclass(frozen=True)
class Budget:
    """What one arm's search trains: optimizer steps over all its trials, and the examples
    those steps read."""

    steps: int
    examples: int


def cohort_steps(pruner: Pruner, cohort: int, size: int, steps: int) -> int:
    """Steps a cohort of ``size`` trials trains in all, its pruned trials up to their rung."""
    running, done, spent = size, 0, 0
    for rung in cohort_rungs(pruner, cohort, steps):
        spent += running * (rung - done)
        running, done = survivors(pruner, running), rung
    return spent + running * (steps - done)


def arm_budget(study: SearchStudy, steps: int, examples_per_step: int) -> Budget:
    """One arm's compute: the same for every arm that trains ``steps`` steps of
    ``examples_per_step`` examples, whatever its losses."""
    cohorts = enumerate(study.cohorts())
    total = sum(cohort_steps(study.pruner, c, len(numbers), steps) for c, numbers in cohorts)
    return Budget(steps=total, examples=total * examples_per_step)


@dataclass(frozen=True)
class CohortPruning:
    """What the trainer needs to prune one search cohort: its pruner, its number (hyperband's
    brackets take turns by it), and the trial behind each of the stage's arms, as (the job's
    arm, trial number). Trials compete within their arm only, so every arm spends
    ``arm_budget``."""

    pruner: Pruner
    cohort: int
    trial_of: tuple[tuple[int, int], ...]

    def rungs(self, steps: int) -> tuple[int, ...]:
        return cohort_rungs(self.pruner, self.cohort, steps)

    def to_stop(self, losses: Mapping[tuple[int, int], float]) -> set[tuple[int, int]]:
        """The trials (arm, number) to stop at a rung, given the mean validation loss of every
        trial still running."""
        out: set[tuple[int, int]] = set()
        for arm in {a for a, _ in losses}:
            mine = {n: v for (a, n), v in losses.items() if a == arm}
            out |= {(arm, n) for n in to_stop(self.pruner, mine)}
        return out


def stage_pruning(st: Stage) -> CohortPruning | None:
    """The pruning of search stage ``st``; None for other stages, or without a pruner."""
    study = st.spec.study
    if study is None or study.kind != "search" or study.pruner.kind == "none" \
            or st.index >= len(study.cohorts()):
        return None
    return CohortPruning(study.pruner, st.index, tuple(search_trial(st.spec, st.index, i)
                                                       for i in range(len(st.spec.arms))))
