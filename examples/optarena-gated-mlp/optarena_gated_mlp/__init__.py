"""A gated MLP (gated linear units, Dauphin et al. 2017, "Language Modeling with Gated
Convolutional Networks"): each hidden layer computes ``a * sigmoid(b)`` from one linear map
split in two halves, then a linear head.

An optarena model plugin: the entry point in pyproject.toml names ``GATED_MLP`` below. The
module is plain PyTorch; optarena trains K copies of it at once through torch.func, each
copy's weights drawn by torch's own layer initialization under the run's seed."""

from __future__ import annotations

import torch
from torch import nn

from optarena.plugin import HParam, ModelPlugin


class GatedMLP(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], out_dim: int, width: int = 32, depth: int = 2):
        super().__init__()
        dims = [input_shape[0]] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(i, 2 * o) for i, o in zip(dims[:-1], dims[1:], strict=True))
        self.head = nn.Linear(dims[-1], out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            a, b = layer(x).chunk(2, dim=-1)
            x = a * torch.sigmoid(b)
        return self.head(x)


GATED_MLP = ModelPlugin(
    name="gated-mlp",
    factory=GatedMLP,
    title="Gated MLP",
    doc="hidden layers of gated linear units (a * sigmoid(b) of one linear map's two halves), "
        "then a linear head",
    config=(
        HParam("width", 32, 1, 1024, doc="units of every hidden layer (its linear map has twice as many)"),
        HParam("depth", 2, 1, 8, doc="hidden layers"),
    ),
)
