"""Studies end to end on tiny tasks: what each study trains, and what a user reads back.

tuning (grid, choice on validation only, fresh test seeds), batch_size (examples budget,
sharpness), cross_validation (folds), bias_variance (on sines), trajectories, and the
examples budget itself (ComparisonSpec.steps_for).
"""

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from engine import design
from engine.design import plan_cohorts
from engine.presets import preset_dict
from engine.registry import REGISTRY
from engine.runner import compare, load_task, make_cohort
from engine.spec import ComparisonSpec
from engine.studies.trajectories import FUNCTIONS, descend
from engine.tasks import make_task
from engine.variants import fold_tables
from tests.engine.conftest import bias_variance_arms

TRAIN = {"steps": 40, "batch_size": 16, "eval_every": 20, "log_every": 10, "diag_every": 20}


def tiny(study: dict | None = None, arms: list[dict] | None = None, seeds=(0,), task: dict | None = None,
         train: dict | None = None, validate: bool = True):
    """A wave task of 400 points (320 / 40 / 40), a 1-8-1 tanh net, 40 steps."""
    d = preset_dict("seed-wave", {"task": {"n": 400, **(task or {})}, "net": {"hidden": [8]},
                                  "train": TRAIN | (train or {})})
    d["arms"] = arms or [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "adam", "lr": 0.01}]
    d["seeds"] = list(seeds)
    if study is not None:
        d["study"] = study
    return ComparisonSpec.model_validate(d) if validate else d


def error_locs(d: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as err:
        ComparisonSpec.model_validate(d)
    return [e["loc"] for e in err.value.errors()]


# -- tuning -------------------------------------------------------------------------------

GRID = {"low": 1e-3, "high": 1e-1, "points": 3}  # 0.001, 0.01, 0.1


def tuning(**study):
    return tiny({"kind": "tuning", "lr": GRID, "test_seeds": [10, 11, 12], **study},
                arms=[{"optimizer": "sgd"}, {"optimizer": "adam", "beta1": 0.8}], seeds=(0, 1))


def test_tuning_stage_zero_is_every_arm_at_every_grid_point_on_every_seed():
    spec = tuning()
    st = design.stage(spec, 0)
    assert design.n_stages(spec) == 2
    assert st.n_runs == 2 * 3 * 2 and st.offset == 0
    assert [a.display() for a in st.spec.arms] == [
        "SGD lr=0.001", "SGD lr=0.01", "SGD lr=0.1", "Adam lr=0.001", "Adam lr=0.01", "Adam lr=0.1"]
    assert st.base_arm == [0, 0, 0, 1, 1, 1]
    assert [a.lr for a in st.spec.arms] == [0.001, 0.01, 0.1] * 2
    assert all(a.beta1 == 0.8 for a in st.spec.arms[3:])  # the arm's own settings are kept
    assert st.spec.seeds == [0, 1]
    # total_runs counts stage 1 before it exists: each arm once per test seed.
    assert design.total_runs(spec) == 12 + 2 * 3


def test_tuning_grid_searches_only_the_arms_that_have_the_hyperparameter():
    spec = tiny({"kind": "tuning", "lr": {"low": 1e-3, "high": 1e-2, "points": 2},
                 "grid": {"momentum": [0.5, 0.9]}, "test_seeds": [5]},
                arms=[{"optimizer": "sgd"}, {"optimizer": "momentum"}])
    st = design.stage(spec, 0)
    assert [a.display() for a in st.spec.arms] == [
        "SGD lr=0.001", "SGD lr=0.01",
        "Momentum lr=0.001 momentum=0.5", "Momentum lr=0.001 momentum=0.9",
        "Momentum lr=0.01 momentum=0.5", "Momentum lr=0.01 momentum=0.9"]
    chosen = {0: {"lr": 0.01}, 1: {"lr": 0.001, "momentum": 0.5}}
    one = design.stage(spec, 1, chosen)
    assert (one.spec.arms[1].lr, one.spec.arms[1].momentum) == (0.001, 0.5)


def _rows(spec, val: list[list[float | None]], test: list[list[float]], diverged=()):
    """choose's input: (stage-0 arm, hyperparameters, summary) per run, seeds innermost."""
    st = design.stage(spec, 0)
    rows = []
    for a, arm in enumerate(st.spec.arms):
        for s in range(len(spec.seeds)):
            summary = {"final_val_loss": val[a][s], "best_val_loss": val[a][s],
                       "final_test_loss": test[a][s], "diverged": (a, s) in diverged}
            rows.append((a, {"lr": arm.lr}, summary))
    return rows


def test_choose_picks_lowest_mean_validation_loss_and_never_test_loss():
    spec = tuning()
    # SGD: 0.01 has the best validation mean, 0.1 the best test loss (it must not matter).
    # Adam: 0.001 would win on validation but diverged on one seed; 0.1 has a missing value.
    val = [[0.5, 0.5], [0.2, 0.3], [0.4, 0.4],
           [0.01, 0.01], [0.3, 0.2], [0.05, None]]
    test = [[0.9, 0.9], [0.8, 0.8], [0.001, 0.001],
            [0.001, 0.001], [0.5, 0.5], [0.0001, 0.0001]]
    rows = _rows(spec, val, test, diverged={(3, 1)})
    assert design.choose(spec, rows) == {0: {"lr": 0.01}, 1: {"lr": 0.01}}
    # Without any test numbers at all the choice is the same.
    blind = [(a, hp, {k: v for k, v in s.items() if "test" not in k}) for a, hp, s in rows]
    assert design.choose(spec, blind) == design.choose(spec, rows)
    # A run with no summary at all (lost) also counts as +inf.
    lost = [(a, hp, None if a == 1 and s["final_val_loss"] == 0.2 else s) for a, hp, s in rows]
    assert design.choose(spec, lost)[0] == {"lr": 0.1}


def test_choose_on_best_val_loss_when_asked():
    spec = tuning(select_on="best_val_loss")
    rows = _rows(spec, [[1.0] * 2] * 6, [[1.0] * 2] * 6)
    rows = [(a, hp, s | {"best_val_loss": 0.1 if a in (2, 4) else 0.9}) for a, hp, s in rows]
    assert design.choose(spec, rows) == {0: {"lr": 0.1}, 1: {"lr": 0.01}}


def test_choose_when_every_point_diverged_still_names_a_point():
    spec = tuning()
    rows = [(a, hp, s | {"diverged": True}) for a, hp, s in _rows(spec, [[1.0] * 2] * 6, [[1.0] * 2] * 6)]
    chosen = design.choose(spec, rows)
    assert set(chosen) == {0, 1} and all(p["lr"] in (0.001, 0.01, 0.1) for p in chosen.values())


def test_tuning_end_to_end_stage_one_reruns_the_choice_on_fresh_seeds():
    spec = tuning()
    st0 = design.stage(spec, 0)
    got = compare(st0.spec)
    assert len(got) == st0.n_runs
    assert {r.seed for r in got.values()} == {0, 1}
    rows = [(r.arm, {"lr": st0.spec.arms[r.arm].lr}, r.summary) for r in got.values()]
    chosen = design.choose(spec, rows)
    # The choice is the lowest validation mean, recomputed here from the runs themselves.
    for user_arm in (0, 1):
        means = {st0.spec.arms[a].lr: np.mean([r.summary["final_val_loss"] for r in got.values()
                                                 if r.arm == a])
                 for a in range(len(st0.spec.arms)) if st0.base_arm[a] == user_arm}
        assert chosen[user_arm]["lr"] == min(means, key=lambda lr: means[lr])
    # Scrambling every test loss changes nothing.
    scrambled = [(a, hp, s | {"final_test_loss": -float(i)}) for i, (a, hp, s) in enumerate(rows)]
    assert design.choose(spec, scrambled) == chosen

    st1 = design.stage(spec, 1, chosen)
    assert st1.offset == st0.n_runs and st1.spec.seeds == [10, 11, 12]
    assert [a.display() for a in st1.spec.arms] == ["SGD", "Adam"]
    assert [a.lr for a in st1.spec.arms] == [chosen[0]["lr"], chosen[1]["lr"]]
    assert st1.spec.arms[1].beta1 == 0.8
    assert st0.n_runs + st1.n_runs == design.total_runs(spec)
    final = compare(st1.spec)
    assert sorted((r.arm, r.seed) for r in final.values()) == [(a, s) for a in (0, 1) for s in (10, 11, 12)]
    assert all(math.isfinite(r.summary["final_test_loss"]) for r in final.values())
    with pytest.raises(ValueError, match="chosen"):
        design.stage(spec, 1)


def test_tuning_refuses_reused_test_seeds_and_unknown_grid_names():
    base = tiny({"kind": "tuning", "test_seeds": [1, 2]}, arms=[{"optimizer": "sgd"}], seeds=(0, 1),
                validate=False)
    assert error_locs(base)[0][0] == "study"
    unknown = base | {"study": {"kind": "tuning", "test_seeds": [5], "grid": {"beta1": [0.8, 0.9]}}}
    assert error_locs(unknown)[0][0] == "study"
    lr_in_grid = base | {"study": {"kind": "tuning", "test_seeds": [5], "grid": {"lr": [0.1]}}}
    assert error_locs(lr_in_grid)[0][0] == "study"
    inverted = base | {"study": {"kind": "tuning", "test_seeds": [5], "lr": {"low": 1.0, "high": 0.1}}}
    assert error_locs(inverted)[0][0] == "study"


def test_tuning_labels_stay_distinct_when_the_grid_is_narrow_or_the_name_long():
    long_name = "A very long arm name that nearly fills the label limit of 64 c"
    spec = tiny({"kind": "tuning", "lr": {"low": 1e-3, "high": 1.003e-3, "points": 3}, "test_seeds": [5]},
                arms=[{"optimizer": "sgd"}, {"optimizer": "adam", "label": long_name}])
    st = design.stage(spec, 0)
    labels = [a.display() for a in st.spec.arms]
    assert labels[:3] == ["SGD lr=0.001", "SGD lr=0.001002", "SGD lr=0.001003"]
    assert len(set(labels)) == 6 and all(len(x) <= 64 for x in labels)
    lrs = ["0.001", "0.001002", "0.001003"]
    assert all(x.endswith(f"lr={y}") for x, y in zip(labels[3:], lrs, strict=True))
    # A derived stage is itself a valid spec (a worker may re-validate what it is sent).
    ComparisonSpec.model_validate(st.spec.model_dump())


def test_tuning_grid_values_outside_an_arms_range_are_refused():
    d = tiny({"kind": "tuning", "test_seeds": [5], "grid": {"momentum": [0.9, 1.5]}},
             arms=[{"optimizer": "momentum"}], validate=False)
    assert error_locs(d)[0][0] == "study"


# -- batch size and the examples budget ---------------------------------------------------

def test_examples_budget_steps_for():
    spec = tiny(train={"examples": 700})
    n_train = 320
    assert spec.steps_for(1, n_train) == 700
    assert spec.steps_for(16, n_train) == 44  # ceil(700 / 16)
    assert spec.steps_for(320, n_train) == 3  # ceil(700 / 320)
    assert spec.steps_for(10_000, n_train) == 3  # a batch larger than the data is the full batch
    assert spec.steps_for(0, n_train) == 700  # callers resolve 0 first; min(.., 1) keeps it positive
    assert tiny(train={"examples": 1}).steps_for(320, n_train) == 1  # never zero steps
    assert tiny(train={"steps": 123}).steps_for(1, n_train) == 123  # no budget: train.steps for all


def test_batch_size_study_equal_examples_and_sharpness():
    spec = tiny({"kind": "batch_size", "batch_sizes": [1, 16, 0], "power_iterations": 30,
                 "sharpness_directions": 4},
                arms=[{"optimizer": "sgd", "lr": 0.05}], train={"examples": 700, "eval_every": 50})
    st = design.stage(spec, 0)
    assert [a.display() for a in st.spec.arms] == ["SGD bs=1", "SGD bs=16", "SGD full batch"]
    assert len(plan_cohorts(st.spec)) == 3  # one cohort per batch size
    assert design.max_steps(spec, 320) == 700
    got = {r.label: r.summary for r in compare(st.spec).values()}
    assert {k: s["steps_trained"] for k, s in got.items()} == {
        "SGD bs=1": 700, "SGD bs=16": 44, "SGD full batch": 3}
    for label, s in got.items():
        bs = {"SGD bs=1": 1, "SGD bs=16": 16, "SGD full batch": 320}[label]
        # Equal data: every run sees the budget, overshooting by less than one batch.
        assert 700 <= s["examples_seen"] < 700 + bs, label
        assert not s["diverged"]
        lam = s["top_hessian_eigenvalue"]
        assert math.isfinite(lam) and lam > 0, (label, lam)
        assert math.isfinite(s["loss_increase_mean"]) and s["loss_increase_std"] >= 0
        assert s["sharpness_radius"] == 0.05 and 1 <= s["power_iterations"] <= 60


def test_batch_size_study_refuses_full_batch_optimizers():
    d = tiny({"kind": "batch_size"}, arms=[{"optimizer": "gd"}], validate=False)
    assert error_locs(d)[0][0] == "study"


def test_batch_size_study_with_batch_norm_and_a_diverging_arm():
    # Batch norm's float32 running statistics used to meet float64 weights in the sharpness
    # pass and fail the whole job after training; a diverged row used to keep every other
    # row's power iteration running to the limit.
    base = {"study": {"kind": "batch_size", "batch_sizes": [16, 0], "power_iterations": 40},
            "train": TRAIN | {"steps": 30}}
    healthy = {"optimizer": "sgd", "lr": 0.05}
    d = tiny(**base, arms=[healthy, {"optimizer": "sgd", "lr": 50.0, "label": "boom"}], validate=False)
    d["net"]["norm"] = "batch"
    both = compare(design.stage(ComparisonSpec.model_validate(d), 0).spec)
    alone = compare(design.stage(ComparisonSpec.model_validate(d | {"arms": [healthy]}), 0).spec)
    ok = {r.label: r.summary for r in both.values() if r.label.startswith("SGD")}
    assert {r.label: r.summary["diverged"] for r in both.values()} == {
        "SGD bs=16": False, "SGD full batch": False, "boom bs=16": True, "boom full batch": True}
    for r in alone.values():
        mine = ok[r.label]
        assert math.isfinite(mine["top_hessian_eigenvalue"]) and mine["top_hessian_eigenvalue"] > 0
        # Power iteration stops at a relative change of 1e-4, from a start vector drawn for
        # the whole cohort: equal to that order, and converged well before the limit.
        assert mine["top_hessian_eigenvalue"] == pytest.approx(r.summary["top_hessian_eigenvalue"], rel=1e-3)
        assert mine["power_iterations"] < 40 and r.summary["power_iterations"] < 40


# -- cross-validation ---------------------------------------------------------------------

def test_fold_tables_partition_the_pool():
    n_pool, k = 360, 7
    train, val = fold_tables(n_pool, k, seed=3)
    m = n_pool // k
    assert val.shape == (k, m) and train.shape == (k, n_pool - m)
    assert len(set(val.flatten().tolist())) == k * m  # disjoint validation folds
    assert set(val.flatten().tolist()) <= set(range(n_pool))
    for f in range(k):
        assert set(train[f].tolist()).isdisjoint(val[f].tolist())
        assert set(train[f].tolist()) | set(val[f].tolist()) == set(range(n_pool))
    again, _ = fold_tables(n_pool, k, seed=3)
    assert torch.equal(again, train)  # a pure function of (seed, k, n)


def test_cross_validation_runs_share_folds_across_arms_and_keep_test_untouched():
    spec = tiny({"kind": "cross_validation", "folds": 3}, seeds=(0, 1), train={"steps": 20})
    runs = spec.runs()
    assert len(runs) == 2 * 3 * 2
    got = compare(spec)
    assert len(got) == 12
    hashes = {(r.arm, r.variant, r.seed): r.batch_hash for r in got.values()}
    for f in range(3):
        for s in (0, 1):
            assert hashes[(0, f, s)] == hashes[(1, f, s)]  # every arm reads the same fold rows
    assert len({hashes[(0, f, 0)] for f in range(3)}) == 3  # and folds differ
    assert all(r.summary["variant"] == r.variant for r in got.values())

    # Recompute one cohort's numbers from its weights: validation on the fold's own rows,
    # test on the untouched test split.
    data = make_task(spec.task)
    pool_x = torch.cat([data.train.x, data.val.x])
    pool_y = torch.cat([data.train.y, data.val.y])
    _, val_rows = fold_tables(len(pool_x), 3, spec.task.seed)
    group = plan_cohorts(spec)[0]
    cohort = make_cohort(spec, group, data=load_task(spec, torch.device("cpu")))
    cohort.train(lambda ev: None)
    assert torch.equal(cohort.data.test.x, data.test.x.float())
    P = cohort.final_weights()
    out = cohort.net.forward(cohort.net.views(P), data.test.x.float())
    test_loss = (out - data.test.y.float()).square().flatten(1).mean(1)
    for k, r in enumerate(cohort.runs):
        s = got[r.index].summary
        assert s["final_test_loss"] == pytest.approx(float(test_loss[k]), rel=1e-5)
        vx, vy = pool_x[val_rows[r.variant]].float(), pool_y[val_rows[r.variant]].float()
        val_out = cohort.net.forward(cohort.net.views(P[k:k + 1]), vx)
        assert s["final_val_loss"] == pytest.approx(float((val_out[0] - vy).square().mean()), rel=1e-5)


def test_cross_validation_max_steps_counts_the_rows_a_fold_trains_on():
    # The examples budget divides by the rows a full-batch run really reads: 360 - 120 per
    # fold with k = 3, not the 320 of the training split. The submission limit relies on it.
    spec = tiny({"kind": "cross_validation", "folds": 3}, arms=[{"optimizer": "gd", "lr": 0.05}],
                train={"examples": 1000})
    got = compare(spec)
    assert {r.summary["steps_trained"] for r in got.values()} == {5}  # ceil(1000 / 240)
    assert design.max_steps(spec, 320) == 5


def test_full_batch_under_many_folds_reads_every_fold_row():
    spec = tiny({"kind": "cross_validation", "folds": 10}, arms=[{"optimizer": "gd", "lr": 0.05}])
    cohort = make_cohort(spec, plan_cohorts(spec)[0])
    assert cohort.view.n_train == 324 and cohort.batches.full


# -- bias-variance on sines -----------------------------------------------------------------

@pytest.fixture(scope="module")
def sines_study():
    spec = tiny({"kind": "bias_variance", "resamples": 6},
                task={"name": "sines", "n": 1000, "noise": 0.1}, train={"steps": 150, "eval_every": 150},
                arms=[{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "adam", "lr": 0.01}])
    return bias_variance_arms(spec)


def test_bias_variance_on_sines_adds_up(sines_study):
    for arm in sines_study.values():
        assert arm["n_members"] == 6 and arm["n_diverged"] == 0
        err = math.hypot(arm["cross_term_se"], arm["expected_test_error_se"])
        assert abs(arm["expected_test_error"] - arm["sum"]) <= 3 * err, arm
        assert arm["noise"] == pytest.approx(0.1**2, rel=0.35)
        assert arm["bias2"] > 0 and arm["variance"] > 0
        bag = arm["bagging"]
        assert bag["ensemble_test_mse"] == pytest.approx(bag["mean_member_test_mse"] - arm["variance"])


def test_bias_variance_runs_carry_test_predictions():
    spec = tiny({"kind": "bias_variance", "resamples": 2}, task={"name": "sines"}, train={"steps": 5},
                arms=[{"optimizer": "adam"}])
    got = compare(spec)
    assert [(r.variant, r.seed) for r in got.values()] == [(0, 0), (1, 1), (2, 2)]  # replicate b: seed + b
    n_test = spec.task.split_sizes()[2]
    truth = make_task(spec.task).test
    for r in got.values():
        out = r.outputs
        assert len(out["test_pred"]) == len(out["test_y"]) == len(out["test_truth"]) == n_test
        assert r.outputs["test_y"] == pytest.approx(truth.y[:, 0].tolist(), rel=1e-6)


def test_bias_variance_refuses_classification_and_several_seeds():
    moons = tiny({"kind": "bias_variance"}, task={"name": "moons"}, validate=False)
    assert error_locs(moons)[0][0] == "study"
    seeds = tiny({"kind": "bias_variance"}, task={"name": "sines"}, seeds=(0, 1), validate=False)
    assert error_locs(seeds)[0][0] == "study"


# -- trajectories --------------------------------------------------------------------------

def test_trajectories_study_one_path_per_arm():
    steps = 200
    spec = tiny({"kind": "trajectories", "function": "rosenbrock", "steps": steps},
                arms=[{"optimizer": "adam", "lr": 0.05}, {"optimizer": "sgd", "lr": 1e-5},
                      {"optimizer": "sgd", "lr": 0.1, "label": "SGD too fast"},
                      {"optimizer": "gd", "lr": 1e-3}],
                seeds=(0, 1, 2))
    st = design.stage(spec, 0)
    assert st.n_runs == 4  # a path depends on the optimizer only, not the seed
    got = {r.label: r for r in compare(st.spec).values()}
    assert set(got) == {"Adam", "SGD", "SGD too fast", "Gradient descent (full batch)"}
    start = FUNCTIONS["rosenbrock"].start
    for r in got.values():
        # Metric steps count from 1 like training's (the point after s updates); the start
        # point, shared by every arm, is in the summary.
        for name in ("traj_x", "traj_y", "train_loss"):
            assert r.curves[name][0] == list(range(1, steps + 1)), (r.label, name)
        assert tuple(r.summary["start"]) == start
        assert r.summary["start_loss"] == pytest.approx(FUNCTIONS["rosenbrock"].fn(
            torch.tensor([start], dtype=torch.float64)).item())
        assert r.summary["steps_trained"] == steps
    adam, slow, fast = got["Adam"].summary, got["SGD"].summary, got["SGD too fast"].summary
    assert not adam["diverged"] and not slow["diverged"]
    assert adam["distance_to_minimum"] < slow["distance_to_minimum"]
    assert adam["final_loss"] < slow["final_loss"]
    assert fast["diverged"] and fast["diverged_at_step"] is not None and fast["distance_to_minimum"] is None
    # The study's path is the one Adam's update rule draws from the start with the arm's lr.
    hp = REGISTRY["adam"].defaults() | {"lr": 0.05}
    path, _ = descend(FUNCTIONS["rosenbrock"], [("adam", hp, lambda _s: 0.05)], steps)
    assert path[0, 0].tolist() == list(start)
    assert got["Adam"].curves["traj_x"][1] == pytest.approx(path[1:, 0, 0].tolist(), rel=1e-12)
    assert got["Adam"].curves["traj_y"][1] == pytest.approx(path[1:, 0, 1].tolist(), rel=1e-12)


def test_trajectories_clip_like_training():
    steps = 100
    spec = tiny({"kind": "trajectories", "function": "rosenbrock", "steps": steps},
                arms=[{"optimizer": "sgd", "lr": 0.1, "clip_grad_norm": 1.0}])
    (r,) = compare(design.stage(spec, 0).spec).values()
    assert not r.summary["diverged"]  # unclipped, this lr leaves the finite numbers (above)
    xy = torch.tensor([list(FUNCTIONS["rosenbrock"].start)] + list(zip(r.curves["traj_x"][1],
                                                                        r.curves["traj_y"][1], strict=True)),
                      dtype=torch.float64)
    assert float((xy[1:] - xy[:-1]).norm(dim=1).max()) <= 0.1 * 1.0 + 1e-12
