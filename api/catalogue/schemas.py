"""Response schemas of the catalogue routes. The entries are built by the engine's torch-free
tables (engine/optimizer_defs.py and engine/model_defs.py ``describe``, engine/task_table.py,
engine/presets.py); these models state their fields for the schema and keep any field an entry
adds."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")


class HyperparameterOut(_Entry):
    name: str
    type: str = Field(description="float, int or bool")
    default: float | int | bool
    min: float | None
    max: float | None
    min_exclusive: bool
    max_exclusive: bool
    log: bool = Field(description="searched on a log scale")
    range: str = Field(description="the allowed range, e.g. '[0, 1)'")
    description: str


class OptimizerOut(_Entry):
    name: str = Field(description="what an arm's `optimizer` names")
    title: str
    torch_class: str
    module: str
    class_name: str
    package: str
    version: str | None = Field(description="the installed package's version; null if not installed")
    granularity: str
    vectorized_rule: bool
    full_batch: bool
    eval_mode: bool
    plugin: bool
    description: str
    hyperparameters: list[HyperparameterOut]
    workers: int = Field(description="live workers that can train it")


class ModelOut(_Entry):
    name: str = Field(description="what a net's `model` names (with kind 'module')")
    title: str
    description: str
    needs_images: bool
    needs_tokens: bool
    batch_norm: bool
    plugin: bool = Field(description="from an installed package's entry point (group optarena.models)")
    factory: str = Field(description="module:function that builds the nn.Module")
    package: str
    version: str | None = Field(description="the installed package's version; null if not installed")
    config: list[HyperparameterOut] = Field(description="the settings a net's `config` may give")
    workers: int = Field(description="live workers that can train it")


class TaskOut(_Entry):
    name: str
    kind: str | None = Field(description="regression or classification; null: the uploaded data set says")
    in_dim: int | None
    out_dim: int | None
    image_shape: list[int] | None
    max_examples: int | None
    known_truth: bool
    options: list[str] = Field(description="the task fields it reads")
    description: str


class PresetOut(BaseModel):
    name: str = Field(description="what a PresetSubmission's `preset` names")
    description: str
    spec: dict[str, Any] = Field(description="the preset's spec, as overrides are merged into it")
