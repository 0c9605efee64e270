"""The query of GET /jobs: its parameters read into a JobFilter, and that filter as SQL.

Tags are a JSON list in one column; a tag matches through the database's own JSON array
function (SQLite ``json_each``, PostgreSQL ``json_array_elements_text``), so filtering works
the same on both without a table of tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from api.jobs.cursor import Cursor, as_utc
from api.jobs.schemas import Status
from core import labels
from models.tables import Job

Sort = Literal["created_at", "-created_at", "name", "-name"]
# Nameless jobs sort as an empty name (first by name); lower() makes the order ignore case
# (ASCII case only on SQLite) and keeps NULL out of the keyset comparison.
SORT_KEYS: dict[str, Any] = {"created_at": Job.created_at,
                             "name": func.lower(func.coalesce(Job.name, ""))}


def _not_a_number(value: Any) -> Any:
    """pydantic reads a number as seconds since 1970; the schema promises an ISO 8601 time only."""
    try:
        float(value)
    except (TypeError, ValueError):
        return value
    raise ValueError("give an ISO 8601 time such as 2026-01-31T12:00:00Z, not a number")


IsoTime = Annotated[datetime, BeforeValidator(_not_a_number)]


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    tags: list[str] = field(default_factory=list)
    preset: str | None = None
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: str = "-created_at"
    cursor: Cursor | None = None

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def key(self) -> Any:
        return SORT_KEYS[self.sort.lstrip("-")]


def _refuse(param: str, msg: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", param), "msg": msg, "type": "value_error",
                                    "input": value}])


def _cursor(text: str | None, sort: str) -> Cursor | None:
    if text is None:
        return None
    try:
        cursor = Cursor.decode(text)
    except ValueError as exc:
        raise _refuse("cursor", str(exc), text) from None
    if cursor.sort != sort:
        raise _refuse("cursor", f"this cursor pages jobs sorted by {cursor.sort}; pass "
                                f"sort={cursor.sort} with it, or leave the cursor out to start over", text)
    return cursor


def _utc(param: str, when: datetime | None) -> datetime | None:
    try:
        return None if when is None else as_utc(when)
    except OverflowError:  # 0001-01-01 with a positive offset is before the first year
        raise _refuse(param, "out of range; give a time between the years 1 and 9999", when.isoformat()) \
            from None


def job_filter(
    status: Status | None = None,
    tag: Annotated[list[labels.Tag] | None, Query(max_length=labels.MAX_TAGS,
                                                description="jobs carrying this tag (repeat it: every "
                                                "tag given must be on the job); case does not matter")]
    = None,
    preset: Annotated[str | None, Query(max_length=64, description="jobs made from this preset")] = None,
    q: Annotated[str | None, Query(max_length=labels.MAX_NAME,
                                   description="text in the job's name, case ignored")] = None,
    created_after: Annotated[IsoTime | None, Query(description="ISO 8601; jobs created at or after "
                                                    "this time (no offset: UTC)")] = None,
    created_before: Annotated[IsoTime | None, Query(description="ISO 8601; jobs created before this "
                                                     "time (no offset: UTC)")] = None,
    sort: Annotated[Sort, Query(description="the order; '-' for descending")] = "-created_at",
    cursor: Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page, "
                                        "with the same sort")] = None,
) -> JobFilter:
    after, before = _utc("created_after", created_after), _utc("created_before", created_before)
    if after is not None and before is not None and before <= after:
        raise _refuse("created_before", f"must be later than created_after ({after.isoformat()})",
                      created_before.isoformat() if created_before else None)
    return JobFilter(status, list(dict.fromkeys(tag or [])), preset, q or None, after, before, sort,
                     _cursor(cursor, sort))


JobFilterDep = Annotated[JobFilter, Depends(job_filter)]


def has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    """The job's tags contain ``tag``: a correlated EXISTS over the JSON list's elements."""
    elements = (func.json_each if dialect == "sqlite" else func.json_array_elements_text)(Job.tags)
    values = elements.table_valued("value")
    return exists(select(1).select_from(values).where(values.c.value == tag))


def conditions(session: Session, f: JobFilter) -> list[ColumnElement[bool]]:
    """Every condition of the filter but the cursor's."""
    dialect = session.get_bind().dialect.name
    out: list[ColumnElement[bool]] = [has_tag(dialect, t) for t in f.tags]
    if f.status is not None:
        out.append(Job.status == f.status)
    if f.preset is not None:
        out.append(Job.preset == f.preset)
    if f.q is not None:
        out.append(Job.name.icontains(f.q, autoescape=True))
    if f.created_after is not None:
        out.append(Job.created_at >= f.created_after)
    if f.created_before is not None:
        out.append(Job.created_at < f.created_before)
    return out


def after_cursor(f: JobFilter) -> ColumnElement[bool] | None:
    """Jobs strictly after the cursor's (key, id), in the filter's order."""
    c = f.cursor
    if c is None:
        return None
    value: Any = c.time() if f.sort.lstrip("-") == "created_at" else c.key
    if f.descending:
        return or_(f.key < value, and_(f.key == value, Job.id < c.id))
    return or_(f.key > value, and_(f.key == value, Job.id > c.id))


def order(f: JobFilter) -> list[Any]:
    return [f.key.desc(), Job.id.desc()] if f.descending else [f.key.asc(), Job.id.asc()]
