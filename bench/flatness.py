"""Does SAM end in flatter minima? (``make bench-flatness``): preset ``batch-size-digits``
trained here, and the flatness part of its study summary (the code of ``GET /jobs/{id}/study``):
per pairing of SAM-Momentum with a base arm and per batch size, the top Hessian eigenvalue and
test loss of each, their paired difference and its Holm-corrected test, then the verdict.

The last line of output is one JSON object.

    make bench-flatness
    .venv/bin/python bench/flatness.py --steps 300 --seeds 3     # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from api.studies import views  # noqa: E402
from engine import preset  # noqa: E402
from engine.design import stage  # noqa: E402
from engine.runner import compare  # noqa: E402
from engine.studies.rows import stored_rows  # noqa: E402


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def interval(s: dict[str, Any]) -> str:
    return f"{fmt(s['mean'])} [{fmt(s['ci_low'])}, {fmt(s['ci_high'])}]"


def pairing_table(p: dict[str, Any]) -> list[str]:
    eig, test = "top_hessian_eigenvalue", "final_test_loss"
    lines = [f"{p['sam_arm']} vs {p['base_arm']} ({p['budget'].replace('_', ' ')})", "",
             "| batch size | steps (SAM / base) | top eigenvalue SAM | top eigenvalue base | difference | "
             "p (Holm) | test loss SAM | test loss base | p (Holm) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in p["rows"]:
        d, t = r["difference"][eig], r["difference"][test]
        lines.append(f"| {'full' if r['full_batch'] else r['batch_size']} | {r['sam']['steps']} / "
                     f"{r['base']['steps']} | {interval(r['sam'][eig])} | {interval(r['base'][eig])} | "
                     f"{interval(d)} | {fmt(d['p_holm'])} | {interval(r['sam'][test])} | "
                     f"{interval(r['base'][test])} | {fmt(t['p_holm'])} |")
    return [*lines, "", p["verdict"], ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None,
                        help="override train.steps (default: the preset's)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..n-1 (default: the preset's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (one is fastest for these small nets on a busy machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides: dict[str, Any] = {}
    if args.steps:
        overrides["train"] = {"steps": args.steps, "eval_every": min(250, args.steps)}
    if args.seeds:
        overrides["seeds"] = list(range(args.seeds))
    spec = preset("batch-size-digits", overrides)
    st = stage(spec, 0)
    print(f"batch-size-digits: {st.n_runs} runs, {spec.train.steps} steps (x2 for the 2x arm)", flush=True)
    t0 = time.perf_counter()
    rows = stored_rows(st, compare(st.spec))
    seconds = time.perf_counter() - t0
    view = views.batch_size(spec, rows)
    for p in view["flatness"]["pairings"]:
        print("\n".join(pairing_table(p)))
    print(f"sharpness vs test loss over all runs: {view['verdict']}")
    print(f"{len(rows)} runs in {seconds:.0f} s")
    print(json.dumps({"runs": len(rows), "steps": spec.train.steps, "seeds": spec.seeds,
                      "seconds": round(seconds, 1), "flatness": view["flatness"]}))


if __name__ == "__main__":
    main()
