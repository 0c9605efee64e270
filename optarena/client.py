"""A small typed client of the optarena HTTP API (httpx). The CLI uses it for everything remote."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class ApiError(Exception):
    """A 4xx/5xx answer, with the API's detail (a message or a list of field errors)."""

    def __init__(self, status: int, detail: Any):
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


class Client:
    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = 60.0):
        url = url or os.environ.get("OPTARENA_URL") or DEFAULT_URL
        key = key or os.environ.get("OPTARENA_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = self.http.request(method, path, **kw)
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise ApiError(resp.status_code, detail)
        return resp

    def submit(self, spec: dict[str, Any] | None = None, preset: str | None = None,
               overrides: dict[str, Any] | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """A full ``spec``, or a ``preset`` with ``overrides`` merged in field by field."""
        if (spec is None) == (preset is None):
            raise ValueError("give a spec or a preset, not both")
        body = spec if spec is not None else {"preset": preset, "overrides": overrides or {}}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/jobs", json=body, headers=headers).json()

    def get(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{job_id}").json()

    def list(self, status: str | None = None, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset} | ({"status": status} if status else {})
        return self._call("GET", "/jobs", params=params).json()

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/jobs/{job_id}/cancel").json()

    def delete(self, job_id: str) -> None:
        self._call("DELETE", f"/jobs/{job_id}")

    def metrics(self, job_id: str, runs: list[int] | None = None, metrics: list[str] | None = None,
                after_step: int = 0, max_points: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"run": runs or [], "metric": metrics or [], "after_step": after_step}
        if max_points is not None:
            params["max_points"] = max_points
        return self._call("GET", f"/jobs/{job_id}/metrics", params=params).json()

    def results(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{job_id}/results").json()

    def report(self, job_id: str, fmt: str = "png") -> bytes:
        """The report as bytes: ``png``, ``svg`` or ``html``."""
        return self._call("GET", f"/jobs/{job_id}/report.{fmt}").content

    def events(self, job_id: str, last_event_id: int | None = None, retries: int = 5) -> Iterator[Event]:
        """Every event of the job until its final status. A dropped connection is resumed
        with ``Last-Event-ID``, so no event is lost or repeated."""
        failures = 0
        while True:
            try:
                for ev in self._stream(job_id, last_event_id):
                    last_event_id, failures = ev.id, 0
                    yield ev
                return
            except httpx.TransportError:
                failures += 1
                if failures > retries:
                    raise
                time.sleep(min(2.0, 0.2 * 2**failures))

    def _stream(self, job_id: str, last_event_id: int | None) -> Iterator[Event]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        with self.http.stream("GET", f"/jobs/{job_id}/events", headers=headers, timeout=None) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise ApiError(resp.status_code, resp.text)
            yield from parse_sse(resp.iter_lines())


def parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    """The Server-Sent Events wire format: blocks of ``field: value`` lines, a blank line ends one."""
    block: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in block:
                yield Event(int(block.get("id", 0)), block.get("event", "message"), json.loads(block["data"]))
            block = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            block[key] = block[key] + "\n" + value if key == "data" and key in block else value
