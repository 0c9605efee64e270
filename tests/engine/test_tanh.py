"""The engine's tanh is torch.tanh, bit for bit, over the float32 range and in float64.

A faster 2*sigmoid(2x) - 1 form once stood in for it on CPU; it was accurate only in absolute
terms, which an RMSprop run in float32 turned into a 9x larger error. This holds the engine to
torch's own function: values and gradients equal exactly, so a replacement must be argued anew.
"""

import pytest
import torch

from engine.mlp import ACTIVATIONS

TINY = [0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754944e-38, -1e-30, 1e-20, -1e-10, 1e-7, -1e-4]
LARGE = [9.0, -10.0, 20.5, -25.0, 88.0, -89.0, 1e4, -1e10, 3.4028235e38, -3.4028235e38]
SPECIAL = [float("inf"), float("-inf")]


def _value_and_grad(f, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_()
    y = f(x)
    y.backward(torch.ones_like(y))
    return y.detach(), x.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_engine_tanh_is_torch_tanh_over_the_range(dtype):
    grid = torch.linspace(-20, 20, 4_000_001, dtype=dtype)  # spacing 1e-5
    x = torch.cat([grid, torch.tensor(TINY + LARGE + SPECIAL, dtype=dtype)])
    y, g = _value_and_grad(ACTIVATIONS["tanh"], x)
    y_ref, g_ref = _value_and_grad(torch.tanh, x)
    assert torch.equal(y, y_ref) and torch.equal(g, g_ref)
    # relative precision kept near 0: tanh(x) = x - x^3/3 + ..., so y/x - 1 is within x^2/3 and a rounding
    tiny = torch.tensor(TINY, dtype=dtype)
    y = ACTIVATIONS["tanh"](tiny)
    nonzero = tiny != 0
    rel = (y[nonzero] / tiny[nonzero] - 1).abs()
    assert (rel <= tiny[nonzero].square() / 3 + torch.finfo(dtype).eps).all()
    assert torch.equal(torch.signbit(y), torch.signbit(tiny))  # -0 stays -0
