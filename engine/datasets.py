"""Uploaded CSV files, read as data and nothing else: numpy and the standard library only.

``parse_csv`` turns the bytes of a CSV file into a feature matrix and a target, or raises
``DatasetInvalid`` with one error per problem, each with a ``loc`` (``["file", "row", 17, "x2"]``,
``["target"]``) and a message that says what to fix. A cell is only ever converted with
``float``: a formula such as ``=1+1`` is a string that is not a number, and is reported as such.

Row numbers are the file's line numbers (the header is row 1), as an editor or a spreadsheet
shows them. Values are kept raw; the engine standardizes the features when it builds the task
(``engine.tasks.dataset_task``), with statistics of the training split only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["auto", "regression", "classification"]

MIN_ROWS = 20  # the smallest task a spec may ask for (TaskSpec.n >= 20)
MAX_CLASSES = 1000
AUTO_MAX_CLASSES = 20  # 'auto': a numeric target with at most this many integer values is classes
MAX_NAME = 200  # longest column name
MAX_ERRORS = 10  # errors reported at once; the last one counts the rest
SHOW = 40  # characters of a bad cell quoted in a message


class DatasetInvalid(ValueError):
    """The file cannot be used; ``errors`` says where and why, one entry per problem."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(f"{e['loc']}: {e['msg']}" for e in errors))
        self.errors = errors


@dataclass
class ParsedDataset:
    """An upload, read: a CSV (parse_csv) or an .npz (engine/npz_datasets.py)."""

    kind: str  # "regression" | "classification"
    target: str
    feature_names: list[str]
    class_names: list[str] | None  # classification: the label of class index i, sorted
    x: np.ndarray  # (n_rows, n_features) float64
    y: np.ndarray  # (n_rows,) float64 for regression, int64 class indices for classification
    sha256: str  # of the uploaded bytes
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) of a flat row of an image upload
    vocab: int | None = None  # an .npz of integer sequences (N, T): ids run from 0 to vocab - 1

    @property
    def n_rows(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # the file line each row ends on

    def column(self, c: int) -> list[str]:
        return [r[c] for r in self.rows]


def _error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _fail(loc: list[Any], msg: str, kind: str = "value_error") -> DatasetInvalid:
    return DatasetInvalid([_error(loc, msg, kind)])


def parse_csv(data: bytes, target: str, kind: Kind = "auto", *, max_rows: int = 200_000,
              max_columns: int = 1_000, max_bytes: int | None = None) -> ParsedDataset:
    """Read a comma-separated file with a header row; ``target`` names the column to predict.

    ``kind='auto'`` takes a target for classes when it holds any non-numeric label, or only
    integers with at most 20 distinct values; otherwise for a regression target."""
    if max_bytes is not None and len(data) > max_bytes:
        raise _fail(["file"], f"{len(data)} bytes, above the limit of {max_bytes} bytes", "too_large")
    table = _read(_decode(data), max_rows, max_columns)
    if target not in table.header:
        raise _fail(["target"], _no_such_column(target, table.header))
    t = table.header.index(target)
    features = [c for c in range(len(table.header)) if c != t]
    if not features:
        raise _fail(["file", "header"], f"only the target column {target!r}; add at least one feature column")
    x = _features(table, features)
    y, kind_, classes = _target(table, t, kind)
    return ParsedDataset(kind_, target, [table.header[c] for c in features], classes, x, y,
                     hashlib.sha256(data).hexdigest())


def _decode(data: bytes) -> str:
    if not data.strip():
        raise _fail(["file"], f"the file is empty; send a header row and at least {MIN_ROWS} rows")
    if b"\x00" in data:
        raise _fail(["file"], "the file holds binary data (NUL bytes), not CSV text; export it as CSV")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as spreadsheets write one, is dropped
    except UnicodeDecodeError as exc:
        raise _fail(["file"], f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                    "save the file as 'CSV UTF-8'") from None


def _read(text: str, max_rows: int, max_columns: int) -> _Table:
    """The header and the data rows (blank lines skipped), checked for shape and limits."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    table: _Table | None = None
    try:
        for record in reader:
            if all(not c.strip() for c in record):
                continue
            if table is None:
                table = _Table(_header(record, max_columns), [], [])
                continue
            if len(record) != len(table.header):
                raise _fail(["file", "row", reader.line_num], f"{len(record)} values, but the header has "
                            f"{len(table.header)} columns; every row needs one value per column")
            if len(table.rows) == max_rows:
                raise _fail(["file"], f"more than {max_rows} data rows, the limit", "too_many_rows")
            table.rows.append(record)
            table.lines.append(reader.line_num)
    except csv.Error as exc:
        raise _fail(["file", "row", reader.line_num], f"not readable as CSV ({exc}); check the quotes "
                    "on this line") from None
    if table is None:
        raise _fail(["file"], "no header row; the first line must name the columns")
    if len(table.rows) < MIN_ROWS:
        raise _fail(["file"], f"{len(table.rows)} data rows; at least {MIN_ROWS} are needed", "too_few_rows")
    return table


def _header(record: list[str], max_columns: int) -> list[str]:
    names = [c.strip() for c in record]
    if len(names) > max_columns:
        raise _fail(["file", "header"], f"{len(names)} columns, above the limit of {max_columns}",
                    "too_many_columns")
    for i, name in enumerate(names):
        if not name:
            raise _fail(["file", "header", i + 1], f"column {i + 1} has no name; name every column")
        if len(name) > MAX_NAME:
            raise _fail(["file", "header", i + 1],
                        f"column {i + 1}'s name is longer than {MAX_NAME} characters")
        if names.index(name) != i:
            raise _fail(["file", "header", i + 1], f"column {name!r} appears twice; names must be unique")
    return names


def _no_such_column(target: str, header: list[str]) -> str:
    shown = ", ".join(repr(h) for h in header[:50])
    if len(header) > 50:
        shown += f" ... ({len(header)} columns)"
    msg = f"no column {target!r} in the header; available columns: {shown}"
    near = [h for h in header if h.casefold() == target.strip().casefold()]
    if near:
        msg += f" (did you mean {near[0]!r}?)"
    elif len(header) == 1 and any(s in header[0] for s in ";\t|"):
        msg += " (the file seems to use another separator; only commas separate columns)"
    return msg


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _as_floats(cells: list[str]) -> np.ndarray | None:
    """The cells as float64 (maybe not finite), or None when one is not a number at all."""
    try:
        return np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        return None


def _why_not_a_number(cell: str, column: str) -> str | None:
    """None for a finite number; otherwise what is wrong with the cell, and what to do."""
    text = cell.strip()
    shown = repr(text if len(text) <= SHOW else text[:SHOW] + "...")
    value = _number(text)
    if not text:
        return f"empty cell in column {column!r}; fill it or drop the row"
    if value is None and text[0] in "=@+-":
        return (f"{shown} in column {column!r} looks like a spreadsheet formula; formulas are kept as "
                "text and never evaluated: export the computed values")
    if value is None:
        return (f"{shown} in column {column!r} is not a number; features must be numbers (only the "
                "target column may hold labels)")
    if not math.isfinite(value):
        return f"{shown} in column {column!r} is not a finite number; fill the cell or drop the row"
    return None


def _cell_errors(table: _Table, col: int, hint: str = "") -> list[dict[str, Any]]:
    """Every bad cell of a column, in row order, capped at MAX_ERRORS."""
    name, errors = table.header[col], []
    for line, row in zip(table.lines, table.rows, strict=True):
        why = _why_not_a_number(row[col], name)
        if why is not None:
            errors.append(_error(["file", "row", line, name], why + hint, "not_a_number"))
    return errors


def _capped(errors: list[dict[str, Any]]) -> DatasetInvalid:
    errors = sorted(errors, key=lambda e: e["loc"][2])
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        errors = errors[:MAX_ERRORS]
        errors[-1] = errors[-1] | {"msg": f"{errors[-1]['msg']} (and {more} more bad cells)"}
    return DatasetInvalid(errors)


def _features(table: _Table, columns: list[int]) -> np.ndarray:
    """(n_rows, n_features) float64, every value a finite number, or every bad cell reported."""
    x = np.empty((len(table.rows), len(columns)), dtype=np.float64)
    errors: list[dict[str, Any]] = []
    for j, c in enumerate(columns):
        values = _as_floats(table.column(c))
        if values is None or not np.isfinite(values).all():
            errors += _cell_errors(table, c)
        else:
            x[:, j] = values
    if errors:
        raise _capped(errors)
    return x


def _target(table: _Table, col: int, kind: Kind) -> tuple[np.ndarray, str, list[str] | None]:
    """(y, kind, class names): float64 values for regression, class indices otherwise."""
    name, cells = table.header[col], [c.strip() for c in table.column(col)]
    bad = [_error(["file", "row", line, name], why, "bad_label")
           for line, c in zip(table.lines, cells, strict=True) if (why := _bad_label(c, name))]
    if bad:
        raise _capped(bad)
    values = _as_floats(cells)  # finite where not None: _bad_label let no NaN or inf through
    if kind == "auto":
        kind = "classification" if values is None or _few_integers(values) else "regression"
    if kind == "regression":
        if values is None:
            raise _capped(_cell_errors(table, col, "; a regression target must be numeric "
                                       "(kind=classification takes labels)"))
        return values, "regression", None
    y, names = _classes(cells, values, name)
    return y, "classification", names


def _bad_label(cell: str, column: str) -> str | None:
    """What makes a target cell unusable whatever the kind: empty, NaN/inf, a formula."""
    if not cell:
        return f"empty target cell in column {column!r}; fill it or drop the row"
    if cell[0] in "=@":
        return (f"{cell[:SHOW]!r} in column {column!r} looks like a spreadsheet formula; formulas are "
                "kept as text and never evaluated: export the computed values")
    value = _number(cell)
    if value is not None and not math.isfinite(value):
        return f"{cell!r} in column {column!r} is not a finite number; fill the cell or drop the row"
    return None


def _few_integers(values: np.ndarray | None) -> bool:
    return values is not None and bool(np.all(values == np.round(values))) and \
        len(np.unique(values)) <= AUTO_MAX_CLASSES


def _classes(cells: list[str], values: np.ndarray | None, name: str) -> tuple[np.ndarray, list[str]]:
    """Class indices and names, sorted: by value when every label is a number, else as text."""
    if values is not None:
        uniq, y = np.unique(values, return_inverse=True)
        names = [str(int(v)) if v == int(v) else repr(float(v)) for v in uniq]
    else:
        labels, y = np.unique(np.array(cells, dtype=str), return_inverse=True)
        names = [str(v) for v in labels]
    if len(names) < 2:
        raise _fail(["target"], f"column {name!r} holds one value only ({names[0]!r}); classification "
                    "needs at least 2 classes")
    if len(names) > MAX_CLASSES:
        raise _fail(["target"], f"column {name!r} has {len(names)} distinct values, above {MAX_CLASSES} "
                    "classes; use kind=regression for a numeric target")
    return y.astype(np.int64).reshape(-1), names
