"""How runs train: the loop's settings, an arm's learning-rate schedule, and the
regularization every arm shares.

Torch-free: the API validates these; engine/trainer.py and engine/regularizers.py apply them.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from engine.strict import INT32_MAX, Strict


class Schedule(Strict):
    """Learning-rate multiplier over training; ``lr`` stays the peak value."""

    kind: Literal["constant", "cosine", "step", "exponential", "linear"] = "constant"
    warmup_steps: int = Field(0, ge=0, le=INT32_MAX, description="linear ramp from 0 to lr")
    step_size: int = Field(1000, ge=1, le=INT32_MAX, description="'step': steps between decays")
    gamma: float = Field(0.1, gt=0, le=1, allow_inf_nan=False, description="'step'/'exponential' factor")
    min_factor: float = Field(0.0, ge=0, le=1, allow_inf_nan=False, description="floor for cosine/linear")

    def factor(self, step: int, total: int) -> float:
        """Multiplier for the update taken at 0-based ``step``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        t = step - self.warmup_steps
        span = max(1, total - self.warmup_steps)
        if self.kind == "cosine":
            return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t / span))
        if self.kind == "linear":
            return self.min_factor + (1 - self.min_factor) * (1 - t / span)
        if self.kind == "step":
            return self.gamma ** (t // self.step_size)
        if self.kind == "exponential":
            return self.gamma ** (t / span)
        return 1.0


class Sam(Strict):
    """Sharpness-aware minimization around the arm's optimizer (Foret et al. 2021): each step
    takes the gradient at w + e, e = rho g / |g| (adaptive, Kwon et al. 2021: e = rho w^2 g /
    |w g|), g the gradient at w and norms over the run's whole net; two forward/backward
    passes per step."""

    rho: float = Field(0.05, gt=0, le=10, allow_inf_nan=False, description="radius of the perturbation")
    adaptive: bool = Field(False, description="scale the perturbation by each weight's magnitude (ASAM)")


class Lookahead(Strict):
    """Lookahead (Zhang et al. 2019) around the arm's optimizer, as pytorch-optimizer's
    ``Lookahead`` does it: every ``k`` steps the slow weights move ``alpha`` of the way to the
    fast ones, and the fast weights restart from them."""

    k: int = Field(5, ge=1, le=1000, description="steps between synchronizations")
    # Below 1: at 1 the slow weights would just copy the fast ones (the package refuses it).
    alpha: float = Field(0.5, gt=0, lt=1, allow_inf_nan=False, description="step of the slow weights")


class EarlyStopping(Strict):
    patience: int = Field(10, ge=1, le=INT32_MAX,
                          description="evaluations without improvement before stopping")
    min_delta: float = Field(0.0, ge=0, allow_inf_nan=False)


class TrainSpec(Strict):
    steps: int = Field(10_000, ge=1, le=10_000_000)
    examples: int | None = Field(
        None, ge=1, le=10_000_000_000, description="a budget in examples seen instead of steps: each "
        "run trains ceil(examples / its batch size) steps, so batch sizes compare at equal data")
    batch_size: int = Field(64, ge=1, le=INT32_MAX)
    log_every: int = Field(1, ge=1, le=INT32_MAX, description="steps between train-loss points")
    diag_every: int = Field(
        10, ge=1, le=INT32_MAX, description="steps between gradient-norm and update-to-weight-ratio points "
        "(each costs ~8% of a step, so not every step by default)")
    eval_every: int = Field(100, ge=1, le=INT32_MAX, description="validation and test metrics")
    early_stopping: EarlyStopping | None = None
    target_loss: float | None = Field(None, gt=0, allow_inf_nan=False, description="validation loss to reach")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "float64"] = "float32"


class Augment(Strict):
    """Label-preserving image augmentation: a random shift and rotation per example."""

    shift: int = Field(1, ge=0, le=3, description="largest shift in pixels, along each axis")
    rotate: float = Field(0.0, ge=0, le=45, allow_inf_nan=False, description="largest rotation in degrees")


class Regularization(Strict):
    """Regularizers applied identically to every arm (see engine/regularizers.py for randomness).

    ``l2`` adds (l2/2)·Σw² over the weight matrices and conv kernels (not biases or norm
    parameters) to the loss: it is in the gradient every optimizer sees, before clipping
    and before any adaptive scaling, and it is the same for all arms. An arm's own
    ``weight_decay`` is part of its optimizer instead: coupled (added to the gradient
    inside the update, so e.g. Adam rescales it) or decoupled for adamw (weights shrunk
    outside the adaptive step), and it may differ between arms.
    """

    l2: float = Field(0.0, ge=0, le=10, allow_inf_nan=False, description="L2 penalty coefficient in the loss")
    dropout: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False,
                           description="drop probability after every hidden activation")
    input_noise: float = Field(0.0, ge=0, le=10, allow_inf_nan=False,
                               description="std of Gaussian noise added to inputs")
    weight_noise: float = Field(0.0, ge=0, le=1, allow_inf_nan=False,
                                description="std of Gaussian noise on weights in each training forward pass")
    label_smoothing: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False, description="classification only")
    mixup: float | None = Field(None, gt=0, le=10, allow_inf_nan=False,
                                description="alpha of Beta(alpha, alpha)")
    cutmix: float | None = Field(None, gt=0, le=10, allow_inf_nan=False,
                                 description="alpha of Beta(alpha, alpha); image tasks only")
    cutout: int = Field(0, ge=0, le=8, description="side in pixels of the zeroed square; image tasks only")
    augment: Augment | None = Field(None, description="image tasks only")

    @model_validator(mode="after")
    def _one_mix(self) -> Regularization:
        if self.mixup is not None and self.cutmix is not None:
            raise ValueError("choose one of mixup and cutmix")
        return self

    def active(self) -> bool:
        return self != Regularization()
