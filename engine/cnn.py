"""A small CNN for the image task, stacked over K runs.

Architecture: for each entry of ``spec.channels`` a 3x3 conv (padding 1) -> norm ->
activation; then a 2x2 max pool, flatten, and the dense ``hidden`` layers of the MLP. Its
parameter layout (conv layers first) is engine/layout.py's.

Stacking: the K runs' feature maps travel as one (B, K*C, H, W) tensor and every conv is
a grouped convolution with groups=K, so run k's output channels see only run k's input
channels and weights. Pooling, activations and the norms (engine/norms.py) act per
channel or within a run's channel block, so runs never mix. At the flatten the layout
turns back into (K, B, C*H*W), in nn.Flatten's (C, H, W) order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from engine.mlp import StackedMLP
from engine.net_spec import NetSpec
from engine.norms import conv_norm


class StackedCNN(StackedMLP):
    """K CNNs of one architecture; conv layers come first in the layout, then the dense head."""

    def __init__(self, spec: NetSpec, in_dim: int, out_dim: int, image_shape: tuple[int, int, int]):
        super().__init__(spec, in_dim, out_dim, image_shape)
        self.image_shape, self.n_conv = image_shape, len(spec.channels)
        self.width = max(self.width, max(spec.channels) * image_shape[1] * image_shape[2])

    def _to_maps(self, x: torch.Tensor, K: int) -> torch.Tensor:
        """Flat rows, (K, B, C*H*W) per run or (N, C*H*W) shared -> (B, K*C, H, W)."""
        C, H, W = self.image_shape
        if x.dim() == 2:
            return x.view(-1, 1, C, H, W).expand(-1, K, C, H, W).reshape(-1, K * C, H, W)
        return x.view(K, -1, C, H, W).transpose(0, 1).reshape(-1, K * C, H, W)

    def forward(self, layers: list[tuple[torch.Tensor, ...]], x: torch.Tensor, *, train: bool = False,
                hook: Callable[[torch.Tensor], torch.Tensor] | None = None,
                buffers: list[torch.Tensor] | None = None) -> torch.Tensor:
        """x: (K, B, C*H*W) per run or (N, C*H*W) shared -> (K, B|N, out); see StackedMLP.forward."""
        stats = self.buffers if buffers is None else buffers
        K = layers[0][0].shape[0]
        h = self._to_maps(x, K)
        for j, layer in enumerate(layers[: self.n_conv]):
            w, b = layer[0], layer[1]
            h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), b.reshape(-1), padding=1, groups=K)
            if len(layer) > 2:
                pair = (stats[2 * j], stats[2 * j + 1]) if stats else None
                h = conv_norm(self.norm, h, layer[2], layer[3], pair, train, self.groups)
            h = self.act(h)
            if hook is not None:  # hooks see runs first: (K, B, C, H, W)
                B, KC, H, W = h.shape
                h = hook(h.view(B, K, KC // K, H, W).transpose(0, 1)).transpose(0, 1).reshape(B, KC, H, W)
        h = F.max_pool2d(h, 2)
        h = h.view(h.shape[0], K, -1).transpose(0, 1)  # (K, B, C*H*W/4)
        return self.dense(layers[self.n_conv:], h, train, hook, [])
