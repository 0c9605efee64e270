"""The base of every spec model: unknown fields are errors and a validated spec is frozen."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# The JSON schema's word for a list a validator keeps free of repeats (the API's schema says it).
DISTINCT: dict[str, Any] = {"uniqueItems": True}
# The largest integer a database INTEGER column holds: a count or seed beyond it cannot be stored.
INT32_MAX = 2**31 - 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seed = Annotated[int, Field(ge=0, le=INT32_MAX)]


def distinct_test_seeds(v: list[int]) -> list[int]:
    """A study's fresh test seeds, each once (tuning's and search's)."""
    if len(set(v)) != len(v):
        raise ValueError("test_seeds must be distinct")
    return v
