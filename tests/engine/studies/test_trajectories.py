"""Trajectories: closed-form GD on the saddle, and the contour grid drawn under the paths."""

import pytest
import torch

from engine.registry import REGISTRY
from engine.studies.trajectories import FUNCTIONS, contour_grid, descend


def test_gd_on_saddle_follows_closed_form():
    # x <- (1 - 2 lr) x, y <- (1 + 2 lr) y: the ridge direction shrinks, the escape direction grows.
    lr, steps = 0.05, 40
    hp = REGISTRY["gd"].defaults() | {"lr": lr}
    path, _ = descend(FUNCTIONS["saddle"], [("gd", hp, lambda _s: lr)], steps)
    x0, y0 = FUNCTIONS["saddle"].start
    t = range(steps + 1)
    assert path[:, 0, 0].tolist() == pytest.approx([x0 * (1 - 2 * lr) ** s for s in t], rel=1e-12)
    assert path[:, 0, 1].tolist() == pytest.approx([y0 * (1 + 2 * lr) ** s for s in t], rel=1e-12)


def test_contour_grid_values_and_minimum():
    g = contour_grid("rosenbrock", 81)
    i, j = 40, 60
    x, y = g["x"][j], g["y"][i]
    assert g["z"][i][j] == pytest.approx((1 - x) ** 2 + 100 * (y - x**2) ** 2)
    flat = torch.tensor(g["z"])
    i_min, j_min = divmod(int(flat.argmin()), 81)
    assert (g["x"][j_min], g["y"][i_min]) == pytest.approx((1.0, 1.0), abs=0.06)
    assert g["levels"] == sorted(g["levels"])
