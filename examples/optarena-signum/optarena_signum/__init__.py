"""Signum (Bernstein et al. 2018, "signSGD: Compressed Optimisation for Non-Convex Problems"):
every weight moves by ``lr`` against the sign of its gradient's momentum average.

An optarena optimizer plugin: the entry point in pyproject.toml names ``SIGNUM`` below.
Each weight's update reads only its own gradient history, so it declares itself
``elementwise`` and one instance steps many runs' stacked rows at once."""

from __future__ import annotations

import torch

from optarena.plugin import HParam, OptimizerPlugin


class Signum(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-4, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                m = state["momentum_buffer"]
                m.mul_(beta).add_(p.grad, alpha=1 - beta)
                if wd:
                    p.mul_(1 - lr * wd)  # decoupled, as in Lion
                p.add_(torch.sign(m), alpha=-lr)
        return loss


SIGNUM = OptimizerPlugin(
    name="signum",
    factory=Signum,
    hparams=(
        HParam("lr", 1e-4, 0.0, 1.0, low_open=True, log=True, doc="step of every weight"),
        HParam("momentum", 0.9, 0.0, 1.0, high_open=True, doc="decay of the gradient average"),
        HParam("weight_decay", 0.0, 0.0, 1.0, doc="decoupled weight decay"),
    ),
    granularity="elementwise",
    title="Signum",
    doc="signSGD with momentum: the sign of a gradient average (Bernstein et al. 2018)",
)
