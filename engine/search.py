"""Proposals for a search study: each arm's next cohort of trials, from Optuna's samplers
through ask and tell, and each hyperparameter's importance once trials have finished.

Nothing lives only in memory. ``propose`` rebuilds the arm's Optuna study from the stored
results each time, then asks the next cohort. The rebuild replays the search as it happened:
for each finished cohort, in order, it asks as many trials as the cohort had, checks that
they are the stored ones, and tells the stored outcomes (the losses at the rungs, then
complete, pruned or failed). The sampler then holds exactly what a study kept alive across
those cohorts would hold, and proposes the same next cohort: a killed worker or a restarted
API loses nothing.

Why replay the asks rather than add the stored trials (``create_trial`` + ``add_trial``): a
sampler's state is more than its trials' params and values. The random and TPE samplers draw
from a generator that each ask advances; QMCSampler counts its samples in the study's
attributes and draws its first trial at random; CMA-ES keeps its distribution as a pickle in
the trials' attributes, which the database may not hand back to be unpickled. Replaying the
asks rebuilds all of it from (seed, arm, stored results) alone, with no re-seeding trick. It
costs one ask per stored trial (TPE: about 2 s for 200 trials). Proposals are reproducible
across installs only with the same Optuna (pinned in pyproject.toml); a replay that does not
give back the stored params raises ReplayError rather than continue from another search.

A diverged run is the worst result, not a missing one: a NaN loss is told as inf, so the
samplers learn to avoid its region. "failed" (no result at all) is told as Optuna's FAIL,
which the samplers skip.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.importance import FanovaImportanceEvaluator, get_param_importances
from optuna.trial import TrialState, create_trial

from engine.optimizer_defs import OptimizerDef
from engine.search_space import Distribution, SearchStudy

SamplerName = Literal["random", "sobol", "tpe", "cmaes"]
# Optuna announces every study it creates; a replay creates one per arm and stage.
optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Proposal:
    """A trial to train: its number within the arm (0, 1, ...) and its hyperparameters."""

    number: int
    params: dict[str, Any]


@dataclass(frozen=True)
class TrialResult:
    """A finished trial as stored: its number and params as proposed, its outcome, and its
    validation loss at each rung it reached (step -> loss). ``value`` is the final validation
    loss of a complete trial; None for a pruned or failed one."""

    number: int
    params: Mapping[str, Any]
    state: Literal["complete", "pruned", "failed"]
    value: float | None = None
    rung_losses: Mapping[int, float] = field(default_factory=dict)


class ReplayError(ValueError):
    """The stored history is not what this search (seed, sampler, space, Optuna) proposed."""


def arm_seed(seed: int, arm: str) -> int:
    """The sampler seed of one arm: arms draw independent streams, each reproducible from the
    study's seed and the arm's label (a stable hash: Python's ``hash`` of a str varies by process)."""
    digest = hashlib.sha256(f"{seed}/{arm}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def distributions(space: Mapping[str, Distribution], optimizer: OptimizerDef) -> dict[str, BaseDistribution]:
    """Optuna's distributions for an arm's space (checked by ``check_spaces``), typed as the
    optimizer's schema says. Sorted by name: a sampler draws the names in this order, and a
    space read back from the database (JSONB) need not keep the order it was written in."""
    kinds = {h.name: h.kind for h in optimizer.hparams}
    out: dict[str, BaseDistribution] = {}
    for name in sorted(space):
        d, kind = space[name], kinds[name]
        if d.choices is not None:
            cast = {"bool": bool, "int": int, "float": float}[kind]
            out[name] = CategoricalDistribution(tuple(cast(c) for c in d.choices))
            continue
        assert d.low is not None and d.high is not None  # a range (Distribution checks)
        if kind == "int":
            out[name] = IntDistribution(int(d.low), int(d.high), log=d.log)
        else:
            out[name] = FloatDistribution(d.low, d.high, log=d.log)
    return out


def sampler(kind: SamplerName, seed: int) -> optuna.samplers.BaseSampler:
    """A fresh sampler of each kind. TPE takes the constant liar: while a cohort is asked, its
    trials already asked count as poor results, so one cohort spreads out instead of asking
    near the same point ``batch`` times; its first 10 trials are random (Optuna's default).
    Sobol is scrambled, or the seed would change nothing; Optuna draws its first trial, and any
    choices, at random (it takes the sequence's dimensions from that first trial)."""
    with warnings.catch_warnings():
        # QMCSampler and TPE's constant_liar are marked experimental; their behaviour is pinned.
        warnings.simplefilter("ignore", ExperimentalWarning)
        if kind == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if kind == "sobol":
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed,
                                              warn_independent_sampling=False)
        if kind == "tpe":
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _tell(study: optuna.Study, trial: optuna.Trial, result: TrialResult) -> None:
    """Tell an asked trial its stored outcome, as the cohort reported it."""
    for step, loss in sorted(result.rung_losses.items()):
        trial.report(_finite_or_worst(loss), step)
    if result.state == "complete" and result.value is not None:
        study.tell(trial, _finite_or_worst(result.value))
    elif result.state == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def _finite_or_worst(loss: float) -> float:
    return math.inf if math.isnan(loss) else loss


def rebuild(study: SearchStudy, arm: str, optimizer: OptimizerDef,
            history: Sequence[TrialResult]) -> optuna.Study:
    """The arm's Optuna study after the stored cohorts, replayed ask by ask (module docstring)."""
    dists = distributions(study.spaces[arm], optimizer)
    s = optuna.create_study(direction="minimize", sampler=sampler(study.sampler, arm_seed(study.seed, arm)))
    for cohort in _finished_cohorts(study, history):
        asked = [s.ask(dists) for _ in cohort]
        for trial, result in zip(asked, cohort, strict=True):
            if trial.params != dict(result.params):
                raise ReplayError(
                    f"arm {arm!r} trial {result.number}: stored params {dict(result.params)} are not what "
                    f"this search proposes ({trial.params}); was it stored by another seed, space, "
                    f"sampler or Optuna version?")
            _tell(s, trial, result)
    return s


def _finished_cohorts(study: SearchStudy, history: Sequence[TrialResult]) -> list[list[TrialResult]]:
    """The history split into its cohorts; it must be whole cohorts, numbered from 0 in order."""
    numbers = [r.number for r in history]
    if numbers != list(range(len(history))) or len(history) > study.trials:
        raise ValueError(f"the history must hold trials 0, 1, ... in order, at most {study.trials}; "
                         f"it holds {numbers}")
    cohorts = [list(c) for c in study.cohorts() if c.start < len(history)]
    if cohorts and cohorts[-1][-1] >= len(history):
        raise ValueError(f"the history ends inside a cohort (trials {cohorts[-1][0]}..{cohorts[-1][-1]}); "
                         "a cohort is told only once all its trials have finished")
    return [[history[n] for n in c] for c in cohorts]


def propose(study: SearchStudy, arm: str, optimizer: OptimizerDef,
            history: Sequence[TrialResult]) -> list[Proposal]:
    """The arm's next cohort, given its finished trials: the same list for the same inputs,
    in any process. Empty once the arm has had its ``trials``."""
    if len(history) >= study.trials:
        return []
    s = rebuild(study, arm, optimizer, history)
    dists = distributions(study.spaces[arm], optimizer)
    cohort = next(c for c in study.cohorts() if c.start == len(history))
    return [Proposal(t.number, dict(t.params)) for t in (s.ask(dists) for _ in cohort)]


def importances(study: SearchStudy, arm: str, optimizer: OptimizerDef,
                history: Sequence[TrialResult]) -> dict[str, float]:
    """Each searched hyperparameter's share of the variance of the final validation loss over
    the arm's complete trials with a finite loss (fANOVA on a random forest seeded with the
    study's seed: the same history gives the same numbers), most important first, summing to 1.
    Needs at least two such trials."""
    dists = distributions(study.spaces[arm], optimizer)
    s = optuna.create_study(direction="minimize")
    for r in history:
        if r.state == "complete" and r.value is not None and math.isfinite(r.value):
            s.add_trial(create_trial(params=dict(r.params), distributions=dists, value=r.value))
    if len(s.trials) < 2:
        raise ValueError(f"arm {arm!r} has {len(s.trials)} complete trials; importances need 2 or more")
    return get_param_importances(s, evaluator=FanovaImportanceEvaluator(seed=study.seed))


def write_journal(study: SearchStudy, name: str,
                  arms: Sequence[tuple[str, OptimizerDef, Sequence[TrialResult]]], path: str) -> None:
    """The finished trials of each arm as an Optuna study ``"<name> <arm>"`` in a journal file
    at ``path`` (Optuna's JournalFileBackend), which ``optuna-dashboard <path>`` opens."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(path))
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
    for label, optimizer, trials in arms:
        s = optuna.create_study(storage=storage, study_name=f"{name} {label}", direction="minimize")
        s.set_user_attr("sampler", study.sampler)
        s.set_user_attr("pruner", study.pruner.kind)
        dists = distributions(study.spaces[label], optimizer)
        for r in trials:
            complete = r.state == "complete" and r.value is not None
            s.add_trial(create_trial(
                params=dict(r.params), distributions=dists, state=states[r.state],
                value=_finite_or_worst(r.value) if complete else None,
                intermediate_values={step: v for step, v in r.rung_losses.items() if math.isfinite(v)},
                user_attrs={"number": r.number}))
