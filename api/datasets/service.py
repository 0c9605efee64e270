"""Dataset services: parse and store an upload, list, delete. The route commits."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.errors import SpecInvalid
from core.settings import Settings
from engine.datasets import DatasetInvalid, Kind, parse_csv
from engine.npz_datasets import parse_npz
from models import datasets
from models.datasets import Dataset

ZIP_MAGIC = b"PK\x03\x04"
# The setting behind each limit a file can break, named in the message as for every limit.
_SETTINGS = {"too_large": "OPTARENA_MAX_DATASET_BYTES", "too_many_rows": "OPTARENA_MAX_DATASET_ROWS",
             "too_many_columns": "OPTARENA_MAX_DATASET_COLUMNS"}


def upload(session: Session, settings: Settings, owner: str, name: str, target: str | None, kind: Kind,
           body: bytes) -> Dataset:
    limits = {"max_rows": settings.max_dataset_rows, "max_columns": settings.max_dataset_columns,
              "max_bytes": settings.max_dataset_bytes}
    try:
        if body.startswith(ZIP_MAGIC):  # an .npz is a zip; no CSV starts with these bytes
            if target is not None:
                raise DatasetInvalid([{"loc": ["target"], "type": "value_error",
                                       "msg": "an .npz predicts its array y: leave out target"}])
            parsed = parse_npz(body, kind, **limits)
        elif target is None:
            raise DatasetInvalid([{"loc": ["target"], "type": "missing", "msg": "name the CSV column to "
                                   "predict (or send an .npz of arrays x and y)"}])
        else:
            parsed = parse_csv(body, target, kind, **limits)
    except DatasetInvalid as exc:
        raise _refusal(exc.errors) from None
    return datasets.store(session, owner, name, parsed)


def _refusal(errors: list[dict[str, Any]]) -> Exception:
    """413 for a file above the byte limit, else 422 with every error at its place: the
    request's query parameter (``["query", "target"]``) or the file (``["file", "row", 17, "x2"]``)."""
    out = []
    for e in errors:
        setting = _SETTINGS.get(e["type"])
        msg = f"{e['msg']} ({setting})" if setting else e["msg"]
        if e["type"] == "too_large":
            return HTTPException(413, f"file of {msg}")
        loc = ["query", *e["loc"]] if e["loc"][0] in ("target", "kind") else e["loc"]
        out.append(e | {"loc": loc, "msg": msg})
    return SpecInvalid(out)


def page(session: Session, owner: str, limit: int, offset: int) -> tuple[list[Dataset], int]:
    total = session.scalar(select(func.count()).select_from(Dataset).where(Dataset.owner == owner)) or 0
    return datasets.list_for(session, owner, limit, offset), total


def remove(session: Session, dataset: Dataset) -> None:
    users = datasets.active_jobs_using(session, dataset)
    if users:
        raise HTTPException(409, f"dataset {dataset.id} is used by queued or running jobs "
                                 f"({', '.join(users)}); cancel them or wait for them to finish")
    datasets.remove(session, dataset)
