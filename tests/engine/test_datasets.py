"""Uploaded CSV files: what parses, what each bad file answers, and how a task is built from one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.datasets import DatasetInvalid, parse_csv
from engine.spec import TaskSpec
from engine.tasks import make_task
from models.datasets import DatasetArrays


def csv_text(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def regression_rows(n: int = 30) -> list[str]:
    return [f"{i},{(i * 7) % 11 - 5.5},{0.5 * i - 3.25}" for i in range(n)]


def errors_of(data: bytes, target: str = "y", kind: str = "auto", **limits: int) -> list[dict]:
    with pytest.raises(DatasetInvalid) as info:
        parse_csv(data, target, kind, **limits)  # type: ignore[arg-type]
    return info.value.errors


def test_regression_file_parses_to_raw_arrays() -> None:
    data = "\ufeff".encode() + csv_text("x1, x2 ,y", regression_rows())
    p = parse_csv(data, "y")
    assert p.kind == "regression" and p.class_names is None
    assert p.feature_names == ["x1", "x2"] and (p.n_rows, p.n_features) == (30, 2)
    assert p.x.dtype == np.float64 and p.y.dtype == np.float64
    assert p.x[3].tolist() == [3.0, 4.5]
    assert p.y[-1] == 0.5 * 29 - 3.25
    assert len(p.sha256) == 64


def test_string_labels_become_sorted_class_indices() -> None:
    labels = ["setosa", "versicolor", "virginica"]
    rows = [f"{i},{i % 5},{labels[(2 * i) % 3]}" for i in range(30)]
    p = parse_csv(csv_text("a,b,species", rows), "species")
    assert p.kind == "classification" and p.class_names == labels
    assert p.y.dtype == np.int64 and p.y[:3].tolist() == [0, 2, 1]


def test_auto_kind_reads_few_integers_as_classes() -> None:
    few = [f"{i},{i % 3}" for i in range(30)]
    many = [f"{i},{i}" for i in range(30)]
    assert parse_csv(csv_text("x,y", few), "y").class_names == ["0", "1", "2"]
    assert parse_csv(csv_text("x,y", many), "y").kind == "regression"
    assert parse_csv(csv_text("x,y", few), "y", "regression").kind == "regression"
    assert parse_csv(csv_text("x,y", many), "y", "classification").n_rows == 30


def test_missing_target_lists_the_columns() -> None:
    [e] = errors_of(csv_text("x1,x2,price", regression_rows()), target="Price")
    assert e["loc"] == ["target"]
    assert "'x1', 'x2', 'price'" in e["msg"] and "did you mean 'price'" in e["msg"]


def test_bad_feature_cells_name_row_and_column() -> None:
    rows = regression_rows()
    rows[15] = "15,abc,1.0"  # line 17 of the file: the header is line 1
    rows[20] = "20,,1.0"
    rows[22] = "22,inf,1.0"
    errors = errors_of(csv_text("x1,x2,y", rows))
    assert [e["loc"] for e in errors] == [["file", "row", 17, "x2"], ["file", "row", 22, "x2"],
                                          ["file", "row", 24, "x2"]]
    assert "'abc'" in errors[0]["msg"] and "not a number" in errors[0]["msg"]
    assert "empty" in errors[1]["msg"] and "finite" in errors[2]["msg"]


def test_formula_cells_are_data_never_evaluated() -> None:
    rows = regression_rows()
    rows[4] = "4,=1+1,2"
    rows[5] = '5,"=cmd|\' /C calc\'!A0",2'
    errors = errors_of(csv_text("x1,x2,y", rows))
    assert [e["loc"] for e in errors] == [["file", "row", 6, "x2"], ["file", "row", 7, "x2"]]
    assert all("formula" in e["msg"] and "never evaluated" in e["msg"] for e in errors)


def test_shape_and_encoding_errors() -> None:
    assert errors_of(b"")[0]["loc"] == ["file"]
    assert "UTF-8" in errors_of(b"x,y\n\xff\xfe,1\n")[0]["msg"]
    assert "binary" in errors_of(b"x,y\n1,\x00\n")[0]["msg"]
    short = errors_of(csv_text("x,y", [f"{i},{i}" for i in range(5)]))[0]
    assert short["type"] == "too_few_rows" and "at least 20" in short["msg"]
    ragged = regression_rows()
    ragged[2] = "1,2"
    assert errors_of(csv_text("x1,x2,y", ragged))[0]["loc"] == ["file", "row", 4]
    assert errors_of(csv_text("x,x,y", regression_rows()))[0]["loc"] == ["file", "header", 2]
    assert "only the target" in errors_of(csv_text("y", [str(i) for i in range(30)]))[0]["msg"]
    semicolons = csv_text("x;y", [f"{i};{i}" for i in range(30)])
    assert "separator" in errors_of(semicolons)[0]["msg"]


def test_target_problems() -> None:
    rows = regression_rows()
    rows[3] = "3,1,"
    assert errors_of(csv_text("x1,x2,y", rows))[0]["loc"] == ["file", "row", 5, "y"]
    labels = [f"{i},{i},{'a' if i % 2 else 'b'}" for i in range(30)]
    [e] = errors_of(csv_text("x1,x2,y", labels), kind="regression")[:1]
    assert e["loc"] == ["file", "row", 2, "y"] and "kind=classification" in e["msg"]
    single = [f"{i},{i},same" for i in range(30)]
    assert "at least 2 classes" in errors_of(csv_text("x1,x2,y", single))[0]["msg"]


def test_limits() -> None:
    data = csv_text("x1,x2,y", regression_rows(50))
    assert errors_of(data, max_rows=40)[0]["type"] == "too_many_rows"
    assert errors_of(data, max_columns=2)[0]["type"] == "too_many_columns"
    assert errors_of(data, max_bytes=100)[0]["type"] == "too_large"
    assert parse_csv(data, "y", max_rows=50, max_columns=3, max_bytes=len(data)).n_rows == 50


def test_many_bad_cells_are_capped() -> None:
    rows = [f"{i},x,1" for i in range(30)]
    errors = errors_of(csv_text("a,b,y", rows))
    assert len(errors) == 10 and "20 more" in errors[-1]["msg"]


def _arrays(n: int = 200, kind: str = "regression") -> DatasetArrays:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)) * [1.0, 1000.0, 0.001] + [0.0, 5e4, 7.0]
    x[:, 2] = 7.0  # a constant column
    if kind == "regression":
        return DatasetArrays(x, x[:, 0] * 2.0, kind, 0, ["a", "b", "c"])
    return DatasetArrays(x, (x[:, 0] > 0).astype(np.int64), kind, 2, ["a", "b", "c"])


def test_dataset_task_splits_and_standardizes_with_training_statistics() -> None:
    spec = TaskSpec(name="dataset", dataset="d", n=200, seed=3)
    data = make_task(spec, _arrays())
    assert (len(data.train.x), len(data.val.x), len(data.test.x)) == spec.split_sizes()
    assert (data.kind, data.in_dim, data.out_dim, data.truth) == ("regression", 3, 1, None)
    assert data.train.y.shape == (160, 1)
    # Training split: mean 0 and std 1 (the constant column stays 0); the others are not refit.
    assert torch.allclose(data.train.x.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(data.train.x[:, :2].std(0), torch.ones(2, dtype=torch.float64))
    assert torch.all(data.train.x[:, 2] == 0)
    assert not torch.allclose(data.val.x[:, :2].mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-6)
    # The targets keep their units: y = 2 * (raw x1), so y / 2 is raw x1 again.
    raw = torch.tensor(_arrays().x[:, 0])
    assert torch.isin(data.test.y[:, 0] / 2, raw).all()
    again = make_task(spec, _arrays())
    assert torch.equal(again.train.x, data.train.x)


def test_dataset_task_subsamples_and_classifies() -> None:
    spec = TaskSpec(name="dataset", dataset="d", n=50)
    data = make_task(spec, _arrays(kind="classification"))
    assert data.kind == "classification" and data.out_dim == 2 and data.train.y.dtype == torch.int64
    assert sum(len(s.x) for s in (data.train, data.val, data.test)) == 50


def test_dataset_task_needs_its_arrays_and_enough_rows() -> None:
    with pytest.raises(ValueError, match="pass dataset="):
        make_task(TaskSpec(name="dataset", dataset="d", n=50))
    with pytest.raises(ValueError, match="exceeds the data set's 200 rows"):
        make_task(TaskSpec(name="dataset", dataset="d", n=500), _arrays())


@pytest.mark.parametrize(("name", "rows", "features", "classes"), [
    ("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast-cancer", 569, 30, 2), ("diabetes", 442, 10, 0)])
def test_bundled_tables_are_tasks_that_train(name: str, rows: int, features: int, classes: int) -> None:
    from engine.runner import compare
    from engine.spec import ComparisonSpec

    data = make_task(TaskSpec(name=name))  # n defaults far above: the whole table
    x = torch.cat([data.train.x, data.val.x, data.test.x])
    assert x.shape == (rows, features)
    # standardized over the whole table (a fixed transform of the published data)
    assert torch.allclose(x.mean(0), torch.zeros(features, dtype=x.dtype), atol=1e-12)
    assert torch.allclose(x.std(0), torch.ones(features, dtype=x.dtype), atol=1e-12)
    assert torch.equal(make_task(TaskSpec(name=name, n=50)).train.x,
                       make_task(TaskSpec(name=name, n=50)).train.x)  # the data seed picks the rows
    spec = ComparisonSpec.model_validate({"task": {"name": name}, "arms": [{"optimizer": "adam", "lr": 1e-2}],
                                          "train": {"steps": 300, "batch_size": 32, "eval_every": 100}})

    summary = compare(spec)[0].summary
    assert summary["final_val_loss"] < summary["baseline_val_loss"]  # beats the constant predictor
    if classes:
        assert summary["final_test_accuracy"] >= 0.85
