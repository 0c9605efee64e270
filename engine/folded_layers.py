"""Convolutions and batch norm of a cohort computed with the runs folded into channels.

vmap turns a convolution with per-run kernels into one grouped convolution in NCHW memory,
and it splits a batch norm with per-run statistics into a normalization plus separate scale
and shift passes: on the resnet-mini cohort batch norm was a third of the step, and a plain
batch norm over the same channels in channels-last memory takes a quarter of its time. Here
both layers have a vmap rule of their own
(torch.library custom operators): the K runs' tensors, (K, B, C, ...), are viewed as one
(B, K*C, ...) tensor in channels-last memory, so that each run's channels are a group of a
grouped convolution and a block of a plain batch norm's channels. Consecutive layers then hand
each other that layout without a copy.

Under vmap only the rule runs, and the rule calls torch's own conv2d and batch_norm, so
autograd (double backward included) records torch's kernels, not these operators. Called
outside vmap they compute the same layers on one run, but without gradients: the operators
register no autograd formula of their own (a backward through them says so), as FunctionalNet
differentiates its template only under vmap and runs it bare only to measure activations. The
arithmetic is that of the layers they replace; only the memory order of the sums differs,
within rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.library.custom_op("optarena::conv2d", mutates_args=())
def _conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
            padding: list[int], dilation: list[int], groups: int) -> torch.Tensor:
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


@_conv2d.register_fake
def _(x, weight, bias, stride, padding, dilation, groups):
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


def _conv2d_vmap(info, in_dims, x, weight, bias, stride, padding, dilation, groups):
    K = info.batch_size
    x, weight = _runs_first(x, in_dims[0], K), _runs_first(weight, in_dims[1], K)
    single = x.dim() == 4  # each run convolves one (C, H, W) image, not a batch of them
    if single:
        x = x.unsqueeze(1)
    folded = _fold(x).contiguous(memory_format=torch.channels_last)
    w = weight.reshape(-1, *weight.shape[2:])
    b = None if bias is None else _runs_first(bias, in_dims[2], K).reshape(-1)
    y = _unfold(F.conv2d(folded, w, b, stride, padding, dilation, groups * K), K)
    return (y.squeeze(1) if single else y), 0


_conv2d.register_vmap(_conv2d_vmap)


@torch.library.custom_op("optarena::batch_norm", mutates_args=("running_mean", "running_var"))
def _batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, running_mean: torch.Tensor,
                running_var: torch.Tensor, training: bool, momentum: float, eps: float) -> torch.Tensor:
    return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)


@_batch_norm.register_fake
def _(x, weight, bias, running_mean, running_var, training, momentum, eps):
    return torch.empty_like(x)


def _batch_norm_vmap(info, in_dims, x, weight, bias, running_mean, running_var, training, momentum, eps):
    K = info.batch_size
    if in_dims[3] != 0 or in_dims[4] != 0:
        raise ValueError("each run of a cohort keeps its own batch-norm statistics")
    x = _runs_first(x, in_dims[0], K)
    w, b = (_runs_first(t, d, K).reshape(-1) for t, d in ((weight, in_dims[1]), (bias, in_dims[2])))
    mean, var = running_mean.reshape(-1), running_var.reshape(-1)
    y = F.batch_norm(_fold(x), mean, var, w, b, training, momentum, eps)
    if mean.data_ptr() != running_mean.data_ptr():  # the stacked statistics were not contiguous
        running_mean.copy_(mean.view_as(running_mean))
        running_var.copy_(var.view_as(running_var))
    return _unfold(y, K), 0


_batch_norm.register_vmap(_batch_norm_vmap)


def _runs_first(t: torch.Tensor, dim: int | None, K: int) -> torch.Tensor:
    return t.expand(K, *t.shape) if dim is None else t.movedim(dim, 0)


def _fold(x: torch.Tensor) -> torch.Tensor:
    """(K, B, C, ...) -> (B, K*C, ...): a view when x came out of _unfold."""
    return x.movedim(0, 1).flatten(1, 2)


def _unfold(y: torch.Tensor, K: int) -> torch.Tensor:
    """(B, K*C, ...) -> (K, B, C, ...), a view."""
    return y.unflatten(1, (K, -1)).movedim(1, 0)


class FoldedConv2d(nn.Conv2d):
    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = [0, 0]
        else:
            padding = list(self.padding)
        return _conv2d(x, weight, bias, list(self.stride), padding, list(self.dilation), self.groups)


class FoldedBatchNorm(nn.modules.batchnorm._BatchNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.num_batches_tracked.add_(1)
        return _batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                           self.training, self.momentum, self.eps)


def fold_layers(module: nn.Module) -> int:
    """Every nn.Conv2d with numeric padding and every affine batch norm that keeps running
    statistics with a fixed momentum, replaced in place by its folded form with the same
    tensors; returns how many were replaced. Others keep vmap's own rules."""
    count = 0
    for m in list(module.modules()):
        for name, child in list(m.named_children()):
            folded = _folded(child)
            if folded is not None:
                folded.load_state_dict(child.state_dict())
                folded.train(child.training)
                setattr(m, name, folded)
                count += 1
    return count


def _folded(child: nn.Module) -> nn.Module | None:
    p = next(child.parameters(), None)
    kw = {} if p is None else {"device": p.device, "dtype": p.dtype}
    if type(child) is nn.Conv2d and not isinstance(child.padding, str):
        return FoldedConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                            child.padding, child.dilation, child.groups, child.bias is not None,
                            child.padding_mode, **kw)
    if (type(child) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d) and child.affine
            and child.track_running_stats and child.momentum is not None):
        return FoldedBatchNorm(child.num_features, child.eps, child.momentum, **kw)
    return None
