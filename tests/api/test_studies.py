"""Every study kind through the real service: HTTP submit, Celery worker, database, /study.

Small sizes (the full sizes are in the README with their measured times); each test checks
what a user reads off the study's summary.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import flows
from tests.support.procs import Service, running, service_env

TINY = {"task": {"n": 400}, "net": {"hidden": [8]}}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cwd = tmp_path_factory.mktemp("studies")
    # Small shards, so a stage is several Celery tasks and the next stage is planned by
    # whichever of them finishes last.
    env = service_env({"OPTARENA_SHARD_SIZE": "6"})
    with running(env, cwd, workers={"w1": "cpu", "w2": "cpu"}) as svc:
        yield svc


def run_study(svc: Service, overrides: dict[str, Any], timeout: float = 240) -> tuple[dict, dict]:
    body = {"preset": "seed-wave", "overrides": TINY | overrides}
    r = flows.post(svc, "/jobs", json=body)
    assert r.status_code == 201, r.text
    job = flows.wait_status(svc, r.json()["id"], {"succeeded", "failed"}, timeout)
    assert job["status"] == "succeeded", job.get("error")
    study = flows.get(svc, f"/jobs/{job['id']}/study")
    assert study.status_code == 200, study.text
    return job, study.json()


def test_tuning_chooses_on_validation_and_reports_fresh_seeds(service: Service) -> None:
    job, study = run_study(service, {
        "seeds": [0, 1], "train": {"steps": 150, "eval_every": 50, "log_every": 5},
        "study": {"kind": "tuning", "lr": {"low": 1e-4, "high": 1.0, "points": 4}, "test_seeds": [10, 11]}})
    assert job["n_runs"] == 3 * 4 * 2 + 3 * 2 and study["complete"]
    for arm in study["arms"]:
        points = arm["sensitivity"]
        assert [p["lr"] for p in points] == sorted(p["lr"] for p in points) and len(points) == 4
        finite = [p for p in points if p["mean"] is not None]
        best = min(finite, key=lambda p: p["mean"])
        assert arm["chosen"] == {"lr": best["lr"]}  # the lowest mean validation loss wins
    # The reported table is the re-runs on the fresh seeds, at the chosen points.
    reruns = [r for r in job["runs"] if r["seed"] in (10, 11)]
    assert len(reruns) == 6
    chosen = {a["arm"]: a["chosen"]["lr"] for a in study["arms"]}
    assert all(r["hyperparams"]["lr"] == chosen[r["label"]] for r in reruns)
    table = {row["arm"]: row for row in study["test"]["table"]}
    assert set(table) == {"SGD", "Momentum", "Adam"} and all(row["n_seeds"] == 2 for row in table.values())
    results = flows.get(service, f"/jobs/{job['id']}/results").json()
    assert {a["arm"] for a in results["arms"]} == {"SGD", "Momentum", "Adam"}


SEARCH_SPACES = {"SGD": {"lr": {"low": 1e-3, "high": 0.3, "log": True}},
                 "Adam": {"lr": {"low": 1e-4, "high": 0.1, "log": True}, "beta1": {"choices": [0.8, 0.9]}}}


def test_search_proposes_cohorts_prunes_them_on_equal_budgets_and_reruns_the_best(service: Service) -> None:
    from engine.presets import preset_dict
    from engine.search_plan import StoredRun, advance
    from engine.spec import ComparisonSpec

    overrides = TINY | {"arms": [{"optimizer": "sgd"}, {"optimizer": "adam"}],
                        "train": {"steps": 150, "eval_every": 50},
                        "study": {"kind": "search", "spaces": SEARCH_SPACES, "trials": 6, "batch": 3,
                                  "sampler": "tpe", "seed": 7, "test_seeds": [10, 11],
                                  "pruner": {"kind": "successive_halving", "rungs": [0.34],
                                             "reduction_factor": 3}}}
    job, study = run_study(service, overrides)
    assert job["n_runs"] == 2 * 6 + 2 * 2 and study["complete"]
    rung = round(0.34 * 150)
    budgets = {a["arm"]: a["budget"] for a in study["arms"]}
    # The same budget for both arms: per cohort of 3, one trial trains 150 steps, two stop at the rung.
    assert {b["planned_steps"] for b in budgets.values()} == {2 * (3 * rung + (150 - rung))}
    for arm in study["arms"]:
        trials = arm["trials"]
        assert [t["number"] for t in trials] == list(range(6)) and len(arm["best_so_far"]) == 6
        for cohort in (trials[:3], trials[3:]):
            assert sorted(t["steps"] for t in cohort if t["state"] != "complete" or t["value"] is not None) \
                in ([rung, rung, 150], [rung, 150])  # a trial that diverged stops before the rung
            assert sum(t["state"] == "pruned" for t in cohort) in (1, 2)
            full = next(t for t in cohort if t["steps"] == 150)
            assert all(full["rung_val_losses"][str(rung)] <= t["rung_val_losses"][str(rung)]
                       for t in cohort if t["state"] == "pruned")  # the best at the rung went on
        assert arm["budget"]["steps"] <= arm["budget"]["planned_steps"]
        complete = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
        best = min(complete, key=lambda t: (t["value"], t["number"]))
        assert arm["chosen"] == best["params"] and arm["best_value"] == best["value"]
        assert arm["best_so_far"][-1]["best_value"] == best["value"]
        assert arm["best_so_far"][-1]["steps"] == arm["budget"]["steps"]
    adam = next(a for a in study["arms"] if a["arm"] == "Adam")
    assert all(t["params"]["beta1"] in (0.8, 0.9) for t in adam["trials"])
    # The second cohort is what a fresh planner proposes from the first cohort's stored results.
    spec = ComparisonSpec.model_validate(preset_dict("seed-wave", overrides))
    first = {"proposals": {"0": {str(a): [t["params"] for t in arm["trials"][:3]]
                                 for a, arm in enumerate(study["arms"])}}}
    stored = [StoredRun(0, r["arm"], r["summary"]) for r in job["runs"] if r["index"] < 6]
    again = advance(spec, 0, first, stored)["proposals"]["1"]
    assert again == {str(a): [t["params"] for t in arm["trials"][3:]] for a, arm in enumerate(study["arms"])}
    # The best trial of each arm re-trained on the fresh seeds, compared on test loss.
    reruns = [r for r in job["runs"] if r["seed"] in (10, 11)]
    assert {(r["label"], r["seed"]) for r in reruns} == {(a, s) for a in ("SGD", "Adam") for s in (10, 11)}
    assert all(r["hyperparams"] | study["arms"][r["arm"]]["chosen"] == r["hyperparams"] for r in reruns)
    assert {row["arm"] for row in study["test"]["table"]} == {"SGD", "Adam"}
    # The HTML report carries each arm's search beside the fresh-seed results.
    page = flows.get(service, f"/jobs/{job['id']}/report.html").text
    assert "Search: 6 trials per arm, tpe, cohorts of 3, pruner successive_halving" in page
    for arm in study["arms"]:
        budget = f"{arm['budget']['steps']} / {arm['budget']['planned_steps']}"
        assert f"<td>{arm['arm']}</td>" in page and f"<td>{budget}</td>" in page
    # The trials exported as an Optuna journal: optuna.load_study (and optuna-dashboard) read it.
    journal = flows.get(service, f"/jobs/{job['id']}/study/optuna")
    assert journal.status_code == 200 and journal.headers["content-type"] == "application/x-ndjson"
    _check_journal(journal.content, job["id"], study)


def _check_journal(content: bytes, job_id: str, study: dict[str, Any]) -> None:
    import tempfile
    from pathlib import Path

    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "search.log"
        path.write_bytes(content)
        storage = JournalStorage(JournalFileBackend(str(path)))
        for arm in study["arms"]:
            loaded = optuna.load_study(study_name=f"{job_id} {arm['arm']}", storage=storage)
            assert len(loaded.trials) == 6
            states = [t.state.name.lower() for t in loaded.trials]
            assert states == [t["state"] for t in arm["trials"]]
            assert [t.params for t in loaded.trials] == [t["params"] for t in arm["trials"]]
            if arm["best_value"] is not None:
                assert loaded.best_value == arm["best_value"] and loaded.best_params == arm["chosen"]


def test_batch_size_study_on_an_examples_budget_measures_sharpness(service: Service) -> None:
    job, study = run_study(service, {
        "arms": [{"optimizer": "sgd", "lr": 0.05}],
        "train": {"steps": 10, "examples": 3200, "eval_every": 20, "log_every": 5},
        "study": {"kind": "batch_size", "batch_sizes": [8, 64, 0], "power_iterations": 20}})
    rows = {row["batch_size"]: row for row in study["rows"]}
    n_train = 320
    assert set(rows) == {8, 64, n_train}
    assert rows[8]["steps_trained"]["mean"] == 400 and rows[n_train]["steps_trained"]["mean"] == 10
    for row in rows.values():  # the same data budget for every batch size
        assert abs(row["examples_seen"]["mean"] - 3200) <= n_train
        assert row["top_hessian_eigenvalue"]["mean"] > 0
    assert "rho" in study["sharpness_vs_test_loss"] and isinstance(study["verdict"], str)


def test_cross_validation_gives_every_arm_k_fold_scores(service: Service) -> None:
    _, study = run_study(service, {"train": {"steps": 100, "eval_every": 50},
                                   "study": {"kind": "cross_validation", "folds": 4}})
    assert study["folds"] == 4
    for arm in study["arms"]:
        assert len(arm["fold_val_loss"]) == 4 and all(v > 0 for v in arm["fold_val_loss"])
        assert arm["mean"] == pytest.approx(sum(arm["fold_val_loss"]) / 4) and arm["std"] > 0
    assert len(study["paired"]["pairs"]) == 3


def test_bias_variance_parts_add_up(service: Service) -> None:
    _, study = run_study(service, {"task": {"n": 600, "noise": 0.1}, "net": {"hidden": [16]},
                                   "train": {"steps": 200, "eval_every": 100},
                                   "study": {"kind": "bias_variance", "resamples": 6}})
    for arm in study["arms"]:
        assert arm["n_members"] == 6
        err = math.hypot(arm["cross_term_se"], arm["expected_test_error_se"])
        assert abs(arm["expected_test_error"] - arm["sum"]) <= 3 * err + 1e-9, arm
        assert arm["bagging"]["ensemble_test_mse"] <= arm["bagging"]["mean_member_test_mse"]


def test_trajectories_are_paths_over_a_contour(service: Service) -> None:
    _, study = run_study(service, {
        "arms": [{"optimizer": "sgd", "lr": 1e-3}, {"optimizer": "adam", "lr": 0.05}],
        "study": {"kind": "trajectories", "function": "rosenbrock", "steps": 200}})
    assert study["function"] == "rosenbrock" and len(study["contour"]["z"]) == 60
    for path in study["paths"]:
        assert len(path["x"]) == 201 and (path["x"][0], path["y"][0]) == (-1.5, 2.0)
    assert {p["optimizer"] for p in study["paths"]} == {"sgd", "adam"}


def test_study_errors_name_their_field(service: Service) -> None:
    r = flows.post(service, "/jobs", json={"preset": "seed-wave", "overrides": {
        "task": {"name": "moons"}, "study": {"kind": "bias_variance"}}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][1:3] == ["overrides", "study"], r.json()
    r = flows.post(service, "/jobs", json={"preset": "seed-wave", "overrides": {
        "study": {"kind": "tuning", "test_seeds": [0]}}})
    assert r.status_code == 422 and "fresh" in r.json()["detail"][0]["msg"]
    plain = flows.post(service, "/jobs", json={"preset": "seed-wave", "overrides": {"train": {"steps": 10}}})
    refused = flows.get(service, f"/jobs/{plain.json()['id']}/study/optuna")
    assert refused.status_code == 409 and "not a search" in refused.text
    # A search's bad spaces, each at its field.
    lr, from_zero = {"low": 1e-4, "high": 0.1, "log": True}, {"low": 0.0, "high": 0.1, "log": True}
    bad = [({"SGD": {"momentum": lr}}, "trials", 4, ["spaces", "SGD", "momentum"]),
           ({"SGD": {"lr": {"low": 0.1, "high": 0.1}}}, "trials", 4, ["spaces", "SGD", "lr", "high"]),
           ({"SGD": {"lr": {"low": 0.1, "high": 0.01}}}, "trials", 4, ["spaces", "SGD", "lr", "high"]),
           ({"SGD": {"lr": from_zero}}, "trials", 4, ["spaces", "SGD", "lr", "low"]),
           ({"SGD": {"lr": lr}}, "trials", 0, ["trials"])]
    for spaces, key, value, loc in bad:
        r = flows.post(service, "/jobs", json={"preset": "seed-wave", "overrides": {
            "arms": [{"optimizer": "sgd"}],
            "study": {"kind": "search", "spaces": spaces, key: value, "batch": 1}}})
        assert r.status_code == 422, r.text
        assert [e["loc"][3:] for e in r.json()["detail"]] == [["search", *loc]], (spaces, r.json()["detail"])


def test_performance_profile_across_tasks(service: Service) -> None:
    ids = []
    for task in ("wave", "sines"):
        job, _ = run_study(service, {"task": {"name": task, "n": 400},
                                     "train": {"steps": 300, "eval_every": 20}})
        ids.append(job["id"])
    r = flows.get(service, "/profiles", params={"job": ids, "measure": "steps"})
    assert r.status_code == 200, r.text
    prof = r.json()
    assert set(prof["costs"]) == set(ids)
    for arm in ("SGD", "Momentum", "Adam"):
        fractions = prof["profile"][arm]
        assert fractions == sorted(fractions) and all(0 <= f <= 1 for f in fractions)  # a CDF in tau
    # At tau = 1 the fastest arm of each task solves it: the fractions sum to at least one per task.
    assert sum(prof["profile"][a][0] for a in ("SGD", "Momentum", "Adam")) * 2 >= 2
    assert flows.get(service, "/profiles", params={"job": [ids[0], "nope"]}).status_code == 404
