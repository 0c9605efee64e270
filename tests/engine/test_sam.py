"""SAM and adaptive SAM around any optimizer: the stacked two-pass step computes what the
papers' two passes compute per run on a plain nn.Sequential; SAM arms train in cohorts of
their own; a resumed SAM cohort continues exactly. At 1 and 2 threads (conftest.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.design import plan_cohorts
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec
from tests.engine.agreement import check
from tests.engine.conftest import assert_resume_is_exact, small_wave

# Learning rates where 200 steps are not chaotic on this task, so that rounding-level
# differences stay small enough to tell a wrong perturbation from noise. (Clipping is left
# out: whether a run's norm crosses the threshold flips on rounding, and SAM-Adam clipped at
# 1.0 then amplifies rounding ~1e10-fold in 200 steps, the per-run reference alike.)
ARMS = [
    {"optimizer": "sgd", "lr": 1e-2, "sam": {"rho": 0.05}, "label": "SAM-SGD"},
    {"optimizer": "sgd", "lr": 1e-2, "sam": {"rho": 0.5, "adaptive": True}, "label": "ASAM-SGD"},
    {"optimizer": "momentum", "lr": 1e-3, "sam": {"rho": 0.1, "adaptive": True}, "label": "ASAM-Momentum"},
    {"optimizer": "adam", "lr": 1e-3, "sam": {"rho": 0.05}, "label": "SAM-Adam"},
    {"optimizer": "lion", "lr": 1e-3, "sam": {"rho": 0.05}, "label": "SAM-Lion"},
    {"optimizer": "sgd", "lr": 1e-2},
]


def sam_spec(steps: int = 200, **extra: object) -> ComparisonSpec:
    d = small_wave(steps=steps, dtype="float64", eval_every=50) | {"arms": ARMS, "seeds": [0, 1]} | extra
    return ComparisonSpec.model_validate(d)


@pytest.mark.usefixtures("threads")
def test_sam_and_adaptive_sam_match_the_two_pass_step_per_run() -> None:
    figures = check(sam_spec(), "SAM, float64")
    assert max(f.noise for f in figures) <= 1e-10, "a chaotic run: lower its learning rate"
    assert len(figures) == 12 and max(f.engine for f in figures) <= 1e-9


def test_sam_changes_the_path_and_trains_apart() -> None:
    spec = sam_spec(steps=100)
    cohorts = plan_cohorts(spec)
    sam_rows = {r.index for r in spec.runs() if spec.arms[r.arm].sam is not None}
    assert sorted(map(set, cohorts), key=min) == [sam_rows, set(range(12)) - sam_rows]
    results = Collector()
    for group in cohorts:
        make_cohort(spec, group).train(results)
    sam_sgd, sgd = results.runs[0].curves["train_loss"][1], results.runs[10].curves["train_loss"][1]
    assert sam_sgd[0] == sgd[0] and sam_sgd[-1] != sgd[-1]  # the same start, another path


def test_resumed_sam_cohort_continues_exactly() -> None:
    assert_resume_is_exact(sam_spec(steps=200, arms=ARMS[:2]), at=100)


def test_sam_with_batch_norm_is_refused_at_its_path() -> None:
    with pytest.raises(ValidationError) as exc:
        sam_spec(net={"hidden": [8], "norm": "batch"})
    (err,) = exc.value.errors()
    assert err["loc"] == ("arms",) and "net.norm 'batch'" in err["msg"]
