"""The engine's front door: plan a spec into cohorts and train them.

``compare(spec)`` trains everything in this process. A service instead calls
``design.plan_cohorts`` once, then ``train_runs`` for each cohort wherever it lands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.design import effective_batch_size, plan_cohorts
from engine.events import Event, MetricPoints, RunFinished, RunStarted
from engine.search_pruning import CohortPruning
from engine.spec import ComparisonSpec
from engine.tasks import DatasetLike, TaskData, make_task
from engine.trainer import Cohort


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def load_task(spec: ComparisonSpec, device: torch.device, dataset: DatasetLike | None = None) -> TaskData:
    """The task's data on ``device``; ``dataset``: the arrays of an uploaded CSV (task 'dataset')."""
    dtype = getattr(torch, spec.train.dtype)
    return make_task(spec.task, dataset).to(device, dtype)


def make_cohort(spec: ComparisonSpec, run_indices: list[int], device: torch.device | None = None,
                data: TaskData | None = None, dataset: DatasetLike | None = None,
                pruning: CohortPruning | None = None) -> Cohort:
    device = device or resolve_device(spec.train.device)
    plans = spec.runs()
    runs = [plans[i] for i in run_indices]
    for r in runs:
        r_bs = effective_batch_size(spec, r)
        if r_bs != effective_batch_size(spec, runs[0]):
            raise ValueError("runs of one cohort must share a batch size")
    runs = [r.model_copy(update={"batch_size": effective_batch_size(spec, r)}) for r in runs]
    data = data or load_task(spec, device, dataset)
    return Cohort(spec, runs, data, device, getattr(torch, spec.train.dtype), pruning)


def train_runs(spec: ComparisonSpec, run_indices: list[int], on_event: Callable[[Event], None], *,
               device: torch.device | None = None, resume: bytes | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_checkpoint: Callable[[int, bytes], None] | None = None,
               checkpoint_every: int = 0, flush_seconds: float = 0.5,
               dataset: DatasetLike | None = None, pruning: CohortPruning | None = None) -> bool:
    """Train one cohort, optionally from a checkpoint. False if ``should_stop`` ended it.
    ``dataset``: the arrays of an uploaded CSV, for task 'dataset'; ``pruning``: a search
    cohort's (engine/search_pruning.py)."""
    if spec.study is not None and spec.study.kind == "trajectories":
        from engine.studies.trajectories import train_paths

        return train_paths(spec, run_indices, on_event)
    cohort = make_cohort(spec, run_indices, device, dataset=dataset, pruning=pruning)
    if resume is not None:
        cohort.load_state_bytes(resume)
    return cohort.train(on_event, should_stop=should_stop, on_checkpoint=on_checkpoint,
                        checkpoint_every=checkpoint_every, flush_seconds=flush_seconds)


@dataclass
class RunResult:
    run: int
    label: str = ""
    optimizer: str = ""
    seed: int = 0
    batch_size: int = 0
    init_hash: str = ""
    batch_hash: str = ""
    arm: int = 0
    variant: int | None = None
    outputs: dict[str, Any] | None = None
    curves: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


class Collector:
    """An ``on_event`` that keeps everything, for in-process use."""

    def __init__(self, forward: Callable[[Event], None] | None = None):
        self.runs: dict[int, RunResult] = {}
        self.forward = forward

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, RunStarted):
            self.runs[ev.run] = RunResult(ev.run, ev.label, ev.optimizer, ev.seed, ev.batch_size,
                                          ev.init_hash, ev.batch_hash, ev.arm, ev.variant)
        elif isinstance(ev, MetricPoints):
            steps, values = self.runs[ev.run].curves.setdefault(ev.metric, ([], []))
            steps += ev.steps
            values += ev.values
        elif isinstance(ev, RunFinished):
            self.runs[ev.run].summary, self.runs[ev.run].outputs = ev.summary, ev.outputs
        if self.forward is not None:
            self.forward(ev)


def compare(spec: ComparisonSpec, on_event: Callable[[Event], None] | None = None, *,
            should_stop: Callable[[], bool] | None = None,
            pruning: CohortPruning | None = None) -> dict[int, RunResult]:
    """Train every run of ``spec`` here; returns each run's curves and summary."""
    device = resolve_device(spec.train.device)
    data = load_task(spec, device)
    collect = Collector(on_event)
    for group in plan_cohorts(spec):
        if spec.study is not None and spec.study.kind == "trajectories":
            train_runs(spec, group, collect)
            continue
        make_cohort(spec, group, device, data, pruning=pruning).train(collect, should_stop=should_stop)
    return dict(sorted(collect.runs.items()))


def run_study(spec: ComparisonSpec, on_event: Callable[[Event], None] | None = None, *,
              should_stop: Callable[[], bool] | None = None) -> tuple[dict[int, RunResult], dict[str, Any]]:
    """Every stage of ``spec`` here, as the service would run them; run numbers are the job's.

    Returns the runs and what was decided between stages (tuning: each arm's chosen point;
    search: each cohort's proposals and each arm's best trial)."""
    from engine.design import choose, chosen_points, n_stages, proposals_of, stage
    from engine.search_pruning import stage_pruning

    search = spec.study is not None and spec.study.kind == "search"
    results: dict[int, RunResult] = {}
    stage_of: dict[int, int] = {}  # run -> its stage
    state: dict[str, Any] = {}
    if search:
        from engine.search_plan import StoredRun, advance, first_state

        state = first_state(spec)
    for index in range(n_stages(spec)):
        st = stage(spec, index, chosen_points(state), proposals_of(state, index))
        trained = compare(st.spec, on_event, should_stop=should_stop, pruning=stage_pruning(st))
        for local, r in trained.items():
            r.run = st.offset + local
            results[r.run], stage_of[r.run] = r, index
        if index + 1 == n_stages(spec):
            break
        if search:
            state = advance(spec, index, state, [StoredRun(stage_of[r.run], r.arm, r.summary)
                                                 for r in results.values()])
            continue
        plans = st.spec.runs()
        chosen = choose(spec, [(plans[i].arm, {}, results[st.offset + i].summary) for i in range(len(plans))])
        state["chosen"] = chosen
    return results, state
