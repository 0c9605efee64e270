"""Validating and storing a job: the one path shared by ``POST /jobs`` and the
``optarena.submit_job`` task. Torch-free, so the API can use it.

A request is either a full ``ComparisonSpec`` or ``{"preset": name, "overrides": {...}}``;
overrides are merged into the preset field by field (lists such as ``arms`` are replaced).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from engine.design import Stage, max_steps, n_stages, stage, total_runs
from engine.presets import PRESETS, preset_dict
from engine.spec import ComparisonSpec
from models import datasets
from models.journal import add_event
from models.tables import Job, Run
from optarena.settings import Settings, get_settings

# (in_dim, out_dim, image shape) of each task, torch-free, for the parameter limit. A task
# missing here is counted as the largest known one, so the limit never under-counts.
TASK_DIMS: dict[str, tuple[int, int, tuple[int, int, int] | None]] = {
    "wave": (1, 1, None), "sines": (1, 1, None), "moons": (2, 2, None), "spirals": (2, 2, None),
    "blobs": (2, 8, None), "digits": (64, 10, (1, 8, 8)),
}


@dataclass
class Parsed:
    """A validated spec, or the errors that stop it, each with a ``loc`` path."""

    spec: ComparisonSpec | None = None
    preset: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def _error(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _spec_errors(exc: ValidationError, prefix: list[Any]) -> list[dict[str, Any]]:
    return [_error(prefix + list(e["loc"]), e["msg"], e["type"]) for e in exc.errors(include_url=False)]


def _parse_preset(body: dict[str, Any]) -> Parsed:
    name, overrides = body["preset"], body.get("overrides") or {}
    extra = sorted(set(body) - {"preset", "overrides"})
    if extra:
        return Parsed(errors=[_error([k], "not allowed next to 'preset'; put spec fields under "
                                     "'overrides'", "extra_forbidden") for k in extra])
    if not isinstance(name, str) or name not in PRESETS:
        return Parsed(errors=[_error(["preset"], f"unknown preset {name!r}; choose one of: "
                                     f"{', '.join(PRESETS)} (GET /presets)", "unknown_preset")])
    if not isinstance(overrides, dict):
        return Parsed(errors=[_error(["overrides"], "must be an object of spec fields, "
                                     "e.g. {\"train\": {\"steps\": 500}}", "dict_type")])
    try:
        return Parsed(spec=ComparisonSpec.model_validate(preset_dict(name, overrides)), preset=name)
    except ValidationError as exc:
        return Parsed(errors=_spec_errors(exc, ["overrides"]), preset=name)


def parse_request(body: Any) -> Parsed:
    if not isinstance(body, dict):
        return Parsed(errors=[_error([], "the body must be a JSON object: a comparison spec or "
                                     "{\"preset\": name, \"overrides\": {...}}", "dict_type")])
    if "preset" in body:
        return _parse_preset(body)
    try:
        return Parsed(spec=ComparisonSpec.model_validate(body))
    except ValidationError as exc:
        return Parsed(errors=_spec_errors(exc, []))


def parse_text(text: str) -> Parsed:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        return Parsed(errors=[_error([], f"not valid JSON: {exc}", "json_invalid")])
    return parse_request(body)


def n_params(spec: ComparisonSpec) -> int:
    """Parameters of the spec's net, counted as the engine lays them out (engine/nets.py)."""
    in_dim, out_dim, image = TASK_DIMS.get(spec.task.name, TASK_DIMS["digits"])
    norm, total = spec.net.norm != "none", 0
    if spec.net.kind == "cnn" and image is not None:
        c_in = image[0]
        for c in spec.net.channels:
            total += c * c_in * 9 + c + (2 * c if norm else 0)
            c_in = c
        in_dim, norm = c_in * (image[1] // 2) * (image[2] // 2), False
    dims = [in_dim, *spec.net.hidden, out_dim]
    for k, (i, o) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        total += i * o + o + (2 * o if norm and k < len(dims) - 2 else 0)
    return total


def limit_errors(spec: ComparisonSpec, settings: Settings, prefix: list[Any]) -> list[dict[str, Any]]:
    """The configured limits a valid spec breaks, each naming its field and the setting."""
    runs, params = total_runs(spec), n_params(spec)
    steps = max_steps(spec, spec.task.split_sizes()[0])
    width = ["net", "channels" if spec.net.kind == "cnn" else "hidden"]
    checks = [
        (runs > settings.max_runs_per_job, ["arms"], f"{runs} runs (arms x seeds, times the study's "
         f"grid, batch sizes, folds or resamples) exceed the limit of "
         f"{settings.max_runs_per_job} runs per job (OPTARENA_MAX_RUNS_PER_JOB)"),
        (steps > settings.max_steps_per_run, ["train", "steps"],
         f"{steps} steps (of the longest run) exceed the limit of "
         f"{settings.max_steps_per_run} steps per run (OPTARENA_MAX_STEPS_PER_RUN)"),
        (params > settings.max_params_per_net, width, f"the net has {params} parameters, above the "
         f"limit of {settings.max_params_per_net} (OPTARENA_MAX_PARAMS_PER_NET)"),
        (runs * steps * params > settings.max_compute_per_job, ["train", "steps"],
         f"compute budget exceeded: {runs} runs x {steps} steps x {params} parameters = "
         f"{runs * steps * params:.3g}, above the limit of {settings.max_compute_per_job:.3g} per job "
         "(OPTARENA_MAX_COMPUTE_PER_JOB); use fewer runs, steps or a smaller net"),
    ]
    return [_error(prefix + loc, msg, "limit_exceeded") for bad, loc, msg in checks if bad]


def within_limits(parsed: Parsed, settings: Settings) -> Parsed:
    """The same Parsed, or one carrying the limit errors instead of the spec."""
    if parsed.spec is None:
        return parsed
    errors = limit_errors(parsed.spec, settings, ["overrides"] if parsed.preset else [])
    return Parsed(preset=parsed.preset, errors=errors) if errors else parsed


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def create_job(session: Session, parsed: Parsed, *, source: str = "http", owner: str | None = None,
               idempotency_key: str | None = None, body_hash: str | None = None) -> Job:
    """Add a queued job and its runs (no commit). An invalid request becomes a failed job."""
    parsed = with_dataset(session, parsed, owner)
    job = Job(id=str(uuid.uuid4()), source=source, preset=parsed.preset, last_seq=0, owner=owner,
              idempotency_key=idempotency_key, request_hash=body_hash, cancel_requested=False,
              status="queued")
    if parsed.spec is None:
        job.status, job.error = "failed", {"validation_errors": parsed.errors}
        _log_created(session, job)
        return job
    spec = parsed.spec
    job.spec, job.n_runs, job.steps = spec.model_dump(mode="json"), total_runs(spec), job_steps(spec)
    if n_stages(spec) > 1:
        job.study_state = {"stages": n_stages(spec)}
    session.add(job)
    add_runs(session, job.id, stage(spec, 0))
    _log_created(session, job)
    return job


def job_steps(spec: ComparisonSpec) -> int:
    """Steps shown for the job: a trajectory's, or the longest run's under an examples budget."""
    if spec.study is not None and spec.study.kind == "trajectories":
        return spec.study.steps
    return max_steps(spec, spec.task.split_sizes()[0])


def add_runs(session: Session, job_id: str, st: Stage) -> None:
    """The run rows of one stage, numbered after the earlier stages' runs."""
    for plan in st.spec.runs():
        arm = st.spec.arms[plan.arm]
        session.add(Run(job_id=job_id, index=st.offset + plan.index, arm=plan.arm, label=arm.display(),
                        optimizer=arm.optimizer, seed=plan.seed, batch_size=plan.batch_size,
                        hyperparams=arm.hyperparams(),
                        status="queued", step=0, stage=st.index, variant=plan.variant,
                        base_arm=st.base_arm[plan.arm]))


def _log_created(session: Session, job: Job) -> None:
    session.add(job)
    session.flush()
    payload: dict[str, Any] = {"status": job.status}
    if job.error is not None:
        payload["error"] = job.error
    add_event(session, job.id, "status", payload)


# -- uploaded data sets (task 'dataset') ---------------------------------------------------


def resolve_dataset(session: Session, spec: ComparisonSpec, owner: str | None,
                    settings: Settings | None = None) -> tuple[ComparisonSpec | None, list[dict[str, Any]]]:
    """For task 'dataset': the spec with ``task.n`` capped at the data set's rows, or the errors
    (the owner has no such data set; the net is too large for its real widths). Other tasks
    pass unchanged."""
    if spec.task.name != "dataset":
        return spec, []
    found = datasets.get(session, spec.task.dataset or "", owner) if owner else None
    if found is None:
        return None, [_error(["task", "dataset"], f"no dataset {spec.task.dataset} for this key; upload "
                             "one with POST /datasets", "unknown_dataset")]
    data = spec.model_dump(mode="json")
    data["task"]["n"] = min(spec.task.n, found.n_rows)
    try:
        spec = ComparisonSpec.model_validate(data)
    except ValidationError as exc:
        return None, _spec_errors(exc, [])
    out_dim = len(found.class_names or []) if found.kind == "classification" else 1
    errors = dataset_limit_errors(spec, settings or get_settings(), found.n_features, out_dim)
    return (None, errors) if errors else (spec, [])


def with_dataset(session: Session, parsed: Parsed, owner: str | None,
                 settings: Settings | None = None) -> Parsed:
    """``resolve_dataset`` on a parsed request; errors of a preset's spec are under 'overrides'."""
    if parsed.spec is None or parsed.spec.task.name != "dataset":
        return parsed
    spec, errors = resolve_dataset(session, parsed.spec, owner, settings)
    if spec is None:
        prefix = ["overrides"] if parsed.preset else []
        return replace(parsed, spec=None, errors=[e | {"loc": prefix + list(e["loc"])} for e in errors])
    return replace(parsed, spec=spec)


def dataset_limit_errors(spec: ComparisonSpec, settings: Settings, in_dim: int,
                         out_dim: int) -> list[dict[str, Any]]:
    """The net-size limits, counted with the data set's real widths (``TASK_DIMS`` cannot know
    them). A data set's net is an MLP: the spec refuses 'cnn' for any task without images."""
    dims, norm = [in_dim, *spec.net.hidden, out_dim], spec.net.norm != "none"
    params = sum(i * o + o + (2 * o if norm and k < len(dims) - 2 else 0)
                 for k, (i, o) in enumerate(zip(dims[:-1], dims[1:], strict=True)))
    runs, steps = total_runs(spec), max_steps(spec, spec.task.split_sizes()[0])
    if params > settings.max_params_per_net:
        return [_error(["net", "hidden"], f"the net has {params} parameters for the data set's "
                       f"{in_dim} features and {out_dim} outputs, above the limit of "
                       f"{settings.max_params_per_net} (OPTARENA_MAX_PARAMS_PER_NET)", "limit_exceeded")]
    if runs * steps * params > settings.max_compute_per_job:
        return [_error(["train", "steps"], f"compute budget exceeded: {runs} runs x {steps} steps x "
                       f"{params} parameters = {runs * steps * params:.3g}, above the limit of "
                       f"{settings.max_compute_per_job:.3g} per job (OPTARENA_MAX_COMPUTE_PER_JOB); use "
                       "fewer runs, steps or a smaller net", "limit_exceeded")]
    return []
