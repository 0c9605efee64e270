"""A run's summary: its final numbers, as ``RunFinished`` carries them.

Losses and accuracies are those of the run's final weights (as of its stop, if it
stopped); best validation loss and time to target are those its tracker recorded at
evaluations.
"""

from __future__ import annotations

import math

from engine.tracker import RunTracker


def run_summary(k: int, metrics: dict[str, float], tracker: RunTracker, step: int, batch_size: int,
                elapsed: float, baseline_val_loss: float, variant: int | None,
                kind: str) -> dict[str, object]:
    """Run k's summary from ``metrics`` ("{split}_{metric}" for train, val, test and all) at
    cohort step ``step``."""
    steps = tracker.last_step(k, step)
    best = tracker.best_val[k]
    out: dict[str, object] = {
        "diverged": tracker.stopped[k] == "diverged",
        "stopped": tracker.stopped[k],
        "steps_trained": steps,
        "examples_seen": steps * batch_size,
        "final_train_loss": metrics["train_loss"],
        "final_val_loss": metrics["val_loss"],
        "final_test_loss": metrics["test_loss"],
        "full_data_loss": metrics["all_loss"],
        "best_val_loss": best if math.isfinite(best) else None,
        "best_step": tracker.best_step[k] or None,
        "generalization_gap": metrics["test_loss"] - metrics["train_loss"],
        "steps_to_target": tracker.target_step[k],
        "wall_time": elapsed,
        "baseline_val_loss": baseline_val_loss,
    }
    if tracker.rung_losses[k]:  # a search trial's validation loss at each rung it reached
        out["rung_val_losses"] = {str(n): v if math.isfinite(v) else None
                                  for n, v in sorted(tracker.rung_losses[k].items())}
    if variant is not None:
        out["variant"] = variant
    if kind == "classification":
        out.update({f"final_{s}_accuracy": metrics[f"{s}_accuracy"] for s in ("train", "val", "test")})
    return out
