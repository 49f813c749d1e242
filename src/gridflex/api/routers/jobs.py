"""Jobs: long work with a status and progress. Every product with a gate closure gets its clearing
job when it is created; the market operator may also start one (now, or at a time)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from gridflex.api.deps import Using
from gridflex.api.schemas import MAX_ID, DbId, JobIn, JobOut
from gridflex.store.jobs import JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=list[JobOut])
def list_jobs(
    r: Using,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[JobOut]:
    rows = r.jobs.list(None if status_ is None else status_.value, limit, after)
    return [JobOut.model_validate(j) for j in rows]


@router.post("", response_model=JobOut, status_code=status.HTTP_201_CREATED)
def start_job(body: JobIn, r: Using) -> JobOut:
    return JobOut.model_validate(r.jobs.enqueue_clearing(body.product_id, body.run_at))


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: DbId, r: Using) -> JobOut:
    return JobOut.model_validate(r.jobs.get(job_id))
