"""Nets: an MLP that exists in two equivalent forms.

- ``build_module``: a plain ``nn.Sequential`` (the reference path, and what a user
  would write in a notebook).
- ``StackedMLP``: K copies of the same architecture whose parameters are rows of one
  (K, n_params) matrix, evaluated with batched matmuls in one forward pass.

Both read and write the same flat layout (``nn.Module.parameters()`` order:
weight (out, in) then bias, layer by layer), so weights move between them exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.spec import NetSpec


class _SigmoidTanh(torch.autograd.Function):
    """tanh(x) computed as 2*sigmoid(2x) - 1.

    Why: on x86 CPUs torch.tanh runs 3-6x slower than torch.sigmoid, and the tanh
    layers were half of a training step. Same function: within 2e-7 absolute in
    float32 and 3e-16 in float64. The backward is torch's own fused tanh_backward.
    """

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x * 2).mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x) if x.is_cuda else _SigmoidTanh.apply(x)


class Tanh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh(x)


ACTIVATIONS = {"tanh": tanh, "relu": F.relu, "gelu": F.gelu, "sigmoid": torch.sigmoid}
_MODULES = {"tanh": Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


def layer_sizes(spec: NetSpec, in_dim: int, out_dim: int) -> list[tuple[int, int]]:
    dims = [in_dim, *spec.hidden, out_dim]
    return list(zip(dims[:-1], dims[1:], strict=True))


def n_params(spec: NetSpec, in_dim: int, out_dim: int) -> int:
    return sum(i * o + o for i, o in layer_sizes(spec, in_dim, out_dim))


def build_module(spec: NetSpec, in_dim: int, out_dim: int) -> nn.Sequential:
    """The net layer by layer, as the reference notebook builds it."""
    layers: list[nn.Module] = []
    sizes = layer_sizes(spec, in_dim, out_dim)
    for k, (i, o) in enumerate(sizes):
        layers.append(nn.Linear(i, o))
        if k < len(sizes) - 1:
            layers.append(_MODULES[spec.activation]())
    return nn.Sequential(*layers)


def initial_weights(spec: NetSpec, in_dim: int, out_dim: int, seed: int) -> torch.Tensor:
    """Flat float64 initial weights for one seed: the same bits for every arm."""
    g = torch.Generator().manual_seed(seed)
    chunks = []
    for i, o in layer_sizes(spec, in_dim, out_dim):
        w = torch.empty(o, i, dtype=torch.float64)
        b = torch.zeros(o, dtype=torch.float64)
        if spec.init == "kaiming_normal":
            nn.init.kaiming_normal_(w, generator=g)
        elif spec.init == "xavier_uniform":
            nn.init.xavier_uniform_(w, generator=g)
        else:  # torch's nn.Linear default, drawn from our generator
            nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(i)
            b.uniform_(-bound, bound, generator=g)
        chunks += [w.flatten(), b]
    return torch.cat(chunks)


class StackedMLP:
    """K MLPs of one architecture evaluated together; parameters are rows of ``P``."""

    def __init__(self, spec: NetSpec, in_dim: int, out_dim: int):
        self.act = ACTIVATIONS[spec.activation]
        self.sizes = layer_sizes(spec, in_dim, out_dim)
        self.n_params = n_params(spec, in_dim, out_dim)

    def views(self, P: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(W as (K, out, in), b as (K, 1, out)) per layer, all views into P."""
        K, out, off = P.shape[0], [], 0
        for i, o in self.sizes:
            w = P[:, off:off + i * o].view(K, o, i)
            off += i * o
            out.append((w, P[:, off:off + o].view(K, 1, o)))
            off += o
        return out

    def bind(self, P: torch.Tensor, G: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer leaf views of P whose .grad are the matching views of G.

        Why: autograd then accumulates each layer's gradient straight into the flat
        (K, D) buffer G. Differentiating through slices of one big P instead makes
        autograd build a zero-filled (K, D) tensor per slice every step.
        """
        layers = self.views(P)
        for (w, b), (gw, gb) in zip(layers, self.views(G), strict=True):
            w.requires_grad_()
            b.requires_grad_()
            w.grad, b.grad = gw, gb
        return layers

    def forward(self, layers: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
        """x: (K, B, in) per-run batches, or (N, in) shared by all runs -> (K, B|N, out)."""
        h = x
        for k, (w, b) in enumerate(layers):
            h = _linear(h, w, b)
            if k < len(layers) - 1:
                h = self.act(h)
        return h


def _linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h (K, B, in) | (B, in) shared; w (K, out, in); b (K, 1, out) -> (K, B, out).

    With a single input feature the batched matmul is an outer product; as a
    broadcast multiply it runs 5-10x faster on CPU, forward and backward (the wave
    task's first layer).
    """
    if w.shape[2] == 1:
        return torch.addcmul(b, h, w.transpose(1, 2))
    wt = w.transpose(1, 2)
    # baddbmm fuses the bias add; a shared h broadcasts through matmul instead.
    return torch.baddbmm(b, h, wt) if h.dim() == 3 else torch.matmul(h, wt) + b
