"""The ``net`` field of a job: the architecture every run trains (an MLP, a small CNN, or a
model of engine/model_defs.py).

Torch-free: the API validates it; engine/layout.py turns it into a parameter layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from engine import plugins
from engine.model_defs import MODELS, ModelDef
from engine.strict import Strict


def _known(info: ValidationInfo) -> Mapping[str, ModelDef] | None:
    """The models a net may name: the built-ins and the plugins live workers offer (the API
    passes them in the validation context), or those installed here (the engine's default);
    for a job read back from storage, whatever it names (None)."""
    ctx = info.context or {}
    if "models" in ctx:
        return MODELS | dict(ctx["models"])
    if ctx.get("stored"):
        return None
    return MODELS | plugins.installed_models()


def _stored_plugin(name: str) -> ModelDef:
    """A stored job's plugin model where that plugin is not installed (the API reading it
    back): its name only. It was checked when the job was submitted; workers that train it
    have the plugin and resolve the real definition."""
    return ModelDef(name, name, "", (), None, plugin=True, distribution="")


class NetSpec(Strict):
    """An MLP, or for image tasks a small CNN: [conv 3x3 -> norm -> act] per channel count,
    2x2 max pool, then the dense ``hidden`` layers. ``norm`` goes after every hidden linear
    layer of an MLP and after every conv of a CNN ('layer' on a CNN normalizes over C, H, W)."""

    kind: Literal["mlp", "cnn", "module"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=4096)]] = Field([64, 64], max_length=16)
    activation: Literal["tanh", "relu", "gelu", "sigmoid"] = "tanh"
    init: Literal["kaiming_normal", "xavier_uniform", "torch_default"] = "kaiming_normal"
    norm: Literal["none", "batch", "layer", "instance", "group"] = "none"
    groups: int = Field(2, ge=1, le=256, description="'group' norm: groups per normalized layer")
    channels: list[Annotated[int, Field(ge=1, le=256)]] = Field(
        [8, 16], min_length=1, max_length=4, description="'cnn': output channels of each 3x3 conv")
    model: str | None = Field(None, max_length=64, description="'module': a model of GET /models "
                              f"({', '.join(MODELS)})")
    config: dict[str, float | int | bool] = Field(
        {}, max_length=32, validate_default=True,
        description="'module': the model's settings (GET /models); defaults fill the rest")
    path: Literal["stacked", "functional"] = Field(
        "stacked", description="how the runs train together: 'stacked' is the hand-vectorized mlp and "
        "cnn; 'functional' runs the net as one nn.Module through torch.func (always so for "
        "'module'), e.g. to check the two agree")

    _definition: ModelDef | None = PrivateAttr(None)

    @field_validator("model")
    @classmethod
    def _model_known(cls, v: str | None, info: ValidationInfo) -> str | None:
        known = _known(info)
        if v is not None and known is not None and v not in known:
            raise ValueError(f"unknown model {v!r}; known: {', '.join(sorted(known))} (GET /models lists "
                             "them; a plugin's are there while a worker that has it runs)")
        return v

    @field_validator("config")
    @classmethod
    def _config_fits(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The model's settings with its defaults filled in, so a stored spec says them all."""
        if "model" not in info.data:  # the model was refused: its error says why
            return v
        model = info.data["model"]
        if model is None:
            if v:
                raise ValueError("'config' holds a module's settings: use it with kind 'module'")
            return v
        known = _known(info)
        if known is None:  # stored: checked and filled in when submitted
            return v
        return known[model].settings(v)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> NetSpec:
        if self.model is not None:
            known = _known(info)
            if known is None:
                known = MODELS | plugins.loaded_models()
            self._definition = known.get(self.model) or _stored_plugin(self.model)
        return self

    @model_validator(mode="after")
    def _model_named(self) -> NetSpec:
        if (self.kind == "module") != (self.model is not None):
            raise ValueError("give 'model' (a name from GET /models) exactly when kind is 'module'")
        return self

    @property
    def module(self) -> ModelDef | None:
        return self._definition

    @property
    def functional(self) -> bool:
        """Trained through torch.func (engine/functional_net.py) rather than stacked by hand."""
        return self.kind == "module" or self.path == "functional"

    @property
    def batch_norm(self) -> bool:
        return self.norm == "batch" or (self.module is not None and self.module.batch_norm)

    @model_validator(mode="after")
    def _norm_fits(self) -> NetSpec:
        if self.norm == "instance" and self.kind != "cnn":
            raise ValueError("norm 'instance' needs spatial dimensions: use it with kind 'cnn'")
        if self.norm == "group":
            widths = self.channels if self.kind == "cnn" else self.hidden
            bad = [w for w in widths if w % self.groups]
            if bad:
                raise ValueError(f"groups={self.groups} must divide every normalized width; it does not "
                                 f"divide {bad}")
        return self
