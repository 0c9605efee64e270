"""The study of a job, summarized for people and plots: ``GET /jobs/{id}/study``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.cache import json_body, serve
from api.deps import JobId, OwnerDep, SessionDep, SettingsDep, load_job
from api.errors import Problem
from api.studies.profiles import profile
from api.studies.schemas import ProfileOut, StudyOut
from api.studies.service import study_view

router = APIRouter(prefix="/jobs", tags=["studies"])

STUDY_DOC = """What the job's study found, from the runs finished so far (``complete`` says whether
all have). By ``kind``: tuning (per arm: validation loss over the grid with 95% CIs, the chosen
point, and test loss of the re-runs on fresh seeds with paired tests); batch_size (per arm and
batch size: test loss, generalization gap, sharpness, and the rank correlation of sharpness
with test loss); cross_validation (per arm: fold scores, mean, spread, CI, paired tests over
folds); bias_variance (per arm: bias², variance, noise, their sum against the measured error,
and bagging); trajectories (per arm: the path on the 2-D function, with its contour grid);
search (per arm: every trial, best validation loss so far against trials and steps, the budget
planned and spent, importances, the best trial, and test loss of its re-runs on fresh seeds).
A job without a study answers with ``kind: "comparison"`` and its fitting flags."""


@router.get("/{job_id}/study", description=STUDY_DOC, response_model=StudyOut)
async def get_job_study(request: Request, settings: SettingsDep, owner: OwnerDep, job_id: JobId) -> Response:
    return await serve(request, settings, owner, job_id, "study", {},
                       lambda session, job: json_body(study_view(session, job)))


OPTUNA_DOC = """A search job's finished trials as an Optuna journal file: one Optuna study per arm
(``"<job id> <arm>"``) with each trial's params, value (final validation loss), state
(complete, pruned, failed) and losses at the rungs. ``optuna-dashboard <file>`` opens it;
``optuna.load_study`` reads it through ``JournalStorage(JournalFileBackend(file))``."""


@router.get("/{job_id}/study/optuna", description=OPTUNA_DOC,
            responses={200: {"content": {"application/x-ndjson": {}},
                             "description": "the journal file (JSON lines)"},
                       409: {"model": Problem, "description": "the job's study is not a search"}})
def get_job_study_optuna(session: SessionDep, owner: OwnerDep, job_id: JobId) -> Response:
    from api.studies.search_view import optuna_journal
    from api.studies.service import search_inputs

    job = load_job(job_id, session, owner)
    got = search_inputs(session, job)
    if got is None:
        raise HTTPException(409, "this job's study is not a search; only a search has trials to export")
    body = optuna_journal(*got, job.id)
    return Response(body, media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="optarena-{job.id}.optuna.log"'})


profiles_router = APIRouter(prefix="/profiles", tags=["studies"])

PROFILE_DOC = """A Dolan-More performance profile over several jobs (each job one problem, e.g. one
task each; arms matched by label): for each arm, the fraction of jobs in which it reached the
job's target validation loss within tau times the fastest arm's cost. An arm that did not reach
the target (in at least half its seeds) never counts as solved."""


@profiles_router.get("", response_model=ProfileOut, description=PROFILE_DOC,
                     responses={404: {"description": "a job id that is not this key's owner's"}})
def get_profile(session: SessionDep, owner: OwnerDep,
                job: Annotated[list[str], Query(min_length=2, max_length=50,
                                                description="job ids, at least two")],
                measure: Literal["steps", "examples", "seconds"] = "steps") -> dict[str, Any]:
    jobs = [load_job(j, session, owner) for j in dict.fromkeys(job)]
    return profile(session, jobs, measure)
