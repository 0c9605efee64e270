"""The notes' experiment reproduces: Adam fits best, then Momentum, then SGD."""

from engine import compare, preset


def test_seed_wave_orders_adam_momentum_sgd_for_five_seeds():
    spec = preset("seed-wave", {"seeds": [0, 1, 2, 3, 4], "train": {"log_every": 100, "eval_every": 2000}})
    assert spec.train.steps == 10_000 and spec.train.batch_size == 64
    runs = compare(spec).values()
    for seed in range(5):
        mse = {r.label: r.summary["full_data_loss"] for r in runs if r.seed == seed}
        assert mse["Adam"] < mse["Momentum"] < mse["SGD"], (seed, mse)
