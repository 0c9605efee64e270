"""Response schemas of the jobs routes, and their descriptions shown in /docs (the request body:
api/jobs/body.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]

# Every stored time is UTC, but SQLite hands them back naive; without an offset the value is
# not an RFC 3339 date-time, which the schema promises.
UtcDatetime = Annotated[datetime, AfterValidator(lambda d: d.replace(tzinfo=UTC) if d.tzinfo is None else d)]


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    index: int
    arm: int
    label: str
    optimizer: str
    seed: int
    batch_size: int
    hyperparams: dict[str, Any]
    status: str
    step: int
    init_hash: str | None
    batch_hash: str | None
    optimizer_package: str | None = None
    optimizer_version: str | None = None
    summary: dict[str, Any] | None


class ShardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    index: int
    run_indices: list[int]
    queue: str
    status: str
    step: int
    attempts: int
    owner: str | None
    heartbeat_at: UtcDatetime | None
    error: str | None


class JobSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: Status
    preset: str | None
    source: str
    n_runs: int
    steps: int
    cancel_requested: bool
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    error: Any | None
    name: str | None = None
    tags: list[str] = []


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str = Field(description="the job status it announces")
    state: str = Field(description="pending | sending | delivered | failed | unknown")
    attempts: int
    response_status: int | None = Field(description="the last attempt's HTTP status")
    last_error: str | None
    delivered_at: datetime | None


class NotifyOut(BaseModel):
    """The job's webhook (the secret is never shown) and each delivery so far."""

    url: str
    deliveries: list[DeliveryOut]


class JobOut(JobSummary):
    spec: dict[str, Any] | None
    notes: str | None = None  # here only: up to 10,000 characters, too many to repeat in a list
    notify: NotifyOut | None = None
    progress: float
    runs: list[RunOut]
    shards: list[ShardOut]


class JobPage(BaseModel):
    items: list[JobSummary]
    total: int = Field(description="jobs that pass the filters, on every page")
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on "
                                    "the last page")


CREATE_DESCRIPTION = """Submit a comparison: either a full spec (`SpecSubmission`), or `{"preset": name,
"overrides": {...}}` (`PresetSubmission`) where overrides are merged into the preset field by field
(lists such as `arms` are replaced whole, and so is a `study` of another kind than the preset's).
Each arm's fields are its optimizer's hyperparameters (`optimizer` tells which); a plugin optimizer
a live worker offers (GET /optimizers) is accepted too, with the hyperparameters it lists.
Beside either, `name` (up to 200 characters), `tags` (up to 20, each 1-64 letters, digits or
`_ . : -`, stored lower-case) and `notes` (up to 10,000 characters) label the job; change them
later with `PATCH /jobs/{id}`.
Send an `Idempotency-Key` header to make retries safe: the same key and body return the same job.
Invalid input answers 422 with one entry per problem, each with its field path (`loc`, `field`).
Beyond what the schema states, 422 also answers a spec whose fields do not fit together (e.g. a CNN
on a task without images, two arms with one label, a tuning grid outside an arm's range), a job
above a configured limit (runs, steps, parameters, compute: `limit_exceeded`), an unknown data set
(`unknown_dataset`), a webhook host not allowed (`url_refused`) or plugins no live worker offers
together (`no_worker`)."""

LIST_DESCRIPTION = """The caller's jobs, newest first unless `sort` says otherwise. Filters combine (all
must match): `status`, `tag` (repeatable: every tag given), `preset`, `q` (text in the name, case
ignored), `created_after` (inclusive) and `created_before` (exclusive). Page with `cursor`: pass
the previous page's `next_cursor` (null on the last page) with the same `sort`; jobs created in the
meantime never shift the pages, and jobs sharing a creation time are neither skipped nor repeated.
`offset` still skips jobs, counted from the cursor if one is given."""

PATCH_DESCRIPTION = """Change a job's labels: the fields sent replace the stored ones (`tags` as a whole
list), those left out stay; `null` clears a name or notes. Any job of the caller's, finished or not."""
