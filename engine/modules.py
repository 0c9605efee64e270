"""Every net as a plain ``nn.Module``: the mlp and cnn of a spec as a notebook writes them, and
the models of engine/model_defs.py.

engine/reference.py trains these one run at a time; engine/functional_net.py trains K copies
at once through torch.func. ``parameters()`` order is the flat layout of a run's row, so the
same weights load into either.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from engine.model_defs import InputShape
from engine.net_spec import NetSpec

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


def build_module(net: NetSpec, in_dim: int, out_dim: int,
                 image_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """The net. Every net takes a batch of flat rows (B, in_dim); a model that asks for images
    is told their (C, H, W) shape and views its rows as images itself, as the cnn does."""
    d = net.module
    if d is None:
        return build_net(net, in_dim, out_dim, image_shape)
    shape: InputShape = image_shape if d.images and image_shape is not None else (in_dim,)
    module_name, _, attr = d.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(shape, out_dim, **net.config)


def build_net(net: NetSpec, in_dim: int, out_dim: int,
              image_shape: tuple[int, int, int] | None = None) -> nn.Sequential:
    """The spec's mlp or cnn as a notebook writes it.

    MLP: [Linear -> norm -> activation] per hidden width, then a Linear. CNN: the flat
    input rows viewed as images, [Conv2d 3x3 -> norm -> activation] per channel count,
    a 2x2 max pool, flatten, then the MLP part without norms. ``parameters()`` then runs
    weight, bias, norm weight, norm bias, layer by layer: the order of ``initial_weights``.
    """
    act = ACTIVATIONS[net.activation]
    layers: list[nn.Module] = []
    if net.kind == "cnn":
        assert image_shape is not None, "a CNN needs an image task"
        c, h, w = image_shape
        layers.append(nn.Unflatten(1, image_shape))
        for width in net.channels:
            layers += [nn.Conv2d(c, width, 3, padding=1), *_norm(net, width, conv=True), act()]
            c = width
        layers += [nn.MaxPool2d(2), nn.Flatten()]
        in_dim = c * (h // 2) * (w // 2)
    dims = [in_dim, *net.hidden]
    for i, o in zip(dims[:-1], dims[1:], strict=True):
        norm = _norm(net, o, conv=False) if net.kind == "mlp" else []
        layers += [nn.Linear(i, o), *norm, act()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


def _norm(net: NetSpec, width: int, conv: bool) -> list[nn.Module]:
    """The normalization after a hidden layer, with torch's defaults (eps 1e-5, momentum 0.1)."""
    if net.norm == "none":
        return []
    if net.norm == "batch":
        return [nn.BatchNorm2d(width) if conv else nn.BatchNorm1d(width)]
    if net.norm == "instance":
        return [nn.InstanceNorm2d(width, affine=True)]
    if net.norm == "layer" and not conv:
        return [nn.LayerNorm(width)]
    # 'layer' on a feature map normalizes over (C, H, W) with a per-channel affine: one group.
    return [nn.GroupNorm(1 if net.norm == "layer" else net.groups, width)]


# -- the models of engine/model_defs.py -------------------------------------------------


class Residual(nn.Module):
    """x + BN(conv(ReLU(BN(conv(x))))), then ReLU: a basic block without downsampling."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class ResNetMini(nn.Module):
    def __init__(self, input_shape: InputShape, out_dim: int, channels: int = 16, blocks: int = 2):
        super().__init__()
        self.stem = nn.Sequential(nn.Unflatten(1, input_shape),
                                  nn.Conv2d(input_shape[0], channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*[Residual(channels) for _ in range(blocks)])
        self.head = nn.Linear(channels, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(-2, -1)))


def resnet_mini(input_shape: InputShape, out_dim: int, channels: int = 16, blocks: int = 2) -> nn.Module:
    return ResNetMini(input_shape, out_dim, channels, blocks)


def mlp(input_shape: InputShape, out_dim: int, width: int = 64, depth: int = 2) -> nn.Module:
    dims = [input_shape[0], *[width] * depth]
    layers: list[nn.Module] = []
    for i, o in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(i, o), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], out_dim))
