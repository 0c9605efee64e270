"""A small Server-Sent Events reader for the tests (the wire format, parsed by hand)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx


def read_events(url: str, key: str, last_event_id: int | None = None, limit: int | None = None,
                timeout: float = 180) -> list[dict[str, Any]]:
    """Events until the server ends the stream, or the first ``limit`` of them."""
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {key}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    for _ in range(10):  # a rate-limited key waits as the server says, as any client would
        with httpx.stream("GET", url, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 429:
                return _parse(resp, limit)
        time.sleep(float(resp.headers.get("Retry-After", "1")))
    raise AssertionError(f"still rate-limited after 10 tries: {url}")


def _parse(resp: httpx.Response, limit: int | None) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.read()
    assert resp.headers["content-type"].startswith("text/event-stream")
    events: list[dict[str, Any]] = []
    block: dict[str, Any] = {}
    for line in resp.iter_lines():
        if line == "":
            if "data" in block:
                events.append({"id": int(block["id"]), "event": block.get("event"),
                               "data": json.loads(block["data"])})
                if limit is not None and len(events) >= limit:
                    break
            block = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            block[key] = value.removeprefix(" ")
    return events


def points_by_run(events: list[dict[str, Any]], metric: str) -> dict[int, list[int]]:
    """Steps of ``metric`` per run, in the order the stream delivered them."""
    out: dict[int, list[int]] = {}
    for ev in events:
        if ev["event"] == "metrics":
            for chunk in ev["data"]["metrics"]:
                if chunk["metric"] == metric:
                    out.setdefault(chunk["run"], []).extend(chunk["steps"])
    return out
