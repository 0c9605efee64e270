"""The stacked MLP: K copies of one architecture evaluated together in one forward pass.

Parameters are rows of one (K, n_params) matrix ``P`` in the flat layout of
engine/layout.py, so weights move exactly between a row and the same net written as an
``nn.Sequential`` (engine/reference.py builds that ``nn.Sequential``). Dense layers run as
batched matmuls over the K runs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from engine.layout import layer_sizes, param_layout
from engine.net_spec import NetSpec
from engine.norms import dense_norm, new_stats
from engine.stacked import Stacked

# tanh is torch's own on every device and dtype. A 2*sigmoid(2x) - 1 form ran ~2.5% faster per
# float32 CPU step, but it is accurate only absolutely (tanh(1e-10) gave 0), and RMSprop, which
# scales each weight's step by its own gradient, carried that into a 9x larger float32 error
# than torch's own against the float64 reference (tests/engine/test_agreement.py).
ACTIVATIONS = {"tanh": torch.tanh, "relu": F.relu, "gelu": F.gelu, "sigmoid": torch.sigmoid}


class StackedMLP(Stacked):
    """K MLPs of one architecture evaluated together; parameters are rows of ``P`` (per
    layer W (K, out, in), b (K, 1, out) [, norm weight, norm bias (K, 1, out)]).

    Batch-norm running statistics live in ``buffers`` ((K, H) mean, var per normalized
    layer), set by ``reset_buffers``; evaluation (``train=False``) uses them."""

    def __init__(self, spec: NetSpec, in_dim: int, out_dim: int,
                 image_shape: tuple[int, int, int] | None = None):
        self.activation = spec.activation
        self.act = ACTIVATIONS[spec.activation]
        self.sizes = layer_sizes(spec, in_dim, out_dim)
        self.width = max(o for _, o in self.sizes)  # the most activations one example makes in a layer
        self.layout = param_layout(spec, in_dim, out_dim, image_shape)
        self.norm, self.groups = spec.norm, spec.groups
        self.buffers: list[torch.Tensor] = []

    def _stat_widths(self) -> list[int]:
        """Width of each layer with batch-norm statistics, in order."""
        if self.norm != "batch":
            return []
        return [layer[2].shape[0] for layer in self.layout if len(layer) > 2]

    def reset_buffers(self, K: int, device: torch.device, dtype: torch.dtype) -> None:
        self.buffers = [t for w in self._stat_widths() for t in new_stats(K, w, device, dtype)]

    def forward(self, layers: list[tuple[torch.Tensor, ...]], x: torch.Tensor, *, train: bool = False,
                hook: Callable[[torch.Tensor], torch.Tensor] | None = None,
                buffers: list[torch.Tensor] | None = None) -> torch.Tensor:
        """x: (K, B, in) per-run batches, or (N, in) shared by all runs -> (K, B|N, out).

        ``train`` selects batch statistics (and updates the running ones); ``hook`` is
        applied after every hidden activation (dropout); ``buffers`` overrides the
        running statistics (e.g. those of a subset of rows)."""
        return self.dense(layers, x, train, hook, self.buffers if buffers is None else buffers)

    def dense(self, layers: list[tuple[torch.Tensor, ...]], h: torch.Tensor, train: bool,
              hook: Callable[[torch.Tensor], torch.Tensor] | None, stats: list[torch.Tensor]) -> torch.Tensor:
        last, n_norm = len(layers) - 1, 0
        for k, layer in enumerate(layers):
            h = linear(h, layer[0], layer[1])
            if k < last:
                if len(layer) > 2:
                    pair = (stats[2 * n_norm], stats[2 * n_norm + 1]) if stats else None
                    h = dense_norm(self.norm, h, layer[2], layer[3], pair, train, self.groups)
                    n_norm += 1
                h = self.act(h)
                if hook is not None:
                    h = hook(h)
        return h


def row_blocks(K: int, elements_per_row: int, budget: int) -> list[slice]:
    """Rows [0, K) cut into blocks of about ``budget // elements_per_row`` rows, none of one
    row unless K is 1: torch hands a batch of one to its single-matrix kernels, which round
    differently, and a run's result must not depend on how its cohort was cut."""
    rows = max(2, budget // max(1, elements_per_row))
    cuts = list(range(0, K, rows))
    if len(cuts) > 1 and K - cuts[-1] == 1:
        cuts.pop()
    return [slice(a, b) for a, b in zip(cuts, [*cuts[1:], K], strict=True)]


def linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
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
