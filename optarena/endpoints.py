"""Every method of ``Client`` and ``AsyncClient``, written once as a plan (optarena.plan).

The first methods (``submit``, ``get``, ``list``, ...) answer the API's JSON as dicts, as the
CLI reads them; the others answer typed models (optarena.models) or a job handle
(``submit_job``, ``job``). Every request waits out a 429 or 503 that says when to come back
(``Retry-After``), a bounded number of times, before it raises ApiError.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from optarena import frames, models
from optarena.events import Event, parse_event
from optarena.plan import NEXT, Call, Emit, Pause, Plan, Stream, operation, streaming
from optarena.wire import checked, exchange, retry_delay, validated

DEFAULT_URL = "http://127.0.0.1:8000"
# update_job(): a label not passed keeps its value (None clears it, so None cannot mean "keep").
KEEP: Any = object()
# The API sends a keep-alive comment after 15 s of silence: a stream silent for this long is dead.
STREAM_READ_TIMEOUT = 60.0
H = TypeVar("H")  # the job handle a client hands out
M = TypeVar("M", bound=BaseModel)
Tags = str | list[str] | None
When = datetime | str | None


class Endpoints(Generic[H]):
    """The methods both clients share; a client adds how it sends requests and waits."""

    transport: Any  # httpx.Client or httpx.AsyncClient
    handle: Any  # H's class: built from the client and a job's latest state

    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = 60.0,
                 retries: int = 2, max_retry_wait: float = 30.0):
        """``url`` and ``key`` default to $OPTARENA_URL and $OPTARENA_API_KEY. ``retries``: how
        many 429/503 answers with ``Retry-After`` one request waits out; ``max_retry_wait``: a
        longer wait than this is not waited for, the call raises ApiError at once (its
        ``retry_after`` says how long the server asked for)."""
        url = url or os.environ.get("OPTARENA_URL") or DEFAULT_URL
        key = key or os.environ.get("OPTARENA_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = self.transport(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.timeout, self.retries, self.max_retry_wait = timeout, retries, max_retry_wait

    def _request(self, method: str, path: str, **options: Any) -> Plan[httpx.Response]:
        return exchange(Call(method, path, options), self.retries, self.max_retry_wait)

    def _open(self, path: str, last_event_id: int | None) -> Plan[httpx.Response]:
        """An event stream, resumed after ``last_event_id``; its events are read with NEXT."""
        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        timeout = httpx.Timeout(self.timeout, read=STREAM_READ_TIMEOUT)
        call = Call("GET", path, {"headers": headers, "timeout": timeout}, stream=True)
        return exchange(call, self.retries, self.max_retry_wait)

    def _json(self, method: str, path: str, **options: Any) -> Plan[Any]:
        return (yield from self._request(method, path, **options)).json()

    def _model(self, model: type[M], method: str, path: str, **options: Any) -> Plan[M]:
        return validated(model, self._json(method, path, **options))

    def _state(self, job_id: str) -> Plan[models.Job]:
        return validated(models.Job, Endpoints.get.plan(self, job_id))

    def _as_handle(self, state: Plan[models.Job]) -> Plan[H]:
        return self.handle(self, (yield from state))

    # -- jobs, as the API's JSON -----------------------------------------------------------

    @operation
    def submit(self, spec: dict[str, Any] | None = None, preset: str | None = None,
               overrides: dict[str, Any] | None = None, idempotency_key: str | None = None, *,
               name: str | None = None, tags: list[str] | None = None,
               notes: str | None = None) -> Plan[dict[str, Any]]:
        """A full ``spec``, or a ``preset`` with ``overrides`` merged in field by field;
        ``name``, ``tags`` and ``notes`` label the job (``jobs()`` filters by them)."""
        if (spec is None) == (preset is None):
            raise ValueError("give a spec or a preset, not both")
        body = dict(spec) if spec is not None else {"preset": preset, "overrides": overrides or {}}
        body |= {k: v for k, v in (("name", name), ("tags", tags), ("notes", notes)) if v is not None}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json("POST", "/jobs", json=body, headers=headers)

    @operation
    def get(self, job_id: str) -> Plan[dict[str, Any]]:
        return self._json("GET", f"/jobs/{job_id}")

    @operation
    def cancel(self, job_id: str) -> Plan[dict[str, Any]]:
        return self._json("POST", f"/jobs/{job_id}/cancel")

    @operation
    def delete(self, job_id: str) -> Plan[None]:
        yield from self._request("DELETE", f"/jobs/{job_id}")

    @operation
    def metrics(self, job_id: str, runs: list[int] | None = None, metrics: list[str] | None = None,
                after_step: int = 0, max_points: int | None = None) -> Plan[dict[str, Any]]:
        params: dict[str, Any] = {"run": runs or [], "metric": metrics or [], "after_step": after_step}
        if max_points is not None:
            params["max_points"] = max_points
        return self._json("GET", f"/jobs/{job_id}/metrics", params=params)

    @operation
    def results(self, job_id: str) -> Plan[dict[str, Any]]:
        return self._json("GET", f"/jobs/{job_id}/results")

    @operation
    def report(self, job_id: str, fmt: str = "png") -> Plan[bytes]:
        """The report as bytes: ``png``, ``svg`` or ``html``."""
        return (yield from self._request("GET", f"/jobs/{job_id}/report.{fmt}")).content

    @streaming
    def events(self, job_id: str, last_event_id: int | None = None, retries: int = 5) -> Stream[Event]:
        """Every event of the job after ``last_event_id``, typed by kind, until its final
        status. A dropped or ended connection is resumed with ``Last-Event-ID``, so no event
        is lost or repeated; ``retries`` failed connections in a row end it with the error."""
        failures, finished = 0, False
        while True:
            received = 0
            try:
                yield from self._open(f"/jobs/{job_id}/events", last_event_id)
                while (sse := (yield NEXT)) is not None:
                    event = parse_event(sse)
                    last_event_id, failures, received = event.id, 0, received + 1
                    yield Emit(event)
                    if event.final:
                        return
            except httpx.TransportError:
                failures += 1
                if failures > retries:
                    raise
                yield Pause(min(2.0, 0.2 * 2**failures))
                continue
            # The server ended the stream before the final status (a stream's longest
            # lifetime). A finished job's stream sends every event up to its last: if one
            # brought nothing, the caller has had them all already.
            if received:
                continue
            if finished:
                return
            finished = (yield from self._state(job_id)).done
            if not finished:
                yield Pause(1.0)

    # -- jobs, typed -----------------------------------------------------------------------

    @operation
    def submit_job(self, spec: dict[str, Any] | None = None, preset: str | None = None,
                   overrides: dict[str, Any] | None = None, idempotency_key: str | None = None, *,
                   name: str | None = None, tags: list[str] | None = None, notes: str | None = None
                   ) -> Plan[H]:
        """``submit()``, answered by a handle on the job: ``wait()``, ``follow()``,
        ``results_frame()``, ... (optarena.handles)."""
        posted = Endpoints.submit.plan(self, spec, preset, overrides, idempotency_key, name=name, tags=tags,
                                       notes=notes)
        return self._as_handle(validated(models.Job, posted))

    @operation
    def job(self, job_id: str) -> Plan[H]:
        """A handle on the job, with its state now (``.info``)."""
        return self._as_handle(self._state(job_id))

    @operation
    def jobs(self, status: str | None = None, limit: int | None = None, offset: int = 0, *,
             page_size: int = 100, **filters: Any) -> Plan[models.JobPage]:
        """Every job that passes the filters (``list()``'s: tag, q, preset, created_after,
        created_before, sort), page after page by cursor, or the first ``limit`` of them.
        ``next_cursor`` is where it stopped (None once all were read)."""
        items: list[models.JobSummary] = []
        cursor, total = None, None
        while True:
            size = page_size if limit is None else min(page_size, limit - len(items))
            page = yield from validated(models.JobPage, Endpoints.list.plan(
                self, status, size, offset if cursor is None else 0, cursor=cursor, **filters))
            items += page.items
            total = page.total if total is None else total
            cursor = page.next_cursor
            if cursor is None or (limit is not None and len(items) >= limit):
                return models.JobPage(items=items, total=total, limit=limit or len(items), offset=offset,
                                      next_cursor=cursor)

    @operation
    def update_job(self, job_id: str, *, name: str | None = KEEP, tags: list[str] | None = KEEP,
                   notes: str | None = KEEP) -> Plan[models.Job]:
        """Change a job's labels: those passed replace the stored ones (None clears one),
        the others keep their values."""
        body = {k: v for k, v in (("name", name), ("tags", tags), ("notes", notes)) if v is not KEEP}
        return self._model(models.Job, "PATCH", f"/jobs/{job_id}", json=body)

    @operation
    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 1.0) -> Plan[models.Job]:
        """The job once it has its final status (succeeded, failed or cancelled), polled every
        ``poll`` seconds; TimeoutError after ``timeout`` seconds. A 429 or 503 with
        ``Retry-After`` is waited out (within the timeout), however often it comes."""
        deadline = time.monotonic() + timeout
        while True:
            resp = yield Call("GET", f"/jobs/{job_id}")
            delay = retry_delay(resp)
            if delay is None:
                job = models.Job.model_validate(checked(resp).json())
                if job.done:
                    return job
                delay = poll
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"job {job_id} still not finished after {timeout} s")
            yield Pause(min(delay, left))

    @operation
    def metrics_dataframe(self, job_id: str, **filters: Any) -> Plan[Any]:
        """``metrics()`` as a pandas table, one row per point (needs pandas)."""
        return frames.metrics_frame((yield from Endpoints.metrics.plan(self, job_id, **filters)))

    # -- data sets, studies, the catalogue -------------------------------------------------

    @operation
    def upload_dataset(self, data: bytes | str | os.PathLike[str], target: str | None = None,
                       name: str | None = None, kind: str = "auto") -> Plan[models.Dataset]:
        """Upload a CSV file (``target``: the header of the column to predict) or a NumPy .npz
        of arrays ``x`` and ``y`` (no target): ``data`` is its path, or its content as bytes
        (then give ``name``). An .npz is told apart by its bytes, as the API does."""
        if isinstance(data, bytes):
            body, default_name = data, None
        else:
            body, default_name = Path(data).read_bytes(), Path(data).stem
        name = name or default_name
        if not name:
            raise ValueError("give the data set a name")
        npz = body.startswith(b"PK\x03\x04")  # a zip: numpy.savez's format
        params = {"name": name, "kind": kind} | ({} if target is None else {"target": target})
        return self._model(models.Dataset, "POST", "/datasets", content=body, params=params,
                           headers={"Content-Type": "application/x-npz" if npz else "text/csv"})

    @operation
    def datasets(self, limit: int = 20, offset: int = 0) -> Plan[models.DatasetPage]:
        return self._model(models.DatasetPage, "GET", "/datasets", params={"limit": limit, "offset": offset})

    @operation
    def dataset(self, dataset_id: str) -> Plan[models.Dataset]:
        return self._model(models.Dataset, "GET", f"/datasets/{dataset_id}")

    @operation
    def delete_dataset(self, dataset_id: str) -> Plan[None]:
        yield from self._request("DELETE", f"/datasets/{dataset_id}")

    @operation
    def study(self, job_id: str) -> Plan[models.Study]:
        """What the job's study found; the fields beyond the common ones depend on its ``kind``."""
        return self._model(models.Study, "GET", f"/jobs/{job_id}/study")

    @operation
    def profile(self, job_ids: list[str], measure: str = "steps") -> Plan[models.Profile]:
        """A performance profile over several jobs: ``measure`` is steps, examples or seconds."""
        return self._model(models.Profile, "GET", "/profiles", params={"job": job_ids, "measure": measure})

    @operation
    def presets(self) -> Plan[list[models.Preset]]:
        return [models.Preset.model_validate(p) for p in (yield from self._json("GET", "/presets"))]

    @operation
    def optimizers(self) -> Plan[list[dict[str, Any]]]:
        """Every optimizer a job may name, with its hyperparameters' types and ranges."""
        return self._json("GET", "/optimizers")

    @operation
    def tasks(self) -> Plan[list[dict[str, Any]]]:
        return self._json("GET", "/tasks")

    @operation
    def models(self) -> Plan[list[dict[str, Any]]]:
        """Every model a job may train as ``net: {"kind": "module", "model": ...}``, with its settings."""
        return self._json("GET", "/models")

    # Last: in the class body its name hides the built-in ``list`` from the annotations after it.
    @operation
    def list(self, status: str | None = None, limit: int = 20, offset: int = 0, *, tag: Tags = None,
             q: str | None = None, preset: str | None = None, created_after: When = None,
             created_before: When = None, sort: str | None = None, cursor: str | None = None
             ) -> Plan[dict[str, Any]]:
        """One page of jobs: those with every tag in ``tag`` and ``q`` in their name, ...; the
        answer's ``next_cursor``, passed as ``cursor``, gives the next page."""
        given = {"status": status, "tag": [tag] if isinstance(tag, str) else tag, "q": q,
                 "preset": preset, "created_after": _iso(created_after),
                 "created_before": _iso(created_before), "sort": sort, "cursor": cursor}
        params = {"limit": limit, "offset": offset} | {k: v for k, v in given.items() if v}
        return self._json("GET", "/jobs", params=params)


def _iso(when: When) -> str | None:
    return when.isoformat() if isinstance(when, datetime) else when
