"""Report figures drawn from parallel threads, as request handlers draw them, equal the same
figures drawn one at a time, byte for byte; and nothing in api/ uses pyplot's global state."""

from __future__ import annotations

import ast
import io
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from api.reports import figures
from engine.studies.statistics import mean_band

API = Path(__file__).resolve().parents[2] / "api"
ARMS = ["Adam", "SGD", "Momentum"]
THREADS = 8


def _report(k: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Bands, results and title of a made-up job; ``k`` changes the curves, numbers and title."""
    rng = np.random.default_rng(k)
    steps = list(range(0, 300, 5))
    bands: dict[str, Any] = {}
    for metric in ("train_loss", "val_loss"):
        bands[metric] = {arm: mean_band([(steps, list(np.exp(-np.arange(len(steps)) / (20 + 8 * i + k))
                                                      + 0.05 * rng.random(len(steps)) + 0.01))
                                         for _ in range(3)])
                         for i, arm in enumerate(ARMS)}
    cell = lambda m: {"mean": m, "ci_low": 0.9 * m, "ci_high": 1.1 * m}
    arms = [{"arm": a, "rank": r + 1, "group": "a", "final_val": cell(0.1 * (r + 1) + k),
             "best_val": cell(0.09 * (r + 1)), "gap": cell(0.01 * k + 0.001), "n_diverged": 0,
             "time_to_target": {"mean_step": 40.0 * (r + 1), "n_reached": 3, "n_runs": 3}}
            for r, a in enumerate(ARMS)]
    pairs = [{"a": "Adam", "b": "SGD", "better": "Adam", "p_value": 0.25, "p_holm": 0.5,
              "significant": False, "p_a_beats_b": {"estimate": 0.8}}]
    return bands, {"arms": arms, "pairs": pairs, "warnings": ["3 seeds"]}, f"job {k}"


def test_reports_drawn_in_parallel_threads_equal_serial_ones() -> None:
    jobs = [(k, fmt) for k in range(THREADS // 2) for fmt in ("png", "svg")]
    inputs = {k: _report(k) for k, _ in jobs}
    serial = {(k, fmt): figures.render(*inputs[k], fmt) for k, fmt in jobs}
    start = threading.Barrier(THREADS)

    def draw(job: tuple[int, str]) -> bytes:
        start.wait(timeout=60)  # all threads draw at once
        return figures.render(*inputs[job[0]], job[1])

    with ThreadPoolExecutor(THREADS) as pool:
        parallel = dict(zip(jobs, pool.map(draw, jobs), strict=True))

    for (k, fmt), data in parallel.items():
        # Deterministic: the SVG has no date and a fixed id salt, the PNG no timestamp.
        assert data == serial[k, fmt], (k, fmt)
        if fmt == "png":
            image = Image.open(io.BytesIO(data))
            image.load()
            assert image.format == "PNG" and image.width > 1000
        else:
            assert ET.fromstring(data).tag.endswith("svg") and f"job {k}".encode() in data
    # Different inputs gave different figures: no thread drew into another one's figure.
    assert len({parallel[k, "png"] for k in inputs}) == len(inputs)


def _imports_pyplot(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.startswith("matplotlib.pyplot") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("matplotlib") and (
                "pyplot" in (node.module or "") or any(a.name == "pyplot" for a in node.names)):
            return True
    return False


def test_no_pyplot_in_the_api() -> None:
    users = [str(p.relative_to(API)) for p in sorted(API.rglob("*.py"))
             if _imports_pyplot(ast.parse(p.read_text()))]
    assert users == []
