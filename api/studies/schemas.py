"""Response schemas of the study routes: the fields every study view has; each kind adds its own
(described in the route's description)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StudyOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    status: str
    kind: str | None = Field(description="the study's kind, 'comparison' without one, null for a job "
                             "refused at submission")
    complete: bool


class ProfileOut(BaseModel):
    measure: str
    jobs: list[str]
    costs: dict[str, dict[str, float | None]] = Field(description="job -> arm -> median cost; null: "
                                                      "not reached")
    profile: dict[str, Any] = Field(description="arm -> fraction of jobs solved at each tau")
