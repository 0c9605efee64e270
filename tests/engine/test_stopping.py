"""Divergence stays in its run; early stopping stops a run at the right evaluation."""

import math

from engine import compare
from engine.spec import ComparisonSpec
from tests.engine.conftest import small_wave


def _with_arms(arms, **train) -> ComparisonSpec:
    d = small_wave(**train)
    d["arms"], d["seeds"] = arms, [0, 1]
    return ComparisonSpec.model_validate(d)


def test_a_diverging_run_stops_and_leaves_the_others_untouched():
    good = [{"optimizer": "adam", "lr": 1e-2}, {"optimizer": "sgd", "lr": 1e-2}]
    bad = {"optimizer": "sgd", "lr": 1e3, "label": "SGD lr 1e3"}
    alone = compare(_with_arms(good, steps=200))
    mixed = compare(_with_arms([good[0], bad, good[1]], steps=200))
    diverged = [r for r in mixed.values() if r.label == "SGD lr 1e3"]
    for r in diverged:
        assert r.summary["diverged"] and r.summary["stopped"] == "diverged"
        steps, values = r.curves["train_loss"]
        assert steps[-1] < 200 and not math.isfinite(values[-1])
        assert all(math.isfinite(v) for v in values[:-1])
    by_key = {(r.label, r.seed): r for r in mixed.values()}
    for r in alone.values():
        other = by_key[(r.label, r.seed)]
        assert not other.summary["diverged"]
        assert other.curves["train_loss"] == r.curves["train_loss"]


def test_early_stopping_stops_at_patience():
    spec = _with_arms([{"optimizer": "adam", "lr": 1e-2}], steps=400, eval_every=50,
                      early_stopping={"patience": 2, "min_delta": 10.0})
    for r in compare(spec).values():
        # The first evaluation improves on +inf; the next two cannot beat it by 10.
        assert r.summary["stopped"] == "early_stopped"
        assert r.summary["steps_trained"] == 150
        assert r.curves["train_loss"][0][-1] <= 150
