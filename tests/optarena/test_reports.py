"""The report endpoints return a real PNG, a well-formed SVG and a self-contained HTML page."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from optarena.client import Client
from tests.api.dashboard.service import Running


def test_reports_of_a_finished_job(service: Running) -> None:
    with Client(service.url, service.key) as c:
        job = c.submit(preset="seed-wave", overrides={"train": {"steps": 200}, "seeds": [0, 1]})
        statuses = [ev.data["status"] for ev in c.events(job["id"]) if ev.event == "status"]
        assert statuses[-1] == "succeeded"
        png, svg, html = (c.report(job["id"], fmt) for fmt in ("png", "svg", "html"))
        results = c.results(job["id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert ET.fromstring(svg).tag.endswith("svg")
    page = html.decode()
    assert page.startswith("<!doctype html>") and "<svg" in page
    # Self-contained: nothing to fetch from anywhere.
    assert "src=" not in page and 'href="http' not in page and "url(http" not in page
    # ranked by mean final validation loss; 2 seeds cannot make a difference significant, so
    # all three share letter group "a" and a warning says why, but the order is still stated
    assert sorted(a["arm"] for a in results["arms"]) == ["Adam", "Momentum", "SGD"]
    means = [a["final_val"]["mean"] for a in results["arms"]]
    assert means == sorted(means) and [a["rank"] for a in results["arms"]] == [1, 2, 3]
    assert [a["group"] for a in results["arms"]] == ["a", "a", "a"] and results["warnings"]
    assert results["ci_method"] == "student-t" and "Student-t" in page and "letter" in page
    assert all(a["final_val"]["ci_low"] <= a["final_val"]["mean"] <= a["final_val"]["ci_high"]
               for a in results["arms"])
    assert len(results["pairs"]) == 3
