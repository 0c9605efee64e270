"""Study presets at their full size (``make bench-studies``): the wall time of each on this
machine and what it found, summarized by the same code as ``GET /jobs/{id}/study``.

The tuning preset (945 runs) has its own benchmark, bench/tuning.py. The last line of
output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.studies import views  # noqa: E402
from engine import preset  # noqa: E402
from engine.design import n_stages, stage  # noqa: E402
from engine.runner import compare  # noqa: E402

PRESETS = ["batch-size-digits", "cv-wave", "bias-variance-sines", "trajectories-rosenbrock"]


def stored_like(name: str) -> tuple[Any, list[dict[str, Any]], dict[int, dict[str, Any]], float]:
    """Train a preset's every stage here; return its runs as the database would hold them."""
    spec = preset(name)
    assert n_stages(spec) == 1, "multi-stage studies: see bench/tuning.py"
    st = stage(spec, 0)
    t0 = time.perf_counter()
    results = compare(st.spec)
    seconds = time.perf_counter() - t0
    runs, curves = [], {}
    for r in results.values():
        arm = st.spec.arms[r.arm]
        runs.append({"index": r.run, "label": r.label, "optimizer": r.optimizer, "arm": r.arm,
                     "base_arm": st.base_arm[r.arm], "stage": 0, "variant": r.variant, "seed": r.seed,
                     "batch_size": st.spec.batch_size_of(arm), "hyperparams": arm.hyperparams(),
                     "status": "succeeded", "summary": r.summary, "outputs": r.outputs})
        curves[r.run] = {m: (s, v) for m, (s, v) in r.curves.items()}
    return spec, runs, curves, seconds


def findings(name: str, spec: Any, runs: list[dict[str, Any]], curves: dict) -> dict[str, Any]:
    import numpy as np

    arrays = {i: {m: (np.asarray(s), np.asarray(v, dtype=np.float64)) for m, (s, v) in c.items()}
              for i, c in curves.items()}
    kind = spec.study.kind
    if kind == "batch_size":
        view = views.batch_size(spec, runs)
        return {"verdict": view["verdict"], "sharpness_vs_test_loss": view["sharpness_vs_test_loss"],
                "sharpness_vs_gap": view["sharpness_vs_gap"], "rows": [
            {"batch_size": r["batch_size"], "test_loss": r["final_test_loss"]["mean"],
             "gap": r["generalization_gap"]["mean"], "top_eig": r["top_hessian_eigenvalue"]["mean"],
             "loss_increase": r["loss_increase_mean"]["mean"]} for r in view["rows"]]}
    if kind == "cross_validation":
        view = views.cross_validation(spec, runs)
        return {a["arm"]: {"mean": a["mean"], "std": a["std"]} for a in view["arms"]}
    if kind == "bias_variance":
        view = views.bias_variance(spec, runs)
        keys = ("bias2", "variance", "noise", "sum", "expected_test_error", "expected_test_error_se")
        return {a["arm"]: {k: a.get(k) for k in keys} | {"bagged": (a.get("bagging") or {}).get(
            "ensemble_test_mse")} for a in view["arms"]}
    view = views.trajectories(spec, runs, arrays)
    return {p["arm"]: {"final_loss": p["summary"]["final_loss"],
                       "distance_to_minimum": p["summary"]["distance_to_minimum"]} for p in view["paths"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=PRESETS, help="presets to run")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    for name in args.only:
        spec, runs, curves, seconds = stored_like(name)
        out[name] = {"runs": len(runs), "seconds": round(seconds, 1),
                     "found": findings(name, spec, runs, curves)}
        print(name, json.dumps(out[name]), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
