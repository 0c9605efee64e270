"""The vectorized trainer computes what one nn.Module + torch.optim per run computes."""

import pytest
import torch

from engine import compare
from engine.reference import train_sequential


@pytest.mark.parametrize(
    ("dtype", "steps", "seeds", "tol"),
    [("float64", 500, (0,), 1e-10), ("float32", 200, (0, 1), 1e-5)],
)
def test_vectorized_matches_sequential_for_every_optimizer(all_arms_spec, dtype, steps, seeds, tol):
    spec = all_arms_spec(dtype, steps, seeds)
    expected = train_sequential(spec)
    got = compare(spec)
    for run, result in got.items():
        steps_logged, values = result.curves["train_loss"]
        assert steps_logged == list(range(1, steps + 1))
        a, b = torch.tensor(values, dtype=torch.float64), torch.tensor(expected[run], dtype=torch.float64)
        rel = ((a - b).abs() / b.abs()).max().item()
        assert rel <= tol, f"{result.label} seed {result.seed}: max relative difference {rel:.2e}"
