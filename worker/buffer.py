"""What the training thread hands to the writer thread, merged while it waits.

The engine emits many small chunks (three train metrics per run per flush, one chunk
per eval metric per run per evaluation); merging them per (run, metric) turns a
write into one row per series instead of one per chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from engine.events import Event, MetricPoints, Progress, RunFinished, RunStarted, to_dict


@dataclass
class Batch:
    started: list[dict[str, Any]] = field(default_factory=list)
    series: dict[tuple[int, str], tuple[list[int], list[float]]] = field(default_factory=dict)
    progress: dict[str, Any] | None = None
    finished: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: tuple[int, bytes] | None = None

    def points(self) -> int:
        return sum(len(s) for s, _ in self.series.values())


class EventBuffer:
    """Collects events into a Batch, dropping points already stored (``stored`` maps
    (run, metric) to the last stored step), so a resumed shard re-emitting the steps
    after its checkpoint stores each point exactly once."""

    def __init__(self, stored: dict[tuple[int, str], int] | None = None):
        self.stored = dict(stored or {})
        self.batch = Batch()

    def add(self, ev: Event) -> None:
        if isinstance(ev, MetricPoints):
            self._add_points(ev)
        elif isinstance(ev, Progress):
            # When the engine handed these points over (Unix time): clients measure latency.
            self.batch.progress = to_dict(ev) | {"emitted_at": time.time()}
        elif isinstance(ev, RunStarted):
            self.batch.started.append(to_dict(ev))
        elif isinstance(ev, RunFinished):
            self.batch.finished.append(to_dict(ev))

    def _add_points(self, ev: MetricPoints) -> None:
        key = (ev.run, ev.metric)
        last = self.stored.get(key, 0)
        steps, values = ev.steps, ev.values
        if steps and steps[0] <= last:
            keep = [i for i, s in enumerate(steps) if s > last]
            steps, values = [steps[i] for i in keep], [values[i] for i in keep]
        if not steps:
            return
        self.stored[key] = steps[-1]
        have = self.batch.series.setdefault(key, ([], []))
        have[0].extend(steps)
        have[1].extend(values)

    def checkpoint(self, step: int, blob: bytes) -> None:
        self.batch.checkpoint = (step, blob)

    def take(self) -> Batch:
        out, self.batch = self.batch, Batch()
        return out
