"""optarena's training engine: torch, numpy and the standard library only."""

from engine.compare import compare, plan_cohorts, train_runs
from engine.presets import PRESETS, preset
from engine.spec import ComparisonSpec

__all__ = ["ComparisonSpec", "PRESETS", "compare", "plan_cohorts", "preset", "train_runs"]
