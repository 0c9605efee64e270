"""optarena: the command line (`optarena ...`) and the Python client of the HTTP API.

    import optarena
    c = optarena.Client(url, key)        # or optarena.AsyncClient, whose methods are awaited
    job = c.submit_job(preset="seed-wave")
    job.wait()
    job.results_frame()                   # pandas: pip install 'optarena[notebook]'
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded when first used: the CLI and optimizer plugins import this package without needing them.
_EXPORTS = {"Client": "optarena.client", "AsyncClient": "optarena.aio", "Job": "optarena.handles",
            "AsyncJob": "optarena.handles", "ApiError": "optarena.wire"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'optarena' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
