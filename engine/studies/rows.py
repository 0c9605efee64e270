"""A stage trained in this process, as the database would hold its runs.

api/studies/views.py and engine/studies/flatness.py read runs as dicts of a Run's columns;
benchmarks and tests that train with ``engine.runner.compare`` get the same dicts here.
"""

from __future__ import annotations

from typing import Any

from engine.design import Stage


def stored_rows(st: Stage, results: dict[int, Any]) -> list[dict[str, Any]]:
    """``results``: ``compare(st.spec)``'s, keyed by the stage's own run numbers."""
    rows = []
    for r in results.values():
        arm = st.spec.arms[r.arm]
        rows.append({"index": st.offset + r.run, "label": r.label, "optimizer": r.optimizer, "arm": r.arm,
                     "base_arm": st.base_arm[r.arm], "stage": st.index, "variant": r.variant,
                     "seed": r.seed, "batch_size": st.spec.batch_size_of(arm),
                     "hyperparams": arm.hyperparams(), "status": "succeeded", "summary": r.summary,
                     "outputs": r.outputs})
    return rows
