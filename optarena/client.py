"""A small typed client of the optarena HTTP API (httpx). The CLI uses it for everything remote.

The first methods (``submit``, ``get``, ``list``, ...) answer the API's JSON as dicts, as the
CLI reads them; the later ones answer typed models (optarena.models) where the API has a
response schema. Every call waits out a 429 or 503 that says when to come back
(``Retry-After``), a bounded number of times, before it raises ApiError.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from optarena import frames
from optarena.models import Dataset, DatasetPage, Job, JobPage, JobSummary, Preset

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
# update_job(): a label not passed keeps its value (None clears it, so None cannot mean "keep").
KEEP: Any = object()
Tags = str | list[str] | None
When = datetime | str | None


class ApiError(Exception):
    """A 4xx/5xx answer, with the API's detail (a message or a list of field errors)."""

    def __init__(self, status: int, detail: Any, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.retry_after = status, detail, retry_after


def retry_delay(resp: httpx.Response) -> float | None:
    """The seconds a 429 or 503 asks the client to wait (``Retry-After``: seconds or an HTTP
    date), or None for any other answer or one that does not say."""
    if resp.status_code not in (429, 503):
        return None
    raw = resp.headers.get("retry-after", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _error(resp: httpx.Response) -> ApiError:
    try:
        detail = resp.json().get("detail", resp.text)
    except (ValueError, AttributeError):
        detail = resp.text
    return ApiError(resp.status_code, detail, retry_delay(resp))


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


class Client:
    """``retries``: how many 429/503 answers with ``Retry-After`` one call waits out;
    ``max_retry_wait``: a longer wait than this is not waited for, the call raises at once
    (ApiError.retry_after says how long the server asked for)."""

    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = 60.0,
                 retries: int = 2, max_retry_wait: float = 30.0):
        url = url or os.environ.get("OPTARENA_URL") or DEFAULT_URL
        key = key or os.environ.get("OPTARENA_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.retries, self.max_retry_wait = retries, max_retry_wait

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def _send(self, method: str, path: str, retries: int | None = None, **kw: Any) -> httpx.Response:
        """The answer, once the server stops asking to come back later (or the retries or
        the longest wait are used up). A 429 or 503 means the request was not carried out,
        so sending it again is safe, a POST too."""
        left = self.retries if retries is None else retries
        while True:
            resp = self.http.request(method, path, **kw)
            delay = retry_delay(resp)
            if delay is None or left <= 0 or delay > self.max_retry_wait:
                return resp
            left -= 1
            time.sleep(delay)

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = self._send(method, path, **kw)
        if resp.status_code >= 400:
            raise _error(resp)
        return resp

    def submit(self, spec: dict[str, Any] | None = None, preset: str | None = None,
               overrides: dict[str, Any] | None = None, idempotency_key: str | None = None, *,
               name: str | None = None, tags: list[str] | None = None,
               notes: str | None = None) -> dict[str, Any]:
        """A full ``spec``, or a ``preset`` with ``overrides`` merged in field by field;
        ``name``, ``tags`` and ``notes`` label the job (``jobs()`` filters by them)."""
        if (spec is None) == (preset is None):
            raise ValueError("give a spec or a preset, not both")
        body = dict(spec) if spec is not None else {"preset": preset, "overrides": overrides or {}}
        body |= {k: v for k, v in (("name", name), ("tags", tags), ("notes", notes)) if v is not None}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/jobs", json=body, headers=headers).json()

    def get(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{job_id}").json()

    def list(self, status: str | None = None, limit: int = 20, offset: int = 0, *, tag: Tags = None,
             q: str | None = None, preset: str | None = None, created_after: When = None,
             created_before: When = None, sort: str | None = None, cursor: str | None = None
             ) -> dict[str, Any]:
        """One page of jobs: those with every tag in ``tag`` and ``q`` in their name, ...; the
        answer's ``next_cursor``, passed as ``cursor``, gives the next page."""
        given = {"status": status, "tag": [tag] if isinstance(tag, str) else tag, "q": q,
                 "preset": preset, "created_after": _iso(created_after),
                 "created_before": _iso(created_before), "sort": sort, "cursor": cursor}
        params = {"limit": limit, "offset": offset} | {k: v for k, v in given.items() if v}
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
        with ``Last-Event-ID``, so no event is lost or repeated; a 429 or 503 is retried
        after its ``Retry-After``."""
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
            except ApiError as err:
                failures += 1
                if err.retry_after is None or err.retry_after > self.max_retry_wait or failures > retries:
                    raise
                time.sleep(err.retry_after)

    def _stream(self, job_id: str, last_event_id: int | None) -> Iterator[Event]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        with self.http.stream("GET", f"/jobs/{job_id}/events", headers=headers, timeout=None) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise _error(resp)
            yield from parse_sse(resp.iter_lines())

    # -- typed results -------------------------------------------------------------------

    def job(self, job_id: str) -> Job:
        return Job.model_validate(self.get(job_id))

    def jobs(self, status: str | None = None, limit: int | None = None, offset: int = 0, *,
             page_size: int = 100, **filters: Any) -> JobPage:
        """Every job that passes the filters (``list()``'s: tag, q, preset, created_after,
        created_before, sort), page after page by cursor, or the first ``limit`` of them.
        ``next_cursor`` is where it stopped (None once all were read)."""
        items: list[JobSummary] = []
        cursor, total = None, None
        while True:
            size = page_size if limit is None else min(page_size, limit - len(items))
            page = JobPage.model_validate(self.list(status, size, offset if cursor is None else 0,
                                                    cursor=cursor, **filters))
            items += page.items
            total = page.total if total is None else total
            cursor = page.next_cursor
            if cursor is None or (limit is not None and len(items) >= limit):
                return JobPage(items=items, total=total, limit=limit or len(items), offset=offset,
                               next_cursor=cursor)

    def update_job(self, job_id: str, *, name: str | None = KEEP, tags: list[str] | None = KEEP,
                   notes: str | None = KEEP) -> Job:
        """Change a job's labels: those passed replace the stored ones (None clears one),
        the others keep their values."""
        body = {k: v for k, v in (("name", name), ("tags", tags), ("notes", notes)) if v is not KEEP}
        return Job.model_validate(self._call("PATCH", f"/jobs/{job_id}", json=body).json())

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 1.0) -> Job:
        """The job once it has its final status (succeeded, failed or cancelled), polled every
        ``poll`` seconds; TimeoutError after ``timeout`` seconds. A 429 or 503 with
        ``Retry-After`` is waited out (within the timeout), however often it comes."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self._send("GET", f"/jobs/{job_id}", retries=0)
            delay = retry_delay(resp)
            if delay is None:
                if resp.status_code >= 400:
                    raise _error(resp)
                job = Job.model_validate(resp.json())
                if job.done:
                    return job
                delay = poll
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"job {job_id} still not finished after {timeout} s")
            time.sleep(min(delay, left))

    def metrics_dataframe(self, job_id: str, **kw: Any) -> Any:
        """``metrics()`` as a pandas table, one row per point (needs pandas)."""
        return frames.metrics_frame(self.metrics(job_id, **kw))

    def upload_dataset(self, csv: bytes | str | os.PathLike[str], target: str, name: str | None = None,
                       kind: str = "auto") -> Dataset:
        """Upload a CSV file: ``csv`` is its path, or its content as bytes (then give
        ``name``). ``target`` is the header of the column to predict."""
        if isinstance(csv, bytes):
            body, default_name = csv, None
        else:
            body, default_name = Path(csv).read_bytes(), Path(csv).stem
        name = name or default_name
        if not name:
            raise ValueError("give the data set a name")
        resp = self._call("POST", "/datasets", content=body, headers={"Content-Type": "text/csv"},
                          params={"name": name, "target": target, "kind": kind})
        return Dataset.model_validate(resp.json())

    def datasets(self, limit: int = 20, offset: int = 0) -> DatasetPage:
        return DatasetPage.model_validate(self._call("GET", "/datasets",
                                                     params={"limit": limit, "offset": offset}).json())

    def dataset(self, dataset_id: str) -> Dataset:
        return Dataset.model_validate(self._call("GET", f"/datasets/{dataset_id}").json())

    def delete_dataset(self, dataset_id: str) -> None:
        self._call("DELETE", f"/datasets/{dataset_id}")

    def study(self, job_id: str) -> dict[str, Any]:
        """What the job's study found; its shape depends on its ``kind`` (see /docs)."""
        return self._call("GET", f"/jobs/{job_id}/study").json()

    def profile(self, job_ids: list[str], measure: str = "steps") -> dict[str, Any]:
        """A performance profile over several jobs: ``measure`` is steps, examples or seconds."""
        return self._call("GET", "/profiles", params={"job": job_ids, "measure": measure}).json()

    def presets(self) -> list[Preset]:
        return [Preset.model_validate(p) for p in self._call("GET", "/presets").json()]

    def optimizers(self) -> list[dict[str, Any]]:
        """Every optimizer a job may name, with its hyperparameters' types and ranges."""
        return self._call("GET", "/optimizers").json()

    def tasks(self) -> list[dict[str, Any]]:
        return self._call("GET", "/tasks").json()


def _iso(when: When) -> str | None:
    return when.isoformat() if isinstance(when, datetime) else when


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
