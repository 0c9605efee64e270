"""The search study's proposals (engine/search.py), its pruning (engine/search_pruning.py) and
its validation (engine/search_space.py)."""

from __future__ import annotations

import math
import random
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from pydantic import ValidationError

from engine.optimizer_defs import HParam, OptimizerDef
from engine.registry import REGISTRY
from engine.search import (
    ReplayError,
    TrialResult,
    arm_seed,
    distributions,
    importances,
    propose,
    sampler,
)
from engine.search_pruning import arm_budget, cohort_rungs, rung_steps, to_stop
from engine.search_space import SearchStudy, check_spaces

ADAM = REGISTRY["adam"]
# An optimizer with an integer and a boolean hyperparameter, as a plugin may declare them.
WIDGET = OptimizerDef("widget", "Widget", "Widget", (
    HParam("lr", 1e-3, 0.0, None, low_open=True), HParam("period", 5, 1, 100), HParam("centered", False),
), vectorized=False, plugin=True)

RANGES = {"lr": {"low": 1e-5, "high": 1e-1, "log": True}, "beta1": {"low": 0.5, "high": 0.99},
          "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True}}
MIXED = RANGES | {"beta2": {"choices": [0.99, 0.999]}}


def search(sampler_name: str = "tpe", space: dict | None = None, **kw: Any) -> SearchStudy:
    default = RANGES if sampler_name == "cmaes" else MIXED
    spaces = {"adam": default if space is None else space}
    return SearchStudy.model_validate({"kind": "search", "spaces": spaces, "trials": 32, "batch": 8,
                                       "sampler": sampler_name, "seed": 7} | kw)


def loss(params: dict[str, Any]) -> float:
    """A validation loss with a minimum at lr = 1e-3, a little worse for large beta1."""
    return (math.log10(params["lr"]) + 3) ** 2 + 0.1 * params["beta1"]


def outcome(number: int, params: dict[str, Any]) -> TrialResult:
    """What a cohort reports: a loss at step 10 for all, then every fourth trial pruned, one
    trial diverged (NaN) and one crashed, the rest complete."""
    final = loss(params)
    rungs = {10: final + 1.0}
    if number % 4 == 1:
        return TrialResult(number, params, "pruned", None, rungs)
    if number == 6:
        return TrialResult(number, params, "complete", math.nan, rungs)
    if number == 10:
        return TrialResult(number, params, "failed", None, rungs)
    return TrialResult(number, params, "complete", final, rungs)


def kept_alive(study: SearchStudy, arm: str, cohorts: int) -> list[list[dict[str, Any]]]:
    """The reference: one Optuna study kept in memory across the cohorts, asked and told as a
    live search would, with Optuna's own calls."""
    s = optuna.create_study(sampler=sampler(study.sampler, arm_seed(study.seed, arm)))
    dists = distributions(study.spaces[arm], ADAM)
    asked_per_cohort = []
    for c in study.cohorts()[:cohorts]:
        asked = [s.ask(dists) for _ in c]
        asked_per_cohort.append([t.params for t in asked])
        for t in asked:
            r = outcome(t.number, t.params)
            t.report(r.rung_losses[10], 10)
            if r.state == "pruned":
                s.tell(t, state=TrialState.PRUNED)
            elif r.state == "failed":
                s.tell(t, state=TrialState.FAIL)
            else:
                s.tell(t, math.inf if math.isnan(r.value) else r.value)
    return asked_per_cohort


def run_search(study: SearchStudy, arm: str = "adam", optimizer: OptimizerDef = ADAM) -> list[TrialResult]:
    """Every cohort proposed from the stored results alone, as a worker restarted after each would."""
    history: list[TrialResult] = []
    while batch := propose(study, arm, optimizer, history):
        history += [outcome(p.number, p.params) for p in batch]
    return history


@pytest.mark.parametrize("kind", ["random", "sobol", "tpe", "cmaes"])
def test_a_resumed_search_proposes_what_a_search_kept_alive_would(kind: str) -> None:
    study = search(kind)
    reference = kept_alive(study, "adam", 4)
    history: list[TrialResult] = []
    for cohort in reference:
        proposed = propose(study, "adam", ADAM, history)
        assert [p.params for p in proposed] == cohort
        assert [p.number for p in proposed] == list(range(len(history), len(history) + 8))
        history += [outcome(p.number, p.params) for p in proposed]
    assert len(history) == 32 and propose(study, "adam", ADAM, history) == []


@pytest.mark.parametrize("kind", ["random", "sobol", "tpe", "cmaes"])
def test_proposals_are_reproducible_from_the_seed(kind: str) -> None:
    first = run_search(search(kind))
    assert run_search(search(kind)) == first
    assert run_search(search(kind, seed=8)) != first


def test_arms_draw_different_streams_each_reproducible() -> None:
    study = SearchStudy.model_validate({"kind": "search", "spaces": {"adam": MIXED, "adam-b": MIXED},
                                        "trials": 16, "batch": 8, "seed": 3})
    a, b = (propose(study, arm, ADAM, []) for arm in ("adam", "adam-b"))
    assert [p.params for p in a] != [p.params for p in b]
    assert propose(study, "adam-b", ADAM, []) == b


@pytest.mark.parametrize("kind", ["random", "sobol", "tpe", "cmaes"])
def test_proposals_fall_inside_the_space_with_the_schemas_types(kind: str) -> None:
    space = {"lr": {"low": 1e-6, "high": 1e-1, "log": True}, "period": {"low": 1, "high": 64, "log": True}}
    if kind != "cmaes":
        space["centered"] = {"choices": [True, False]}
    study = SearchStudy.model_validate({"kind": "search", "spaces": {"w": space}, "trials": 64,
                                        "batch": 16, "sampler": kind})
    history: list[TrialResult] = []
    while batch := propose(study, "w", WIDGET, history):
        history += [TrialResult(p.number, p.params, "complete", p.params["lr"] * p.params["period"])
                    for p in batch]
    lrs = [r.params["lr"] for r in history]
    assert all(1e-6 <= x <= 1e-1 for x in lrs)
    # Log-uniform: about a fifth of the draws below 1e-5; uniform would put 0.01% there.
    assert sum(x < 1e-5 for x in lrs) >= 3
    assert all(type(r.params["period"]) is int and 1 <= r.params["period"] <= 64 for r in history)
    if kind != "cmaes":
        assert {r.params["centered"] for r in history} == {True, False}


def test_a_history_from_another_search_is_refused_not_continued() -> None:
    history = run_search(search("tpe"))[:16]
    with pytest.raises(ReplayError, match="trial 0"):
        propose(search("tpe", seed=8), "adam", ADAM, history)
    with pytest.raises(ValueError, match="inside a cohort"):
        propose(search("tpe"), "adam", ADAM, history[:12])


def test_successive_halving_keeps_the_best_third_at_each_rung() -> None:
    pruner = search(pruner={"kind": "successive_halving"}, batch=9).pruner
    assert rung_steps(pruner, 900) == (100, 300)
    losses = {n: float(n) for n in range(9)} | {2: math.nan, 0: math.inf}
    stopped = to_stop(pruner, losses)
    assert sorted(set(losses) - stopped) == [1, 3, 4]  # the three lowest; NaN and inf rank last
    assert to_stop(pruner, {1: 0.5, 3: 0.2, 4: 0.9}) == {1, 4}
    assert to_stop(pruner, {n: 1.0 for n in range(8)}) == {2, 3, 4, 5, 6, 7}  # 8 // 3 go on


def test_hyperband_cohorts_take_turns_through_the_brackets() -> None:
    pruner = search(pruner={"kind": "hyperband"}).pruner
    assert [cohort_rungs(pruner, c, 900) for c in range(4)] == [(100, 300), (300,), (), (100, 300)]


@pytest.mark.parametrize("kind", ["successive_halving", "hyperband"])
def test_every_arm_spends_the_same_budget_whatever_its_losses(kind: str) -> None:
    study = search(pruner={"kind": kind}, trials=30)  # cohorts of 8, 8, 8 and 6
    steps, spent = 900, []
    for arm_seed_ in (0, 1):
        rng, total = random.Random(arm_seed_), 0
        for c, numbers in enumerate(study.cohorts()):
            running, done = set(numbers), 0
            for rung in cohort_rungs(study.pruner, c, steps):
                total += len(running) * (rung - done)
                running -= to_stop(study.pruner, {n: rng.random() for n in running})
                done = rung
            total += len(running) * (steps - done)
        spent.append(total)
    budget = arm_budget(study, steps, examples_per_step=32)
    assert spent == [budget.steps, budget.steps] and budget.examples == 32 * budget.steps
    assert budget.steps < 30 * steps == arm_budget(search(trials=30), steps, 32).steps


def test_importance_is_deterministic_and_ranks_the_parameter_that_matters_first() -> None:
    study = search("random", space=RANGES, trials=48)
    rng = random.Random(0)
    history = []
    for n in range(48):  # points spread over the space; the loss depends on lr alone (and noise)
        p = {"lr": 10 ** rng.uniform(-5, -1), "beta1": rng.uniform(0.5, 0.99),
             "weight_decay": 10 ** rng.uniform(-6, -2)}
        history.append(TrialResult(n, p, "complete", (math.log10(p["lr"]) + 3) ** 2 + 0.01 * rng.random()))
    first = importances(study, "adam", ADAM, history)
    assert importances(study, "adam", ADAM, history) == first
    assert set(first) == {"lr", "beta1", "weight_decay"} and math.isclose(sum(first.values()), 1.0)
    assert first["lr"] > 0.8 and first["lr"] > 5 * max(first["beta1"], first["weight_decay"])


def _loc(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[Any, ...]:
    return exc.value.errors()[0]["loc"]


@pytest.mark.parametrize(("space", "loc"), [
    ({"lr": {"low": 1e-3, "high": 1e-3}}, ("spaces", "adam", "lr", "high")),  # empty
    ({"lr": {"low": 1e-1, "high": 1e-3}}, ("spaces", "adam", "lr", "high")),  # inverted
    ({"weight_decay": {"low": 0.0, "high": 1e-2, "log": True}}, ("spaces", "adam", "weight_decay", "low")),
    ({"lr": {"low": 1e-3}}, ("spaces", "adam", "lr", "high")),
    ({"beta1": {"choices": []}}, ("spaces", "adam", "beta1", "choices")),
    ({"beta1": {"low": 0.5, "high": 0.9, "choices": [0.9]}}, ("spaces", "adam", "beta1", "choices")),
    ({}, ("spaces", "adam")),
])
def test_a_bad_range_is_refused_naming_the_field(space: dict, loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        search(space=space)
    assert _loc(exc) == loc


@pytest.mark.parametrize(("kw", "loc"), [
    ({"trials": 0}, ("trials",)),
    ({"batch": 0}, ("batch",)),
    ({"trials": 4, "batch": 8}, ("batch",)),
    ({"batch": 2, "pruner": {"kind": "hyperband"}}, ("batch",)),
    ({"pruner": {"kind": "successive_halving", "rungs": [0.5, 0.25]}}, ("pruner", "rungs")),
    ({"pruner": {"kind": "successive_halving", "rungs": [0.5, 1.0]}}, ("pruner", "rungs", 1)),
    ({"sampler": "cmaes", "spaces": {"adam": MIXED}}, ("spaces", "adam", "beta2", "choices")),
    ({"sampler": "grid"}, ("sampler",)),
    ({"test_seeds": [1, 1]}, ("test_seeds",)),
])
def test_bad_settings_are_refused_naming_the_field(kw: dict, loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        search(**kw)
    assert _loc(exc) == loc


@pytest.mark.parametrize(("space", "optimizer", "loc", "says"), [
    ({"momentum": {"low": 0.1, "high": 0.9}}, ADAM, ("spaces", "adam", "momentum"), "no hyperparameter"),
    ({"beta1": {"low": 0.5, "high": 1.0}}, ADAM, ("spaces", "adam", "beta1", "high"), "[0, 1)"),
    ({"beta2": {"choices": [0.9, 1.5]}}, ADAM, ("spaces", "adam", "beta2", "choices", 1), "[0, 1)"),
    ({"period": {"low": 1.5, "high": 8}}, WIDGET, ("spaces", "adam", "period", "low"), "int"),
    ({"centered": {"low": 0, "high": 1}}, WIDGET, ("spaces", "adam", "centered", "low"), "choices"),
    ({"centered": {"choices": [0, 1]}}, WIDGET, ("spaces", "adam", "centered", "choices", 0), "bool"),
])
def test_a_space_that_does_not_fit_the_optimizer_is_refused_naming_the_field(
        space: dict, optimizer: OptimizerDef, loc: tuple[Any, ...], says: str) -> None:
    with pytest.raises(ValidationError) as exc:
        check_spaces(search(space=space), {"adam": optimizer})
    assert _loc(exc) == loc and says in exc.value.errors()[0]["msg"]


def test_every_arm_needs_a_space_and_every_space_an_arm() -> None:
    study = search()
    check_spaces(study, {"adam": ADAM})
    with pytest.raises(ValidationError) as exc:
        check_spaces(study, {"adam": ADAM, "sgd": REGISTRY["sgd"]})
    assert _loc(exc) == ("spaces",) and "sgd" in exc.value.errors()[0]["msg"]
    with pytest.raises(ValidationError) as exc:
        check_spaces(search(spaces={"adam": RANGES, "Adam (tuned)": RANGES}), {"adam": ADAM})
    assert _loc(exc) == ("spaces", "Adam (tuned)")
