"""What a spec can name: optimizers, tasks, presets (from the engine's torch-free tables)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from engine.presets import DESCRIPTIONS, PRESETS
from engine.registry import catalogue
from engine.task_table import catalogue as task_catalogue

router = APIRouter(tags=["catalogue"])


@router.get("/optimizers", description="Every optimizer with each hyperparameter's type, default and range.")
def optimizers() -> list[dict[str, Any]]:
    return catalogue()


@router.get("/tasks", description="Every task a spec can train on: its kind, widths, image shape, the "
            "task fields it reads, and 'dataset' (an uploaded CSV).")
def tasks() -> list[dict[str, Any]]:
    return task_catalogue()


@router.get("/presets", description="Named specs; submit one with {\"preset\": name, \"overrides\": {...}}.")
def presets() -> list[dict[str, Any]]:
    return [{"name": n, "description": DESCRIPTIONS.get(n, ""), "spec": s} for n, s in PRESETS.items()]
