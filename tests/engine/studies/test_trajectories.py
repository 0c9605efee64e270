"""Trajectories: closed-form GD on the saddle, agreement with torch.optim, JSON-ready output."""

import json

import pytest
import torch

from engine.optimizers import make_torch_optimizer
from engine.registry import REGISTRY
from engine.studies.trajectories import FUNCTIONS, contour_grid, trajectories


def test_gd_on_saddle_follows_closed_form():
    # x <- (1 - 2 lr) x, y <- (1 + 2 lr) y: the ridge direction shrinks, the escape direction grows.
    lr, steps = 0.05, 40
    path = trajectories("saddle", steps, ["gd"], {"gd": {"lr": lr}})["paths"]["gd"]
    x0, y0 = FUNCTIONS["saddle"].start
    assert path["x"] == pytest.approx([x0 * (1 - 2 * lr) ** t for t in range(steps + 1)], rel=1e-12)
    assert path["y"] == pytest.approx([y0 * (1 + 2 * lr) ** t for t in range(steps + 1)], rel=1e-12)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"])
def test_paths_match_torch_optim(name):
    out = trajectories("rosenbrock", 60, [name])["paths"][name]
    p = torch.tensor(FUNCTIONS["rosenbrock"].start, dtype=torch.float64, requires_grad=True)
    opt = make_torch_optimizer(name, [p], out["hyperparameters"])
    for t in range(60):
        assert [out["x"][t], out["y"][t]] == pytest.approx(p.tolist(), rel=1e-9, abs=1e-12)
        opt.zero_grad()
        FUNCTIONS["rosenbrock"].fn(p.unsqueeze(0)).sum().backward()
        opt.step()


def test_every_optimizer_gets_a_json_path_and_divergence_is_marked():
    out = trajectories("beale", 50, hyperparams={"momentum": {"lr": 0.05}})
    assert set(out["paths"]) == set(REGISTRY)
    assert all(len(p["x"]) == len(p["loss"]) == 51 for p in out["paths"].values())
    json.dumps(out, allow_nan=False)  # JSON has no NaN: non-finite points must be null
    bad = out["paths"]["momentum"]
    assert bad["diverged_at_step"] is not None and bad["x"][-1] is None
    assert out["paths"]["adam"]["loss"][-1] < out["paths"]["adam"]["loss"][0]


def test_contour_grid_values_and_minimum():
    g = contour_grid("rosenbrock", 81)
    i, j = 40, 60
    x, y = g["x"][j], g["y"][i]
    assert g["z"][i][j] == pytest.approx((1 - x) ** 2 + 100 * (y - x**2) ** 2)
    flat = torch.tensor(g["z"])
    i_min, j_min = divmod(int(flat.argmin()), 81)
    assert (g["x"][j_min], g["y"][i_min]) == pytest.approx((1.0, 1.0), abs=0.06)
    assert g["levels"] == sorted(g["levels"])
