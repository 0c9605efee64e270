"""The one table of learning tasks a spec can name: what each is, its shapes, its options.

Torch-free plain data. Spec validation, the engine's task generators (engine/tasks.py), the
parameter limit (core/limits.py) and ``GET /tasks`` all read it, so a task's widths are
written down once. An uploaded data set (``dataset``) has its widths from the upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# TaskSpec fields every task reads; a task lists any others it reads in ``options``.
COMMON_OPTIONS = ("n", "seed", "val_fraction", "test_fraction")


@dataclass(frozen=True)
class TaskInfo:
    name: str
    kind: str | None  # "regression" | "classification"; None: the uploaded data set says
    in_dim: int | None  # features of one example (flat pixels for images); None: from the upload
    out_dim: int | None  # regression outputs or classes; None: from the upload
    description: str
    options: tuple[str, ...] = ()  # TaskSpec fields beyond COMMON_OPTIONS that it reads
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) of a flat row: a CNN may train on it
    size: int | None = None  # a fixed collection: at most this many examples, whatever ``n`` asks
    known_truth: bool = False  # the noise-free function is known (bias-variance needs it)
    vocab: int | None = None  # rows of token ids 0..vocab-1 (as floats): a token model may train on it

    def catalogue_entry(self) -> dict[str, Any]:
        """The task as ``GET /tasks`` lists it."""
        return {"name": self.name, "kind": self.kind, "in_dim": self.in_dim, "out_dim": self.out_dim,
                "image_shape": list(self.image_shape) if self.image_shape else None,
                "max_examples": self.size, "known_truth": self.known_truth, "vocab": self.vocab,
                "options": [*COMMON_OPTIONS, *self.options], "description": self.description}


TASKS: dict[str, TaskInfo] = {t.name: t for t in (
    TaskInfo("wave", "regression", 1, 1, "y = exp(-x^2) cos(10x) + noise, x ~ U(-3, 3): the reference "
             "experiment", ("noise",), known_truth=True),
    TaskInfo("sines", "regression", 2, 1, "y = sin(2 x1) + sin(3 x2) + 0.5 sin(x1 + x2) + noise, "
             "x ~ U(-2, 2)^2", ("noise",), known_truth=True),
    TaskInfo("moons", "classification", 2, 2, "two interleaving half circles", ("noise",)),
    TaskInfo("spirals", "classification", 2, 2, "two intertwined spirals", ("noise",)),
    TaskInfo("blobs", "classification", 2, 4, "four Gaussian classes on a circle (the Bayes posterior "
             "is known)", ("noise",)),
    TaskInfo("digits", "classification", 64, 10, "scikit-learn's bundled 8x8 digit images, 1,797 of "
             "them, as flat rows of 64 pixels in [0, 1] (a CNN sees 1x8x8 images)",
             image_shape=(1, 8, 8), size=1797),
    TaskInfo("digits-reconstruct", "regression", 64, 64, "the same digit images, each one's target its "
             "own 64 pixels: reconstruct the input (an autoencoder's task; the loss is the mean squared "
             "error per pixel)", size=1797),
    TaskInfo("tokens", "classification", 16, 3, "sequences of 16 tokens drawn uniformly from a "
             "vocabulary of 8, as rows of integer ids; the class is whichever of the tokens 0, 1 and 2 "
             "occurs most often (sequences with a tie for the most are not drawn, so the classes are "
             "equally likely): every position counts", vocab=8),
    TaskInfo("iris", "classification", 4, 3, "scikit-learn's bundled iris flowers: 150 examples of 4 "
             "measurements, 3 species; features standardized", size=150),
    TaskInfo("wine", "classification", 13, 3, "scikit-learn's bundled wine recognition data: 178 "
             "examples of 13 chemical measurements, 3 cultivars; features standardized", size=178),
    TaskInfo("breast-cancer", "classification", 30, 2, "scikit-learn's bundled Wisconsin breast cancer "
             "data: 569 examples of 30 cell-nucleus measurements, malignant or benign; features "
             "standardized", size=569),
    TaskInfo("diabetes", "regression", 10, 1, "scikit-learn's bundled diabetes data: 442 patients, 10 "
             "baseline variables, disease progression a year later as the target; features and target "
             "standardized", size=442),
    TaskInfo("dataset", None, None, None, "an uploaded CSV (POST /datasets), named by its id in "
             "task.dataset; its widths and kind come from the upload", ("dataset",)),
)}

IMAGE_TASKS = frozenset(n for n, t in TASKS.items() if t.image_shape is not None)
TOKEN_TASKS = frozenset(n for n, t in TASKS.items() if t.vocab is not None)
CLASSIFICATION_TASKS = frozenset(n for n, t in TASKS.items() if t.kind == "classification")
KNOWN_TRUTH = frozenset(n for n, t in TASKS.items() if t.known_truth)


def catalogue() -> list[dict[str, Any]]:
    return [t.catalogue_entry() for t in TASKS.values()]
