"""The parameter limit counts exactly the net that trains: for every task and net option, the
count from the task table equals the parameters of the net built on the task's real data,
both by the engine and as the plain ``nn.Sequential`` a notebook writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from pydantic import ValidationError

from core.limits import dataset_widths, net_params, task_widths
from engine.modules import build_module
from engine.nets import initial_weights
from engine.spec import ComparisonSpec
from engine.task_table import TASKS
from engine.tasks import TaskData, dataset_task, make_task

MLPS = [{"hidden": h, "norm": n} for h in ([], [8], [16, 8], [4, 4, 4]) for n in ("none", "batch", "layer",
                                                                                  "group")]
CNNS = [{"kind": "cnn", "channels": c, "hidden": h, "norm": n}
        for c in ([4], [4, 8]) for h in ([], [16]) for n in ("none", "batch", "layer", "instance", "group")]
# Models count their parameters without torch (engine/model_defs.py); the module must agree.
RESNETS = [{"kind": "module", "model": "resnet-mini", "config": c}
           for c in ({}, {"channels": 3, "blocks": 1}, {"channels": 8, "blocks": 3})]
ROW_MODELS = [{"kind": "module", "model": "mlp", "config": c} for c in ({}, {"width": 5, "depth": 1})] + \
             [{"kind": "module", "model": "autoencoder", "config": c}
              for c in ({}, {"width": 7, "bottleneck": 2})]
TRANSFORMERS = [{"kind": "module", "model": "transformer", "config": c}
                for c in ({}, {"d_model": 6, "heads": 3, "layers": 1, "ff": 5},
                          {"d_model": 4, "heads": 1, "layers": 3})]
MODULES = RESNETS + ROW_MODELS + TRANSFORMERS


def built(data: TaskData, net: object) -> tuple[int, int]:
    """(engine, nn.Sequential) parameter counts of the net on the task's own arrays."""
    in_dim, out_dim = data.train.x.shape[1], data.out_dim
    if data.kind == "classification":
        assert int(data.all().y.max()) < out_dim  # the labels fit the outputs the net has
    engine = initial_weights(net, in_dim, out_dim, 0, data.image_shape).numel()  # type: ignore[arg-type]
    plain = sum(p.numel() for p in build_module(net, in_dim, out_dim, data.image_shape).parameters())  # type: ignore[arg-type]
    return engine, plain


@pytest.mark.parametrize("task", [t for t in TASKS if t != "dataset"])
def test_every_task_and_net_option_is_counted_exactly(task: str) -> None:
    checked = 0
    for net in MLPS + CNNS + MODULES:
        try:
            spec = ComparisonSpec.model_validate({"task": {"name": task, "n": 200}, "net": net,
                                                  "arms": [{"optimizer": "sgd"}]})
        except ValidationError:
            continue
        data = make_task(spec.task)
        assert (data.kind, data.out_dim, data.image_shape) == (
            TASKS[task].kind, TASKS[task].out_dim, TASKS[task].image_shape)
        assert net_params(spec, task_widths(spec)) == built(data, spec.net)[0] == built(data, spec.net)[1]
        checked += 1
    images = TASKS[task].image_shape is not None  # a CNN and resnet-mini need images
    tokens = TASKS[task].vocab is not None  # the transformer needs token ids
    assert checked == len(MLPS) + len(ROW_MODELS) + (len(CNNS) + len(RESNETS) if images else 0) + (
        len(TRANSFORMERS) if tokens else 0)


@dataclass
class Arrays:
    x: np.ndarray
    y: np.ndarray
    kind: str
    n_classes: int
    image_shape: tuple[int, int, int] | None = None
    vocab: int | None = None


@pytest.mark.parametrize("kind,n_classes", [("regression", 0), ("classification", 3)])
def test_an_uploaded_data_set_is_counted_with_its_own_widths(kind: str, n_classes: int) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, n_classes, 120) if n_classes else rng.standard_normal(120)
    arrays = Arrays(rng.standard_normal((120, 7)), y, kind, n_classes)
    for net in MLPS:
        spec = ComparisonSpec.model_validate({"task": {"name": "dataset", "dataset": "d", "n": 120},
                                              "net": net, "arms": [{"optimizer": "sgd"}]})
        widths = dataset_widths(7, kind, n_classes)
        data = dataset_task(spec.task, arrays)
        assert net_params(spec, widths) == built(data, spec.net)[0] == built(data, spec.net)[1]
