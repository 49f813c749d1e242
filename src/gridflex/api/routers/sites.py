"""Sites: a participant's site files (YAML or JSON, the site format of gridflex.scheduling), and
schedule jobs on them.

``POST /v1/sites`` takes the site file as the body (``application/json`` or ``application/yaml``);
it is validated at once (422 naming the asset and field). ``POST /v1/sites/{id}/jobs`` schedules it
as a job (``GET /v1/jobs/{id}``: status, progress; when succeeded, ``result`` is the schedule as
``gridflex schedule`` writes it: per asset power in kW per period, + = consumption).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from gridflex.api.deps import Using
from gridflex.api.errors import in_body
from gridflex.api.routers.uploads import document_routes, parse_document
from gridflex.api.schemas import DbId, JobOut
from gridflex.errors import Problem, ValidationError
from gridflex.scheduling.site import compile_site
from gridflex.store.uploads import SITE

__all__ = ["SiteOut", "parse_document", "router"]  # parse_document: web.studies reads it here

router = APIRouter(prefix="/v1/sites", tags=["sites"])


class SiteOut(BaseModel):
    """An uploaded site: its name and what its file holds (time grid, assets by kind)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    summary: dict[str, Any] = Field(description="start, step_s, n_periods, timezone, assets {name: kind}.")
    created_at: datetime


class ScheduleJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_limit_s: float | None = Field(None, gt=0, le=3600, description="Bound of a MILP solve.")


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError("the site", [Problem("body", field, message)])


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
        "description": "A site file (docs/site-format.md).",
    }
}


@router.post("", response_model=SiteOut, status_code=status.HTTP_201_CREATED, openapi_extra=_BODY)
async def upload_site(request: Request, r: Using) -> SiteOut:
    data = parse_document(await request.body(), request.headers.get("content-type", "application/json"))
    if not isinstance(data, dict):
        raise _invalid("", f"a site file is a mapping, not {type(data).__name__}")
    try:
        compiled = compile_site(data)
    except ValidationError as exc:  # the problems named by asset and field: loc body.<asset>.<field>
        raise in_body("the site", exc) from None
    site, grid = compiled.site, compiled.grid
    summary = {
        "start": grid.start.isoformat(), "step_s": grid.step_s, "n_periods": grid.n, "timezone": str(compiled.tz),
        "assets": {a.name: a.kind for a in site.assets},
    }  # fmt: skip
    return SiteOut.model_validate(r.uploads.create(SITE, site.name, data, summary))


document_routes(
    router,
    SITE,
    SiteOut,
    prefix="",
    names=("list_sites", "get_site", "get_site_file"),
    id_name="site_id",
    file_path="/file",
    file_doc="The site file as uploaded (JSON).",
)


@router.post("/{site_id}/jobs", response_model=JobOut, status_code=status.HTTP_201_CREATED)
def schedule_site_job(site_id: DbId, r: Using, body: ScheduleJobIn | None = None) -> JobOut:
    """Schedule the site at least cost, as a job."""
    params = {} if body is None else body.model_dump(exclude_none=True)
    return JobOut.model_validate(r.jobs.schedule_site(site_id, params))
