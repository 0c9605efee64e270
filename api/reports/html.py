"""The self-contained HTML report: inline SVG figure and the results as HTML tables."""

from __future__ import annotations

from html import escape
from typing import Any

from api.reports.figures import TABLE_HEAD, significance_line, table_rows

STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.35em .7em;text-align:right}
th{background:#f3f3f3}td:first-child{text-align:left}svg{max-width:100%;height:auto}.muted{color:#666}"""


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"


def search_section(study: dict[str, Any]) -> str:
    """Each arm's search: its trials' outcomes, best trial, budget and importances."""
    head = ["arm", "trials (complete / pruned / running)", "best trial", "its validation loss",
            "steps spent / planned", "seconds", "importance (fANOVA)"]
    rows = []
    for arm in study["arms"]:
        states = [sum(t["state"] == s for t in arm["trials"]) for s in ("complete", "pruned", "running")]
        chosen = arm.get("chosen") or {}
        imp = arm.get("importances") or {}
        b = arm["budget"]
        point = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in chosen.items())
        rows.append([arm["arm"], " / ".join(map(str, states)), point or "-",
                     _num(arm.get("best_value")), f"{b['steps']} / {b['planned_steps']}", _num(b["seconds"]),
                     ", ".join(f"{k} {v:.2f}" for k, v in imp.items()) or "-"])
    return (f"<h2>Search: {study['trials']} trials per arm, {escape(study['sampler'])}, cohorts of "
            f"{study['batch']}, pruner {escape(study['pruner'])}</h2>{_table(head, rows)}"
            f"<p class=\"muted\">The results above are each arm's best trial re-trained on fresh seeds "
            f"{escape(', '.join(map(str, study['test_seeds'])))}.</p>")


def render(job: dict[str, Any], results: dict[str, Any], svg: bytes,
           search: dict[str, Any] | None = None) -> str:
    figure = svg.decode()
    figure = figure[figure.index("<svg"):]  # drop the XML prolog and doctype: invalid inside HTML
    target = results.get("target")
    notes = "".join(f"<li>{escape(significance_line(p))}</li>" for p in results["pairs"])
    warnings = "".join(f"<li>{escape(w)}</li>" for w in results["warnings"])
    spec = escape(str(job.get("spec")))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>optarena report {escape(job['id'])}</title><style>{STYLE}</style></head><body>
<h1>optarena report</h1>
<p class="muted">job {escape(job['id'])} · {escape(job['status'])} · {results['n_finished']} of
{results['n_runs']} runs finished · preset {escape(str(job.get('preset') or '-'))}</p>
{figure}
<h2>Results (mean over seeds, {escape(results['ci_description'])})</h2>
{_table(TABLE_HEAD, table_rows(results))}
<p class="muted">{escape(results['rank_rule'])}.</p>
<p class="muted">Steps to target: first step whose validation loss is at most
{'-' if target is None else f'{target:.4g}'} (runs reaching it of all runs).</p>
<h2>Pairwise differences in final validation loss</h2><ul>{notes or '<li>one arm only</li>'}</ul>
{f'<ul class="muted">{warnings}</ul>' if warnings else ''}
{search_section(search) if search and search.get("arms") else ''}
<details><summary>spec</summary><pre>{spec}</pre></details></body></html>"""
