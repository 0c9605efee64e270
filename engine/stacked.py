"""What every stacked net shares: K runs' parameters as rows of one (K, D) matrix ``P``,
cut into per-tensor views by the net's layout (engine/layout.py)."""

from __future__ import annotations

import torch

from engine.layout import Layout


class Stacked:
    """A net of K runs whose parameters are rows of ``P``; subclasses set ``layout``,
    ``width`` (the most activations one example makes in a layer) and ``buffers``."""

    layout: Layout
    width: int
    buffers: list[torch.Tensor]

    def weight_mask(self) -> torch.Tensor:
        """(D,) float64: 1 on weight matrices and kernels, 0 on biases and norm parameters."""
        return torch.cat([torch.full((p.numel,), float(p.role == "weight"), dtype=torch.float64)
                          for layer in self.layout for p in layer])

    def views(self, P: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Per layer, its parameters as (K, *view) tensors, all views into P."""
        K, out, off = P.shape[0], [], 0
        for layer in self.layout:
            views = []
            for p in layer:
                views.append(P[:, off:off + p.numel].view(K, *p.view))
                off += p.numel
            out.append(tuple(views))
        return out

    def bind(self, P: torch.Tensor, G: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Per-layer leaf views of P whose .grad are the matching views of G.

        Why: autograd then accumulates each layer's gradient straight into the flat
        (K, D) buffer G. Differentiating through slices of one big P instead makes
        autograd build a zero-filled (K, D) tensor per slice every step.
        """
        layers = self.views(P)
        for params, grads in zip(layers, self.views(G), strict=True):
            for p, g in zip(params, grads, strict=True):
                p.requires_grad_()
                p.grad = g
        return layers
