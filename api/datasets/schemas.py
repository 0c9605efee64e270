"""Response schemas of the datasets routes, and the upload's documentation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.jobs.schemas import UtcDatetime

Kind = Literal["auto", "regression", "classification"]
NPZ_MEDIA = "application/x-npz"


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: Literal["regression", "classification"]
    target: str
    n_rows: int
    n_features: int
    image_shape: list[int] | None = Field(None, description="(C, H, W) when the rows are images (an "
                                          ".npz of (N, C, H, W)); a cnn or an image model may train on them")
    vocab: int | None = Field(None, description="ids 0 .. vocab - 1 when the rows are token sequences (an "
                              ".npz whose x is an integer array (N, T)); a token model may train on them")
    feature_names: list[str]
    class_names: list[str] | None
    sha256: str
    created_at: UtcDatetime


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    total: int
    limit: int
    offset: int


UPLOAD_DESCRIPTION = """Upload a CSV file as the raw request body (`Content-Type: text/csv`), e.g.
`curl --data-binary @houses.csv -H 'Content-Type: text/csv' '.../datasets?name=houses&target=price'`.

The first row names the columns; `target` names the one to predict, every other column is a
feature and must hold finite numbers. UTF-8 (a byte-order mark is fine), commas between values,
at least 20 data rows. The file is parsed into arrays and stored as data: nothing in it is ever
evaluated (a cell such as `=1+1` is a value that is not a number). `kind=auto` reads a target
with any non-numeric label, or only integers with at most 20 distinct values, as classes (sorted
labels become class indices 0, 1, ...), and anything else as a regression target.

Or upload a NumPy `.npz` (`Content-Type: application/x-npz`, from `numpy.savez`) holding exactly
the arrays `x`, (N, features) rows or (N, C, H, W) images, and `y`, (N,) targets read as a CSV's
target column is; no `target` parameter. It is loaded with `allow_pickle=False`: an array of
Python objects is refused, never unpickled; NaN or infinity, mismatched lengths and other shapes
are refused with the array named.

Train on it with `{"task": {"name": "dataset", "dataset": "<id>"}}` in a job's spec; the job
uses min(`task.n`, rows) rows, split into train/validation/test by `task.seed`, with features
standardized by the training split's mean and standard deviation."""

# 24 rows of a regression target y from features x1 and x2: an upload the route accepts.
EXAMPLE_CSV = "x1,x2,y\n" + "".join(f"{i / 10:.1f},{7 * i % 11 / 10:.1f},{0.3 * i - 1:.2f}\n"
                                    for i in range(24))

CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the CSV file itself, with a header row, or an .npz of arrays x and y",
        "content": {"text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_CSV},
                    NPZ_MEDIA: {"schema": {"type": "string", "format": "binary"}}},
    }
}
