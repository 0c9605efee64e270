"""The plain stacked MLP's training step written out: forward, loss and backward, no autograd.

Why: for the small nets of a comparison, autograd's graph bookkeeping costs as much as the
arithmetic (at 5 runs of the seed net, 450 us of 600 per step). Written out, the step is a
dozen batched kernels whose results are copied into the cohort's gradient buffer ``G``, and a
large cohort can be cut into blocks of rows that fit the cache. (Not written there with
``out=``: a product written into a strided view of ``G`` took a kernel whose rounding
depended on how many runs share the cohort, and a run's result must not.)

It covers what most comparisons train: dense layers, no normalization, an activation in
``BACKWARD``, mean-squared error or cross-entropy, and no dropout (regularized runs go
through engine/regularizers.py and autograd). Each kernel is the one autograd runs for the
same expression (tanh_backward, threshold_backward, ...), so the paths differ only in the
order of a few sums; tests/engine/test_mlp_grad.py holds them to rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from engine.mlp import StackedMLP, linear, row_blocks

Tensors = tuple[torch.Tensor, ...]

# d(loss)/d(pre-activation) from d(loss)/d(activation) and what the forward kept.
BACKWARD: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "tanh": torch.ops.aten.tanh_backward.default,
    "sigmoid": torch.ops.aten.sigmoid_backward.default,
    "relu": lambda grad, out: torch.ops.aten.threshold_backward.default(grad, out, 0),
    "gelu": torch.ops.aten.gelu_backward.default,
}
KEEPS_INPUT = {"gelu"}  # its backward reads the pre-activation; the others read the output

# Rows per block on CPU: a (rows, batch, width) activation of the seed net is then at most
# 2 MB of float32, about a core's L2 cache. Smaller blocks cost more in kernel launches than
# they save in cache misses: interleaved, 4 x 500 steps each, 1 << 17 took 55 us per run-step
# at 35 runs (two blocks) and 1 << 19 48 us (one), and at 1,000 runs 59 against 51. A GPU
# takes the cohort whole: there, more rows per kernel is what fills the device.
BLOCK_ELEMENTS = 1 << 19


def supports(net: StackedMLP, kind: str) -> bool:
    return (type(net) is StackedMLP and net.norm == "none" and net.activation in BACKWARD
            and kind in ("regression", "classification"))


def forward_backward(net: StackedMLP, layers: list[Tensors], grads: list[Tensors],
                     x: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Every run's mean training loss (K,); each run's gradient written into ``grads``.

    ``layers`` and ``grads`` are the net's per-layer (W, b) views of P and G; x is (K, B, in)
    or (B, in) shared by every run, y likewise. Rows are processed in blocks (BLOCK_ELEMENTS)."""
    K = layers[0][0].shape[0]
    on_cpu = x.device.type == "cpu"
    blocks = row_blocks(K, x.shape[-2] * net.width, BLOCK_ELEMENTS) if on_cpu else [slice(0, K)]
    if len(blocks) == 1:
        return _rows(net, layers, grads, x, y, kind)
    losses = []
    for cut in blocks:
        losses.append(_rows(net, [(w[cut], b[cut]) for w, b in layers],
                            [(w[cut], b[cut]) for w, b in grads],
                            *((x[cut], y[cut]) if x.dim() == 3 else (x, y)), kind))
    return torch.cat(losses)


def _rows(net: StackedMLP, layers: list[Tensors], grads: list[Tensors],
          x: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    act, backward = net.act, BACKWARD[net.activation]
    keep_input = net.activation in KEEPS_INPUT
    inputs, kept = [], []  # per layer: its input; per hidden layer: what its backward reads
    h, last = x, len(layers) - 1
    for k, (w, b) in enumerate(layers):
        inputs.append(h)
        h = linear(h, w, b)
        if k < last:
            z = h
            h = act(z)
            kept.append(z if keep_input else h)
    losses, d = _loss_and_grad(kind, h, y)
    for k in range(last, -1, -1):
        w, _ = layers[k]
        gw, gb = grads[k]
        _weight_grad(d, inputs[k], gw)
        gb.copy_(d.sum(1, keepdim=True))
        if k:
            d = backward(torch.bmm(d, w), kept[k - 1])
    return losses


def _loss_and_grad(kind: str, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(K,) mean losses as engine/losses.py computes them, and d(sum of losses)/d(out)."""
    K, B, C = out.shape
    if kind == "regression":
        r = out - y
        losses = r.square().flatten(1).mean(1)
        return losses, r.mul_(2.0 / (B * C))
    target = (y.expand(K, -1) if y.dim() == 1 else y).unsqueeze(-1)  # (K, B, 1)
    logp = F.log_softmax(out, -1)
    losses = logp.gather(-1, target).squeeze(-1).mean(1).neg_()
    d = logp.exp_().scatter_add_(-1, target, torch.full_like(target, -1, dtype=out.dtype))
    return losses, d.div_(B)


def _weight_grad(d: torch.Tensor, h: torch.Tensor, gw: torch.Tensor) -> None:
    """gw (K, out, in) = d^T h summed over the batch; d (K, B, out), h (K, B, in) | (B, in)."""
    if gw.shape[2] == 1:  # one input feature: a weighted sum, as linear() does an outer product
        g = torch.sum(d * (h if h.dim() == 3 else h.unsqueeze(0)), 1, keepdim=True).transpose(1, 2)
    else:
        g = torch.matmul(d.transpose(1, 2), h)
    gw.copy_(g)
