"""SAM against its base arms in a batch_size study: the arms' steps_factor, the pairing of
every SAM arm with its bases, and the flatness report on a small real study."""

import math

import pytest
import torch
from pydantic import ValidationError

from engine import design
from engine.presets import preset, preset_dict
from engine.runner import compare
from engine.spec import ComparisonSpec
from engine.studies.flatness import flatness, sam_pairings
from engine.studies.rows import stored_rows

SMALL = {"task": {"n": 300}, "net": {"hidden": [8]}, "seeds": [0, 1, 2],
         "train": {"steps": 30, "eval_every": 30, "log_every": 10, "diag_every": 30},
         "study": {"batch_sizes": [16, 0], "power_iterations": 20, "sharpness_directions": 2}}


@pytest.fixture(scope="module")
def one_thread():
    # Small nets on a busy 2-core machine run many times slower with a second intra-op thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_study(one_thread):
    """batch-size-digits' three arms (Momentum, SAM-Momentum, Momentum 2x steps), small."""
    spec = preset("batch-size-digits", SMALL)
    st = design.stage(spec, 0)
    return spec, st, stored_rows(st, compare(st.spec))


def test_steps_factor_is_validated_at_its_path():
    base = preset_dict("seed-wave")
    for bad in (0, -1, 101, 1.5, "twice", None):
        d = base | {"arms": [{"optimizer": "sgd", "steps_factor": bad}]}
        with pytest.raises(ValidationError) as err:
            ComparisonSpec.model_validate(d)
        assert [e["loc"] for e in err.value.errors()] == [("arms", 0, "sgd", "steps_factor")], bad
    ok = ComparisonSpec.model_validate(base | {"arms": [{"optimizer": "sgd", "steps_factor": 2}]})
    assert ok.arms[0].steps_factor == 2 and ok.steps_for(64, 8000, ok.arms[0]) == 2 * ok.train.steps
    # Every path of a trajectories study takes study.steps: a factor there is refused, not ignored.
    paths = {"arms": [{"optimizer": "sgd", "steps_factor": 2}], "study": {"kind": "trajectories"}}
    with pytest.raises(ValidationError) as err:
        ComparisonSpec.model_validate(paths)
    assert [e["loc"] for e in err.value.errors()] == [("study",)]


def test_steps_factor_multiplies_an_examples_budget_and_splits_cohorts(one_thread):
    d = preset_dict("seed-wave", {"task": {"n": 400}, "net": {"hidden": [8]},
                                  "train": {"examples": 320, "batch_size": 16, "eval_every": 10}})
    d["arms"] = [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "sgd", "lr": 0.05, "steps_factor": 2,
                                                     "label": "SGD 2x"}]
    spec = ComparisonSpec.model_validate(d)
    assert design.plan_cohorts(spec) == [[0], [1]]  # one number of steps per cohort
    assert design.max_steps(spec, 320) == 40
    got = {r.label: r.summary for r in compare(spec).values()}
    assert {k: s["steps_trained"] for k, s in got.items()} == {"SGD": 20, "SGD 2x": 40}
    assert {k: s["examples_seen"] for k, s in got.items()} == {"SGD": 320, "SGD 2x": 640}


def test_sam_bases_are_found_by_settings_and_steps():
    m = {"optimizer": "momentum", "lr": 0.02, "momentum": 0.9}
    sam = {"sam": {"rho": 0.05}}
    d = preset_dict("batch-size-digits") | {"arms": [
        m,
        m | sam | {"label": "SAM"},
        m | {"steps_factor": 2, "label": "2x"},
        m | {"lr": 0.01, "label": "other lr"},
        m | {"steps_factor": 3, "label": "3x"},
        m | {"clip_grad_norm": 1.0, "label": "clipped"},
        m | sam | {"steps_factor": 2, "label": "SAM 2x"},
        m | {"steps_factor": 4, "label": "4x"},
        m | {"sam": {"rho": 0.1}, "label": "SAM rho 0.1"},
    ]}
    spec = ComparisonSpec.model_validate(d)
    assert sam_pairings(spec) == [
        (1, 0, "equal_steps"), (1, 2, "equal_gradient_evaluations"),
        (6, 2, "equal_steps"), (6, 7, "equal_gradient_evaluations"),
        (8, 0, "equal_steps"), (8, 2, "equal_gradient_evaluations")]


def test_presets_batch_size_digits_pairs_sam_with_momentum():
    spec = preset("batch-size-digits")
    assert [(a.display(), a.sam is not None, a.steps_factor) for a in spec.arms] == [
        ("Momentum", False, 1), ("SAM-Momentum", True, 1), ("Momentum 2x steps", False, 2)]
    assert spec.arms[1].sam.rho == 0.05 and spec.arms[1].hyperparams() == spec.arms[0].hyperparams()
    assert sam_pairings(spec) == [(1, 0, "equal_steps"), (1, 2, "equal_gradient_evaluations")]
    st = design.stage(spec, 0)
    assert st.n_runs == 3 * 5 * len(spec.seeds)
    assert design.max_steps(spec, spec.task.split_sizes()[0]) == 6000


def test_flatness_report_on_a_small_study(small_study):
    spec, st, rows = small_study
    # Six cohorts: 2 batch sizes x (Momentum, SAM-Momentum, Momentum 2x steps), each one length.
    cohorts = design.plan_cohorts(st.spec)
    assert len(cohorts) == 6
    assert all(len({design.run_steps(st.spec, st.spec.runs()[i]) for i in c}) == 1 for c in cohorts)
    trained = {(r["base_arm"], r["batch_size"]): r["summary"]["steps_trained"] for r in rows}
    assert {k[0]: v for k, v in trained.items()} == {0: 30, 1: 30, 2: 60}

    report = flatness(spec, rows)
    assert report["metric"] == "top_hessian_eigenvalue" and report["ci_method"] == "student-t"
    pairings = {p["budget"]: p for p in report["pairings"]}
    assert set(pairings) == {"equal_steps", "equal_gradient_evaluations"}
    assert pairings["equal_steps"]["base_arm"] == "Momentum"
    assert pairings["equal_gradient_evaluations"]["base_arm"] == "Momentum 2x steps"
    n_train = spec.task.split_sizes()[0]
    base_of = {"equal_steps": 0, "equal_gradient_evaluations": 2}
    for budget, p in pairings.items():
        assert p["sam_arm"] == "SAM-Momentum"
        assert [r["batch_size"] for r in p["rows"]] == [16, n_train]
        assert [r["full_batch"] for r in p["rows"]] == [False, True]
        for row, bs in zip(p["rows"], [16, 0], strict=True):
            sam, base = row["sam"], row["base"]
            assert sam["steps"] == 30 and sam["gradient_evaluations"] == 60
            assert base["steps"] == (30 if budget == "equal_steps" else 60)
            if budget == "equal_gradient_evaluations":
                assert base["gradient_evaluations"] == sam["gradient_evaluations"]
            # The paired difference is SAM minus this base on the same seeds.
            for metric in ("top_hessian_eigenvalue", "final_test_loss"):
                value = {(r["base_arm"], r["seed"]): r["summary"][metric]
                         for r in rows if r["batch_size"] == bs}
                diffs = [value[(1, s)] - value[(base_of[budget], s)] for s in spec.seeds]
                d = row["difference"][metric]
                assert d["n_pairs"] == 3 and d["mean"] == pytest.approx(sum(diffs) / 3)
                assert d["ci_low"] <= d["mean"] <= d["ci_high"]
                assert 0 < d["p_value"] <= d["p_holm"] <= 1 and d["significant"] is False
                assert row["sam"][metric]["n_seeds"] == 3 and math.isfinite(row["base"][metric]["mean"])
        # Three seeds cannot make a Holm-corrected difference significant: nothing is claimed.
        verdict = p["verdict"]
        assert "at 0 of 2 batch sizes" in verdict
        assert "no significant difference at 2 (16, full batch)" in verdict
        assert ("at equal steps" in verdict) == (budget == "equal_steps")
        assert "add seeds" in verdict
