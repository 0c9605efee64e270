"""The ``net`` field of a job: the architecture every run trains (an MLP or a small CNN).

Torch-free: the API validates it; engine/layout.py turns it into a parameter layout.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from engine.strict import Strict


class NetSpec(Strict):
    """An MLP, or for image tasks a small CNN: [conv 3x3 -> norm -> act] per channel count,
    2x2 max pool, then the dense ``hidden`` layers. ``norm`` goes after every hidden linear
    layer of an MLP and after every conv of a CNN ('layer' on a CNN normalizes over C, H, W)."""

    kind: Literal["mlp", "cnn"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=4096)]] = Field([64, 64], max_length=16)
    activation: Literal["tanh", "relu", "gelu", "sigmoid"] = "tanh"
    init: Literal["kaiming_normal", "xavier_uniform", "torch_default"] = "kaiming_normal"
    norm: Literal["none", "batch", "layer", "instance", "group"] = "none"
    groups: int = Field(2, ge=1, le=256, description="'group' norm: groups per normalized layer")
    channels: list[Annotated[int, Field(ge=1, le=256)]] = Field(
        [8, 16], min_length=1, max_length=4, description="'cnn': output channels of each 3x3 conv")

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
