"""The flat parameter layout of a net: which tensors it has, their shapes and roles, in order.

A run's parameters are one flat row, in the order of the same net written as an
``nn.Sequential`` (``nn.Module.parameters()``: weight (out, in), bias, then a norm's weight
and bias, layer by layer; a CNN's conv layers come first). The stacked nets
(engine/mlp.py, engine/cnn.py) and the initial weights (engine/nets.py) derive from it.

Plain arithmetic, no torch: a process that only validates specs can count parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.net_spec import NetSpec


@dataclass(frozen=True)
class Param:
    """One parameter tensor: its nn.Module shape, its per-run shape in the stacked view, its role."""

    shape: tuple[int, ...]
    view: tuple[int, ...]
    role: str  # "weight" (initialized by spec.init, L2-penalized) | "bias" | "norm_weight" | "norm_bias"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


Layout = list[list[Param]]  # parameters layer by layer, in nn.Module.parameters() order


def layer_sizes(spec: NetSpec, in_dim: int, out_dim: int) -> list[tuple[int, int]]:
    dims = [in_dim, *spec.hidden, out_dim]
    return list(zip(dims[:-1], dims[1:], strict=True))


def dense_layout(spec: NetSpec, in_dim: int, out_dim: int, norm: bool) -> Layout:
    sizes = layer_sizes(spec, in_dim, out_dim)
    layers = []
    for k, (i, o) in enumerate(sizes):
        layer = [Param((o, i), (o, i), "weight"), Param((o,), (1, o), "bias")]
        if norm and k < len(sizes) - 1:
            layer += [Param((o,), (1, o), "norm_weight"), Param((o,), (1, o), "norm_bias")]
        layers.append(layer)
    return layers


def conv_layout(spec: NetSpec, image_shape: tuple[int, int, int]) -> Layout:
    layers, c_in = [], image_shape[0]
    for c in spec.channels:
        layer = [Param((c, c_in, 3, 3), (c, c_in, 3, 3), "weight"), Param((c,), (c,), "bias")]
        if spec.norm != "none":
            layer += [Param((c,), (c,), "norm_weight"), Param((c,), (c,), "norm_bias")]
        layers.append(layer)
        c_in = c
    return layers


def trunk_out_dim(spec: NetSpec, image_shape: tuple[int, int, int]) -> int:
    """Features after the conv trunk's 2x2 max pool."""
    _, h, w = image_shape
    return spec.channels[-1] * (h // 2) * (w // 2)


def param_layout(spec: NetSpec, in_dim: int, out_dim: int,
                 image_shape: tuple[int, int, int] | None = None) -> Layout:
    """The mlp's or the cnn's layout; a model's comes from its module (engine/functional_net.py)."""
    assert spec.module is None, "a model's layout is its nn.Module's"
    if spec.kind == "cnn":
        assert image_shape is not None, "a CNN needs an image task"
        return conv_layout(spec, image_shape) + dense_layout(spec, trunk_out_dim(spec, image_shape),
                                                             out_dim, norm=False)
    return dense_layout(spec, in_dim, out_dim, norm=spec.norm != "none")


def n_params(spec: NetSpec, in_dim: int, out_dim: int,
             image_shape: tuple[int, int, int] | None = None) -> int | None:
    """The net's parameter count; None for a plugin model, which only its module can count
    (the worker does: worker/model_limits.py)."""
    if spec.module is not None:  # a model counts its own (engine/model_defs.py)
        if spec.module.count is None:
            return None
        shape = image_shape if spec.module.images and image_shape is not None else (in_dim,)
        return spec.module.count(spec.config, shape, out_dim)
    return sum(p.numel for layer in param_layout(spec, in_dim, out_dim, image_shape) for p in layer)
