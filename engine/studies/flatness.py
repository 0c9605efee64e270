"""Does SAM end in flatter minima than its base optimizer? A batch_size study's answer.

Every arm with ``sam`` is paired with its base arms, found from the spec: the same optimizer
and settings without sam, trained the same steps (equal steps) or twice them (equal gradient
evaluations: SAM takes two forward/backward passes a step). Per batch size, SAM's top Hessian
eigenvalue is set against its base's on the seeds both finished: each one's mean with its
interval over seeds, the paired difference with its interval, and the paired Wilcoxon test
over those seeds, Holm-corrected across the batch sizes of one pairing. Test loss is reported
beside it the same way. The verdict claims only what is significant.

Torch-free: the API builds it from stored run summaries (dicts with ``base_arm``, the job's
arm, ``batch_size``, ``seed`` and ``summary``).
"""

from __future__ import annotations

import math
from typing import Any

from engine.spec import ArmBase, ComparisonSpec
from engine.studies.statistics import ci_info, final_metric_table, holm, power_warning, wilcoxon

Runs = list[dict[str, Any]]
ALPHA = 0.05
EIGENVALUE, TEST_LOSS = "top_hessian_eigenvalue", "final_test_loss"
# The base's steps over SAM's: the name of the budget the pairing holds equal.
BUDGETS = {1: "equal_steps", 2: "equal_gradient_evaluations"}
TEST_RULE = (f"paired Wilcoxon signed-rank test over the seeds both arms finished, Holm-corrected "
             f"across the batch sizes of each pairing, alpha {ALPHA}")


def _settings(arm: ArmBase) -> dict[str, Any]:
    return arm.model_dump(exclude={"label", "sam", "steps_factor"})


def sam_pairings(spec: ComparisonSpec) -> list[tuple[int, int, str]]:
    """(SAM arm, base arm, budget) for every base of every SAM arm, in arm order."""
    out = []
    for s, arm in enumerate(spec.arms):
        if arm.sam is None:
            continue
        for b, base in enumerate(spec.arms):
            ratio, rest = divmod(base.steps_factor, arm.steps_factor)
            if base.sam is None and not rest and ratio in BUDGETS and _settings(base) == _settings(arm):
                out.append((s, b, BUDGETS[ratio]))
    return out


def _value(run: dict[str, Any], metric: str) -> float:
    v = run["summary"].get(metric)
    return math.nan if v is None or run["summary"].get("diverged") else float(v)


def _by_seed(runs: Runs, arm: int, batch_size: int, metric: str) -> dict[int, float]:
    return {r["seed"]: _value(r, metric) for r in runs
            if r["base_arm"] == arm and r["batch_size"] == batch_size}


def _stats(values: dict[int, float]) -> dict[str, Any]:
    row = final_metric_table({"": values})[0]
    return {k: row[k] for k in ("mean", "ci_low", "ci_high", "n_seeds", "n_diverged")}


def _paired(sam: dict[int, float], base: dict[int, float]) -> dict[str, Any]:
    """SAM minus base on the seeds where both are finite, and the test of it."""
    seeds = sorted(k for k in set(sam) & set(base) if math.isfinite(sam[k]) and math.isfinite(base[k]))
    diff = _stats({k: sam[k] - base[k] for k in seeds})
    out = {k: diff[k] for k in ("mean", "ci_low", "ci_high")} | {"n_pairs": len(seeds)}
    if not seeds:
        return out | {"p_value": None, "lower": None}
    test = wilcoxon([sam[k] for k in seeds], [base[k] for k in seeds])
    # The side whose values are lower carries more rank weight among the differences.
    sam_lower = test.get("r_minus", 0) > test.get("r_plus", 0)
    lower = None if test["pvalue"] >= 1 else ("sam" if sam_lower else "base")
    return out | {"p_value": test["pvalue"], "method": test["method"], "lower": lower}


def _holm(rows: list[dict[str, Any]], metric: str) -> None:
    tested = [row["difference"][metric] for row in rows if row["difference"][metric]["p_value"] is not None]
    for d, p in zip(tested, holm([d["p_value"] for d in tested]), strict=True):
        d["p_holm"] = p
        d["significant"] = p < ALPHA and d["lower"] is not None
    for row in rows:
        row["difference"][metric].setdefault("p_holm", None)
        row["difference"][metric].setdefault("significant", False)


def _size_name(bs: int, full: bool) -> str:
    return "full batch" if full else str(bs)


def _listed(rows: list[dict[str, Any]]) -> str:
    return f" ({', '.join(_size_name(r['batch_size'], r['full_batch']) for r in rows)})" if rows else ""


def _verdict(sam: str, base: str, budget: str, rows: list[dict[str, Any]], n_seeds: int) -> str:
    def split(metric: str) -> tuple[list[Any], list[Any], list[Any]]:
        sig = [r for r in rows if r["difference"][metric]["significant"]]
        return ([r for r in sig if r["difference"][metric]["lower"] == "sam"],
                [r for r in sig if r["difference"][metric]["lower"] == "base"],
                [r for r in rows if r not in sig])

    words = "at equal steps" if budget == "equal_steps" else \
        f"at equal gradient evaluations ({base} trained twice the steps)"
    flat, sharp, same = split(EIGENVALUE)
    n = len(rows)
    text = (f"{sam} ended in flatter minima than {base} {words} at {len(flat)} of {n} batch sizes"
            f"{_listed(flat)}, in sharper ones at {len(sharp)}{_listed(sharp)}, with no significant "
            f"difference at {len(same)}{_listed(same)} (top Hessian eigenvalue). ")
    lower, higher, even = split(TEST_LOSS)
    text += (f"Test loss: lower with {sam} at {len(lower)}{_listed(lower)}, higher at {len(higher)}"
             f"{_listed(higher)}, no significant difference at {len(even)}{_listed(even)}. "
             f"Each a {TEST_RULE}.")
    warning = power_warning(n_seeds, n, ALPHA)
    return text + (f" Note: {warning}." if warning else "")


def _pairing(spec: ComparisonSpec, runs: Runs, s: int, b: int, budget: str) -> dict[str, Any]:
    assert spec.study is not None and spec.study.kind == "batch_size"
    n_train = spec.task.split_sizes()[0]
    rows = []
    for bs in spec.study.batch_sizes:
        size = min(bs or n_train, n_train)
        row: dict[str, Any] = {"batch_size": size, "full_batch": size >= n_train, "difference": {}}
        for side, arm in (("sam", s), ("base", b)):
            steps = spec.steps_for(size, n_train, spec.arms[arm])
            row[side] = {"steps": steps, "gradient_evaluations": steps * (2 if side == "sam" else 1)} | {
                m: _stats(_by_seed(runs, arm, bs, m)) for m in (EIGENVALUE, TEST_LOSS)}
        for m in (EIGENVALUE, TEST_LOSS):
            row["difference"][m] = _paired(_by_seed(runs, s, bs, m), _by_seed(runs, b, bs, m))
        rows.append(row)
    for m in (EIGENVALUE, TEST_LOSS):
        _holm(rows, m)
    sam, base = spec.arms[s].display(), spec.arms[b].display()
    n_seeds = min((r["difference"][EIGENVALUE]["n_pairs"] for r in rows), default=0)
    return {"sam_arm": sam, "base_arm": base, "budget": budget, "rows": rows,
            "verdict": _verdict(sam, base, budget, rows, n_seeds)}


def flatness(spec: ComparisonSpec, runs: Runs) -> dict[str, Any]:
    """The flatness report of a batch_size study: one entry per (SAM arm, base arm, budget).

    Differences are SAM minus base: a negative eigenvalue difference is a flatter SAM minimum."""
    pairings = [_pairing(spec, runs, s, b, budget) for s, b, budget in sam_pairings(spec)]
    return {"metric": EIGENVALUE, "alpha": ALPHA, "test": TEST_RULE, "difference": "sam minus base",
            "pairings": pairings} | ci_info()
