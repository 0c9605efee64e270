"""The report figure with matplotlib (Agg): train and validation loss per arm, mean over seeds
with a 95% Student-t band, and the results table underneath.

Drawn with matplotlib's object API (a Figure on its own Agg canvas), never pyplot: pyplot keeps
a global "current figure", and request handlers run in parallel threads."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
PANELS = (("train_loss", "Train loss (moving average, 50 steps)"), ("val_loss", "Validation loss"))


def _fmt(cell: dict[str, Any]) -> str:
    if cell.get("mean") is None:
        return "-"
    if cell.get("ci_low") is None or cell["ci_low"] == cell["ci_high"]:
        return f"{cell['mean']:.4g}"
    return f"{cell['mean']:.4g} [{cell['ci_low']:.3g}, {cell['ci_high']:.3g}]"


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for a in results["arms"]:
        t = a["time_to_target"]
        reach = f"{t['mean_step']:.0f} ({t['n_reached']}/{t['n_runs']})" if t["mean_step"] else "not reached"
        rows.append([a["arm"], f"{a['rank']} ({a['group']})", _fmt(a["final_val"]), _fmt(a["best_val"]),
                     _fmt(a["gap"]), reach, str(a["n_diverged"])])
    return rows


TABLE_HEAD = ["arm", "rank (group)", "final val loss [95% t-interval]", "best val loss", "generalization gap",
              "steps to target", "diverged"]


def render(bands: dict[str, dict[str, dict[str, Any]]], results: dict[str, Any], title: str,
           fmt: str) -> bytes:
    """PNG or SVG bytes. ``bands``: metric -> label -> mean_band output. The same input gives
    the same bytes, in either format."""
    figure_type, canvas_type = _matplotlib()
    fig = figure_type(figsize=(12, 7.2), dpi=110)
    canvas_type(fig)
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 1.25], hspace=0.35)
    labels = [a["arm"] for a in results["arms"]] or sorted({lb for b in bands.values() for lb in b})
    for col, (metric, name) in enumerate(PANELS):
        ax = fig.add_subplot(grid[0, col])
        for i, label in enumerate(labels):
            band = bands.get(metric, {}).get(label)
            if band:
                _draw(ax, band, label, COLOURS[i % len(COLOURS)])
        ax.set(title=name, xlabel="step", yscale="log")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(frameon=False)
    _table(fig.add_subplot(grid[1, :]), results)
    fig.suptitle(title, fontsize=13)
    buf = io.BytesIO()
    # An SVG's date would change every time; a PNG carries none.
    fig.savefig(buf, format=fmt, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()  # nothing to close: no pyplot registry holds the figure


@cache
def _matplotlib() -> tuple[type, type]:
    """Figure and its Agg canvas, imported on the first drawing so that the API starts fast."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # SVG ids are hashes salted with a random UUID per file unless this is set. Set once here,
    # before any figure is drawn, and never changed: rcParams are process-wide.
    if matplotlib.rcParams["svg.hashsalt"] is None:
        matplotlib.rcParams["svg.hashsalt"] = "optarena-report"
    return Figure, FigureCanvasAgg


def _draw(ax: Any, band: dict[str, Any], label: str, colour: str) -> None:
    import numpy as np

    steps = np.asarray(band["steps"], dtype=float)
    f = lambda xs: np.array([np.nan if x is None else x for x in xs], dtype=float)
    ax.plot(steps, f(band["mean"]), color=colour, lw=1.6, label=f"{label} (n={band['n_seeds']})")
    if band["n_seeds"] > 1:
        ax.fill_between(steps, f(band["low"]), f(band["high"]), color=colour, alpha=0.2, lw=0)


def _table(ax: Any, results: dict[str, Any]) -> None:
    ax.axis("off")
    rows = table_rows(results)
    if not rows:
        ax.text(0.5, 0.5, "no finished runs yet", ha="center", va="center")
        return
    t = ax.table(cellText=rows, colLabels=TABLE_HEAD, loc="upper center", cellLoc="center")
    t.auto_set_font_size(False)
    t.set_fontsize(9)
    t.auto_set_column_width(list(range(len(TABLE_HEAD))))  # wide CI cells must not overflow
    t.scale(1, 1.4)
    notes = [significance_line(p) for p in results["pairs"]] + results["warnings"]
    ax.text(0.0, -0.05, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=8.5, wrap=True)


def significance_line(p: dict[str, Any]) -> str:
    verdict = "significant" if p["significant"] else "not significant"
    pi = p.get("p_a_beats_b") or {}
    pab = f", P({p['a']} beats {p['b']}) = {pi['estimate']:.2f}" if isinstance(pi, dict) and \
        pi.get("estimate") is not None else ""
    return (f"{p['a']} vs {p['b']}: better {p['better']}, Wilcoxon p = {p['p_value']:.3g}, "
            f"Holm p = {p['p_holm']:.3g} ({verdict}){pab}")
