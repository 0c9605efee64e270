"""Optimizers and models from installed packages, through the entry-point groups
``optarena.optimizers`` and ``optarena.models``.

A package declares, in its pyproject.toml::

    [project.entry-points."optarena.optimizers"]
    signum = "my_package.optimizers:SIGNUM"

    [project.entry-points."optarena.models"]
    gated-mlp = "my_package.models:GATED_MLP"

where ``SIGNUM`` is an ``OptimizerPlugin`` (engine/optimizer_defs.py) and ``GATED_MLP`` a
``ModelPlugin`` (engine/model_defs.py). Only what is installed loads: a request names an
optimizer or a model, never a module, a path or code. A plugin that fails to load, breaks a
rule below, or reuses a built-in name is left out with a logged reason, so one broken package
cannot stop a worker. Loading imports the package (and torch with it), so the API never calls
``installed()``: it reads what live workers published (core/capabilities.py).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, TypeVar

from engine.model_defs import MODELS, ModelDef, ModelPlugin
from engine.optimizer_defs import HParam, OptimizerDef, OptimizerPlugin
from engine.registry import REGISTRY

GROUP = "optarena.optimizers"
MODEL_GROUP = "optarena.models"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # as the built-ins: resnet-mini

log = logging.getLogger(__name__)
D = TypeVar("D")


def _load(group: str, check: Callable[[Any, dict[str, D]], str | None],
          define: Callable[[Any, str], D]) -> dict[str, D]:
    out: dict[str, D] = {}
    for ep in metadata.entry_points(group=group):
        try:
            plugin = ep.load()
        except Exception:  # noqa: BLE001 - any import error of a third-party package
            log.exception("%s plugin %r (%s) failed to load; left out", group, ep.name, ep.value)
            continue
        reason = check(plugin, out)
        if reason:
            log.error("%s plugin %r (%s) left out: %s", group, ep.name, ep.value, reason)
            continue
        out[plugin.name] = define(plugin, ep.dist.name if ep.dist else plugin.factory.__module__)
    return out


@functools.cache
def installed() -> dict[str, OptimizerDef]:
    """Every valid optimizer plugin of this environment, by name (read once per process)."""
    return _load(GROUP, problem, definition)


@functools.cache
def installed_models() -> dict[str, ModelDef]:
    """Every valid model plugin of this environment, by name (read once per process)."""
    return _load(MODEL_GROUP, model_problem, model_definition)


def loaded() -> dict[str, OptimizerDef]:
    """The plugins if this process has loaded them already, else none (nothing imported)."""
    return installed() if installed.cache_info().currsize else {}


def loaded_models() -> dict[str, ModelDef]:
    return installed_models() if installed_models.cache_info().currsize else {}


def definition(plugin: OptimizerPlugin, distribution: str) -> OptimizerDef:
    f = plugin.factory
    return OptimizerDef(plugin.name, plugin.title or plugin.name, f.__qualname__, plugin.hparams,
                        doc=plugin.doc, module=f.__module__, distribution=distribution,
                        granularity=plugin.granularity, vectorized=False, eval_mode=plugin.eval_mode,
                        plugin=True, betas_tuple=False)


def model_definition(plugin: ModelPlugin, distribution: str) -> ModelDef:
    f = plugin.factory
    return ModelDef(plugin.name, plugin.title or plugin.name, f"{f.__module__}:{f.__qualname__}",
                    plugin.config, None, doc=plugin.doc, images=plugin.images,
                    batch_norm=plugin.batch_norm, plugin=True, distribution=distribution)


def _factory_problem(factory: Any) -> str | None:
    name = getattr(factory, "__qualname__", "<none>")
    if not callable(factory) or "." in name or "<" in name:
        return "its factory must be a module-level class or function (workers import it by name)"
    return None


def _schema_problem(hparams: tuple[HParam, ...]) -> str | None:
    for h in hparams:
        if not h.name.isidentifier():
            return f"setting {h.name!r} must be a Python identifier (it is passed by name)"
        if h.log and (h.low is None or h.low < 0 or (h.low == 0 and not h.low_open)):
            return f"hyperparameter {h.name!r} is on a log scale, so its range must be positive"
    return None


def _identity_problem(plugin: object, kind: type, pattern: re.Pattern[str], chars: str,
                      builtins: Mapping[str, Any], seen: Mapping[str, Any]) -> str | None:
    """The checks optimizer and model plugins share: the entry point's type and its name."""
    if not isinstance(plugin, kind):
        return f"the entry point must name a{'n' if kind.__name__[0] in 'AEIOU' else ''} {kind.__name__}, " \
               f"not a {type(plugin).__name__}"
    name = plugin.name  # type: ignore[attr-defined]
    if not pattern.match(name):
        return f"name {name!r} must be lowercase letters, digits{chars} (at most 32)"
    if name in builtins or name in seen:
        return f"name {name!r} is taken by {'a built-in' if name in builtins else 'another plugin'}"
    return None


def problem(plugin: object, seen: dict[str, OptimizerDef]) -> str | None:
    """Why a loaded optimizer entry point cannot be offered, or None."""
    why = _identity_problem(plugin, OptimizerPlugin, NAME, " and '_'", REGISTRY, seen)
    if why or not isinstance(plugin, OptimizerPlugin):
        return why
    if "lr" not in {h.name for h in plugin.hparams}:
        return "its hyperparameters must include 'lr' (schedules and tuning set it)"
    if plugin.granularity not in ("elementwise", "per_tensor"):
        return f"granularity {plugin.granularity!r} is neither 'elementwise' nor 'per_tensor'"
    return _factory_problem(plugin.factory) or _schema_problem(plugin.hparams)


def model_problem(plugin: object, seen: dict[str, ModelDef]) -> str | None:
    """Why a loaded model entry point cannot be offered, or None."""
    why = _identity_problem(plugin, ModelPlugin, MODEL_NAME, ", '_' and '-'", MODELS, seen)
    if why or not isinstance(plugin, ModelPlugin):
        return why
    return _factory_problem(plugin.factory) or _schema_problem(plugin.config)
