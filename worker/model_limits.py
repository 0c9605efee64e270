"""A plugin model's size, checked against the limits where it can be counted: in the worker.

The API counts a built-in net's parameters without torch (engine/layout.py) and refuses a job
over the limits with a 422. A plugin model is code only workers import, so the API cannot
count it; the worker builds it on the meta device (shapes, no memory) before training and
fails the job with the same messages, naming the same fields, when it is too big.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from core.limits import Widths, dataset_widths, limit_errors, task_widths
from core.settings import Settings
from engine.modules import build_module
from engine.spec import ComparisonSpec

if TYPE_CHECKING:
    from models.datasets import DatasetArrays


class OverLimit(ValueError):
    """The job's plugin model breaks a limit; the message says which, as a 422 would."""


def widths_of(spec: ComparisonSpec, dataset: DatasetArrays | None) -> Widths:
    if dataset is None:
        return task_widths(spec)
    return dataset_widths(dataset.x.shape[1], dataset.kind, dataset.n_classes, dataset.image_shape)


def check_plugin_model(spec: ComparisonSpec, settings: Settings, dataset: DatasetArrays | None) -> None:
    """Raises OverLimit if the spec's plugin model is over the parameter or compute limit."""
    d = spec.net.module
    if d is None or d.count is not None:
        return
    widths = widths_of(spec, dataset)
    with torch.device("meta"):
        module = build_module(spec.net, widths.in_dim, widths.out_dim, widths.image_shape)
    params = sum(p.numel() for p in module.parameters())
    errors = limit_errors(spec, settings, widths, params)
    if errors:
        raise OverLimit("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors))
