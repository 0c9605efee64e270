"""Named specs. ``seed-wave`` is the reference experiment of the study notes, exactly."""

from __future__ import annotations

from typing import Any

from engine.catalogue import CATALOGUE
from engine.optimizer_defs import OptimizerDef
from engine.registry import REGISTRY
from engine.spec import ComparisonSpec

_WAVE_TASK = {"name": "wave", "n": 10_000, "noise": 0.03}
_WAVE_NET = {"kind": "mlp", "hidden": [64, 64], "activation": "tanh", "init": "kaiming_normal"}
_WAVE_TRAIN = {"steps": 10_000, "batch_size": 64, "log_every": 1, "eval_every": 100}
_SEED_WAVE_ARMS = [
    {"optimizer": "sgd", "lr": 1e-2},
    {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9},
    {"optimizer": "adam", "lr": 1e-2},
]

PRESETS: dict[str, dict[str, Any]] = {
    "seed-wave": {
        "task": _WAVE_TASK,
        "net": _WAVE_NET,
        "arms": _SEED_WAVE_ARMS,
        "seeds": [0],
        "train": _WAVE_TRAIN,
    },
    # The catalogue is read when this module loads, so an optimizer added to it joins the
    # preset; each at its class's default learning rate (its HParam default).
    "seed-wave-modern": {
        "task": _WAVE_TASK,
        "net": _WAVE_NET,
        "arms": _SEED_WAVE_ARMS + [{"optimizer": name} for name in CATALOGUE],
        "seeds": list(range(10)),
        "train": _WAVE_TRAIN,
    },
    "seed-wave-all": {
        "task": _WAVE_TASK,
        "net": _WAVE_NET,
        "arms": [
            {"optimizer": "sgd", "lr": 1e-2},
            {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9},
            {"optimizer": "nesterov", "lr": 1e-2, "momentum": 0.9},
            {"optimizer": "adagrad", "lr": 1e-2},
            {"optimizer": "adadelta", "lr": 1.0},
            {"optimizer": "rmsprop", "lr": 1e-2},
            {"optimizer": "adam", "lr": 1e-2},
        ],
        "seeds": [0, 1, 2, 3, 4],
        "train": _WAVE_TRAIN,
    },
    "digits-cnn": {
        "task": {"name": "digits"},
        "net": {"kind": "cnn", "channels": [8, 16], "hidden": [64], "activation": "relu", "norm": "batch"},
        "arms": [
            {"optimizer": "sgd", "lr": 5e-2},
            {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9},
            {"optimizer": "adam", "lr": 1e-3},
        ],
        "seeds": [0, 1, 2],
        "train": {"steps": 2_000, "batch_size": 64, "log_every": 10, "eval_every": 100},
        "regularization": {"augment": {"shift": 1}, "label_smoothing": 0.05},
    },
    "resnet-digits": {
        "task": {"name": "digits"},
        "net": {"kind": "module", "model": "resnet-mini"},
        "arms": [
            {"optimizer": "sgd", "lr": 5e-2},
            {"optimizer": "momentum", "lr": 5e-2, "momentum": 0.9},
            {"optimizer": "adam", "lr": 3e-3},
            {"optimizer": "adamw", "lr": 3e-3},
        ],
        "seeds": [0, 1, 2, 3, 4],
        "train": {"steps": 2_000, "batch_size": 64, "log_every": 10, "eval_every": 100},
    },
    # SGD and Momentum at the seed task's 1e-2, Adam and AdamW at torch's default 1e-3. The rule
    # is learnt within a few hundred steps, so the curves (and steps to accuracy) tell them apart.
    "transformer-tokens": {
        "task": {"name": "tokens", "n": 4_000},
        "net": {"kind": "module", "model": "transformer"},
        "arms": [
            {"optimizer": "sgd", "lr": 1e-2},
            {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9},
            {"optimizer": "adam", "lr": 1e-3},
            {"optimizer": "adamw", "lr": 1e-3},
        ],
        "seeds": [0, 1, 2],
        "train": {"steps": 400, "batch_size": 64, "log_every": 10, "eval_every": 25},
    },
    "autoencoder-digits": {
        "task": {"name": "digits-reconstruct"},
        "net": {"kind": "module", "model": "autoencoder", "config": {"width": 64, "bottleneck": 8}},
        "arms": [
            {"optimizer": "sgd", "lr": 5e-2},
            {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9},
            {"optimizer": "adam", "lr": 1e-3},
            {"optimizer": "adamw", "lr": 1e-3},
        ],
        "seeds": [0, 1, 2],
        "train": {"steps": 3_000, "batch_size": 64, "log_every": 10, "eval_every": 250},
    },
}

# Tuning searches the learning rate, so each optimizer starts from torch's defaults.
_ALL_NINE = [{"optimizer": name} for name, d in REGISTRY.items() if d.vectorized]
_BS_MOMENTUM = {"optimizer": "momentum", "lr": 2e-2, "momentum": 0.9}
_SHORT_TRAIN = {"steps": 2_000, "batch_size": 64, "log_every": 10, "diag_every": 100, "eval_every": 100}

def _search_space(d: OptimizerDef) -> dict[str, Any]:
    """search-wave's space for one optimizer: lr log-uniform over the tuning grid's range, and its
    momentum or first beta where it has one."""
    space: dict[str, Any] = {"lr": {"low": 1e-4, "high": 1.0, "log": True}}
    names = {h.name for h in d.hparams}
    if "momentum" in names:
        space["momentum"] = {"low": 0.5, "high": 0.99}
    if "beta1" in names:
        space["beta1"] = {"low": 0.8, "high": 0.95}
    return space


PRESETS |= {
    # n = 2,000: full-batch GD's 100 grid runs read the whole training split every step, and
    # at the notes' n = 10,000 they alone are ~94% of the study's compute.
    "tuning-wave": {
        "task": {"name": "wave", "n": 2_000, "noise": 0.03}, "net": _WAVE_NET, "arms": _ALL_NINE,
        "seeds": [0, 1, 2, 3, 4],
        "train": _SHORT_TRAIN,
        "study": {"kind": "tuning", "lr": {"low": 1e-4, "high": 1.0, "points": 20},
                  # 15 fresh seeds: with 36 pairs of arms, Holm needs 36 x 2 / 2^n < 0.05,
                  # i.e. n >= 12, before any difference can come out significant.
                  "test_seeds": list(range(100, 115))},
    },
    "search-wave": {
        "task": {"name": "wave", "n": 2_000, "noise": 0.03}, "net": _WAVE_NET, "arms": _ALL_NINE,
        "seeds": [0],
        "train": _SHORT_TRAIN,
        "study": {"kind": "search", "sampler": "tpe", "trials": 64, "batch": 16,
                  "spaces": {REGISTRY[a["optimizer"]].title: _search_space(REGISTRY[a["optimizer"]])
                             for a in _ALL_NINE},
                  "pruner": {"kind": "successive_halving", "rungs": [1 / 9, 1 / 3], "reduction_factor": 3},
                  "test_seeds": list(range(100, 110))},
    },
    # Digits with a small training split, so nets fit it fully and the generalization gap is
    # large enough to measure; on the wave task the gap is ~0 at every batch size.
    "batch-size-digits": {
        "task": {"name": "digits", "n": 1_797, "val_fraction": 0.2, "test_fraction": 0.4},
        "net": {"kind": "mlp", "hidden": [64, 64], "activation": "relu"},
        # SAM beside its base at equal steps and, trained twice the steps, at equal gradient
        # evaluations (SAM takes two passes a step): the study's flatness report pairs them.
        "arms": [_BS_MOMENTUM, _BS_MOMENTUM | {"sam": {"rho": 0.05}, "label": "SAM-Momentum"},
                 _BS_MOMENTUM | {"steps_factor": 2, "label": "Momentum 2x steps"}],
        # 10 seeds: with 5, a paired test Holm-corrected over 5 batch sizes cannot reach p < 0.05.
        "seeds": list(range(10)),
        "train": {"steps": 3_000, "log_every": 10, "diag_every": 100, "eval_every": 250},
        "study": {"kind": "batch_size", "batch_sizes": [4, 16, 64, 256, 0]},
    },
    "cv-wave": {
        "task": {"name": "wave", "n": 2_000, "noise": 0.1}, "net": _WAVE_NET,
        "arms": [{"optimizer": "sgd", "lr": 1e-2}, {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9},
                 {"optimizer": "adam", "lr": 1e-2}],
        "seeds": [0], "train": _SHORT_TRAIN, "study": {"kind": "cross_validation", "folds": 5},
    },
    "bias-variance-sines": {
        "task": {"name": "sines", "n": 1_000, "noise": 0.1}, "net": _WAVE_NET,
        "arms": [{"optimizer": "sgd", "lr": 1e-2}, {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9},
                 {"optimizer": "adam", "lr": 1e-2}],
        "seeds": [0], "train": _SHORT_TRAIN, "study": {"kind": "bias_variance", "resamples": 10},
    },
    "trajectories-rosenbrock": {
        "arms": [{"optimizer": "gd", "lr": 1e-3}, {"optimizer": "momentum", "lr": 1e-3, "momentum": 0.9},
                 {"optimizer": "nesterov", "lr": 1e-3, "momentum": 0.9}, {"optimizer": "adagrad", "lr": 5e-2},
                 {"optimizer": "rmsprop", "lr": 5e-2}, {"optimizer": "adam", "lr": 5e-2}],
        "study": {"kind": "trajectories", "function": "rosenbrock", "steps": 500},
    },
}

DESCRIPTIONS = {
    "seed-wave": "The notes' experiment: wave regression, 1-64-64-1 tanh MLP, SGD vs Momentum vs Adam "
                 "at lr 1e-2, batch 64, 10,000 steps, same batches and initial weights for all.",
    "seed-wave-all": "The same task with all seven optimizers of the notes, 5 seeds each.",
    "seed-wave-modern": "The notes' experiment with the field's optimizer catalogue ("
                        + ", ".join(d.title for d in CATALOGUE.values())
                        + "), each at its class's default learning rate, beside SGD, Momentum and "
                        "Adam at lr 1e-2; 10 seeds each.",
    "digits-cnn": "8x8 digits with a small batch-norm CNN, shift augmentation and label smoothing, "
                  "identical for SGD, Momentum and Adam over 3 seeds.",
    "resnet-digits": "A model of one's own: resnet-mini (residual blocks with batch norm) on the 8x8 "
                     "digits, trained through torch.func, SGD, Momentum, Adam and AdamW over 5 seeds.",
    "transformer-tokens": "A transformer encoder (2 pre-norm blocks, d_model 32) classifying token "
                          "sequences by their most frequent of tokens 0, 1 and 2 (chance 1/3), "
                          "SGD, Momentum, Adam and AdamW over 3 seeds, 400 steps.",
    "autoencoder-digits": "An MLP autoencoder (64-64-8-64-64) reconstructing the 8x8 digits, SGD, Momentum, "
                          "Adam and AdamW over 3 seeds, 3,000 steps; the loss is the mean squared error "
                          "per pixel.",
    "tuning-wave": "Fair tuning: all nine optimizers, 20 learning rates from 1e-4 to 1 on 5 seeds (900 "
                   "runs), each one's best chosen on validation loss, re-run on 15 fresh seeds, "
                   "reported on test loss.",
    "search-wave": "Hyperparameter search with an equal budget per optimizer: all nine optimizers, lr "
                   "(and momentum or beta1) by TPE, 64 trials each in cohorts of 16 trained together, "
                   "successive halving at 1/9 and 1/3 of the steps; each one's best re-run on 10 fresh "
                   "seeds, reported on test loss.",
    "batch-size-digits": "Momentum at batch sizes 4 to full batch (720 training images), 3,000 steps "
                         "each, 10 seeds: test loss against the sharpness of each solution (flat vs "
                         "sharp minima); with SAM-Momentum (rho 0.05) and Momentum at 6,000 steps, "
                         "whether SAM ends flatter at equal steps and at equal gradient evaluations.",
    "cv-wave": "5-fold cross-validation of SGD, Momentum and Adam on a small, noisy wave data set.",
    "bias-variance-sines": "Bias^2, variance and noise of SGD, Momentum and Adam from 10 bootstrap "
                           "resamples of the sines task, and the bagged ensemble vs one net.",
    "trajectories-rosenbrock": "Six optimizers' paths on the Rosenbrock valley, 500 steps from (-1.5, 2).",
}


# A study's fields depend on its kind: an override naming another kind than the preset's study
# replaces it whole (merging would mix two kinds' fields); one naming none, or the same, is merged.
TAGGED = {"study": "kind"}


def _merges(key: str, base: Any, over: Any) -> bool:
    if not (isinstance(over, dict) and isinstance(base, dict)):
        return False
    tag = TAGGED.get(key)
    return tag is None or over.get(tag, base.get(tag)) == base.get(tag)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if _merges(k, out.get(k), v) else v
    return out


def preset_dict(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The preset as a plain dict, with ``overrides`` merged in field by field (a list, or a
    study of another kind, replaces the preset's whole)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return _merge(PRESETS[name], overrides or {})


def preset(name: str, overrides: dict[str, Any] | None = None) -> ComparisonSpec:
    return ComparisonSpec.model_validate(preset_dict(name, overrides))
