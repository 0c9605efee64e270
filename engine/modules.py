"""Every net as a plain ``nn.Module``: the mlp and cnn of a spec as a notebook writes them, and
the models of engine/model_defs.py.

engine/reference.py trains these one run at a time; engine/functional_net.py trains K copies
at once through torch.func. ``parameters()`` order is the flat layout of a run's row, so the
same weights load into either.
"""

from __future__ import annotations

import importlib
import math

import torch
from torch import nn

from engine import plugins
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
    if d.plugin:  # a stored job's plugin model is resolved here, where the plugin is installed
        d = plugins.installed_models().get(d.name)
        if d is None:
            raise LookupError(f"model plugin {net.model!r} is not installed in this worker's environment")
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


class Autoencoder(nn.Module):
    """encoder: in -> width (tanh) -> bottleneck, linear; decoder: bottleneck -> width (tanh) -> out."""

    def __init__(self, in_dim: int, out_dim: int, width: int, bottleneck: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, width), nn.Tanh(), nn.Linear(width, bottleneck))
        self.decoder = nn.Sequential(nn.Linear(bottleneck, width), nn.Tanh(), nn.Linear(width, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def autoencoder(input_shape: InputShape, out_dim: int, width: int = 64, bottleneck: int = 8) -> nn.Module:
    return Autoencoder(input_shape[0], out_dim, width, bottleneck)


class SelfAttention(nn.Module):
    """Multi-head self-attention in plain matmuls.

    Not nn.TransformerEncoderLayer: its attention runs scaled_dot_product_attention, and in
    eval mode the whole layer one fused kernel; vmap has no batching rule for either (torch
    2.13 warns and loops), so torch.func would run the K runs one after another. These
    matmuls and the softmax batch over the runs."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, T, d)
        B, T, d = x.shape
        # (B, T, 3d) -> (3, B, heads, T, d / heads): queries, keys and values per head
        q, k, v = self.qkv(x).reshape(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)).softmax(-1)  # (B, heads, T, T)
        return self.out((weights @ v).transpose(1, 2).reshape(B, T, d))


class EncoderBlock(nn.Module):
    """x + attention(LN(x)), then + feed-forward(LN(.)): the pre-norm block, which trains
    without a warmup where the original post-norm one needs it (Xiong et al. 2020)."""

    def __init__(self, d_model: int, heads: int, ff: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = SelfAttention(d_model, heads)
        self.drop1 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ff), nn.GELU(), nn.Linear(ff, d_model))
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop1(self.attention(self.norm1(x)))
        return x + self.drop2(self.ff(self.norm2(x)))


class Transformer(nn.Module):
    """A sequence classifier. Its rows hold T integer token ids as floats (a token task's
    rows); each id and each position has a learned vector, and the head reads the mean of
    the last block's outputs over the sequence."""

    def __init__(self, length: int, out_dim: int, d_model: int, heads: int, layers: int, ff: int,
                 vocab: int, dropout: float = 0.0):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(length, d_model)  # every row is used: sequences have length T
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[EncoderBlock(d_model, heads, ff, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, T) ids -> (B, out)
        h = self.drop(self.tokens(x.long()) + self.positions.weight)  # (B, T, d)
        return self.head(self.norm(self.blocks(h)).mean(1))


def transformer(input_shape: InputShape, out_dim: int, d_model: int = 32, heads: int = 2, layers: int = 2,
                ff: int = 64, dropout: float = 0.0, vocab: int = 0) -> nn.Module:
    # engine/model_defs.py fills vocab in from the task; a direct caller must give it.
    if vocab < 1:
        raise ValueError("the transformer needs the task's vocabulary (config.vocab)")
    return Transformer(input_shape[0], out_dim, d_model, heads, layers, ff, vocab, dropout)
