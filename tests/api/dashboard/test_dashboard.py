"""The dashboard in a real headless Chromium: log in with a key from `optarena keys create`,
submit the seed preset from the form, watch a chart grow live, read the final table."""

from __future__ import annotations

import time

from playwright.sync_api import Browser

from tests.api.dashboard.browser import shot
from tests.api.dashboard.service import Running

COUNT = """m => { const gd = document.querySelector(`[data-metric="${m}"]`);
  return gd && gd.data ? gd.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0; }"""


def test_submit_watch_live_and_read_results(service: Running, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(service.url) else None)
    page.goto(f"{service.url}/#/new")
    # No key yet: the API answers 401 and the page asks for one.
    page.wait_for_selector("#login[open]")
    page.fill("#key", "not-a-key")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:has-text('not valid')")
    page.fill("#key", service.key)
    page.click("#login-form button[type=submit]")

    page.wait_for_selector("#new-job")
    assert page.input_value("#preset") == "seed-wave"
    page.fill("#steps", "-5")
    page.click("#submit")
    page.wait_for_selector("[data-field='train.steps'] code")
    assert "greater than or equal to 1" in page.inner_text("[data-field='train.steps']")

    # Long enough to be seen running: on a fast 2-core machine 6 runs train 6,000 steps in about
    # as long as two chart refreshes take, and the job could end between them.
    page.fill("#steps", "20000")
    page.fill("#seeds", "0, 1")
    page.click("#submit")
    page.wait_for_url("**/#/jobs/*")
    page.wait_for_function(f"({COUNT})('train_loss') > 0", timeout=60_000)
    first = page.evaluate(COUNT, "train_loss")
    page.wait_for_function(f"({COUNT})('train_loss') > {first}", timeout=60_000)
    assert page.inner_text("#job-status") == "running"  # it grew while the job ran, no reload
    time.sleep(1.5)
    shot(page, "dashboard-live.png")

    page.wait_for_selector("#job-status:has-text('succeeded')", timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#results-table tbody tr').length === 3",
                           timeout=30_000)
    arms = page.locator("#results-table tbody tr td:first-child").all_inner_texts()
    assert sorted(a.strip() for a in arms) == ["Adam", "Momentum", "SGD"]
    ranks = page.locator("#results-table tbody tr td:nth-child(2)").all_inner_texts()
    assert [r.split()[0] for r in ranks] == ["1", "2", "3"]  # ranked by mean; letters say what is tied
    assert "Student-t" in page.inner_text("#results") and "letter" in page.inner_text("#rank-rule")
    assert page.locator("[data-metric='val_loss']").count() == 1
    shot(page, "dashboard-final.png")
    assert outside == [], outside  # plotly.js and everything else came from the API
