"""Dropout inside a model trained through torch.func follows the common-random-numbers policy
of engine/regularizers.py: masks are drawn per seed, layer and step, so the arms of a seed see
the same masks, a run's masks do not depend on which runs share its cohort, and a resumed run
redraws exactly what it drew before."""

from __future__ import annotations

import pytest
import torch

from engine.regularizers import dropout_masks
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec

NET = {"kind": "module", "model": "transformer",
       "config": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16, "dropout": 0.2}}


def _spec(dropout: float = 0.2) -> ComparisonSpec:
    net = NET | {"config": NET["config"] | {"dropout": dropout}}
    return ComparisonSpec.model_validate({
        "task": {"name": "tokens", "n": 300}, "net": net, "seeds": [0, 1],
        # two arms with one optimizer and rate: they differ in nothing but their label
        "arms": [{"optimizer": "sgd", "lr": 0.05, "label": "A"},
                 {"optimizer": "sgd", "lr": 0.05, "label": "B"}, {"optimizer": "adam", "lr": 1e-3}],
        "train": {"steps": 60, "batch_size": 16, "eval_every": 30, "dtype": "float64"}})


def _curves(spec: ComparisonSpec, runs: list[int], until: int | None = None) -> dict[int, list[float]]:
    got = Collector()
    make_cohort(spec, runs).train(got, until=until)
    return {r: got.runs[r].curves["train_loss"][1] for r in runs}


def test_the_arms_of_a_seed_share_their_masks_and_seeds_draw_their_own() -> None:
    spec = _spec()
    runs = spec.runs()
    curves = _curves(spec, list(range(len(runs))))
    a = {r.seed: curves[r.index] for r in runs if r.arm == 0}
    b = {r.seed: curves[r.index] for r in runs if r.arm == 1}
    assert a[0] == b[0] and a[1] == b[1]  # same optimizer, same masks: the same run, bit for bit
    assert a[0] != a[1]
    plain = _curves(_spec(0.0), [0])[0]
    assert plain != a[0]  # the masks are applied in training


def test_a_runs_masks_do_not_depend_on_its_cohort_and_resume_redraws_them() -> None:
    spec = _spec()
    everyone = _curves(spec, list(range(len(spec.runs()))))
    alone = _curves(spec, [3])[3]  # seed 1 of arm B, trained by itself
    assert alone == pytest.approx(everyone[3], rel=1e-12, abs=0)
    whole = make_cohort(spec, [0, 3])
    first = make_cohort(spec, [0, 3])
    first.train(Collector(), until=25)
    resumed = make_cohort(spec, [0, 3])
    resumed.load_state_bytes(first.state_bytes())
    a, b = Collector(), Collector()
    whole.train(a)
    resumed.train(b)
    assert a.runs[3].curves["train_loss"][1][25:] == b.runs[3].curves["train_loss"][1]
    assert a.runs[3].summary["final_val_loss"] == b.runs[3].summary["final_val_loss"]


def test_masks_drop_the_asked_fraction_and_scale_the_kept_units() -> None:
    [mask] = dropout_masks([0], torch.tensor([0]), 64, 7, [((64, 16, 32), 0.2)], torch.float64)
    kept = (mask > 0).double().mean().item()
    # 32,768 draws: the kept fraction's standard deviation is sqrt(0.2 * 0.8 / 32768) = 0.0022
    assert abs(kept - 0.8) < 5 * 0.0022
    assert set(mask.unique().tolist()) == {0.0, 1 / 0.8}
