"""optarena's training engine: torch, numpy and the standard library only.

``engine.spec``, ``engine.registry`` and ``engine.presets`` import no torch, so the
API can validate specs without the training stack; the rest loads on first use.
"""

from typing import Any

_LAZY = {"compare": "engine.runner", "plan_cohorts": "engine.design", "train_runs": "engine.runner",
         "preset": "engine.presets", "PRESETS": "engine.presets", "ComparisonSpec": "engine.spec"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
