"""The models a job may train as ``net: {"kind": "module", "model": ..., "config": {...}}``.

Plain data (no torch): the API validates a spec's model and its settings with it, and counts
its parameters for the limits. A worker builds the model with ``factory`` (engine/modules.py):
a plain ``nn.Module`` that the cohort trainer runs K times at once through ``torch.func``
(engine/functional_net.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from engine.optimizer_defs import HParam, hparam_field

# (C, H, W) for images, (features,) for rows: the shape one example has when the model sees it.
InputShape = tuple[int, ...]


@dataclass(frozen=True)
class ModelDef:
    name: str
    title: str
    factory: str  # "module:function": ``(input_shape, out_dim, **config) -> nn.Module``
    config: tuple[HParam, ...]
    count: Callable[[dict[str, Any], InputShape, int], int]  # parameters, without torch
    doc: str = ""
    images: bool = False  # it needs an image task (its input is (C, H, W))
    batch_norm: bool = False  # it keeps running statistics (SAM and batches of one refuse it)

    def settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` checked against the model's settings, with every default filled in;
        ValueError naming the setting otherwise."""
        try:
            return _config_model(self).model_validate(config).model_dump()
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"])
            raise ValueError(f"{where}: {e['msg']} (model {self.name!r} takes "
                             f"{', '.join(h.name for h in self.config) or 'no settings'})") from None


_CONFIG_MODELS: dict[str, type[BaseModel]] = {}


def _config_model(d: ModelDef) -> type[BaseModel]:
    if d.name not in _CONFIG_MODELS:
        fields: dict[str, Any] = {h.name: hparam_field(h) for h in d.config}
        _CONFIG_MODELS[d.name] = create_model(f"{d.name}-config", __config__=ConfigDict(extra="forbid"),
                                              **fields)
    return _CONFIG_MODELS[d.name]


def _resnet_count(c: dict[str, Any], shape: InputShape, out: int) -> int:
    ch, blocks = c["channels"], c["blocks"]
    stem = ch * shape[0] * 9 + 2 * ch  # conv without bias, batch norm's weight and bias
    block = 2 * (ch * ch * 9 + 2 * ch)
    return stem + blocks * block + ch * out + out


def _mlp_count(c: dict[str, Any], shape: InputShape, out: int) -> int:
    dims = [shape[0], *[c["width"]] * c["depth"], out]
    return sum(i * o + o for i, o in zip(dims[:-1], dims[1:], strict=True))


MODELS: dict[str, ModelDef] = {m.name: m for m in (
    ModelDef("resnet-mini", "ResNet (mini)", "engine.modules:resnet_mini",
             (HParam("channels", 16, 1, 128, doc="channels of every convolution"),
              HParam("blocks", 2, 1, 8, doc="residual blocks after the stem")),
             _resnet_count, images=True, batch_norm=True,
             doc="a 3x3 conv stem with batch norm and ReLU, residual blocks of two 3x3 convs with "
                 "batch norm, global average pooling and a linear head (He et al. 2016, scaled down "
                 "for 8x8 images)"),
    ModelDef("mlp", "MLP", "engine.modules:mlp",
             (HParam("width", 64, 1, 4096, doc="units of every hidden layer"),
              HParam("depth", 2, 1, 16, doc="hidden layers")),
             _mlp_count,
             doc="dense layers with tanh, as an nn.Sequential: the seed net, trained through "
                 "torch.func instead of the stacked MLP"),
)}


def describe(d: ModelDef) -> dict[str, Any]:
    """A model as GET /models lists it."""
    return {"name": d.name, "title": d.title, "description": d.doc, "needs_images": d.images,
            "batch_norm": d.batch_norm,
            "config": [{"name": h.name, "type": h.kind, "default": h.default, "min": h.low, "max": h.high,
                        "range": h.range_text(), "description": h.doc} for h in d.config]}
