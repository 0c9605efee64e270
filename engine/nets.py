"""Building a cohort's nets: the stacked net for a spec, and each seed's initial weights.

``make_net`` picks the stacked form (engine/mlp.py, or engine/cnn.py for kind 'cnn'), or the
torch.func form of any nn.Module (engine/functional_net.py: kind 'module', or path
'functional'); ``initial_weights`` draws one seed's flat weights in the layout of
engine/layout.py, which is also ``nn.Module.parameters()`` order, so engine/reference.py loads
the same values. A model (kind 'module') is initialized by its own constructor, under the seed.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.cnn import StackedCNN
from engine.functional_net import FunctionalNet
from engine.layout import param_layout
from engine.mlp import StackedMLP
from engine.modules import build_module
from engine.net_spec import NetSpec


def _init_weight(w: torch.Tensor, init: str, g: torch.Generator) -> None:
    if init == "kaiming_normal":
        nn.init.kaiming_normal_(w, generator=g)
    elif init == "xavier_uniform":
        nn.init.xavier_uniform_(w, generator=g)
    else:  # torch's nn.Linear / nn.Conv2d default, drawn from our generator
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)


def initial_weights(spec: NetSpec, in_dim: int, out_dim: int, seed: int,
                    image_shape: tuple[int, int, int] | None = None) -> torch.Tensor:
    """Flat float64 initial weights for one seed: the same bits for every arm.

    Draws happen in layout order (weight, then bias for torch_default), so adding norm
    parameters (ones and zeros, no draws) leaves every other value unchanged."""
    if spec.module is not None:
        return _module_weights(spec, in_dim, out_dim, seed, image_shape)
    g = torch.Generator().manual_seed(seed)
    chunks = []
    for layer in param_layout(spec, in_dim, out_dim, image_shape):
        fan_in = 1
        for p in layer:
            t = torch.zeros(p.shape, dtype=torch.float64)
            if p.role == "weight":
                _init_weight(t, spec.init, g)
                fan_in = p.numel // p.shape[0]
            elif p.role == "bias" and spec.init == "torch_default":
                bound = 1 / math.sqrt(fan_in)
                t.uniform_(-bound, bound, generator=g)
            elif p.role == "norm_weight":
                t.fill_(1.0)
            chunks.append(t.flatten())
    return torch.cat(chunks)


def _module_weights(spec: NetSpec, in_dim: int, out_dim: int, seed: int,
                    image_shape: tuple[int, int, int] | None) -> torch.Tensor:
    """The model's own initialization (its layers' reset_parameters) drawn from torch's global
    generator seeded with ``seed``; the caller's generator state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build_module(spec, in_dim, out_dim, image_shape)
    return torch.cat([p.detach().flatten() for p in module.parameters()]).to(torch.float64)


def make_net(spec: NetSpec, in_dim: int, out_dim: int,
             image_shape: tuple[int, int, int] | None = None) -> StackedMLP | FunctionalNet:
    """The stacked form of ``spec``: a StackedMLP, or a StackedCNN for kind 'cnn'; a
    FunctionalNet for a model or when ``spec.path`` asks for it."""
    if spec.functional:
        return FunctionalNet(build_module(spec, in_dim, out_dim, image_shape), in_dim)
    if spec.kind == "cnn":
        assert image_shape is not None, "a CNN needs an image task"
        return StackedCNN(spec, in_dim, out_dim, image_shape)
    return StackedMLP(spec, in_dim, out_dim)
