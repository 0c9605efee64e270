"""The study views of the job page in a real headless Chromium: tiny study jobs of every kind
go through the real service (HTTP submit, Celery worker, /study), then each job page is read
the way a user reads it: which charts, which traces, which table rows. Screenshots of every
view are saved under artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.api.dashboard.browser import shot
from tests.api.dashboard.service import Running

TINY = {"task": {"n": 400}, "net": {"hidden": [8]}}
TWO_ARMS = [{"optimizer": "sgd", "lr": 1e-3}, {"optimizer": "adam", "lr": 0.05}]
JOBS: dict[str, dict[str, Any]] = {
    # Keeps the one worker busy until the tuning page is open, so that page opens on a job that
    # is still queued; cancelling it (``release``) lets the rest run.
    "blocker": {"train": {"steps": 1_000_000, "eval_every": 100_000}},
    # Opened while queued: the page must follow it until its study is complete.
    "tuning": {"seeds": [0, 1], "train": {"steps": 150, "eval_every": 50, "log_every": 5},
               "study": {"kind": "tuning", "lr": {"low": 1e-4, "high": 1.0, "points": 3},
                         "test_seeds": [10, 11]}},
    "bias_variance": {"task": {"n": 600, "noise": 0.1}, "net": {"hidden": [16]},
                      "train": {"steps": 200, "eval_every": 100},
                      "study": {"kind": "bias_variance", "resamples": 4}},
    "trajectories": {"arms": TWO_ARMS,
                     "study": {"kind": "trajectories", "function": "rosenbrock", "steps": 200}},
    "cross_validation": {"train": {"steps": 100, "eval_every": 50},
                         "study": {"kind": "cross_validation", "folds": 4}},
    "batch_size": {"arms": TWO_ARMS,
                   "train": {"steps": 10, "examples": 1600, "eval_every": 20, "log_every": 5},
                   "study": {"kind": "batch_size", "batch_sizes": [8, 64, 0], "power_iterations": 20}},
    "comparison": {"train": {"steps": 100, "eval_every": 50}},
    "search": {"arms": TWO_ARMS, "train": {"steps": 150, "eval_every": 50},
               "study": {"kind": "search", "trials": 6, "batch": 3, "test_seeds": [10, 11],
                         "spaces": {"SGD": {"lr": {"low": 1e-3, "high": 0.3, "log": True}},
                                    "Adam": {"lr": {"low": 1e-4, "high": 0.1, "log": True},
                                             "beta1": {"choices": [0.8, 0.9]}}},
                         "pruner": {"kind": "successive_halving", "rungs": [0.34], "reduction_factor": 3}}},
}
TRACES = """k => { const gd = document.querySelector(`[data-study-chart="${k}"]`);
  return gd && gd.data ? gd.data.map(t => ({type: t.type, name: t.name, n: t.x ? t.x.length : 0}))
                       : null; }"""
COMPLETE = "/^\\d+ runs$/.test(document.querySelector('#study-progress')?.textContent || '')"
FITTED = "document.querySelectorAll('#fitting-table tbody tr').length"
STATUSES = {"good fit", "underfitting", "overfitting", "diverged"}
Jobs = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def submitted(service: Running) -> Jobs:
    """All jobs submitted at once; the one worker runs them in this order."""
    out = {}
    for kind, overrides in JOBS.items():
        r = httpx.post(f"{service.url}/jobs", headers=service.svc.headers, timeout=30,
                       json={"preset": "seed-wave", "overrides": TINY | overrides})
        assert r.status_code == 201, r.text
        out[kind] = r.json() | {"url": f"{service.url}/#/jobs/{r.json()['id']}"}
    return out


@pytest.fixture()
def jobs(service: Running, submitted: Jobs) -> Jobs:
    """The jobs, with the blocker out of the way."""
    release(service, submitted)
    return submitted


@pytest.fixture(scope="module")
def page(service: Running, browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # The page's request context shares the browser's cookies: this logs the page in.
    assert page.request.post(f"{service.url}/session", data={"key": service.key}).ok
    yield page
    page.close()


def release(service: Running, jobs: Jobs) -> None:
    """Cancel the blocker (again, harmlessly, once it is cancelled)."""
    r = httpx.post(f"{service.url}/jobs/{jobs['blocker']['id']}/cancel", headers=service.svc.headers,
                   timeout=30)
    assert r.status_code in (200, 409), r.text


def open_job(page: Page, job: dict[str, Any], complete: bool = True) -> None:
    page.goto("about:blank")  # a fresh load each time, not a hash change on the same page
    page.goto(job["url"])
    if complete:
        page.wait_for_function(COMPLETE, timeout=60_000)


def traces(page: Page, key: str) -> list[dict[str, Any]]:
    return page.evaluate(TRACES, key)


def rows(page: Page, table: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"#{table} tbody tr",
                                     "trs => trs.map(tr => [...tr.cells].map(c => c.innerText))")


def test_tuning_page_follows_the_job_to_its_chosen_points(page: Page, submitted: Jobs,
                                                          service: Running) -> None:
    job = submitted["tuning"]
    try:
        open_job(page, job, complete=False)
        page.wait_for_selector("#job-status")
        assert page.inner_text("#job-status") == "queued"  # the page opened on a live job
    finally:
        release(service, submitted)
    page.wait_for_selector("#study:not([hidden])", timeout=60_000)
    page.wait_for_function(COMPLETE, timeout=60_000)  # redrawn when the job ended, no reload
    page.wait_for_function(f"{FITTED} === {job['n_runs']}", timeout=10_000)
    data = traces(page, "tuning")
    lines = [t for t in data if t["name"] in {"SGD", "Momentum", "Adam"}]
    assert [t["name"] for t in lines] == ["SGD", "Momentum", "Adam"] and all(t["n"] == 3 for t in lines)
    assert next(t for t in data if t["name"] == "chosen point")["n"] == 3  # one star per arm
    table = rows(page, "tuning-table")
    assert [r[0].strip() for r in table] == ["SGD", "Momentum", "Adam"]
    assert all(r[1].startswith("lr=") and "pending" not in r[3] for r in table)  # fresh-seed test loss shown
    assert page.locator("#study table.pairs tbody tr").count() == 3
    fitting = rows(page, "fitting-table")
    assert len(fitting) == job["n_runs"] and {r[3] for r in fitting} <= STATUSES
    shot(page, "study-tuning.png")


def test_bias_variance_bars_add_up_beside_the_measured_error(page: Page, jobs: Jobs) -> None:
    open_job(page, jobs["bias_variance"])
    data = traces(page, "bias-variance")
    bars = [t["name"] for t in data if t["type"] == "bar"]
    assert bars == ["bias²", "variance", "noise"] and all(t["n"] == 3 for t in data)
    assert any(t["name"].startswith("measured test error") for t in data)
    assert len(rows(page, "bv-table")) == 3 and len(rows(page, "bagging-table")) == 3
    fitting = rows(page, "fitting-table")  # 3 arms x (4 resamples + the whole split)
    assert len(fitting) == 15 and sum(r[3] == "whole split" for r in fitting) == 3
    shot(page, "study-bias-variance.png")


def test_trajectories_draw_a_path_per_arm_over_the_contour(page: Page, jobs: Jobs) -> None:
    open_job(page, jobs["trajectories"])
    data = traces(page, "trajectories")
    assert [t["type"] for t in data].count("contour") == 1
    paths = [t for t in data if t["name"] in {"SGD", "Adam"}]
    assert len(paths) == 2 and all(t["n"] == 201 for t in paths)  # the start and one point per step
    assert {t["name"] for t in data} >= {"start", "end"}
    assert len(rows(page, "paths-table")) == 2
    assert page.locator("#fitting").is_hidden()  # a 2-D function has no validation split to judge
    shot(page, "study-trajectories.png")


def test_cross_validation_and_batch_size_views(page: Page, jobs: Jobs) -> None:
    open_job(page, jobs["cross_validation"])
    data = traces(page, "folds")
    assert sum(t["name"].startswith("fold scores") for t in data) == 4
    assert next(t for t in data if t["name"].startswith("mean"))["n"] == 3
    assert len(rows(page, "cv-table")) == 3 and page.locator("#study table.pairs tbody tr").count() == 3
    shot(page, "study-cross-validation.png")

    open_job(page, jobs["batch_size"])
    for key in ("sharpness", "batch-size"):
        assert [(t["name"], t["n"]) for t in traces(page, key)] == [("SGD", 3), ("Adam", 3)]
    assert "Spearman" in page.inner_text(".verdict") and "ρ =" in page.inner_text("#study")
    assert len(rows(page, "batch-size-table")) == 6
    shot(page, "study-batch-size.png")


def test_search_draws_best_so_far_parallel_coordinates_and_best_trials(page: Page, jobs: Jobs) -> None:
    open_job(page, jobs["search"])
    for key in ("search-trials", "search-steps"):  # one step line per arm, a point per finished trial
        assert [(t["name"], t["n"]) for t in traces(page, key)] == [("SGD", 6), ("Adam", 6)]
    dims = page.evaluate("""k => document.querySelector(`[data-study-chart="${k}"]`).data[0]
                            .dimensions.map(d => [d.label, d.values.length])""", "search-parallel-1")
    assert dims == [["beta1", 6], ["log10 lr", 6], ["val loss (pruned, diverged: top)", 6]]
    table = rows(page, "search-table")
    assert [r[0].strip() for r in table] == ["SGD", "Adam"]
    for r in table:  # 6 trials, each cohort of 3 pruned to one at the rung; the best re-run
        assert r[1].split(" complete")[0] in ("2", "3", "4")  # a diverged trial counts as complete
        assert r[2].startswith("lr=") or r[2].startswith("beta1=")
        assert "pending" not in r[7]  # the fresh-seed test loss is shown
    spent = {r[4] for r in table}
    assert len({s.split(" / ")[1] for s in spent}) == 1  # the same planned budget for both arms
    shot(page, "study-search.png")


def test_a_plain_comparison_shows_its_fitting_flags_only(page: Page, jobs: Jobs) -> None:
    job = jobs["comparison"]
    open_job(page, job, complete=False)
    page.wait_for_function(f"{FITTED} === {job['n_runs']}", timeout=60_000)
    assert page.locator("#study").is_hidden()
    assert {r[3] for r in rows(page, "fitting-table")} <= STATUSES
    assert "one noisy evaluation never flags a run" in page.inner_text("#fitting-rule")  # the footnote


def test_a_study_spec_submits_from_the_form(service: Running, page: Page) -> None:
    presets = httpx.get(f"{service.url}/presets", headers=service.svc.headers, timeout=30).json()
    page.goto("about:blank")
    page.goto(f"{service.url}/#/new")
    page.wait_for_selector("#new-job")
    study_presets = [p for p in presets if p["spec"].get("study")]
    for p in study_presets:  # every study preset the engine names fills the form
        page.select_option("#preset", p["name"])
        kind = p["spec"]["study"]["kind"].replace("_", " ")
        assert f"Study: {kind}" in page.inner_text("#preset-description")
    trajectory = next((p for p in study_presets if p["spec"]["study"]["kind"] == "trajectories"), None)
    if trajectory:  # its length is the study's own step count
        page.select_option("#preset", trajectory["name"])
        assert page.inner_text("#steps-label").startswith("Steps on the 2-D function")
        page.fill("#steps", "40")
    else:  # a study spec edited as JSON goes through the same form
        spec = {**TINY, "arms": TWO_ARMS, "seeds": [0],
                "study": {"kind": "trajectories", "function": "beale", "steps": 40}}
        page.click("#spec-details summary")
        page.fill("#spec", json.dumps(spec))
    page.click("#submit")
    page.wait_for_url("**/#/jobs/*")
    page.wait_for_function(COMPLETE, timeout=60_000)
    paths = [t for t in traces(page, "trajectories")
             if t["type"] == "scatter" and t["name"] not in {"start", "end"}]
    assert paths and all(t["n"] == 41 for t in paths)  # the start and one point per step
