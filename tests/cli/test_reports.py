"""The report endpoints return a real PNG, a well-formed SVG and a self-contained HTML page."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from optarena.client import Client
from tests.ui.service import Running


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
    assert [a["arm"] for a in results["arms"]] == ["SGD", "Momentum", "Adam"]
    assert all(a["final_val"]["ci_low"] <= a["final_val"]["mean"] <= a["final_val"]["ci_high"]
               for a in results["arms"])
    assert len(results["pairs"]) == 3
