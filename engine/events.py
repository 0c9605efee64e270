"""What the engine tells its caller while it trains. Plain dataclasses, JSON-ready.

Values may be NaN or infinite (a diverging run); callers that emit JSON must map
them to null themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunStarted:
    run: int
    arm: int
    label: str
    optimizer: str
    seed: int
    batch_size: int
    init_hash: str
    batch_hash: str
    variant: int | None = None  # fold or bootstrap replicate, when the study has them
    optimizer_package: str = ""  # the installed package whose optimizer trains the run
    optimizer_version: str | None = None  # and its version, as installed where the run trains
    type: str = "run_started"


@dataclass
class MetricPoints:
    """Consecutive points of one metric of one run (steps ascending, 1-based)."""

    run: int
    metric: str
    steps: list[int]
    values: list[float]
    type: str = "metrics"


@dataclass
class Progress:
    runs: list[int]
    step: int
    steps: int
    type: str = "progress"


@dataclass
class RunFinished:
    run: int
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None  # per-run arrays a study reads later (not streamed)
    type: str = "run_finished"


Event = RunStarted | MetricPoints | Progress | RunFinished


def to_dict(event: Event) -> dict[str, Any]:
    return asdict(event)
