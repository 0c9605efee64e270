"""Editing a job's labels on its page in a real headless Chromium against the real service: the
new name, tags and notes show at once on the page and in the job list, survive a reload, and a
bad tag is refused with the API's reason next to the tags field, changing nothing."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, Page

from tests.api.dashboard.browser import shot
from tests.api.dashboard.service import Running

TINY = {"task": {"n": 200}, "net": {"hidden": [4]}, "train": {"steps": 20, "eval_every": 10}}
NOTES = "first line\nsecond line"


def _labels(page: Page) -> tuple[str, list[str], str]:
    return (page.inner_text("#job-name"), page.locator("#job-tags .tag").all_inner_texts(),
            page.inner_text("#job-notes") if page.locator("#job-notes:not([hidden])").count() else "")


def _edit(page: Page, name: str, tags: str, notes: str) -> None:
    page.click("#edit-labels")
    page.fill("#label-name", name)
    page.fill("#label-tags", tags)
    page.fill("#label-notes", notes)
    page.click("#save-labels")


def test_edit_labels_on_the_job_page(service: Running, browser: Browser) -> None:
    r = httpx.post(f"{service.url}/jobs", headers=service.svc.headers, timeout=30,
                   json={"preset": "seed-wave", "overrides": TINY, "name": "before", "tags": ["old"]})
    assert r.status_code == 201, r.text
    job = r.json()["id"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    assert page.request.post(f"{service.url}/session", data={"key": service.key}).ok
    page.goto(f"{service.url}/#/jobs/{job}")
    page.wait_for_selector("#job-name:has-text('before')")
    assert page.locator("#labels-form").is_hidden()

    _edit(page, "renamed run", "Baseline, sweep:2, ", NOTES)
    page.wait_for_selector("#job-name:has-text('renamed run')")
    assert page.locator("#labels-form").is_hidden()
    assert _labels(page) == ("renamed run", ["baseline", "sweep:2"], NOTES)  # tags are stored lower-case
    listed = page.locator(f"#job-list li:has(a[data-job='{job}'])")
    listed.locator(".job-title b:has-text('renamed run')").wait_for()
    assert listed.locator(".tags .tag").all_inner_texts() == ["baseline", "sweep:2"]
    shot(page, "dashboard-labels.png")

    page.reload()
    page.wait_for_selector("#job-name:has-text('renamed run')")
    assert _labels(page) == ("renamed run", ["baseline", "sweep:2"], NOTES)

    page.click("#edit-labels")  # the form opens on the stored labels
    assert page.input_value("#label-tags") == "baseline, sweep:2"
    assert page.input_value("#label-notes") == NOTES
    page.click("#cancel-labels")

    _edit(page, "not saved", "ok, no/slash", "")
    error = page.locator("#labels-form [data-field='tags']")
    error.locator("code:has-text('tags.1')").wait_for()
    assert "a tag is 1 to 64 letters" in error.inner_text() and "no/slash" in error.inner_text()
    assert page.inner_text("#labels-form [data-field='name']") == ""
    assert page.locator("#labels-form").is_visible()  # still open, for the user to fix the tag
    shot(page, "dashboard-labels-error.png")
    page.reload()
    page.wait_for_selector("#job-name:has-text('renamed run')")
    assert _labels(page) == ("renamed run", ["baseline", "sweep:2"], NOTES)  # nothing was changed

    _edit(page, "", "", "")  # empty fields clear the labels
    page.wait_for_selector("#job-name:has-text('seed-wave')")  # no name: the preset's
    assert _labels(page) == ("seed-wave", [], "")
    page.close()
