"""A job's events (``GET /jobs/{id}/events``), typed by kind. Each keeps the wire's ``event``
name and its payload as ``data``, so code that reads events as kind + JSON still works.

These are the client's reading of the wire, as optarena.models is of the API's schemas, not
the server's classes (engine.events, worker.persist): a client reads servers of other
versions, so it keeps the fields it does not know and needs only those it uses."""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent
from pydantic import BaseModel, ConfigDict

from optarena.models import TERMINAL


class Event(BaseModel):
    """An event of a kind this client does not know: its payload's fields are attributes."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: int  # its sequence number in the job: resume after it with Last-Event-ID
    event: str

    @property
    def data(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "event"}, exclude_unset=True)  # as sent

    @property
    def final(self) -> bool:
        """Whether this is the job's last event (its final status)."""
        return False


class StatusEvent(Event):
    status: str
    error: Any | None = None

    @property
    def final(self) -> bool:
        return self.status in TERMINAL


class RunStarted(Event):
    run: int
    arm: int
    label: str
    optimizer: str
    seed: int
    batch_size: int
    variant: int | None = None


class Points(BaseModel):
    """Consecutive points of one metric of one run; None where the value was not finite."""

    model_config = ConfigDict(extra="allow", frozen=True)

    run: int
    metric: str
    steps: list[int]
    values: list[float | None]


class MetricsEvent(Event):
    progress: dict[str, Any] | None = None  # runs, step, steps: how far the shard has got
    points: int = 0
    metrics: list[Points] = []


class RunFinished(Event):
    run: int
    status: str  # succeeded or diverged
    summary: dict[str, Any] = {}


class StudyStage(Event):
    """A study's next stage is planned (tuning: each arm's chosen hyperparameters)."""

    stage: int
    chosen: dict[str, Any] = {}
    labels: list[str] = []


KINDS: dict[str, type[Event]] = {"status": StatusEvent, "run_started": RunStarted, "metrics": MetricsEvent,
                                 "run_finished": RunFinished, "study": StudyStage}


def parse_event(sse: ServerSentEvent) -> Event:
    return KINDS.get(sse.event, Event).model_validate(sse.json() | {"id": int(sse.id), "event": sse.event})
