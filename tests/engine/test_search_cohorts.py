"""A search trained as the service trains it (engine/runner.run_study): cohorts of proposed
trials, pruned at the rungs inside the cohort, within the planned budget of every arm, and a
pruned cohort resumed from a checkpoint decides as an uninterrupted one does."""

from __future__ import annotations

from typing import Any

import pytest

from engine.design import stage
from engine.runner import Collector, make_cohort, run_study
from engine.search_plan import first_state, proposals_of
from engine.search_pruning import cohort_steps, stage_pruning
from engine.spec import ComparisonSpec

STEPS, RUNGS = 200, (40, 100)


def _spec(**study: Any) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "task": {"name": "wave", "n": 400}, "net": {"hidden": [8]}, "seeds": [0],
        "arms": [{"optimizer": "sgd"}, {"optimizer": "adam"}],
        "train": {"steps": STEPS, "batch_size": 32, "eval_every": 50},
        "study": {"kind": "search", "trials": 9, "batch": 9, "sampler": "random", "seed": 3,
                  "test_seeds": [10],
                  # SGD's range reaches rates that diverge: a diverged trial must lose its rung.
                  "spaces": {"SGD": {"lr": {"low": 1e-3, "high": 20.0, "log": True}},
                             "Adam": {"lr": {"low": 1e-4, "high": 0.3, "log": True}}},
                  "pruner": {"kind": "successive_halving", "rungs": [r / STEPS for r in RUNGS],
                             "reduction_factor": 3}} | study})


def test_rungs_stop_the_poorer_trials_of_each_arm_within_its_planned_budget() -> None:
    spec = _spec()
    results, state = run_study(spec)
    planned = cohort_steps(spec.study.pruner, 0, 9, STEPS)
    assert planned == 9 * 40 + 3 * 60 + 1 * 100
    for a, label in enumerate(("SGD", "Adam")):
        mine = {int(r.label.split("#")[1]): r.summary for r in results.values()
                if r.label.startswith(f"{label} #")}
        trials = list(mine.values())
        assert sorted(mine) == list(range(9))
        assert sum(s["steps_trained"] for s in trials) <= planned
        full = [n for n, s in mine.items() if s["steps_trained"] == STEPS]
        assert len(full) == 1 and not mine[full[0]]["diverged"]  # one trial of nine trains to the end
        best = mine[full[0]]["rung_val_losses"]
        for n, s in mine.items():  # each trial stopped at a rung lost there to the one that went on
            if s["stopped"] == "pruned":
                rung = str(s["steps_trained"])
                assert s["rung_val_losses"][rung] is None or s["rung_val_losses"][rung] >= best[rung], n
        # Its best trial is the one that trained to the end; it is re-run on the fresh seed.
        assert state["chosen"][str(a)] == state["proposals"]["0"][str(a)][full[0]]
    diverged = [r for r in results.values() if r.summary["diverged"]]
    assert diverged, "the SGD range is meant to hold diverging rates"


@pytest.mark.parametrize("stop_at", [30, 70, 150])
def test_a_resumed_cohort_prunes_as_an_uninterrupted_one(stop_at: int) -> None:
    spec = _spec()
    st = stage(spec, 0, proposals=proposals_of(first_state(spec), 0))
    runs = list(range(st.n_runs))
    whole = Collector()
    make_cohort(st.spec, runs, pruning=stage_pruning(st)).train(whole)
    first, before = make_cohort(st.spec, runs, pruning=stage_pruning(st)), Collector()
    first.train(before, until=stop_at)
    resumed = make_cohort(st.spec, runs, pruning=stage_pruning(st))
    resumed.load_state_bytes(first.state_bytes())
    rest = Collector()
    resumed.train(rest)
    for r in runs:  # a run pruned before the checkpoint finished then, and is not trained again
        a = whole.runs[r].summary
        b = (rest.runs[r] if r in rest.runs and rest.runs[r].summary else before.runs[r]).summary
        assert (a["stopped"], a["steps_trained"], a.get("rung_val_losses")) == \
            (b["stopped"], b["steps_trained"], b.get("rung_val_losses")), r
        assert a["final_val_loss"] == b["final_val_loss"] or a["diverged"]


def test_pruned_rows_leave_the_cohort_and_the_survivor_ends_as_it_would_alone() -> None:
    spec = _spec(trials=9, batch=9)
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"dtype": "float64"})})
    st = stage(spec, 0, proposals=proposals_of(first_state(spec), 0))
    cohort = make_cohort(st.spec, list(range(st.n_runs)), pruning=stage_pruning(st))
    finished_at: dict[int, int] = {}

    def watch(ev: Any) -> None:
        if type(ev).__name__ == "RunFinished":
            finished_at[ev.run] = cohort.step

    got = Collector(watch)
    cohort.train(got)
    # After the last rung only the two survivors (one per arm) are left in the cohort's rows.
    assert cohort.K == 2 and cohort.P.shape[0] == 2
    pruned = [r for r, x in got.runs.items() if x.summary["stopped"] == "pruned"]
    assert pruned and all(finished_at[r] == got.runs[r].summary["steps_trained"] for r in pruned)
    for r in (x.run for x in got.runs.values() if x.summary["steps_trained"] == STEPS):
        alone = Collector()
        make_cohort(st.spec, [r]).train(alone)
        a, b = got.runs[r].summary["final_val_loss"], alone.runs[r].summary["final_val_loss"]
        assert a == pytest.approx(b, rel=1e-12, abs=0), (r, a, b)


# Catalogue classes whose state the rows carry when they leave: elementwise (Lion, RAdam),
# per-tensor over every run's views (LAMB, Muon's two group kinds), group counters
# (schedule-free), a wrapper's own state (Lookahead); and a regularized cohort's streams.
CATALOGUE_ARMS = {
    "elementwise": [{"optimizer": "lion", "label": "A"}, {"optimizer": "radam", "label": "B"}],
    "per_tensor": [{"optimizer": "lamb", "label": "A"}, {"optimizer": "muon", "label": "B"}],
    "counters": [{"optimizer": "adamw_schedulefree", "label": "A"},
                 {"optimizer": "adam", "lookahead": {"k": 3}, "label": "B"}],
}


def _catalogue_spec(arms: list[dict[str, Any]], **extra: Any) -> ComparisonSpec:
    spec = _spec()
    space = {"lr": {"low": 1e-4, "high": 0.1, "log": True}}
    return ComparisonSpec.model_validate(spec.model_dump(exclude_none=True) | {
        "arms": arms, "train": spec.train.model_dump(exclude_none=True) | {"dtype": "float64"},
        "study": spec.study.model_dump(exclude_none=True) | {"spaces": {"A": space, "B": space}}} | extra)


@pytest.mark.parametrize("kind", ["elementwise", "per_tensor", "counters", "regularized"])
def test_catalogue_rows_leave_with_their_state(kind: str) -> None:
    extra = {"regularization": {"input_noise": 0.1, "l2": 1e-3}} if kind == "regularized" else {}
    spec = _catalogue_spec(CATALOGUE_ARMS.get(kind, CATALOGUE_ARMS["per_tensor"]), **extra)
    st = stage(spec, 0, proposals=proposals_of(first_state(spec), 0))
    cohort = make_cohort(st.spec, list(range(st.n_runs)), pruning=stage_pruning(st))
    got = Collector()
    cohort.train(got)
    assert cohort.K == 2 and cohort.P.shape[0] == 2  # one survivor per arm trained the last third
    survivors = [x.run for x in got.runs.values() if x.summary["steps_trained"] == STEPS]
    assert len(survivors) == 2
    for r in survivors:
        alone = Collector()
        make_cohort(st.spec, [r]).train(alone)
        a, b = got.runs[r].summary["final_val_loss"], alone.runs[r].summary["final_val_loss"]
        assert a == pytest.approx(b, rel=1e-12, abs=0), (kind, r, a, b)


@pytest.mark.parametrize("stop_at", [70, 150])
def test_a_resumed_catalogue_cohort_after_a_rung_ends_as_an_uninterrupted_one(stop_at: int) -> None:
    spec = _catalogue_spec(CATALOGUE_ARMS["counters"])
    st = stage(spec, 0, proposals=proposals_of(first_state(spec), 0))
    runs = list(range(st.n_runs))
    whole = Collector()
    make_cohort(st.spec, runs, pruning=stage_pruning(st)).train(whole)
    first = make_cohort(st.spec, runs, pruning=stage_pruning(st))
    first.train(Collector(), until=stop_at)
    resumed = make_cohort(st.spec, runs, pruning=stage_pruning(st))
    resumed.load_state_bytes(first.state_bytes())
    rest = Collector()
    resumed.train(rest)
    ended = {r: x.summary["final_val_loss"] for r, x in rest.runs.items()
             if x.summary and x.summary["steps_trained"] == STEPS}
    assert len(ended) == 2 and resumed.K == 2
    assert ended == {r: whole.runs[r].summary["final_val_loss"] for r in ended}
