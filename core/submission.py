"""Submitting a job: the one path of ``POST /jobs`` and of the queue task ``optarena.submit_job``.

``submit`` reads the request, resolves an uploaded data set once (with the caller's owner),
checks every limit (the spec's and the owner's active jobs) and stores the job and its
first stage's runs. It raises instead of answering: the API turns the exceptions into 409,
422 and 429; the queue stores a refused request as a failed job carrying the same reasons.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import capabilities
from core.limits import Widths, dataset_widths, limit_errors, task_widths
from core.planning import add_runs
from core.requests import JobRequest, Offered, error, parse_request, parse_text, request_hash, spec_errors
from core.settings import Settings
from core.webhooks import refusal
from engine.design import max_steps, n_stages, proposals_of, stage, total_runs
from engine.spec import ComparisonSpec
from models import datasets
from models.journal import add_event
from models.tables import Job
from models.webhooks import JobWebhook


class Refused(Exception):
    """The request breaks the spec or a limit; ``errors`` locate each reason in the body."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(errors)
        self.errors = errors


class KeyReused(Exception):
    """The Idempotency-Key was used before with a different body."""


class TooManyActive(Exception):
    """The owner has the most queued or running jobs allowed; retry once one has finished."""

    retry_after = 10


def offered(session: Session, settings: Settings) -> Offered:
    """The plugin optimizers and models a request may name now: those live workers offer."""
    return capabilities.offered(session, settings.worker_ttl_seconds)


def checked(session: Session, settings: Settings, owner: str, request: JobRequest) -> JobRequest:
    """The request with its data set resolved, its limits checked and a live worker for its
    plugin optimizers, or refused."""
    if request.spec is None:
        return request
    spec, widths, errors = _with_widths(session, request.spec, owner, offered(session, settings))
    if spec is not None and widths is not None:
        errors = limit_errors(spec, settings, widths) or \
            capabilities.placement_errors(session, spec, settings.worker_ttl_seconds)
    if request.notify is not None and (why := refusal(request.notify.url, settings.webhook_allowed_hosts)):
        refused = [error(["notify", "url"], why, "url_refused")]
        return JobRequest(preset=request.preset, labels=request.labels,
                          errors=refused + request.refused(errors).errors)
    return request.refused(errors) if errors else JobRequest(spec=spec, preset=request.preset,
                                                             labels=request.labels, notify=request.notify)


def _with_widths(session: Session, spec: ComparisonSpec, owner: str, offered_now: Offered
                 ) -> tuple[ComparisonSpec | None, Widths | None, list[dict[str, Any]]]:
    """For task 'dataset': the spec with ``task.n`` capped at the owner's data set's rows and
    the net's widths from it; another task passes with the task table's widths."""
    if spec.task.name != "dataset":
        return spec, task_widths(spec), []
    found = datasets.get(session, spec.task.dataset or "", owner)
    if found is None:
        return None, None, [error(["task", "dataset"], f"no dataset {spec.task.dataset} for this key; "
                                  "upload one with POST /datasets", "unknown_dataset")]
    data = spec.model_dump(mode="json")
    data["task"]["n"] = min(spec.task.n, found.n_rows)
    model = spec.net.module
    if model is not None and model.tokens:  # its embedding takes the upload's vocabulary
        if found.vocab is None:
            return None, None, [error(["net", "model"], f"model {spec.net.model!r} reads token ids; data set "
                                      f"{found.id} holds real-valued rows: upload an .npz whose x is an "
                                      "integer array (N, T) of ids from 0", "needs_tokens")]
        try:
            data["net"]["config"] = model.with_vocab(spec.net.config, found.vocab)
        except ValueError as exc:
            return None, None, [error(["net"], str(exc), "value_error")]
    try:
        spec = ComparisonSpec.model_validate(data, context=offered_now)
    except ValidationError as exc:
        return None, None, spec_errors(exc, [])
    shape = datasets.image_shape(found)
    if shape is None and (spec.net.kind == "cnn" or (spec.net.module is not None and spec.net.module.images)):
        what = "kind 'cnn'" if spec.net.kind == "cnn" else f"model {spec.net.model!r}"
        return None, None, [error(["net", "kind"], f"{what} needs images; data set {found.id} holds rows: "
                                  "upload an .npz with x of shape (N, C, H, W)", "needs_images")]
    return spec, dataset_widths(found.n_features, found.kind, len(found.class_names or []), shape), []


def find_by_key(session: Session, owner: str, key: str, body_hash: str) -> Job | None:
    job = session.scalar(select(Job).where(Job.owner == owner, Job.idempotency_key == key))
    if job is not None and job.request_hash != body_hash:
        raise KeyReused("this Idempotency-Key was already used with a different body; "
                        "use a new key for a new job")
    return job


def check_active(session: Session, settings: Settings, owner: str) -> None:
    active = session.scalar(select(func.count()).select_from(Job).where(
        Job.owner == owner, Job.status.in_(("queued", "running")))) or 0
    if active >= settings.max_active_jobs_per_owner:
        raise TooManyActive(f"{active} jobs are queued or running, the limit per owner is "
                            f"{settings.max_active_jobs_per_owner} (OPTARENA_MAX_ACTIVE_JOBS_PER_OWNER); "
                            "wait for one to finish or cancel one")


def submit(session: Session, settings: Settings, owner: str, body: Any, *, source: str = "http",
           key: str | None = None, request: JobRequest | None = None) -> tuple[Job, bool]:
    """Store a queued job and its first runs (flushed, not committed); returns (job, created).
    A known key with the same body returns the stored job. ``request``: ``body`` already read
    (the queue reads JSON text itself)."""
    body_hash = request_hash(body)
    if key is not None and (job := find_by_key(session, owner, key, body_hash)) is not None:
        return job, False
    request = checked(session, settings, owner, request or parse_request(body, offered(session, settings)))
    if request.spec is None:
        raise Refused(request.errors)
    check_active(session, settings, owner)
    try:
        job = create_job(session, request, source=source, owner=owner, idempotency_key=key,
                         body_hash=body_hash)
        if request.notify is not None:
            session.add(JobWebhook(job_id=job.id, url=request.notify.url, secret=request.notify.secret))
        session.flush()
    except IntegrityError:
        # Another request with the same key won the race: answer with its job.
        session.rollback()
        job = find_by_key(session, owner, key or "", body_hash)
        if job is None:
            raise
        return job, False
    return job, True


def submit_from_queue(session: Session, settings: Settings, owner: str, body: Any) -> Job:
    """The queue's submission: ``submit``'s checks, but a refused request (a bad spec, a limit,
    too many active jobs) is stored as a failed job carrying the reasons, since no caller
    waits for an answer. ``body`` may also be JSON text."""
    plugins = offered(session, settings)
    request = parse_text(body, plugins) if isinstance(body, str) else parse_request(body, plugins)
    try:
        return submit(session, settings, owner, body, source="queue", request=request)[0]
    except Refused as exc:
        errors = exc.errors
    except TooManyActive as exc:
        errors = [error([], str(exc), "too_many_active")]
    return create_job(session, JobRequest(preset=request.preset, errors=errors, labels=request.labels),
                      source="queue", owner=owner)


def create_job(session: Session, request: JobRequest, *, source: str = "http", owner: str | None = None,
               idempotency_key: str | None = None, body_hash: str | None = None) -> Job:
    """Add the job of a checked request and its first stage's runs (no commit); a request
    carrying errors becomes a failed job that keeps them, so its owner can read why."""
    job = Job(id=str(uuid.uuid4()), source=source, preset=request.preset, last_seq=0, owner=owner,
              idempotency_key=idempotency_key, request_hash=body_hash, cancel_requested=False,
              status="queued", **request.labels.columns())
    if request.spec is None:
        job.status, job.error = "failed", {"validation_errors": request.errors}
        _log_created(session, job)
        return job
    spec = request.spec
    job.spec, job.n_runs, job.steps = spec.model_dump(mode="json"), total_runs(spec), job_steps(spec)
    if spec.study is not None and spec.study.kind == "search":
        from engine.search_plan import first_state  # Optuna: only for a search

        job.study_state = first_state(spec)
        first = stage(spec, 0, proposals=proposals_of(job.study_state, 0))
    else:
        if n_stages(spec) > 1:
            job.study_state = {"stages": n_stages(spec)}
        first = stage(spec, 0)
    session.add(job)
    add_runs(session, job.id, first)
    _log_created(session, job)
    return job


def job_steps(spec: ComparisonSpec) -> int:
    """Steps shown for the job: a trajectory's, or the longest run's under an examples budget."""
    if spec.study is not None and spec.study.kind == "trajectories":
        return spec.study.steps
    return max_steps(spec, spec.task.split_sizes()[0])


def _log_created(session: Session, job: Job) -> None:
    session.add(job)
    session.flush()
    payload: dict[str, Any] = {"status": job.status}
    if job.error is not None:
        payload["error"] = job.error
    add_event(session, job.id, "status", payload)
