"""Uploaded .npz files: what is accepted, and each refusal naming its array."""

from __future__ import annotations

import io

import numpy as np
import pytest

from engine.datasets import DatasetInvalid
from engine.npz_datasets import parse_npz


def npz(compressed: bool = False, **arrays: object) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def refusal(data: bytes, **kw: object) -> dict:
    with pytest.raises(DatasetInvalid) as err:
        parse_npz(data, **kw)  # type: ignore[arg-type]
    return err.value.errors[0]


def test_images_keep_their_shape_and_labels_become_classes() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((30, 1, 4, 4)).astype(np.float32)
    y = np.array([3, 7] * 15)
    got = parse_npz(npz(True, x=x, y=y))
    assert got.image_shape == (1, 4, 4) and got.x.shape == (30, 16) and got.kind == "classification"
    assert got.class_names == ["3", "7"] and set(got.y.tolist()) == {0, 1}
    assert np.array_equal(got.x, x.reshape(30, -1).astype(np.float64))


def test_rows_with_a_real_target_are_a_regression() -> None:
    got = parse_npz(npz(x=np.arange(40.0).reshape(20, 2), y=np.linspace(0, 1, 20)))
    assert got.kind == "regression" and got.image_shape is None and got.n_features == 2


@pytest.mark.parametrize(("arrays", "loc", "words"), [
    ({"x": np.array([{"a": 1}] * 20, dtype=object), "y": np.zeros(20)}, ["file"], "pickle"),
    ({"x": np.zeros((20, 2)), "y": np.zeros(19)}, ["file"], "20 examples and y 19"),
    ({"x": np.full((20, 2), np.nan), "y": np.zeros(20)}, ["file", "x"], "finite"),
    ({"x": np.zeros((20, 2)), "y": np.r_[np.inf, np.zeros(19)]}, ["file", "y"], "finite"),
    ({"x": np.zeros((20, 2, 2)), "y": np.zeros(20)}, ["file", "x"], "(N, C, H, W)"),
    ({"x": np.zeros((20, 2))}, ["file"], "missing ['y']"),
    ({"x": np.zeros((20, 2)), "y": np.zeros(20), "z": np.zeros(1)}, ["file"], "unexpected ['z']"),
    ({"x": np.array([["a", "b"]] * 20), "y": np.zeros(20)}, ["file", "x"], "must be numbers"),
])
def test_bad_files_are_refused_naming_the_array(arrays, loc, words) -> None:
    e = refusal(npz(**arrays))
    assert e["loc"] == loc and words in e["msg"], e


def test_limits_and_non_npz_bytes_are_refused() -> None:
    assert refusal(b"x,y\n1,2\n")["msg"].startswith("not an .npz file")
    big = npz(x=np.zeros((50, 3)), y=np.zeros(50))
    assert refusal(big, max_rows=40)["type"] == "too_large"
    assert refusal(big, max_columns=2)["type"] == "too_large"
    assert refusal(big, max_bytes=100)["type"] == "too_large"
    # A small compressed file that unpacks to a large array is refused before it is unpacked.
    bomb = npz(True, x=np.zeros((200_000, 50)), y=np.zeros(200_000))
    assert len(bomb) < 200_000 and refusal(bomb, max_bytes=1_000_000)["loc"] == ["file", "x"]


@pytest.mark.parametrize(("x", "vocab"), [
    (np.array([[0, 3, 1], [2, 2, 0]], dtype=np.int32), 4),  # integer sequences from 0: token ids
    (np.array([[0, 3, 1], [2, 2, 0]], dtype=np.uint8), 4),
    (np.array([[0, -3, 1], [2, 2, 0]], dtype=np.int32), None),  # a negative id: plain features
    (np.array([[0.0, 3.0, 1.0], [2.0, 2.0, 0.0]]), None),  # floats: features, even if whole
    (np.zeros((2, 1, 2, 2), dtype=np.int32), None),  # integer images stay images
])
def test_integer_sequences_carry_their_vocabulary(x: np.ndarray, vocab: int | None) -> None:
    parsed = parse_npz(npz(x=x, y=np.array([0, 1])))
    assert parsed.vocab == vocab
    assert parsed.x.dtype == np.float64 and parsed.x.shape == (2, int(np.prod(x.shape[1:])))
