"""Sharpness-aware minimization for the rows of a cohort, vectorized.

Each SAM run's gradient is taken at w + e instead of w, with e from the gradient g at w:
e = rho g / (|g| + eps), or for adaptive SAM e = rho w^2 g / (|w g| + eps) (elementwise
products), the norms over the run's whole row (its net), as the papers take them over all of
a model's parameters. The trainer then steps the arm's optimizer with that gradient, from w.
"""

from __future__ import annotations

import torch

from engine.spec import ComparisonSpec, RunPlan

EPS = 1e-12  # keeps e finite where a gradient is exactly zero


class Sam:
    """The perturbation of every row; rows of arms without SAM get e = 0."""

    def __init__(self, rho: torch.Tensor, adaptive: torch.Tensor):
        self.rho = rho  # (K, 1)
        self.adaptive = adaptive if bool(adaptive.any()) else None  # (K, 1) bool, None if no row is

    @classmethod
    def build(cls, spec: ComparisonSpec, runs: list[RunPlan], device: torch.device,
              dtype: torch.dtype) -> Sam | None:
        sams = [spec.arms[r.arm].sam for r in runs]
        if all(s is None for s in sams):
            return None
        rho = torch.tensor([s.rho if s else 0.0 for s in sams], device=device, dtype=dtype).unsqueeze(1)
        adaptive = torch.tensor([bool(s and s.adaptive) for s in sams], device=device).unsqueeze(1)
        return cls(rho, adaptive)

    @torch.no_grad()
    def perturbation(self, P: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
        """e (K, D) for weights P and gradients G (K, D)."""
        if self.adaptive is None:
            return G * (self.rho / (G.norm(dim=1, keepdim=True) + EPS))
        scaled = torch.where(self.adaptive, G * P.abs(), G)
        direction = torch.where(self.adaptive, scaled * P.abs(), G)
        return direction * (self.rho / (scaled.norm(dim=1, keepdim=True) + EPS))
