"""What a spec can name: optimizers, tasks, presets (from the engine's torch-free tables)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import SessionDep, SettingsDep
from core import capabilities
from engine.presets import DESCRIPTIONS, PRESETS
from engine.task_table import catalogue as task_catalogue

router = APIRouter(tags=["catalogue"])


@router.get("/optimizers", description="Every optimizer a job may name: the built-ins and the plugins "
            "live workers offer, each with its hyperparameters' types, defaults and ranges, its "
            "granularity, package and version, and how many live workers can train it.")
def optimizers(session: SessionDep, settings: SettingsDep) -> list[dict[str, Any]]:
    return capabilities.catalogue(session, settings.worker_ttl_seconds)


@router.get("/tasks", description="Every task a spec can train on: its kind, widths, image shape, the "
            "task fields it reads, and 'dataset' (an uploaded CSV).")
def tasks() -> list[dict[str, Any]]:
    return task_catalogue()


@router.get("/presets", description="Named specs; submit one with {\"preset\": name, \"overrides\": {...}}.")
def presets() -> list[dict[str, Any]]:
    return [{"name": n, "description": DESCRIPTIONS.get(n, ""), "spec": s} for n, s in PRESETS.items()]
