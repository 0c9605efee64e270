"""The batch_size study's summary with SAM arms (``GET /jobs/{id}/study``'s view function), on
stored runs made up so that the answer is known: the flatness verdict claims a difference
exactly where the Holm-corrected paired test finds one."""

from __future__ import annotations

from typing import Any

import pytest

from api.studies import views
from engine.presets import preset

SEEDS = list(range(10))
SIZES = [4, 64]


def _summary(eig: float, test: float, steps: int) -> dict[str, Any]:
    return {"top_hessian_eigenvalue": eig, "final_test_loss": test, "generalization_gap": test - 0.1,
            "loss_increase_mean": eig / 100, "steps_trained": steps, "examples_seen": steps * 4,
            "diverged": False}


def _runs() -> list[dict[str, Any]]:
    """Momentum (arm 0), SAM-Momentum (1) and Momentum 2x steps (2) on 10 seeds.

    SAM's eigenvalue is lower on every seed at batch size 4 and on half of them at 64; its
    test loss is higher on every seed at 64 and on half of them at 4."""
    runs = []
    labels = {0: "Momentum", 1: "SAM-Momentum", 2: "Momentum 2x steps"}
    for arm in (0, 1, 2):
        for bs in SIZES:
            for s in SEEDS:
                eig, test = 10.0 + s, 1.0 + s / 10
                if arm == 1:
                    eig += -1.0 - s / 10 if bs == 4 else (0.5 if s % 2 else -0.6)
                    test += 0.05 + s / 100 if bs == 64 else (0.02 if s % 2 else -0.03)
                runs.append({"index": len(runs), "label": f"{labels[arm]} bs={bs}", "base_arm": arm,
                             "arm": 2 * arm + SIZES.index(bs), "seed": s, "variant": None,
                             "batch_size": bs, "summary": _summary(eig, test, 3000 * (2 if arm == 2 else 1))})
    return runs


def test_batch_size_view_reports_flatness_only_where_significant() -> None:
    spec = preset("batch-size-digits", {"seeds": SEEDS, "study": {"batch_sizes": SIZES}})
    view = views.batch_size(spec, _runs())
    # The view's existing parts are still there, one row per (arm, batch size).
    assert len(view["rows"]) == 6 and isinstance(view["verdict"], str)
    flags = {r["label"]: (r["sam"], r["steps_factor"]) for r in view["rows"]}
    assert flags["SAM-Momentum bs=4"] == (True, 1) and flags["Momentum 2x steps bs=64"] == (False, 2)

    pairings = view["flatness"]["pairings"]
    assert [(p["sam_arm"], p["base_arm"], p["budget"]) for p in pairings] == [
        ("SAM-Momentum", "Momentum", "equal_steps"),
        ("SAM-Momentum", "Momentum 2x steps", "equal_gradient_evaluations")]
    for p in pairings:
        at4, at64 = p["rows"]
        eig4 = at4["difference"]["top_hessian_eigenvalue"]
        eig64 = at64["difference"]["top_hessian_eigenvalue"]
        # All ten differences negative: the exact two-sided p is 2 / 2^10, doubled by Holm.
        assert eig4["p_value"] == pytest.approx(2 / 2**10)
        assert eig4["p_holm"] == pytest.approx(2 * 2 / 2**10)
        assert eig4["significant"] and eig4["lower"] == "sam" and eig4["ci_high"] < 0
        assert not eig64["significant"] and eig64["p_holm"] >= eig64["p_value"]
        test64 = at64["difference"]["final_test_loss"]
        assert test64["significant"] and test64["lower"] == "base"
        assert not at4["difference"]["final_test_loss"]["significant"]
        assert at4["sam"]["top_hessian_eigenvalue"]["mean"] == pytest.approx(14.5 - 1.45)
        assert at4["base"]["steps"] == (6000 if p["budget"] == "equal_gradient_evaluations" else 3000)
        verdict = p["verdict"]
        assert verdict.startswith(f"SAM-Momentum ended in flatter minima than {p['base_arm']} at equal ")
        assert "at 1 of 2 batch sizes (4), in sharper ones at 0, with no significant difference at 1 (64)" \
            in verdict
        assert ("Test loss: lower with SAM-Momentum at 0, higher at 1 (64), no significant difference "
                "at 1 (4)") in verdict
        assert "add seeds" not in verdict  # 10 seeds can reach p < 0.05 after Holm over 2 sizes


def test_batch_size_view_without_sam_arms_has_an_empty_flatness_report() -> None:
    spec = preset("batch-size-digits", {"seeds": SEEDS, "study": {"batch_sizes": SIZES}})
    spec = spec.model_copy(update={"arms": spec.arms[:1]})
    view = views.batch_size(spec, [r for r in _runs() if r["base_arm"] == 0])
    assert len(view["rows"]) == 2 and view["flatness"]["pairings"] == []
