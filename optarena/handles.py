"""A job as an object: what ``submit_job()`` and ``job()`` answer.

``Job`` (from ``Client``) and ``AsyncJob`` (from ``AsyncClient``) have the same methods, each
written once here as a plan on top of the client's (optarena.endpoints).
"""

from __future__ import annotations

from typing import Any

from optarena import frames, models
from optarena.endpoints import KEEP, Endpoints
from optarena.events import Event
from optarena.plan import Async, Plan, Stream, Sync, operation, streaming
from optarena.wire import validated


class JobOps:
    """A job bound to the client that fetched it. ``info`` is its latest state
    (optarena.models.Job), updated by ``refresh()``, ``wait()``, ``cancel()``, ``update()`` and
    at the end of ``follow()``; its fields read as the handle's own (``job.status``, ``job.runs``)."""

    def __init__(self, client: Any, info: models.Job):
        self.client, self.info = client, info

    @property
    def id(self) -> str:
        return self.info.id

    def __getattr__(self, name: str) -> Any:
        # Called only for names the handle lacks; ``info`` itself is looked up normally.
        if name == "info" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.info, name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *type(self.info).model_fields, *(self.info.model_extra or {})})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.info.status}, {self.info.progress:.0%} done>"

    def _drive(self, plan: Plan[Any]) -> Any:
        return self.client._drive(plan)

    def _iterate(self, plan: Stream[Any]) -> Any:
        return self.client._iterate(plan)

    def _keep(self, state: Plan[models.Job]) -> Plan[models.Job]:
        self.info = yield from state
        return self.info

    def _runs(self) -> Plan[list[models.Run]]:
        """The job's runs; refreshed unless it has finished (a study adds runs as it goes)."""
        if not self.info.done:
            yield from self._keep(self.client._state(self.id))
        return self.info.runs

    @operation
    def refresh(self) -> Plan[models.Job]:
        """The job's state now."""
        return self._keep(self.client._state(self.id))

    @operation
    def wait(self, timeout: float = 600.0, poll: float = 1.0) -> Plan[models.Job]:
        """The job's state once it has finished (succeeded, failed or cancelled), polled every
        ``poll`` seconds; TimeoutError after ``timeout`` seconds."""
        return self._keep(Endpoints.wait.plan(self.client, self.id, timeout, poll))

    @streaming
    def follow(self, last_event_id: int | None = None) -> Stream[Event]:
        """The job's events as they happen, typed by kind (optarena.events), each once and in
        order, across dropped connections, until its final status."""
        yield from Endpoints.events.plan(self.client, self.id, last_event_id)
        yield from self._keep(self.client._state(self.id))

    @operation
    def cancel(self) -> Plan[models.Job]:
        """Ask the workers to stop; the runs' metrics so far are kept. ``wait()`` for the end."""
        return self._keep(validated(models.Job, Endpoints.cancel.plan(self.client, self.id)))

    @operation
    def update(self, *, name: str | None = KEEP, tags: list[str] | None = KEEP,
               notes: str | None = KEEP) -> Plan[models.Job]:
        """Change the labels passed (None clears one); the others keep their values."""
        return self._keep(Endpoints.update_job.plan(self.client, self.id, name=name, tags=tags, notes=notes))

    @operation
    def delete(self) -> Plan[None]:
        return Endpoints.delete.plan(self.client, self.id)

    @operation
    def results(self) -> Plan[models.Results]:
        """Per arm, statistics over seeds of the runs finished so far, best first."""
        return validated(models.Results, Endpoints.results.plan(self.client, self.id))

    @operation
    def results_frame(self) -> Plan[Any]:
        """``results()`` as a pandas table: one row per arm (index ``arm``), best first, with
        its optimizer, rank, seeds and each statistic's mean, interval and spread
        (``final_test_mean``, ``final_val_ci_low``, ...)."""
        results = yield from JobOps.results.plan(self)
        optimizers = {r.label: r.optimizer for r in (yield from self._runs())}
        return frames.arms_frame([a.model_dump() for a in results.arms], optimizers)

    @operation
    def metrics_frame(self, metrics: list[str] | None = None, runs: list[int] | None = None,
                      max_points: int | None = None) -> Plan[Any]:
        """The curves as a pandas table, one row per point: run, label, optimizer, seed,
        metric, step, value (NaN where it was not finite). ``metrics`` (e.g. ["val_loss"]) and
        ``runs`` narrow it; ``max_points`` thins each curve, keeping its extremes."""
        data = yield from Endpoints.metrics.plan(self.client, self.id, runs, metrics, 0, max_points)
        return frames.metrics_frame(data, (yield from self._runs()))

    @operation
    def runs_frame(self) -> Plan[Any]:
        """One row per run: its arm, seed, status and summary (``final_test_loss``, ...)."""
        yield from self._runs()
        return self.info.to_dataframe()

    @operation
    def study(self) -> Plan[models.Study]:
        return Endpoints.study.plan(self.client, self.id)

    @operation
    def report(self, fmt: str = "png") -> Plan[models.Report]:
        """The report (``png``, ``svg`` or ``html``); a notebook shows it as a cell's value."""
        return models.Report(fmt, (yield from Endpoints.report.plan(self.client, self.id, fmt)))


class Job(JobOps, Sync):
    """A job of a ``Client``: each method returns once it has its answer."""


class AsyncJob(JobOps, Async):
    """A job of an ``AsyncClient``: await its methods, ``async for`` over ``follow()``."""
