"""Which rows of a cohort share one update rule, and stepping them.

Arms are contiguous rows (runs are numbered arm-major). Neighbouring arms that differ at
most in learning rate (a tuning grid's points) share one stepper, stepped once for all
their rows: a hand-written rule (``Stepper``) with a (rows, 1) learning-rate column, or a
package's class (``TorchStepper``) with a param group per learning rate. An arm with
``lookahead`` is always stepped by its class (the built-ins' torch.optim one), wrapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from engine.layout import Layout
from engine.optimizers import Stepper
from engine.spec import ComparisonSpec, RunPlan
from engine.torch_stepper import TorchStepper
from engine.train_spec import Schedule


@dataclass
class ArmBlock:
    rows: slice
    arm: int
    stepper: Stepper | TorchStepper
    lr: float | torch.Tensor  # one value, or (rows, 1) when the rows differ only in lr
    schedule: Schedule

    def step(self, P: torch.Tensor, G: torch.Tensor, step: int, steps: int) -> None:
        """Update this block's rows of P from the same rows of G."""
        factor = self.schedule.factor(step, steps)
        if isinstance(self.stepper, TorchStepper):
            self.stepper.step(factor)  # it holds views of its rows already
        else:
            self.stepper.step(P[self.rows], G[self.rows], self.lr * factor)

    def state_dict(self) -> dict[str, Any]:
        return self.stepper.state_dict()

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.stepper.load_state_dict(sd)


def _rule_key(spec: ComparisonSpec, a: int) -> str:
    arm = spec.arms[a]
    hp = {k: v for k, v in arm.hyperparams().items() if k != "lr"}
    return f"{arm.optimizer}|{sorted(hp.items())}|{arm.schedule!r}|{arm.lookahead!r}"


def arm_blocks(spec: ComparisonSpec, runs: list[RunPlan], P: torch.Tensor, G: torch.Tensor,
               layout: Layout) -> list[ArmBlock]:
    """The blocks of a cohort's rows, each with a stepper over its rows of P (K, D)."""
    blocks, start, K = [], 0, len(runs)
    key = [_rule_key(spec, r.arm) for r in runs]
    for k in range(1, K + 1):
        if k == K or key[k] != key[start]:
            rows = slice(start, k)
            arms = [runs[j].arm for j in range(start, k)]
            arm = spec.arms[arms[0]]
            lrs = [float(spec.arms[a].lr) for a in arms]  # type: ignore[attr-defined]
            base = lrs[0] if len(set(lrs)) == 1 else torch.tensor(
                lrs, device=P.device, dtype=P.dtype).unsqueeze(1)
            stepper: Stepper | TorchStepper
            if arm.definition.vectorized and arm.lookahead is None:
                stepper = Stepper(arm.optimizer, arm.hyperparams(), P[rows])
            else:
                stepper = TorchStepper(arm.definition, arm.hyperparams(), P[rows], G[rows], lrs, layout,
                                       arm.lookahead)
            blocks.append(ArmBlock(rows, arms[0], stepper, base, arm.schedule))
            start = k
    return blocks


def block_of(blocks: list[ArmBlock], k: int) -> ArmBlock:
    return next(b for b in blocks if b.rows.start <= k < b.rows.stop)


@contextmanager
def evaluating(blocks: list[ArmBlock]) -> Iterator[None]:
    """Every block's weights to evaluate (schedule-free's average) while inside."""
    with ExitStack() as stack:
        for b in blocks:
            if isinstance(b.stepper, TorchStepper):
                stack.enter_context(b.stepper.evaluating())
        yield
