"""The job list's tag filter and the compare view in a real headless Chromium: two small jobs of
one task and one of another go through the real service; the list narrowed by tag shows the two,
ticking them opens one chart with every arm of both ("job name / arm") and their results side by
side; jobs of different tasks are refused with a reason."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import Browser

from tests.api.dashboard.browser import shot
from tests.api.dashboard.service import Running

TINY = {"task": {"n": 400}, "net": {"hidden": [8]}, "train": {"steps": 100, "eval_every": 25}}
TWO_ARMS = [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "adam", "lr": 0.01}]
JOBS = {
    "wave A": {"preset": "seed-wave", "overrides": TINY, "tags": ["cmp"]},
    "wave B": {"preset": "seed-wave", "overrides": TINY | {"arms": TWO_ARMS}, "tags": ["cmp", "second"]},
    "blobs C": {"preset": "seed-wave", "overrides": TINY | {"task": {"name": "blobs", "n": 400}},
                "tags": ["other"]},
}
TRACES = "() => document.querySelector('#compare-chart').data.map(t => t.name)"


def _finished(service: Running) -> dict[str, dict[str, Any]]:
    jobs = {}
    for name, body in JOBS.items():
        r = httpx.post(f"{service.url}/jobs", headers=service.svc.headers, json=body | {"name": name},
                       timeout=30)
        assert r.status_code == 201, r.text
        jobs[name] = r.json()
    deadline = time.monotonic() + 120
    for name, job in jobs.items():
        while job["status"] != "succeeded":
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job["status"]
            time.sleep(0.3)
            job = httpx.get(f"{service.url}/jobs/{job['id']}", headers=service.svc.headers, timeout=30).json()
        jobs[name] = job
    return jobs


def test_filter_by_tag_then_compare_two_jobs(service: Running, browser: Browser) -> None:
    jobs = _finished(service)
    arms = {name: list(dict.fromkeys(r["label"] for r in job["runs"])) for name, job in jobs.items()}
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(service.url) else None)
    assert page.request.post(f"{service.url}/session", data={"key": service.key}).ok
    page.goto(f"{service.url}/")
    page.wait_for_selector("#job-list input.pick")
    assert page.locator("#job-list li").count() == 3

    page.fill("#tag-filter", "CMP")
    page.wait_for_function("document.querySelectorAll('#job-list li').length === 2")
    assert sorted(page.locator("#job-list .job-title b").all_inner_texts()) == ["wave A", "wave B"]
    page.fill("#tag-filter", "cmp no/slash")  # the API's reason, under the filter
    page.wait_for_selector("#list-error:has-text('tag.1')")
    page.fill("#tag-filter", "cmp")
    page.wait_for_function("document.querySelectorAll('#job-list li').length === 2")

    for box in page.locator("#job-list input.pick").all():
        box.check()
    page.click("#compare")
    page.wait_for_url("**/#/compare/*")
    page.wait_for_selector("#compare-table tbody tr")
    expected = sorted(f"{name} / {arm}" for name in ("wave A", "wave B") for arm in arms[name])
    assert sorted(page.evaluate(TRACES)) == expected  # one seed per arm: the mean is its curve
    rows = [r.split("\t") for r in page.locator("#compare-table tbody tr").all_inner_texts()]
    assert sorted(r[0].strip() for r in rows) == expected
    assert all(float(r[1].split()[0]) > 0 and float(r[2].split()[0]) > 0 for r in rows)  # val, test
    assert "Task: wave" in page.inner_text("#compare-task")
    shot(page, "dashboard-compare.png")

    page.goto(f"{service.url}/#/compare/{jobs['wave A']['id']},{jobs['blobs C']['id']}")
    page.wait_for_selector("#compare-error")
    assert "different tasks cannot be compared" in page.inner_text("#compare-error")
    assert page.locator("#compare-chart").count() == 0
    assert outside == [], outside
