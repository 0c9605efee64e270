"""How a stored metric value is written in JSON: as the shortest decimal that reads back as
the value the engine computed.

The engine computes in float32. Widened to a double, such a value is written with up to 17
significant digits (0.1 in float32 is 0.10000000149011612 as a double), 8 or so of which only
spell out the widening. Written as its shortest float32 form instead (at most 9 significant
digits: "0.1"), it reads back as the same float32, bit for bit, in about half the characters (a
seed-wave-all job's stream, steps and all, went from 13.2 to 9.4 MB). A value that a float32
does not hold exactly (one computed in float64) keeps its shortest double form. The choice is
made per value, so a value is written the same way wherever it is read from, whatever is stored
beside it. NaN and infinity are written as null: JSON has neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from models.jsonsafe import finite_or_none

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def encode_many(arrays: list[np.ndarray]) -> list[bytes]:
    """Each array of values as a JSON array. orjson writes a float32 array in its shortest
    float32 forms and a float64 one in its shortest double forms, both in C; an array that
    mixes the two goes value by value. The float32 test runs once over all the arrays: a job's
    event holds hundreds of short curves, where numpy's cost per call would dominate."""
    if not arrays:
        return []
    v = np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays])
    with np.errstate(over="ignore", invalid="ignore"):
        v32 = v.astype(np.float32)
        exact = (v32.astype(np.float64) == v) | np.isnan(v)
    lengths = np.array([len(a) for a in arrays])
    ends = np.cumsum(lengths)
    starts = ends - lengths
    count = np.concatenate(([0], np.cumsum(exact)))
    out = []
    for a, b, k in zip(starts.tolist(), ends.tolist(), (count[ends] - count[starts]).tolist(), strict=True):
        if k == b - a:
            out.append(orjson.dumps(v32[a:b], option=_NUMPY))
        elif k == 0:
            out.append(orjson.dumps(v[a:b], option=_NUMPY))
        else:
            mixed = [v32[i] if exact[i] else float(v[i]) for i in range(a, b)]
            out.append(orjson.dumps(mixed, option=_NUMPY))
    return out


def values_json(values: np.ndarray) -> bytes:
    """The values as a JSON array (see ``encode_many``)."""
    return encode_many([values])[0]


class Values:
    """A curve's values, written by ``dumps`` with ``values_json``. Equal to another ``Values``
    or a list with the same floats (None for NaN and infinity), as ``tolist`` gives them."""

    __slots__ = ("array", "json")

    def __init__(self, values: np.ndarray, json: bytes | None = None):
        self.array, self.json = values, json  # ``json``: ``values_json(values)``, when known

    def tolist(self) -> list[float | None]:
        return finite_or_none(self.array.tolist())

    def __iter__(self) -> Iterator[float | None]:
        return iter(self.tolist())

    def __len__(self) -> int:
        return len(self.array)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Values):
            other = other.tolist()
        return isinstance(other, list) and self.tolist() == other

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, as the list it stands for

    def __repr__(self) -> str:
        return f"Values({self.tolist()!r})"


def _default(obj: Any) -> Any:
    if isinstance(obj, Values):
        return orjson.Fragment(obj.json if obj.json is not None else values_json(obj.array))
    raise TypeError(f"{type(obj).__name__} is not JSON")


def encode_all(values: list[Values]) -> None:
    """Fill in each one's ``json`` in one ``encode_many``."""
    for v, js in zip(values, encode_many([v.array for v in values]), strict=True):
        v.json = js


def dumps(payload: Any) -> str:
    """Compact JSON of a payload (plain dicts, lists, strings and numbers, and ``Values``)."""
    return orjson.dumps(payload, default=_default).decode()
