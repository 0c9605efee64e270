"""The optimizers a spec can name, with their hyperparameters (tasks: engine/task_table.py).

Plain data with no torch import, so the API can validate specs and list the catalogue
without loading the training stack. The nine below have hand-written vectorized update
rules (``engine.optimizers.Stepper``, the fast path); the field's catalogue
(engine/catalogue.py) runs the packages' own classes (``engine.torch_stepper``).
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any

from engine.catalogue import CATALOGUE
from engine.model_defs import ModelDef
from engine.optimizer_defs import HParam, OptimizerDef, describe


def _lr(default: float) -> HParam:
    return HParam("lr", default, 0.0, None, low_open=True, doc="learning rate")


_WD = HParam("weight_decay", 0.0, 0.0, None, doc="L2 penalty added to the gradient")
_MOMENTUM = HParam("momentum", 0.9, 0.0, 1.0, high_open=True, doc="momentum factor")
_EPS_ADAM = HParam("eps", 1e-8, 0.0, None, low_open=True, doc="term added to the denominator")
_BETA1 = HParam("beta1", 0.9, 0.0, 1.0, high_open=True, doc="decay of the first-moment average")
_BETA2 = HParam("beta2", 0.999, 0.0, 1.0, high_open=True, doc="decay of the second-moment average")

REGISTRY: dict[str, OptimizerDef] = {
    d.name: d
    for d in (
        OptimizerDef(
            "gd", "Gradient descent (full batch)", "SGD",
            (_lr(1e-3), HParam("momentum", 0.0, 0.0, 1.0, high_open=True), _WD),
            full_batch=True, doc="SGD on the whole training set every step",
        ),
        OptimizerDef("sgd", "SGD", "SGD", (_lr(1e-3), _WD), doc="plain mini-batch SGD"),
        OptimizerDef(
            "momentum", "Momentum", "SGD",
            (_lr(1e-3), _MOMENTUM, HParam("dampening", 0.0, 0.0, 1.0), _WD),
            doc="SGD with heavy-ball momentum",
        ),
        OptimizerDef(
            "nesterov", "Nesterov", "SGD", (_lr(1e-3), _MOMENTUM, _WD),
            fixed={"nesterov": True}, doc="SGD with Nesterov accelerated gradient",
        ),
        OptimizerDef(
            "adagrad", "Adagrad", "Adagrad",
            (
                _lr(1e-2),
                HParam("lr_decay", 0.0, 0.0, None),
                _WD,
                HParam("initial_accumulator_value", 0.0, 0.0, None),
                HParam("eps", 1e-10, 0.0, None, low_open=True),
            ),
            doc="per-parameter steps scaled by the sum of squared gradients",
        ),
        OptimizerDef(
            "adadelta", "Adadelta", "Adadelta",
            (
                HParam("lr", 1.0, 0.0, None, low_open=True, doc="scale of the delta (1.0: none)"),
                HParam("rho", 0.9, 0.0, 1.0, doc="decay of the running averages"),
                HParam("eps", 1e-6, 0.0, None, low_open=True),
                _WD,
            ),
            doc="step sizes from running averages of squared gradients and updates",
        ),
        OptimizerDef(
            "rmsprop", "RMSprop", "RMSprop",
            (
                _lr(1e-2),
                HParam("alpha", 0.99, 0.0, 1.0, doc="smoothing constant"),
                HParam("eps", 1e-8, 0.0, None, low_open=True),
                _WD,
                HParam("momentum", 0.0, 0.0, 1.0, high_open=True),
                HParam("centered", False),
            ),
            doc="steps divided by a running RMS of the gradient",
        ),
        OptimizerDef(
            "adam", "Adam", "Adam", (_lr(1e-3), _BETA1, _BETA2, _EPS_ADAM, _WD),
            doc="momentum plus per-parameter adaptive steps, bias-corrected",
        ),
        OptimizerDef(
            "adamw", "AdamW", "AdamW",
            (_lr(1e-3), _BETA1, _BETA2, _EPS_ADAM, HParam("weight_decay", 1e-2, 0.0, None)),
            doc="Adam with decoupled weight decay",
        ),
    )
} | CATALOGUE


def package_version(d: OptimizerDef | ModelDef) -> str | None:
    """The installed version of the package that provides the optimizer or model (read from its
    metadata, so the package itself is not imported); None when it is not installed."""
    return _installed_version(d.distribution)


@functools.cache
def _installed_version(distribution: str) -> str | None:
    # Read once per process: every run's start and every GET /optimizers would otherwise
    # reread the package's metadata files, and what is installed does not change meanwhile.
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def catalogue() -> list[dict[str, Any]]:
    """Every built-in optimizer with each hyperparameter's type, default and range."""
    return [describe(d, package_version(d)) for d in REGISTRY.values()]
