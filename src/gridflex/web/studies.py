"""The researcher's page: submit an evaluation study (pasted, loaded from a file, or the example),
watch its progress (htmx polls a fragment every second while the job runs), open its report.

Any organisation may evaluate studies (docs/decisions/0027-studies-as-service-jobs.md): a study and
its jobs are its owner's, as through the API (``/v1/studies``), whose functions this page calls.
"""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gridflex.api.deps import Caller, Using
from gridflex.api.routers.sites import parse_document
from gridflex.api.routers.studies import StudyJobIn, check_options, checked_study, keep
from gridflex.api.schemas import DbId
from gridflex.api.studyjobs import EVALUATION
from gridflex.errors import ValidationError
from gridflex.store.uploads import STUDY
from gridflex.web.pages import Form, page, see_other

__all__ = ["EXAMPLE", "router"]

router = APIRouter(include_in_schema=False)

# The RTS-24 benchmark day of examples/rts24.yaml with a shorter storage sweep: 50 scenarios take
# seconds (docs/evaluation.md has the full study and its results).
EXAMPLE = """\
name: RTS-24 benchmark day (small sweep)
network: {case: case24_ieee_rts}
load:
  shape: rts_peak_day
  growth: 1.185
  noise: {sigma_pu: 0.025, correlation: 0.5, autocorrelation: 0.5}
storage:
  - {id: ess-bus15, bus: 14, power_mw: 50, energy_mwh: 200}
  - {id: ess-bus18, bus: 17, power_mw: 50, energy_mwh: 200}
demand_response:
  - {bus: 14, category: industrial, q: 0.6, delta: 0.1, nominal_mw: 40}
  - {bus: 17, category: industrial, q: 0.6, delta: 0.1, nominal_mw: 40}
states: {future_storage_scale: 2.0}
sensitivity: {scales: [0.25, 0.5, 1.0, 2.0]}
chunk_size: 10
"""


def _jobs(r: Any) -> list[Any]:
    """The caller's evaluation jobs, newest first."""
    return sorted((j for j in r.jobs.list(limit=1000) if j.kind == EVALUATION), key=lambda j: -j.id)


def _context(r: Any) -> dict[str, Any]:
    studies = {s.id: s for s in r.uploads.list(STUDY, limit=1000)}
    return {"studies": studies, "jobs": _jobs(r), "example": EXAMPLE}


@router.get("/studies", response_class=HTMLResponse)
def studies_page(request: Request, p: Caller, r: Using, job: int | None = None) -> Response:
    values = {"study": EXAMPLE, "scenarios": "50", "seed": "0", "scenario_set": ""}
    return page(request, p, "studies.html", errors={}, values=values, started=job, **_context(r))


@router.post("/studies", response_class=HTMLResponse)
def submit_study(request: Request, p: Caller, r: Using, form: Form) -> Response:
    """Upload the study of the form and start its evaluation; back to the page, which follows it."""
    text = form.get("study", "")
    try:
        options = StudyJobIn.model_validate(
            {k: form[k] for k in ("scenarios", "seed", "scenario_set") if form.get(k, "").strip()}
        )
        data = parse_document(text.encode("utf-8"), "application/yaml", "the study")  # JSON is YAML too
        study = checked_study(data)
        check_options(study, options)  # all checked before anything is written
    except (pydantic.ValidationError, ValidationError) as exc:
        return page(
            request, p, "studies.html", 422, errors=_problems(exc), values=form, started=None, **_context(r)
        )
    row = keep(r, data, study)
    job = r.jobs.enqueue_upload(EVALUATION, STUDY, row.id, options.model_dump(exclude_none=True))
    return see_other(f"/studies?job={job.id}#job-{job.id}")


def _problems(exc: pydantic.ValidationError | ValidationError) -> dict[str, str]:
    """Field (dotted, as in the study file) → message; the options by their form names."""
    out: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for prob in exc.problems:
            out.setdefault(prob.field or "study", prob.message)
        return out
    for e in exc.errors(include_url=False):
        out.setdefault(".".join(str(x) for x in e["loc"]) or "form", str(e["msg"]))
    return out


@router.get("/studies/jobs/{job_id}", response_class=HTMLResponse)
def study_job(request: Request, p: Caller, r: Using, job_id: DbId) -> Response:
    """One job's progress (the fragment htmx swaps in every second while the job runs)."""
    job = r.jobs.get(job_id)  # 404 unless the caller's
    studies = {s.id: s for s in r.uploads.list(STUDY, limit=1000)}
    return page(request, p, "_study_job.html", job=job, studies=studies)
