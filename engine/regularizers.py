"""Regularizers inside the stacked trainer: one training forward/backward with them applied.

What each option does to a step (all apply to training only; evaluation sees clean
inputs, clean weights, no dropout, plain loss, and batch norm's running statistics):

    image augmentation -> cutout -> mixup | cutmix -> input noise      (the batch)
    weight noise on P -> forward with dropout -> loss -> backward -> P restored
    gradient += l2 * w                                                 (the L2 penalty)

The logged train loss is the loss that was minimized (smoothed/mixed targets, noisy
inputs and weights, dropout), without the L2 term, so curves with and without ``l2``
stay on one scale.

Randomness and fairness. Every random draw is a pure function of (seed, batch size,
step, purpose), made with ``numpy.random.default_rng([seed, batch_size, step, tag])``:

- data randomness (input noise, mixup/cutmix pairing and lambda, cutmix and cutout
  boxes, shifts and rotations) is identical for every arm of a seed, exactly like the
  batch order: the arms are compared on the same perturbed data;
- dropout masks and weight noise are also drawn per seed and shared by its arms. They
  could legitimately differ per run, but sharing them is common random numbers: the
  difference between two arms of a seed then comes from the optimizers, not from
  which units happened to be dropped, which lowers the variance of every comparison.
  Runs of different seeds get independent draws, so over seeds the masks still average.

Because nothing is carried from step to step, a resumed run redraws exactly what the
uninterrupted run drew, and the draws do not depend on how runs are grouped into
cohorts. Per-run work is vectorized: parameters are drawn per seed, indexed to the
cohort's rows, and applied to all K runs at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from engine.augment import box_mask, cutmix_box, cutout, shift_rotate
from engine.losses import loss_per_run
from engine.mlp import StackedMLP
from engine.tasks import TaskData
from engine.train_spec import Regularization

# Purposes of random draws (the last entry of each generator's seed sequence).
AUGMENT, CUTOUT, MIX, PAIR, INPUT_NOISE, WEIGHT_NOISE, DROPOUT = 1, 2, 3, 4, 5, 6, 100


def draw_per_seed(seeds: list[int], run_seed: torch.Tensor, batch_size: int, step: int, tag: int,
                  fn: Callable[[np.random.Generator], np.ndarray]) -> torch.Tensor:
    """fn's draw for every seed, stacked and indexed to the cohort's rows: (K, ...). The
    generator is a pure function of (seed, batch size, step, tag): the policy above."""
    arrays = [np.asarray(fn(np.random.default_rng([s, batch_size, step, tag]))) for s in seeds]
    return torch.from_numpy(np.stack(arrays)).to(run_seed.device)[run_seed]


def dropout_masks(seeds: list[int], run_seed: torch.Tensor, batch_size: int, step: int,
                  shapes: list[tuple[tuple[int, ...], float]], dtype: torch.dtype) -> list[torch.Tensor]:
    """Inverted-dropout masks (K, *shape), one per (shape, p): kept units scaled by 1 / (1 - p),
    drawn per seed and layer and shared by the seed's arms."""
    return [draw_per_seed(seeds, run_seed, batch_size, step, DROPOUT + i,
                          lambda g, s=shape, p=p: (g.random(s) >= p) / (1 - p)).to(dtype)
            for i, (shape, p) in enumerate(shapes)]


def _pairs(t: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """t (K, B, ...) reordered along the batch by perm (K, B): each example's mixing partner."""
    return t.gather(1, perm.view(*perm.shape, *[1] * (t.dim() - 2)).expand_as(t))


class Regularizers:
    """The regularization of one cohort's K runs; nothing is carried from step to step.

    ``seeds``: the cohort's distinct seeds, sorted; ``run_seed`` (K,): each row's index
    into them, on the cohort's device; ``batch_size``: the cohort's resolved batch size."""

    def __init__(self, reg: Regularization, data: TaskData, net: StackedMLP, seeds: list[int],
                 run_seed: torch.Tensor, batch_size: int, dtype: torch.dtype, device: torch.device):
        self.reg, self.net = reg, net
        self.kind, self.n_classes = data.kind, data.out_dim
        self.image_shape = data.image_shape
        self.seeds, self.run_seed = seeds, run_seed
        self.batch_size, self.K, self.dtype = batch_size, len(run_seed), dtype
        mask = net.weight_mask().to(device, dtype).unsqueeze(0)  # (1, D)
        self.l2 = mask * reg.l2 if reg.l2 else None
        self.weight_noise = mask * reg.weight_noise if reg.weight_noise else None

    def _draw(self, step: int, tag: int, fn: Callable[[np.random.Generator], np.ndarray]) -> torch.Tensor:
        return draw_per_seed(self.seeds, self.run_seed, self.batch_size, step, tag, fn)

    # -- the batch ----------------------------------------------------------------------

    def batch(self, step: int, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, target) for training: x (K, B, F); target class indices (K, B), soft targets
        (K, B, C) when smoothed or mixed, or regression values (K, B, 1)."""
        r = self.reg
        if x.dim() == 2:  # a full batch shared by all runs; the perturbations are per seed
            x, y = x.expand(self.K, *x.shape), y.expand(self.K, *y.shape)
        if r.augment is not None or r.cutout:
            x = self._image_ops(step, x)
        target = y
        if self.kind == "classification" and (r.label_smoothing or r.mixup or r.cutmix):
            eps = r.label_smoothing  # torch's label_smoothing: (1 - eps) one-hot + eps / C
            target = F.one_hot(y, self.n_classes).to(self.dtype) * (1 - eps) + eps / self.n_classes
        if r.mixup is not None:
            x, target = self._mixup(step, x, target)
        if r.cutmix is not None:
            x, target = self._cutmix(step, x, target)
        if r.input_noise:
            noise = self._draw(step, INPUT_NOISE, lambda g: g.standard_normal(x.shape[1:]))
            x = x + r.input_noise * noise.to(self.dtype)
        return x, target

    def _image_ops(self, step: int, x: torch.Tensor) -> torch.Tensor:
        assert self.image_shape is not None
        K, B, _ = x.shape
        C, H, W = self.image_shape
        img = x.reshape(K * B, C, H, W)
        if (aug := self.reg.augment) is not None:
            s, deg = aug.shift, aug.rotate

            def draw(g: np.random.Generator) -> np.ndarray:
                shifts = g.integers(-s, s + 1, size=(B, 2)).astype(np.float64)
                return np.concatenate([shifts, g.uniform(-deg, deg, size=(B, 1)) * math.pi / 180], 1)

            p = self._draw(step, AUGMENT, draw).flatten(0, 1)  # (K*B, 3): dx, dy, angle
            img = shift_rotate(img, p[:, 0], p[:, 1], p[:, 2])
        if self.reg.cutout:
            c = self._draw(step, CUTOUT,
                           lambda g: np.stack([g.integers(H, size=B), g.integers(W, size=B)], 1))
            img = cutout(img, c[..., 0].flatten(), c[..., 1].flatten(), self.reg.cutout)
        return img.reshape(K, B, -1)

    def _mixup(self, step: int, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixup (Zhang et al. 2018): one lambda ~ Beta(a, a) per batch, partners by a permutation."""
        a, B = self.reg.mixup, x.shape[1]
        lam = self._draw(step, MIX, lambda g: g.beta(a, a)).to(self.dtype).view(-1, 1, 1)
        perm = self._draw(step, PAIR, lambda g: g.permutation(B))
        mixed = lam * x + (1 - lam) * _pairs(x, perm)
        return mixed, lam * target + (1 - lam) * _pairs(target, perm)

    def _cutmix(self, step: int, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CutMix (Yun et al. 2019): paste a box from the partner; labels weighted by area."""
        assert self.image_shape is not None
        a, (K, B, _), (C, H, W) = self.reg.cutmix, x.shape, self.image_shape

        def draw(g: np.random.Generator) -> np.ndarray:
            y0, y1, x0, x1 = cutmix_box(H, W, g.beta(a, a), int(g.integers(H)), int(g.integers(W)))
            return np.array([y0, y1, x0, x1, 1 - (y1 - y0) * (x1 - x0) / (H * W)], dtype=np.float64)

        box = self._draw(step, MIX, draw)  # (K, 5)
        perm = self._draw(step, PAIR, lambda g: g.permutation(B))
        inside = box_mask((H, W), *box[:, :4].long().unbind(1)).view(K, 1, 1, H, W)
        img = x.view(K, B, C, H, W)
        x = torch.where(inside, _pairs(img, perm), img).view(K, B, -1)
        lam = box[:, 4].to(self.dtype).view(-1, 1, 1)
        return x, lam * target + (1 - lam) * _pairs(target, perm)

    # -- the net ------------------------------------------------------------------------

    def _dropout(self, step: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """Inverted dropout after each hidden activation; masks drawn per seed and layer."""
        p, layer = self.reg.dropout, itertools.count()

        def hook(h: torch.Tensor) -> torch.Tensor:  # h (K, B, *features)
            keep = self._draw(step, DROPOUT + next(layer), lambda g: (g.random(h.shape[1:]) >= p) / (1 - p))
            return h * keep.to(h.dtype)

        return hook

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-run mean loss (K,); soft targets use cross-entropy against the distribution."""
        if self.kind == "classification" and target.is_floating_point():
            return -(target * out.log_softmax(-1)).sum(-1).mean(1)
        return loss_per_run(self.kind, out, target)

    def forward_backward(self, step: int, x: torch.Tensor, y: torch.Tensor, P: torch.Tensor, G: torch.Tensor,
                         layers: list[tuple[torch.Tensor, ...]],
                         masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """One regularized forward and backward of every run: weights P (K, D), whose
        per-layer views ``layers`` (StackedMLP.bind) accumulate their gradients into G;
        ``masks``: a module's own dropout masks (engine/functional_net.py)."""
        x, target = self.batch(step, x, y)
        clean = None
        if self.weight_noise is not None:
            noise = self._draw(step, WEIGHT_NOISE, lambda g: g.standard_normal(P.shape[1]))
            with torch.no_grad():
                clean = P.clone()  # restored by copy: P + e - e is not always P in floating point
                P.addcmul_(noise.to(self.dtype), self.weight_noise)
        hook = self._dropout(step) if self.reg.dropout else None
        extra = {} if masks is None else {"masks": masks}
        losses = self.loss(self.net.forward(layers, x, train=True, hook=hook, **extra), target)
        losses.sum().backward()  # d/dw of the loss at the noisy weights = the gradient used
        with torch.no_grad():
            if clean is not None:
                P.copy_(clean)
            if self.l2 is not None:
                G.addcmul_(P, self.l2)  # d/dw (l2/2)|w|^2 = l2 * w, weights only
        return losses
