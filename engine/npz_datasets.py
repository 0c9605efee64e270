"""Reading an uploaded NumPy ``.npz`` file: arrays ``x`` and ``y``, nothing else.

``x`` is (N, features) rows or (N, C, H, W) images; ``y`` is (N,) targets, read as
engine/datasets.py reads a CSV's target column (``kind`` auto, regression or
classification). Loaded with ``allow_pickle=False``: an object array (a pickle) is refused,
never unpickled. Every problem is a DatasetInvalid naming the array, as CSV problems name
their cell.
"""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np

from engine.datasets import AUTO_MAX_CLASSES, MAX_CLASSES, Kind, ParsedDataset, _fail

ARRAYS = ("x", "y")
MAX_VOCAB = 65_536  # the transformer's largest vocab setting


def parse_npz(data: bytes, kind: Kind = "auto", *, max_rows: int = 200_000, max_columns: int = 1_000,
              max_bytes: int | None = None) -> ParsedDataset:
    """The data set in ``data``; ``max_columns`` bounds the features of one example (C*H*W for
    images), ``max_bytes`` the file and each array it unpacks to."""
    if max_bytes is not None and len(data) > max_bytes:
        raise _fail(["file"], f"{len(data)} bytes, above the limit of {max_bytes} bytes", "too_large")
    arrays = _load(data, max_bytes)
    x, y = arrays["x"], arrays["y"]
    _check_shapes(x, y, max_rows, max_columns)
    for name, a in (("x", x), ("y", y)):
        if a.dtype.kind not in "biuf":
            raise _fail(["file", name], f"{name} holds {a.dtype} values; it must be numbers (bool, int or "
                        "float)")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise _fail(["file", name], f"{name}{list(where)} is {a[where]}: every value must be a finite "
                        "number; fill or drop that example")
    image_shape = tuple(int(d) for d in x.shape[1:]) if x.ndim == 4 else None
    flat = x.reshape(len(x), -1).astype(np.float64)
    target, kind_, classes = _target(y, kind)
    features = [f"x{i}" for i in range(flat.shape[1])]
    return ParsedDataset(kind_, "y", features, classes, flat, target, hashlib.sha256(data).hexdigest(),
                         image_shape, _vocab(x))  # type: ignore[arg-type]


def _vocab(x: np.ndarray) -> int | None:
    """An integer x of shape (N, T) with ids from 0 is a set of token sequences: its vocabulary
    is the largest id + 1 (at most MAX_VOCAB), and a token model may read it."""
    if x.ndim != 2 or x.dtype.kind not in "iu" or x.size == 0 or x.min() < 0 or x.max() >= MAX_VOCAB:
        return None
    return int(x.max()) + 1


def _load(data: bytes, max_bytes: int | None) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = {i.filename.removesuffix(".npy"): i.file_size for i in z.infolist()}
    except zipfile.BadZipFile:
        raise _fail(["file"], "not an .npz file (a zip of .npy arrays): save it with numpy.savez or "
                    "numpy.savez_compressed") from None
    extra, missing = sorted(set(names) - set(ARRAYS)), [a for a in ARRAYS if a not in names]
    if missing or extra:
        raise _fail(["file"], "the file must hold exactly the arrays 'x' and 'y'; "
                    + (f"missing {missing}" if missing else f"unexpected {extra}"))
    for name, size in names.items():  # unpacked sizes, before anything is decompressed
        if max_bytes is not None and size > max_bytes:
            raise _fail(["file", name], f"{name} unpacks to {size} bytes, above the limit of {max_bytes}",
                        "too_large")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in ARRAYS}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise _fail(["file"], "an array holds Python objects (a pickle), which is never loaded: save "
                        "numeric arrays only", "pickle_refused") from None
        raise _fail(["file"], f"an array cannot be read: {exc}") from None


def _check_shapes(x: np.ndarray, y: np.ndarray, max_rows: int, max_columns: int) -> None:
    if x.ndim not in (2, 4):
        raise _fail(["file", "x"], f"x has shape {list(x.shape)}; it must be (N, features) rows or "
                    "(N, C, H, W) images")
    if y.ndim != 1:
        raise _fail(["file", "y"], f"y has shape {list(y.shape)}; it must be (N,), one target per example")
    if len(x) != len(y):
        raise _fail(["file"], f"x has {len(x)} examples and y {len(y)}: they must match", "length_mismatch")
    if len(x) > max_rows:
        raise _fail(["file", "x"], f"{len(x)} examples, above the limit of {max_rows}", "too_large")
    width = int(np.prod(x.shape[1:]))
    if width > max_columns or width < 1:
        raise _fail(["file", "x"], f"{width} values per example; between 1 and {max_columns} are allowed",
                    "too_large" if width > max_columns else "value_error")


def _target(y: np.ndarray, kind: Kind) -> tuple[np.ndarray, str, list[str] | None]:
    values = y.astype(np.float64)
    integers = bool(np.all(values == np.round(values)))
    if kind == "auto":
        kind = "classification" if integers and len(np.unique(values)) <= AUTO_MAX_CLASSES else "regression"
    if kind == "regression":
        return values, "regression", None
    if not integers:
        raise _fail(["file", "y"], "classification needs integer class labels in y; use kind=regression "
                    "for a numeric target")
    uniq, idx = np.unique(values, return_inverse=True)
    if not 2 <= len(uniq) <= MAX_CLASSES:
        raise _fail(["file", "y"], f"y has {len(uniq)} distinct labels; classification needs 2 to "
                    f"{MAX_CLASSES}")
    return idx.astype(np.int64).reshape(-1), "classification", [str(int(v)) for v in uniq]
