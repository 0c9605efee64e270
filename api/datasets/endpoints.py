"""Routes of /datasets: upload a CSV or an .npz (the raw body), list, describe, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from api.datasets import service
from api.datasets.schemas import CSV_BODY, UPLOAD_DESCRIPTION, DatasetOut, DatasetPage, Kind
from api.deps import INT_MAX, OwnerDep, SessionDep, SettingsDep
from models import datasets
from models.datasets import Dataset

UPLOAD_PATH = "/datasets"  # the body-size middleware gives this route OPTARENA_MAX_DATASET_BYTES

router = APIRouter(prefix=UPLOAD_PATH, tags=["datasets"])

DatasetId = Annotated[str, Path(description="the data set's id, as returned by POST /datasets",
                                max_length=64)]
NOT_FOUND = {404: {"description": "no such data set for this key's owner"}}

# Clients that send a form instead of the file: what they get, and what to do instead.
_FORMS = {"multipart/form-data": "multipart forms are not read",
          "application/x-www-form-urlencoded": "a form-encoded body has lost its line breaks "
                                               "(curl -d does that)"}


async def file_body(request: Request) -> bytes:
    """The raw body; the body-size middleware has already bounded it."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in _FORMS:
        raise HTTPException(415, f"{_FORMS[media]}: send the CSV file itself as the body with "
                                 "Content-Type: text/csv, e.g. curl --data-binary @data.csv "
                                 "-H 'Content-Type: text/csv' '.../datasets?name=...&target=...'")
    return await request.body()


def load_dataset(dataset_id: DatasetId, session: SessionDep, owner: OwnerDep) -> Dataset:
    """Another owner's data set answers exactly like a missing one."""
    dataset = datasets.get(session, dataset_id, owner)
    if dataset is None:
        raise HTTPException(404, f"no dataset with id {dataset_id!r}; list them with GET /datasets")
    return dataset


DatasetDep = Annotated[Dataset, Depends(load_dataset)]


@router.post("", status_code=201, response_model=DatasetOut, description=UPLOAD_DESCRIPTION,
             openapi_extra=CSV_BODY,
             responses={413: {"description": "file larger than OPTARENA_MAX_DATASET_BYTES"},
                        415: {"description": "a form was sent instead of the CSV file"},
                        422: {"description": "the file cannot be used: each error names its place, "
                                             "e.g. file.row.17.x2 or target, and what to fix"}})
def upload_dataset(session: SessionDep, settings: SettingsDep, owner: OwnerDep, response: Response,
                   body: Annotated[bytes, Depends(file_body)],
                   name: Annotated[str, Query(min_length=1, max_length=200, description="a name to show",
                                              examples=["houses"])],
                   target: Annotated[str | None, Query(min_length=1, max_length=200, examples=["y"],
                                                       description="a CSV's column to predict (an .npz "
                                                                   "predicts its array y)")] = None,
                   kind: Annotated[Kind, Query(description="what the target is; auto guesses")] = "auto",
                   ) -> Dataset:
    dataset = service.upload(session, settings, owner, name, target, kind, body)
    session.commit()
    response.headers["Location"] = f"{UPLOAD_PATH}/{dataset.id}"
    return dataset


@router.get("", response_model=DatasetPage)
def list_datasets(session: SessionDep, settings: SettingsDep, owner: OwnerDep,
                  limit: Annotated[int, Query(ge=1, le=200)] = 20,
                  offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> DatasetPage:
    items, total = service.page(session, owner, min(limit, settings.page_size_max), offset)
    return DatasetPage(items=[DatasetOut.model_validate(d) for d in items], total=total, limit=limit,
                       offset=offset)


@router.get("/{dataset_id}", response_model=DatasetOut, responses=NOT_FOUND)
def get_dataset(dataset: DatasetDep) -> Dataset:
    return dataset


@router.delete("/{dataset_id}", status_code=204,
               responses=NOT_FOUND | {409: {"description": "a queued or running job trains on it"}})
def delete_dataset(session: SessionDep, dataset: DatasetDep) -> Response:
    service.remove(session, dataset)
    session.commit()
    return Response(status_code=204)
