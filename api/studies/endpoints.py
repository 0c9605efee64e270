"""The study of a job, summarized for people and plots: ``GET /jobs/{id}/study``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import JobDep, SessionDep
from api.studies.service import study_view

router = APIRouter(prefix="/jobs", tags=["studies"])

STUDY_DOC = """What the job's study found, from the runs finished so far (``complete`` says whether
all have). By ``kind``: tuning (per arm: validation loss over the grid with 95% CIs, the chosen
point, and test loss of the re-runs on fresh seeds with paired tests); batch_size (per arm and
batch size: test loss, generalization gap, sharpness, and the rank correlation of sharpness
with test loss); cross_validation (per arm: fold scores, mean, spread, CI, paired tests over
folds); bias_variance (per arm: bias², variance, noise, their sum against the measured error,
and bagging); trajectories (per arm: the path on the 2-D function, with its contour grid).
A job without a study answers with ``kind: "comparison"`` and its fitting flags."""


@router.get("/{job_id}/study", description=STUDY_DOC)
def get_study(session: SessionDep, job: JobDep) -> dict[str, Any]:
    return study_view(session, job)
