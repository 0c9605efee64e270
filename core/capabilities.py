"""What live workers can train: the API validates arms and routes shards by it.

Every worker publishes its queues, devices, optimizers and models (built-ins and installed
plugins, with their schemas and package versions) in ``workers`` and refreshes the row every
heartbeat (worker/presence.py). A row not refreshed for ``worker_ttl_seconds`` is a worker
that is gone.

The built-in optimizers and models are dependencies of every worker, so a job naming them is
accepted even while no worker runs (it waits in its queue). A plugin's optimizer or model is
accepted only while a live worker offers it; its shards go to the queue ``<base>.<plugin>``
(``cpu.signum``; ``cpu.model-<name>`` for a model), which only workers that have the plugin
consume, so no other worker takes them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.queueing import queue_for
from core.requests import error
from engine import model_defs
from engine.model_defs import MODELS
from engine.optimizer_defs import from_description
from engine.registry import catalogue as builtin_catalogue
from engine.registry import package_version
from engine.spec import ComparisonSpec
from models.tables import utcnow
from models.workers import WorkerRecord


def publish(session: Session, worker_id: str, hostname: str, queues: list[str], devices: list[str],
            optimizers: list[dict[str, Any]], models: list[dict[str, Any]]) -> None:
    """Insert or refresh a worker's row (its start time is kept)."""
    row = session.get(WorkerRecord, worker_id)
    if row is None:
        row = WorkerRecord(id=worker_id, started_at=utcnow())
        session.add(row)
    row.hostname, row.queues, row.devices = hostname, queues, devices
    row.optimizers, row.models = optimizers, models
    row.seen_at = utcnow()


def withdraw(session: Session, worker_id: str, ttl: float) -> None:
    """A stopping worker's row, and rows of workers long gone, are deleted."""
    old = utcnow() - timedelta(seconds=100 * ttl)
    session.execute(delete(WorkerRecord).where((WorkerRecord.id == worker_id) | (WorkerRecord.seen_at < old)))


def live(session: Session, ttl: float) -> list[WorkerRecord]:
    cutoff = utcnow() - timedelta(seconds=ttl)
    return list(session.scalars(select(WorkerRecord).where(WorkerRecord.seen_at >= cutoff)
                                .order_by(WorkerRecord.seen_at.desc())))


def _plugins(worker: WorkerRecord) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in worker.optimizers if o.get("plugin")}


def _plugin_models(worker: WorkerRecord) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in worker.models or [] if m.get("plugin")}


def model_queue_suffix(name: str) -> str:
    """A model plugin's queue suffix; optimizer names have no '-', so the two never clash."""
    return f"model-{name}"


def _suffixes(worker: WorkerRecord) -> set[str]:
    """The plugin queue suffixes a worker can serve: its plugin optimizers and models."""
    return set(_plugins(worker)) | {model_queue_suffix(m) for m in _plugin_models(worker)}


def offered(session: Session, ttl: float) -> dict[str, dict[str, Any]]:
    """What a request may name beyond the built-ins: the plugin optimizers and models some live
    worker offers, by name (the most recently seen worker's definition wins if two differ), as
    the spec's validation context (engine/spec.py, engine/net_spec.py)."""
    optimizers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for worker in live(session, ttl):
        for name, described in _plugins(worker).items():
            optimizers.setdefault(name, from_description(described))
        for name, described in _plugin_models(worker).items():
            models.setdefault(name, model_defs.from_description(described))
    return {"optimizers": optimizers, "models": models}


def plugin_names(spec: ComparisonSpec) -> set[str]:
    """The queue suffixes of the spec's plugins (its optimizers' and its model's)."""
    names = {a.optimizer for a in spec.arms if a.definition.plugin}
    if spec.net.module is not None and spec.net.module.plugin:
        names.add(model_queue_suffix(spec.net.module.name))
    return names


def _plugin_text(names: set[str]) -> str:
    return ", ".join(f"model {n.removeprefix('model-')}" if n.startswith("model-") else n
                     for n in sorted(names))


def route(session: Session, spec: ComparisonSpec, ttl: float) -> str | None:
    """The queue for the spec's shards: its device's queue, or for plugin optimizers a queue
    every live consumer of which has them all; None when no live worker has them together."""
    base, needed = queue_for(spec.train.device), plugin_names(spec)
    if not needed:
        return base
    workers = live(session, ttl)
    for name in sorted(needed):
        queue = f"{base}.{name}"
        consumers = [w for w in workers if queue in w.queues]
        if consumers and all(needed <= _suffixes(w) for w in consumers):
            return queue
    return None


def placement_errors(session: Session, spec: ComparisonSpec, ttl: float) -> list[dict[str, Any]]:
    """Each plugin was offered on its own (validation); here they must also be offered together,
    by a worker consuming the device's queue."""
    if route(session, spec, ttl) is not None:
        return []
    names = _plugin_text(plugin_names(spec))
    where = ["arms"] if any(a.definition.plugin for a in spec.arms) else ["net", "model"]
    return [error(where, f"no live worker offers {names} together on the {queue_for(spec.train.device)!r} "
                  "queue; start a worker with those plugins installed (GET /optimizers lists what "
                  "live workers offer, GET /models the models)", "no_worker")]


def fallback_queue(spec: ComparisonSpec) -> str:
    """Where shards wait when no live worker has the plugins (one may start later)."""
    needed = sorted(plugin_names(spec))
    base = queue_for(spec.train.device)
    return f"{base}.{needed[0]}" if needed else base


def catalogue(session: Session, ttl: float) -> list[dict[str, Any]]:
    """GET /optimizers: the built-ins and every plugin live workers offer, each with how many
    live workers can train it."""
    workers = live(session, ttl)
    out = [entry | {"workers": len(workers)} for entry in builtin_catalogue()]
    plugins: dict[str, dict[str, Any]] = {}
    for worker in workers:
        for name, described in _plugins(worker).items():
            plugins.setdefault(name, described | {"workers": 0})["workers"] += 1
    return out + [plugins[n] for n in sorted(plugins)]


def model_catalogue(session: Session, ttl: float) -> list[dict[str, Any]]:
    """GET /models: the built-ins and every plugin model live workers offer, each with how many
    live workers can train it."""
    workers = live(session, ttl)
    out = [model_defs.describe(d, package_version(d), len(workers)) for d in MODELS.values()]
    plugins: dict[str, dict[str, Any]] = {}
    for worker in workers:
        for name, described in _plugin_models(worker).items():
            plugins.setdefault(name, described | {"workers": 0})["workers"] += 1
    return out + [plugins[n] for n in sorted(plugins)]
