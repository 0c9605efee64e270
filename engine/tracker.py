"""Each run's progress through training: when and why it stopped, its best validation loss,
when it reached the target, and its weights as of its stop.

Updated on the host at evaluations and flushes only. A stopped run's row keeps being
stepped with the others (cheaper than masking every step), so its weights and batch-norm
statistics are saved at the stop and put back for its results.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.train_spec import EarlyStopping


class RunTracker:
    """Stopping, early stopping and time to target for K runs."""

    def __init__(self, K: int, early_stopping: EarlyStopping | None, target_loss: float | None):
        self.early_stopping, self.target_loss = early_stopping, target_loss
        self.stopped: list[str | None] = [None] * K  # "diverged" | "early_stopped" | "pruned" once stopped
        self.stop_step = [0] * K
        self.best_val = [math.inf] * K
        self.best_step = [0] * K
        self.bad_evals = [0] * K  # evaluations since the best one
        self.target_step: list[int | None] = [None] * K
        self.rung_losses: list[dict[int, float]] = [{} for _ in range(K)]  # a search's: step -> val loss
        self.racing = [True] * K  # a search's: its trial has not lost a rung
        self.frozen: dict[int, torch.Tensor] = {}  # weights of runs that stopped early
        self.frozen_buffers: dict[int, list[torch.Tensor]] = {}  # and their running statistics

    def all_stopped(self) -> bool:
        return all(self.stopped)

    def last_step(self, k: int, steps: int) -> int:
        """The last step of run k that counts: its stop, or ``steps`` while it trains."""
        return self.stop_step[k] if self.stopped[k] else steps

    def stop(self, k: int, step: int, reason: str, P: torch.Tensor, buffers: list[torch.Tensor]) -> None:
        """Stop run k at ``step``, keeping its row of P (K, D) and of each (K, ...) buffer."""
        self.stopped[k], self.stop_step[k] = reason, step
        self.frozen[k] = P[k].clone()
        self.frozen_buffers[k] = [b[k].clone() for b in buffers]

    def observe(self, k: int, step: int, val_loss: float) -> str | None:
        """Record run k's validation loss at an evaluation; returns why to stop it, if it must."""
        if not math.isfinite(val_loss):
            return "diverged"
        es, target = self.early_stopping, self.target_loss
        if target is not None and self.target_step[k] is None and val_loss <= target:
            self.target_step[k] = step
        if val_loss < self.best_val[k] - (es.min_delta if es else 0.0):
            self.best_val[k], self.best_step[k], self.bad_evals[k] = val_loss, step, 0
            return None
        self.bad_evals[k] += 1
        return "early_stopped" if es and self.bad_evals[k] >= es.patience else None

    def final_weights(self, P: torch.Tensor) -> torch.Tensor:
        """A copy of P (K, D) with each stopped run's row as of its stop."""
        out = P.clone()
        for k, w in self.frozen.items():
            out[k] = w
        return out

    def final_buffers(self, buffers: list[torch.Tensor]) -> list[torch.Tensor]:
        """Copies of the running statistics with each stopped run's row as of its stop."""
        out = [b.clone() for b in buffers]
        for k, saved in self.frozen_buffers.items():
            for b, s in zip(out, saved, strict=True):
                b[k] = s
        return out

    def keep(self, rows: list[int]) -> None:
        """Only ``rows`` stay (still training: nothing of theirs is frozen)."""
        assert all(self.stopped[k] is None for k in rows), "only running rows stay in a cohort"
        for name in ("stopped", "stop_step", "best_val", "best_step", "bad_evals", "target_step",
                     "rung_losses", "racing"):
            values = getattr(self, name)
            setattr(self, name, [values[k] for k in rows])
        self.frozen, self.frozen_buffers = {}, {}

    # -- checkpoint: tensors and plain containers only (loaded with weights_only=True) ---------

    def state_dict(self) -> dict[str, object]:
        return {
            "stopped": [s or "" for s in self.stopped], "stop_step": self.stop_step,
            "best_val": self.best_val, "best_step": self.best_step, "bad_evals": self.bad_evals,
            "target_step": [-1 if t is None else t for t in self.target_step],
            "rung_losses": [{str(n): v for n, v in r.items()} for r in self.rung_losses],
            "racing": self.racing,
            "frozen": {str(k): w.cpu() for k, w in self.frozen.items()},
            "frozen_buffers": {str(k): [b.cpu() for b in bs] for k, bs in self.frozen_buffers.items()},
        }

    def load_state_dict(self, sd: dict[str, Any], device: torch.device) -> None:
        self.stopped = [s or None for s in sd["stopped"]]
        self.stop_step, self.best_val = list(sd["stop_step"]), list(sd["best_val"])
        self.best_step, self.bad_evals = list(sd["best_step"]), list(sd["bad_evals"])
        self.target_step = [None if t < 0 else t for t in sd["target_step"]]
        if "rung_losses" in sd:  # absent from checkpoints written before searches had rungs
            self.rung_losses = [{int(n): v for n, v in r.items()} for r in sd["rung_losses"]]
            self.racing = list(sd["racing"])
        self.frozen = {int(k): w.to(device) for k, w in sd["frozen"].items()}
        self.frozen_buffers = {int(k): [b.to(device) for b in bs] for k, bs in sd["frozen_buffers"].items()}
