"""The ``optarena`` command line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Fair, fast optimizer comparisons.")
console = Console()


def _load_spec(spec_file: Path | None, preset: str | None, steps: int | None):
    from pydantic import ValidationError

    from engine.presets import preset_dict
    from engine.spec import ComparisonSpec

    if (spec_file is None) == (preset is None):
        raise typer.BadParameter("give a spec file or --preset, not both")
    raw: dict[str, Any] = json.loads(spec_file.read_text()) if spec_file else preset_dict(preset or "")
    if steps is not None:
        raw.setdefault("train", {})["steps"] = steps
    try:
        return ComparisonSpec.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            console.print(f"[red]{'.'.join(map(str, err['loc']))}[/red]: {err['msg']}")
        raise typer.Exit(2) from None


def _num(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def result_table(results) -> Table:
    first = next(iter(results.values()), None)
    if first is not None and "function" in first.summary:
        return path_table(results)
    table = Table(title="optarena results")
    for col in ("run", "arm", "seed", "final train", "final val", "final test", "best val (step)",
                "gap", "status"):
        table.add_column(col, justify="right" if col not in ("arm", "status") else "left")
    for r in results.values():
        s = r.summary
        status = "diverged" if s["diverged"] else (s["stopped"] or "ok")
        best = "-" if s["best_val_loss"] is None else f"{s['best_val_loss']:.4g} ({s['best_step']})"
        table.add_row(str(r.run), r.label, str(r.seed), f"{s['final_train_loss']:.4g}",
                      f"{s['final_val_loss']:.4g}", f"{s['final_test_loss']:.4g}", best,
                      f"{s['generalization_gap']:.2g}", status)
    return table


def path_table(results) -> Table:
    """A trajectories study: where each optimizer ended on the 2-D function."""
    table = Table(title="optarena trajectories")
    for col in ("run", "arm", "final f", "final (x, y)", "distance to minimum", "status"):
        table.add_column(col, justify="left" if col in ("arm", "status") else "right")

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.4g}"

    for r in results.values():
        s = r.summary
        status = f"diverged at step {s['diverged_at_step']}" if s["diverged"] else "ok"
        where = f"({fmt(s['final_x'])}, {fmt(s['final_y'])})"
        table.add_row(str(r.run), r.label, fmt(s["final_loss"]), where,
                      fmt(s["distance_to_minimum"]), status)
    return table


@app.command()
def run(
    spec_file: Annotated[Path | None, typer.Argument(help="comparison spec (JSON)")] = None,
    preset: Annotated[str | None, typer.Option(help="a named preset instead of a file")] = None,
    steps: Annotated[int | None, typer.Option(help="override train.steps")] = None,
    out: Annotated[Path, typer.Option(help="metrics JSON to write")] = Path("optarena-metrics.json"),
) -> None:
    """Train a comparison here, without a server; print the results and save every metric."""
    from engine.design import chosen_points, total_runs
    from engine.runner import run_study

    spec = _load_spec(spec_file, preset, steps)
    with console.status(f"training {total_runs(spec)} runs ..."):
        results, state = run_study(spec)
    if state.get("chosen"):  # tuning's points, or a search's best trials
        console.print({spec.arms[a].display(): hp for a, hp in (chosen_points(state) or {}).items()})
    console.print(result_table(results))
    payload = {
        "spec": spec.model_dump(mode="json"),
        "study_state": {k: {str(a): hp for a, hp in v.items()} for k, v in state.items()},
        "runs": [
            {"run": r.run, "label": r.label, "optimizer": r.optimizer, "seed": r.seed,
             "batch_size": r.batch_size, "init_hash": r.init_hash, "batch_hash": r.batch_hash,
             "summary": {k: _num(v) for k, v in r.summary.items()},
             "metrics": {m: {"steps": s, "values": [_num(v) for v in vals]}
                         for m, (s, vals) in r.curves.items()}}
            for r in results.values()
        ],
    }
    out.write_text(json.dumps(payload))
    console.print(f"metrics written to {out}")


@app.command()
def presets() -> None:
    """List the named presets."""
    from engine.presets import DESCRIPTIONS

    for name, text in DESCRIPTIONS.items():
        console.print(f"[bold]{name}[/bold]: {text}")


# `optarena keys ...` lives in its own module (torch-free, it only touches the database).
from optarena.keys_cli import app as keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")


# Remote commands (submit, jobs, show, cancel, export, serve, worker) use optarena.client.
from optarena.commands import register as register_remote  # noqa: E402

register_remote(app)


if __name__ == "__main__":
    app()
