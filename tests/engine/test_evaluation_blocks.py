"""Evaluation in blocks of runs (engine/trainer.py EVAL_ELEMENTS) gives the numbers of one pass.

A thousand-run cohort evaluated whole would hold gigabytes of activations, so evaluation cuts
the runs into blocks. The cut must not show: every metric equal bit for bit whether a split
goes through in one pass or in blocks of two and three runs, for shared splits, per-run
splits (cross-validation folds) and batch norm's per-run statistics."""

import pytest
import torch

from engine import trainer
from engine.presets import preset
from engine.runner import Collector, make_cohort


def _trained(overrides: dict):
    spec = preset("seed-wave", {"task": {"n": 400}, "seeds": [0, 1, 2],
                                "train": {"steps": 30, "eval_every": 30}, **overrides})
    cohort = make_cohort(spec, list(range(len(spec.runs()))))
    cohort.train(Collector(), until=29)  # trained, not finished: evaluate() is ours to call
    return cohort


@pytest.mark.parametrize("overrides", [
    {},
    {"net": {"hidden": [16, 16], "norm": "batch"}},
    {"study": {"kind": "cross_validation", "folds": 2}},
], ids=["shared", "batch-norm", "folds"])
def test_blocks_of_runs_evaluate_as_one_pass(overrides, monkeypatch):
    cohort = _trained(overrides)
    assert cohort.K >= 9
    splits = [cohort.view.val, cohort.data.test, cohort.view.train]
    whole = [cohort.evaluate(s) for s in splits]
    # Blocks of two runs (a last block of one would merge into the one before it).
    monkeypatch.setattr(trainer, "EVAL_ELEMENTS", 2 * max(s.x.shape[-2] for s in splits) * cohort.net.width)
    for split, expected in zip(splits, whole, strict=True):
        got = cohort.evaluate(split)
        assert got.keys() == expected.keys()
        for m in got:
            assert got[m].shape == (cohort.K,) and torch.equal(got[m], expected[m]), m
