"""Optimizers from installed packages, through the entry-point group ``optarena.optimizers``.

A package declares, in its pyproject.toml::

    [project.entry-points."optarena.optimizers"]
    signum = "my_package.optimizers:SIGNUM"

where ``SIGNUM`` is an ``OptimizerPlugin`` (engine/optimizer_defs.py). Only what is installed
loads: a request names an optimizer, never a module, a path or code. A plugin that fails to
load, lacks ``lr``, or reuses a built-in name is left out with a logged reason, so one broken
package cannot stop a worker. Loading imports the package (and torch with it), so the API never
calls ``installed()``: it reads what live workers published (core/capabilities.py).
"""

from __future__ import annotations

import functools
import logging
import re
from importlib import metadata

from engine.optimizer_defs import OptimizerDef, OptimizerPlugin
from engine.registry import REGISTRY

GROUP = "optarena.optimizers"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

log = logging.getLogger(__name__)


@functools.cache
def installed() -> dict[str, OptimizerDef]:
    """Every valid plugin of this environment, by name (read once per process)."""
    out: dict[str, OptimizerDef] = {}
    for ep in metadata.entry_points(group=GROUP):
        try:
            plugin = ep.load()
        except Exception:  # noqa: BLE001 - any import error of a third-party package
            log.exception("optimizer plugin %r (%s) failed to load; left out", ep.name, ep.value)
            continue
        reason = problem(plugin, out)
        if reason:
            log.error("optimizer plugin %r (%s) left out: %s", ep.name, ep.value, reason)
            continue
        out[plugin.name] = definition(plugin, ep.dist.name if ep.dist else plugin.factory.__module__)
    return out


def loaded() -> dict[str, OptimizerDef]:
    """The plugins if this process has loaded them already, else none (nothing imported)."""
    return installed() if installed.cache_info().currsize else {}


def definition(plugin: OptimizerPlugin, distribution: str) -> OptimizerDef:
    f = plugin.factory
    return OptimizerDef(plugin.name, plugin.title or plugin.name, f.__qualname__, plugin.hparams,
                        doc=plugin.doc, module=f.__module__, distribution=distribution,
                        granularity=plugin.granularity, vectorized=False, eval_mode=plugin.eval_mode,
                        plugin=True, betas_tuple=False)


def problem(plugin: object, seen: dict[str, OptimizerDef]) -> str | None:
    """Why a loaded entry point cannot be offered, or None."""
    if not isinstance(plugin, OptimizerPlugin):
        return f"the entry point must name an OptimizerPlugin, not a {type(plugin).__name__}"
    if not NAME.match(plugin.name):
        return f"name {plugin.name!r} must be lowercase letters, digits and '_' (at most 32)"
    if plugin.name in REGISTRY or plugin.name in seen:
        owner = "a built-in" if plugin.name in REGISTRY else "another plugin"
        return f"name {plugin.name!r} is taken by {owner}"
    if "lr" not in {h.name for h in plugin.hparams}:
        return "its hyperparameters must include 'lr' (schedules and tuning set it)"
    if "." in plugin.factory.__qualname__ or "<" in plugin.factory.__qualname__:
        return "its factory must be a module-level class or function (workers import it by name)"
    if plugin.granularity not in ("elementwise", "per_tensor"):
        return f"granularity {plugin.granularity!r} is neither 'elementwise' nor 'per_tensor'"
    for h in plugin.hparams:
        if h.log and (h.low is None or h.low < 0 or (h.low == 0 and not h.low_open)):
            return f"hyperparameter {h.name!r} is on a log scale, so its range must be positive"
    return None
