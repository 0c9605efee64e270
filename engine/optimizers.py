"""``Stepper``: an optimizer's update rule applied to a slice of stacked parameters
(runs x params), one call per arm per step.

The vectorized rules follow torch.optim's single-tensor implementations line by line,
so they agree to rounding with the torch.optim classes engine/reference.py trains with
(checked by tests/engine/test_agreement.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.registry import REGISTRY


class Stepper:
    """Applies one arm's update rule to rows [a, b) of the stacked parameters.

    ``p`` and ``g`` are (runs, n_params) views; state tensors have the same shape.
    ``lr`` is passed per call so schedules need no state here: a float, or a (runs, 1)
    tensor when the rows of one block differ only in learning rate (a tuning grid), so a
    whole grid takes one call per step instead of one per point.
    """

    def __init__(self, name: str, hp: dict[str, Any], like: torch.Tensor):
        self.name = name
        self.hp = hp
        self.step_count = 0
        self.state: dict[str, torch.Tensor] = {}
        kind = REGISTRY[name].torch_class
        zeros = torch.zeros_like
        if kind == "SGD" and self._momentum() > 0:
            self.state["momentum_buffer"] = zeros(like)
        elif kind == "Adagrad":
            self.state["sum"] = torch.full_like(like, float(hp["initial_accumulator_value"]))
        elif kind == "Adadelta":
            self.state["square_avg"] = zeros(like)
            self.state["acc_delta"] = zeros(like)
        elif kind == "RMSprop":
            self.state["square_avg"] = zeros(like)
            if hp["momentum"] > 0:
                self.state["momentum_buffer"] = zeros(like)
            if hp["centered"]:
                self.state["grad_avg"] = zeros(like)
        elif kind in ("Adam", "AdamW"):
            self.state["exp_avg"] = zeros(like)
            self.state["exp_avg_sq"] = zeros(like)
        self._rule = getattr(self, "_" + kind.lower())

    def _momentum(self) -> float:
        return float(self.hp.get("momentum", 0.0))

    @torch.no_grad()
    def step(self, p: torch.Tensor, g: torch.Tensor, lr: float) -> None:
        self.step_count += 1
        self._rule(p, g, lr)

    @staticmethod
    def _axpy(p: torch.Tensor, x: torch.Tensor, coef: float | torch.Tensor) -> None:
        """p += coef * x, for a scalar or a per-row coefficient."""
        if isinstance(coef, torch.Tensor):
            p.addcmul_(x, coef)
        else:
            p.add_(x, alpha=coef)

    def _sgd(self, p, g, lr):
        wd = self.hp.get("weight_decay", 0.0)
        if wd:
            g = g.add(p, alpha=wd)
        mu = self._momentum()
        if mu > 0:
            buf = self.state["momentum_buffer"]
            if self.step_count == 1:
                buf.copy_(g)
            else:
                buf.mul_(mu).add_(g, alpha=1 - self.hp.get("dampening", 0.0))
            g = g.add(buf, alpha=mu) if REGISTRY[self.name].fixed.get("nesterov") else buf
        self._axpy(p, g, -lr)

    def _adagrad(self, p, g, lr):
        hp = self.hp
        if hp["weight_decay"]:
            g = g.add(p, alpha=hp["weight_decay"])
        clr = lr / (1 + (self.step_count - 1) * hp["lr_decay"])
        s = self.state["sum"]
        s.addcmul_(g, g, value=1)
        denom = s.sqrt().add_(hp["eps"])
        if isinstance(clr, torch.Tensor):
            p.addcmul_(g.div(denom), -clr)
        else:
            p.addcdiv_(g, denom, value=-clr)

    def _adadelta(self, p, g, lr):
        hp = self.hp
        if hp["weight_decay"]:
            g = g.add(p, alpha=hp["weight_decay"])
        rho, eps = hp["rho"], hp["eps"]
        sq, acc = self.state["square_avg"], self.state["acc_delta"]
        sq.mul_(rho).addcmul_(g, g, value=1 - rho)
        std = sq.add(eps).sqrt_()
        delta = acc.add(eps).sqrt_().div_(std).mul_(g)
        acc.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        self._axpy(p, delta, -lr)

    def _rmsprop(self, p, g, lr):
        hp = self.hp
        if hp["weight_decay"]:
            g = g.add(p, alpha=hp["weight_decay"])
        alpha = hp["alpha"]
        sq = self.state["square_avg"]
        sq.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if hp["centered"]:
            ga = self.state["grad_avg"]
            ga.lerp_(g, 1 - alpha)
            avg = sq.addcmul(ga, ga, value=-1).sqrt_()
        else:
            avg = sq.sqrt()
        avg = avg.add_(hp["eps"])
        if hp["momentum"] > 0:
            buf = self.state["momentum_buffer"]
            buf.mul_(hp["momentum"]).addcdiv_(g, avg)
            self._axpy(p, buf, -lr)
        elif isinstance(lr, torch.Tensor):
            p.addcmul_(g.div(avg), -lr)
        else:
            p.addcdiv_(g, avg, value=-lr)

    def _adam(self, p, g, lr, decoupled: bool = False):
        hp = self.hp
        b1, b2, wd = hp["beta1"], hp["beta2"], hp["weight_decay"]
        if decoupled:
            p.mul_(1 - lr * wd)
        elif wd:
            g = g.add(p, alpha=wd)
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        t = self.step_count
        step_size = lr / (1 - b1**t)
        denom = (v.sqrt() / math.sqrt(1 - b2**t)).add_(hp["eps"])
        if isinstance(step_size, torch.Tensor):
            p.addcmul_(m.div(denom), -step_size)
        else:
            p.addcdiv_(m, denom, value=-step_size)

    def _adamw(self, p, g, lr):
        self._adam(p, g, lr, decoupled=True)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step_count, **{k: v.clone() for k, v in self.state.items()}}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.step_count = int(sd["step"])
        for k, v in self.state.items():
            v.copy_(sd[k])
