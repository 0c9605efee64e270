"""Which rows of a cohort share one update rule.

Arms are contiguous rows (runs are numbered arm-major). Neighbouring arms that differ at
most in learning rate (a tuning grid's points) share one ``Stepper``, stepped once for
all their rows with a (rows, 1) learning-rate column, instead of once per arm.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.optimizers import Stepper
from engine.spec import ComparisonSpec, RunPlan
from engine.train_spec import Schedule


@dataclass
class ArmBlock:
    rows: slice
    arm: int
    stepper: Stepper
    lr: float | torch.Tensor  # one value, or (rows, 1) when the rows differ only in lr
    schedule: Schedule

    def lr_at(self, step: int, steps: int) -> float | torch.Tensor:
        return self.lr * self.schedule.factor(step, steps)


def _rule_key(spec: ComparisonSpec, a: int) -> str:
    arm = spec.arms[a]
    hp = {k: v for k, v in arm.hyperparams().items() if k != "lr"}
    return f"{arm.optimizer}|{sorted(hp.items())}|{arm.schedule!r}"


def arm_blocks(spec: ComparisonSpec, runs: list[RunPlan], P: torch.Tensor) -> list[ArmBlock]:
    """The blocks of a cohort's rows, each with a Stepper over its rows of P (K, D)."""
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
            stepper = Stepper(arm.optimizer, arm.hyperparams(), P[rows])
            blocks.append(ArmBlock(rows, arms[0], stepper, base, arm.schedule))
            start = k
    return blocks


def block_of(blocks: list[ArmBlock], k: int) -> ArmBlock:
    return next(b for b in blocks if b.rows.start <= k < b.rows.stop)
