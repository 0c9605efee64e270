"""What a spec can name: optimizers, tasks, presets (all from the engine's torch-free registry)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from engine.presets import DESCRIPTIONS, PRESETS
from engine.registry import TASKS, catalogue

router = APIRouter(tags=["catalogue"])


@router.get("/optimizers", description="Every optimizer with each hyperparameter's type, default and range.")
def optimizers() -> list[dict[str, Any]]:
    return catalogue()


@router.get("/tasks", description="The synthetic tasks a spec can train on.")
def tasks() -> list[dict[str, Any]]:
    return [{"name": name} | info for name, info in TASKS.items()]


@router.get("/presets", description="Named specs; submit one with {\"preset\": name, \"overrides\": {...}}.")
def presets() -> list[dict[str, Any]]:
    return [{"name": n, "description": DESCRIPTIONS.get(n, ""), "spec": s} for n, s in PRESETS.items()]
