"""The configured limits a valid spec can break, each naming its field and its setting.

The parameter count is the engine's own (``engine.layout.n_params``, torch-free) on the
widths of the task table, or of the uploaded data set, so the limit counts exactly the net
that will train (tests/core/test_limits.py checks every task and net option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.requests import error
from core.settings import Settings
from engine.design import max_steps, total_runs
from engine.layout import n_params
from engine.spec import ComparisonSpec
from engine.task_table import TASKS


@dataclass(frozen=True)
class Widths:
    """What a net's size depends on besides its own spec."""

    in_dim: int
    out_dim: int
    image_shape: tuple[int, int, int] | None = None
    source: str = ""  # said in a message when the widths are the upload's


def task_widths(spec: ComparisonSpec) -> Widths:
    """The widths of a generated task (a data set's come from ``dataset_widths``)."""
    info = TASKS[spec.task.name]
    if info.in_dim is None or info.out_dim is None:
        raise ValueError(f"task {spec.task.name!r} takes its widths from the uploaded data set")
    return Widths(info.in_dim, info.out_dim, info.image_shape)


def dataset_widths(n_features: int, kind: str, n_classes: int,
                   image_shape: tuple[int, int, int] | None = None) -> Widths:
    out = n_classes if kind == "classification" else 1
    source = f" for the data set's {n_features} features and {out} outputs"
    return Widths(n_features, out, image_shape, source)


def net_params(spec: ComparisonSpec, widths: Widths) -> int | None:
    return n_params(spec.net, widths.in_dim, widths.out_dim, widths.image_shape)


def limit_errors(spec: ComparisonSpec, settings: Settings, widths: Widths,
                 params: int | None = None) -> list[dict[str, Any]]:
    """Errors located relative to the spec, one per limit broken. ``params``: the count of the
    built net, for a plugin model (whose count the API cannot know: its size limits are then
    checked by the worker, worker/model_limits.py)."""
    runs, params = total_runs(spec), params if params is not None else net_params(spec, widths)
    steps = max_steps(spec, spec.task.split_sizes()[0])
    width = ["net", {"cnn": "channels", "module": "config"}.get(spec.net.kind, "hidden")]
    checks = [
        (runs > settings.max_runs_per_job, ["arms"], f"{runs} runs (arms x seeds, times the study's "
         f"grid, batch sizes, folds or resamples) exceed the limit of "
         f"{settings.max_runs_per_job} runs per job (OPTARENA_MAX_RUNS_PER_JOB)"),
        (steps > settings.max_steps_per_run, ["train", "steps"],
         f"{steps} steps (of the longest run) exceed the limit of "
         f"{settings.max_steps_per_run} steps per run (OPTARENA_MAX_STEPS_PER_RUN)"),
    ]
    if params is not None:  # else a plugin model's: checked where it is built
        checks += [
            (params > settings.max_params_per_net, width, f"the net has {params} parameters{widths.source}, "
             f"above the limit of {settings.max_params_per_net} (OPTARENA_MAX_PARAMS_PER_NET)"),
            (runs * steps * params > settings.max_compute_per_job, ["train", "steps"],
             f"compute budget exceeded: {runs} runs x {steps} steps x {params} parameters = "
             f"{runs * steps * params:.3g}, above the limit of {settings.max_compute_per_job:.3g} per job "
             "(OPTARENA_MAX_COMPUTE_PER_JOB); use fewer runs, steps or a smaller net")]
    return [error(loc, msg, "limit_exceeded") for bad, loc, msg in checks if bad]
