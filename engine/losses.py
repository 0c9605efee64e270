"""Losses of stacked runs, and the loss of a predictor that ignores its inputs.

The trainer, the regularizers and the sharpness measures all score a run with
``loss_per_run``, so a run's loss means one thing wherever it is read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def loss_per_run(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each run: out (K, B, C), y (K, B, 1) | (K, B) | shared (B, ...) -> (K,)."""
    K = out.shape[0]
    if kind == "regression":
        return (out - y).square().flatten(1).mean(1)
    y = y.expand(K, -1) if y.dim() == 1 else y
    return F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(K, -1).mean(1)


def baseline_loss(kind: str, out_dim: int, train_y: torch.Tensor, val_y: torch.Tensor) -> float:
    """Validation loss of the best input-blind predictor fitted on the training targets:
    the mean for regression (MSE), the class frequencies for classification (cross-entropy)."""
    if kind == "regression":
        return float((val_y.double() - train_y.double().mean(0)).square().mean())
    freq = torch.bincount(train_y, minlength=out_dim).double() / len(train_y)
    logits = freq.clamp_min(1e-12).log().expand(len(val_y), -1)
    return float(F.cross_entropy(logits, val_y))
