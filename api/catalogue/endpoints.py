"""What a spec can name: optimizers, models, tasks, presets (from the engine's torch-free tables)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.catalogue.schemas import ModelOut, OptimizerOut, PresetOut, TaskOut
from api.deps import SessionDep, SettingsDep
from core import capabilities
from engine.presets import DESCRIPTIONS, PRESETS
from engine.task_table import catalogue as task_catalogue

router = APIRouter(tags=["catalogue"])


@router.get("/optimizers", response_model=list[OptimizerOut],
            description="Every optimizer a job may name: the built-ins and the plugins live workers offer, "
            "each with its hyperparameters' types, defaults and ranges, its granularity, package and "
            "version, and how many live workers can train it.")
def list_optimizers(session: SessionDep, settings: SettingsDep) -> list[dict[str, Any]]:
    return capabilities.catalogue(session, settings.worker_ttl_seconds)


@router.get("/models", response_model=list[ModelOut],
            description="Every model a job may train as net {\"kind\": \"module\", \"model\": "
            "name, \"config\": {...}}: its settings' types, defaults and ranges, whether it needs "
            "images and whether it keeps batch-norm statistics: the built-ins and the plugins live workers "
            "offer, with their package, version and how many live workers can train each. Each is a plain "
            "nn.Module that workers train K runs at once through torch.func.")
def list_models(session: SessionDep, settings: SettingsDep) -> list[dict[str, Any]]:
    return capabilities.model_catalogue(session, settings.worker_ttl_seconds)


@router.get("/tasks", response_model=list[TaskOut],
            description="Every task a spec can train on: its kind, widths, image shape, the task fields it "
            "reads, and 'dataset' (an uploaded CSV).")
def list_tasks() -> list[dict[str, Any]]:
    return task_catalogue()


@router.get("/presets", response_model=list[PresetOut],
            description="Named specs; submit one with {\"preset\": name, \"overrides\": {...}}.")
def list_presets() -> list[dict[str, Any]]:
    return [{"name": n, "description": DESCRIPTIONS.get(n, ""), "spec": s} for n, s in PRESETS.items()]
