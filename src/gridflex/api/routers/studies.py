"""Evaluation studies: a participant's study files (YAML or JSON, as ``gridflex evaluate`` takes them)
and evaluation jobs on them, with the outputs of ``gridflex evaluate`` as the job's files.

``POST /v1/studies`` validates the file at once (422 naming the field, ``loc`` ``body.<field>…``;
files named inside a study are refused: they would be the server's). ``POST /v1/studies/{id}/jobs``
(``scenarios``, ``seed``, ``scenario_set``) starts the evaluation as a job: progress counts the
scenario solves; when it succeeds, ``result.summary`` is ``summary.json`` and
``GET /v1/jobs/{id}/files/report.html`` the offline HTML report. A study and its jobs are their
owner's (and the admin's) only.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gridflex.api.deps import Caller, Using
from gridflex.api.routers.uploads import document_routes, parse_document
from gridflex.api.schemas import DbId, JobOut
from gridflex.api.studyjobs import (
    EVALUATION,
    MAX_SCENARIOS,
    check_network,
    check_run,
    study_of,
    study_summary,
)
from gridflex.errors import Problem, ValidationError
from gridflex.grid.study import Study
from gridflex.store import JobFiles
from gridflex.store.uploads import STUDY

__all__ = [
    "StudyJobIn",
    "StudyOut",
    "check_options",
    "checked_study",
    "keep",
    "router",
    "start_evaluation",
    "upload_study",
]

router = APIRouter(tags=["studies"])


class StudyOut(BaseModel):
    """An uploaded study file: its name and what it holds."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    summary: dict[str, Any] = Field(description="network, n_periods, dt_h, storage_mwh, scenario_sets.")
    created_at: datetime


class StudyJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenarios: int = Field(100, ge=1, le=MAX_SCENARIOS, description="Scenarios drawn (and solved per state).")
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Seed of the scenarios: the results depend on it only."
    )
    scenario_set: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The scenario set to run (required if the study has sets).",
    )


class JobFileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    media_type: str
    size: int = Field(description="Bytes, uncompressed.")


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
        "description": "A study file (docs/evaluation.md, docs/evaluation-study.schema.json).",
    }
}


def checked_study(data: Any) -> Study:
    """``data`` (a parsed study file) as a study whose network exists and has the buses it names."""
    study = study_of(data)
    check_network(study)
    return study


def upload_study(r: Any, data: Any) -> Any:
    """Validate ``data`` and keep it as the caller's study; the stored row."""
    return keep(r, data, checked_study(data))


def keep(r: Any, data: Any, study: Study) -> Any:
    return r.uploads.create(STUDY, study.name[:200], data, study_summary(study))


def start_evaluation(r: Any, study_id: int, body: StudyJobIn) -> Any:
    """Start the evaluation of the caller's study ``study_id`` as a job; the job row."""
    check_options(study_of(r.uploads.get(STUDY, study_id).body), body)  # 404 unless the caller's
    return r.jobs.enqueue_upload(EVALUATION, STUDY, study_id, body.model_dump(exclude_none=True))


def check_options(study: Study, body: StudyJobIn) -> None:
    """Refuse options that do not fit the study (a scenario set it lacks, too many scenarios)."""
    sets = list(study.scenario_sets)
    if body.scenario_set is not None and body.scenario_set not in sets:
        why = f"no scenario set {body.scenario_set!r} in this study (sets: {', '.join(sets) or 'none'})"
        raise ValidationError("the evaluation", [Problem("body", "scenario_set", why)])
    if body.scenario_set is None and sets:
        why = f"this study has scenario sets: name one of {', '.join(sets)}"
        raise ValidationError("the evaluation", [Problem("body", "scenario_set", why)])
    check_run(study.scenario_set(body.scenario_set) if body.scenario_set else study, body.scenarios)


@router.post("/v1/studies", response_model=StudyOut, status_code=status.HTTP_201_CREATED, openapi_extra=_BODY)
async def post_study(request: Request, r: Using) -> StudyOut:
    data = parse_document(
        await request.body(), request.headers.get("content-type", "application/json"), "the study"
    )
    study = await run_in_threadpool(checked_study, data)  # builds the network: not on the event loop
    return StudyOut.model_validate(keep(r, data, study))


document_routes(
    router,
    STUDY,
    StudyOut,
    prefix="/v1/studies",
    names=("list_studies", "get_study", "get_study_file"),
    id_name="study_id",
    file_path="/file",
    file_doc="The study file as uploaded (JSON).",
)


@router.post("/v1/studies/{study_id}/jobs", response_model=JobOut, status_code=status.HTTP_201_CREATED)
def start_study_job(study_id: DbId, r: Using, body: StudyJobIn | None = None) -> JobOut:
    """Evaluate the study as a job (progress: scenario solves done / total)."""
    return JobOut.model_validate(start_evaluation(r, study_id, body or StudyJobIn.model_validate({})))


@router.get("/v1/jobs/{job_id}/files", response_model=list[JobFileOut])
def list_job_files(job_id: DbId, r: Using, p: Caller) -> list[JobFileOut]:
    """The files a job produced (an evaluation: report.html, summary.json, z.csv, capacity.csv, sensitivity.json)."""
    files = JobFiles(r.jobs.s, p)
    return [JobFileOut.model_validate(files.get(job_id, n)) for n in files.names(job_id)]


@router.get(
    "/v1/jobs/{job_id}/files/{name}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/json": {}, "text/csv": {}},
                     "description": "The file."}},
)  # fmt: skip
def get_job_file(
    request: Request, job_id: DbId, r: Using, p: Caller, name: Annotated[str, Path(max_length=64)]
) -> Response:
    """One file of a job, e.g. an evaluation's ``report.html`` (offline: plotly.js is inside)."""
    row = JobFiles(r.jobs.s, p).get(job_id, name)
    headers = {
        "Content-Disposition": f'inline; filename="job-{job_id}-{name}"',
        "X-Content-Type-Options": "nosniff",
        # the report runs its own scripts, sandboxed: an opaque origin, so they cannot call the API
        # with the caller's session even if a study's text got into them
        "Content-Security-Policy": "sandbox allow-scripts",
        "Vary": "Accept-Encoding",
    }
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            row.content, media_type=row.media_type, headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(gzip.decompress(row.content), media_type=row.media_type, headers=headers)
