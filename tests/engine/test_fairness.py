"""Fairness contract: same seed -> bit-identical initial weights and identical batches."""

import torch

from engine import compare
from engine.runner import make_cohort
from engine.spec import ComparisonSpec
from tests.engine.conftest import small_wave


def _spec() -> ComparisonSpec:
    d = small_wave(steps=20, eval_every=20)
    d["arms"] = [
        {"optimizer": "sgd", "lr": 1e-2},
        {"optimizer": "adam", "lr": 1e-2},
        {"optimizer": "rmsprop", "lr": 1e-3},
        {"optimizer": "adam", "lr": 1e-2, "batch_size": 32, "label": "Adam bs32"},
    ]
    d["seeds"] = [3, 4]
    return ComparisonSpec.model_validate(d)


def test_hashes_equal_within_a_seed_and_differ_across_seeds():
    runs = compare(_spec()).values()
    by_seed = {s: [r for r in runs if r.seed == s] for s in (3, 4)}
    for rs in by_seed.values():
        assert len({r.init_hash for r in rs}) == 1
        same_bs = [r for r in rs if r.batch_size == 64]
        assert len(same_bs) == 3 and len({r.batch_hash for r in same_bs}) == 1
        other = next(r for r in rs if r.batch_size == 32)
        assert other.batch_hash != same_bs[0].batch_hash
    assert by_seed[3][0].init_hash != by_seed[4][0].init_hash
    assert by_seed[3][0].batch_hash != by_seed[4][0].batch_hash


def test_stacked_rows_start_bit_identical_and_read_the_same_batches():
    spec = _spec()
    seed3 = [r.index for r in spec.runs() if r.seed == 3 and r.batch_size is not None][:3]
    cohort = make_cohort(spec, seed3)
    assert all(torch.equal(cohort.P[0], cohort.P[k]) for k in range(1, 3))
    for step in (0, 1, 30, 200):  # across an epoch boundary (1,600 / 64 = 25 steps)
        x, _ = cohort.batches.at(step)
        assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])
    assert not torch.equal(cohort.batches.at(0)[0][0], cohort.batches.at(1)[0][0])
