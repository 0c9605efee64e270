"""A job's labels: its name, tags and notes, set at submission and changed with PATCH /jobs/{id}.

The one home of their rules, read by the submission (HTTP and queue), the PATCH route and the
``tag`` filter of GET /jobs. A name is trimmed (an empty one is no name); tags are stored
lower-case, without repeats, in the order given, so ``Baseline`` and ``baseline`` are the
same tag and a filter finds either.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

MAX_NAME = 200
MAX_NOTES = 10_000
MAX_TAGS = 20
TAG_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$"
TAG_RE = re.compile(TAG_PATTERN)
FIELDS = ("name", "tags", "notes")


def tag(value: str) -> str:
    """A valid tag, lower-cased; the error says what a tag may hold."""
    if not TAG_RE.fullmatch(value):
        raise PydanticCustomError("tag_invalid", "a tag is 1 to 64 letters, digits or _ . : - "
                                  "(no spaces); got '{value}'", {"value": value[:80]})
    return value.lower()


def _unique(tags: list[str] | None) -> list[str] | None:
    return None if tags is None else list(dict.fromkeys(tags))


def _name(value: str | None) -> str | None:
    return (value or "").strip() or None


Tag = Annotated[str, AfterValidator(tag),
                WithJsonSchema({"type": "string", "pattern": TAG_PATTERN})]


class Labels(BaseModel):
    """A job's name, tags and notes. In PATCH /jobs/{id} a field left out keeps its value and
    null clears it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str | None, Field(max_length=MAX_NAME), AfterValidator(_name)] = None
    tags: Annotated[list[Tag] | None, Field(max_length=MAX_TAGS), AfterValidator(_unique)] = None
    notes: Annotated[str | None, Field(max_length=MAX_NOTES)] = None

    def columns(self, given_only: bool = False) -> dict[str, Any]:
        """The Job columns to write: every label (a new job), or only those the request gave,
        cleared ones too (PATCH)."""
        fields = self.model_fields_set if given_only else FIELDS
        return {f: (self.tags or []) if f == "tags" else getattr(self, f) for f in fields}


def read(data: Any) -> tuple[Labels, list[dict[str, Any]]]:
    """``data`` as labels, or empty labels and pydantic-style errors located from the body's top."""
    try:
        return Labels.model_validate(data), []
    except ValidationError as exc:
        return Labels(), [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                          for e in exc.errors(include_url=False)]
