"""Optimizer trajectories on 2-D test functions, to be drawn over the function's contours.

Every arm's optimizer starts from the function's start point and takes ``steps`` updates
with the engine's own vectorized update rules (``Stepper``), so a path here is exactly what
that optimizer does in a training run. The functions are deterministic, so "gd" and "sgd"
trace the same path.

- Rosenbrock: a curved, narrow valley (minimum at (1, 1)); momentum helps, plain GD crawls.
- Beale: flat plateaus and steep walls (minimum at (3, 0.5)); adaptive steps help.
- Saddle x^2 - y^2: GD started near the ridge escapes only slowly; no minimum at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from engine.optimizers import Stepper
from engine.registry import REGISTRY


def rosenbrock(P: torch.Tensor) -> torch.Tensor:
    x, y = P[:, 0], P[:, 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(P: torch.Tensor) -> torch.Tensor:
    x, y = P[:, 0], P[:, 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def saddle(P: torch.Tensor) -> torch.Tensor:
    return P[:, 0] ** 2 - P[:, 1] ** 2


@dataclass(frozen=True)
class Surface:
    fn: Callable[[torch.Tensor], torch.Tensor]  # (K, 2) -> (K,)
    start: tuple[float, float]
    minimum: tuple[float, float] | None
    bounds: tuple[tuple[float, float], tuple[float, float]]  # ((x_lo, x_hi), (y_lo, y_hi)) for drawing


FUNCTIONS: dict[str, Surface] = {
    "rosenbrock": Surface(rosenbrock, (-1.5, 2.0), (1.0, 1.0), ((-2.0, 2.0), (-1.0, 3.0))),
    "beale": Surface(beale, (1.0, 1.5), (3.0, 0.5), ((-4.5, 4.5), (-4.5, 4.5))),
    "saddle": Surface(saddle, (-1.0, 1e-3), None, ((-1.5, 1.5), (-1.5, 1.5))),
}


def _point(v: float) -> float | None:
    return v if math.isfinite(v) else None


Rule = tuple[str, dict[str, Any], Callable[[int], float]]  # optimizer, hyperparameters, lr at step


def descend(fn: Surface, rules: list[Rule], steps: int,
            clips: list[float | None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rule from the function's start: (steps + 1, K, 2) points and (steps + 1, K) values.

    ``clips``: each rule's gradient-norm limit (None: none), applied as the trainer does."""
    P = torch.tensor([fn.start] * len(rules), dtype=torch.float64)  # (K, 2): one row per optimizer
    steppers = [Stepper(n, hp, P[k:k + 1]) for k, (n, hp, _) in enumerate(rules)]
    clip = None if clips is None or all(c is None for c in clips) else torch.tensor(
        [math.inf if c is None else c for c in clips], dtype=torch.float64)
    points, values = [P.clone()], []
    for step in range(steps):
        Pg = P.detach().requires_grad_(True)
        f = fn.fn(Pg)
        (G,) = torch.autograd.grad(f.sum(), Pg)  # rows are independent: row k is optimizer k's gradient
        if clip is not None:  # torch.nn.utils.clip_grad_norm_'s rule, per row (engine/trainer.py)
            G.mul_((clip / (G.norm(dim=1) + 1e-6)).clamp_(max=1.0).unsqueeze(1))
        values.append(f.detach())
        for k, st in enumerate(steppers):
            st.step(P[k:k + 1], G[k:k + 1], rules[k][2](step))
        points.append(P.clone())
    values.append(fn.fn(P))
    return torch.stack(points), torch.stack(values)


def train_paths(spec: Any, run_indices: list[int], on_event: Callable[[Any], None]) -> bool:
    """A ``trajectories`` study's runs, reported like training: one metric point per step
    (``traj_x``, ``traj_y`` and the function value as ``train_loss``, after each update; the
    start point is in the summary, since steps count from 1)."""
    from engine.batches import weights_digest
    from engine.events import MetricPoints, RunFinished, RunStarted

    study = spec.study
    fn, plans = FUNCTIONS[study.function], spec.runs()
    runs = [plans[i] for i in run_indices]
    arms = [spec.arms[r.arm] for r in runs]
    rules = [(a.optimizer, a.hyperparams(), lambda s, a=a: a.lr * a.schedule.factor(s, study.steps))
             for a in arms]
    start = weights_digest(torch.tensor(fn.start, dtype=torch.float64))
    for r, a in zip(runs, arms, strict=True):
        on_event(RunStarted(r.index, r.arm, a.display(), a.optimizer, r.seed, 0, start, ""))
    path, loss = descend(fn, rules, study.steps, [a.clip_grad_norm for a in arms])
    steps = list(range(1, study.steps + 1))  # step s: the point after s updates
    for k, (r, a) in enumerate(zip(runs, arms, strict=True)):
        series = (("traj_x", path[1:, k, 0]), ("traj_y", path[1:, k, 1]), ("train_loss", loss[1:, k]))
        for name, values in series:
            on_event(MetricPoints(r.index, name, steps, values.tolist()))
        info = _path(a.optimizer, a.hyperparams(), path[:, k], loss[:, k])
        end = path[-1, k]
        summary = {"function": study.function, "start": list(fn.start), "start_loss": info["loss"][0],
                   "minimum": list(fn.minimum) if fn.minimum else None,
                   "final_loss": info["loss"][-1],
                   "final_x": info["x"][-1], "final_y": info["y"][-1],
                   "diverged": info["diverged_at_step"] is not None,
                   "diverged_at_step": info["diverged_at_step"], "steps_trained": study.steps,
                   "distance_to_minimum": (_point(float((end - torch.tensor(fn.minimum,
                                                                            dtype=end.dtype)).norm()))
                                           if fn.minimum else None)}
        # The contour grid travels once per shard, with its first run, for drawing the paths.
        outputs = {"contour": contour_grid(study.function, 60)} if k == 0 else None
        on_event(RunFinished(r.index, summary, outputs))
    return True


def _path(name: str, hp: dict[str, Any], xy: torch.Tensor, loss: torch.Tensor) -> dict[str, Any]:
    bad = (~torch.isfinite(xy).all(1) | ~torch.isfinite(loss)).nonzero()
    diverged_at = int(bad[0]) if len(bad) else None
    return {"optimizer": name, "title": REGISTRY[name].title, "hyperparameters": hp,
            "x": [_point(v) for v in xy[:, 0].tolist()], "y": [_point(v) for v in xy[:, 1].tolist()],
            "loss": [_point(v) for v in loss.tolist()], "diverged_at_step": diverged_at}


def contour_grid(function: str, n: int = 100) -> dict[str, Any]:
    """f on an n x n grid over the function's drawing bounds: z[i][j] = f(x[j], y[i]).

    Also log-spaced contour levels, since Rosenbrock and Beale span many decades.
    """
    fn = FUNCTIONS[function]
    (x0, x1), (y0, y1) = fn.bounds
    xs = torch.linspace(x0, x1, n, dtype=torch.float64)
    ys = torch.linspace(y0, y1, n, dtype=torch.float64)
    Y, X = torch.meshgrid(ys, xs, indexing="ij")
    Z = fn.fn(torch.stack([X.flatten(), Y.flatten()], 1)).view(n, n)
    lo, hi = float(Z.min()), float(Z.max())
    if lo > 0:
        levels = torch.logspace(math.log10(lo), math.log10(hi), 20, dtype=torch.float64).tolist()
    else:  # the saddle goes negative: linear levels
        levels = torch.linspace(lo, hi, 20, dtype=torch.float64).tolist()
    return {"function": function, "x": xs.tolist(), "y": ys.tolist(), "z": Z.tolist(), "levels": levels}
