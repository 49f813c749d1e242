"""The service's job kinds beyond clearing: what a worker process runs for a site's schedule and
for a flex-offer document's aggregation, scheduling and disaggregation.

Registered in :data:`gridflex.store.runner.EXECUTORS` on import; the worker's processes import this
module (:func:`run_job`), so a spawned process knows every kind.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from gridflex.api import studyjobs  # noqa: F401 - registers the evaluation kind
from gridflex.errors import DataError, GridflexError
from gridflex.flexoffer.aggregation import aggregate
from gridflex.flexoffer.disaggregation import disaggregate
from gridflex.flexoffer.io import (
    FlexOfferDocument,
    flexoffer_document_from_json,
    flexoffers_to_json,
    member_groups,
)
from gridflex.flexoffer.schedule import covering_grid, schedule_flexoffers
from gridflex.market.prices import prices_on_grid
from gridflex.scheduling.schedule import schedule_site
from gridflex.scheduling.site import compile_site
from gridflex.store import Store
from gridflex.store.columns import utcnow
from gridflex.store.jobs import FLEXOFFER_KINDS, SITE_SCHEDULE, JobRow, fail, progress, succeed
from gridflex.store.runner import EXECUTORS
from gridflex.store.runner import run_job as _run_job
from gridflex.store.runner import warm as _warm
from gridflex.store.tenancy import Principal
from gridflex.store.uploads import FLEXOFFERS, UploadRow, Uploads

__all__ = ["execute_flexoffer_job", "execute_site_schedule", "flexoffers_summary", "run_job", "warm"]


def execute_site_schedule(store: Store, job_id: int) -> None:
    """Schedule the job's site (its ``params``: ``time_limit_s``); the result is the schedule's JSON.

    A site that cannot be scheduled (infeasible, a solver limit) ends the job ``failed`` with the
    reasons, not the worker."""
    with store.transaction() as s:
        job = s.get_one(JobRow, job_id)
        body, params = s.get_one(UploadRow, int(job.upload_id or 0)).body, dict(job.params)
        progress(s, job_id, "compiling", 0.1)
    try:
        compiled = compile_site(body)
        with store.transaction() as s:
            progress(s, job_id, "solving", 0.3)
        result = schedule_site(compiled, time_limit_s=params.get("time_limit_s"))
    except GridflexError as exc:
        with store.transaction() as s:
            fail(s, job_id, f"{type(exc).__name__}: {exc}", utcnow())
        return
    out = json.loads(result.to_json(indent=None))  # NaN-free, as the file format
    with store.transaction() as s:
        total = out["costs_eur"].get("total", 0.0)
        succeed(s, job_id, out, f"{result.status}: total cost {total:.2f} EUR", utcnow())


EXECUTORS[SITE_SCHEDULE] = execute_site_schedule


def warm(url: str) -> None:
    """Import every job kind's code and connect, in the pool's process, before the first job: a
    gate closure then starts within a poll (this module, not the store's, is what is imported)."""
    _warm(url)


def run_job(url: str, job_id: int) -> Any:
    """Execute job ``job_id`` in this process: every kind, clearing included."""
    return _run_job(url, job_id)


# ---- flex-offers: each job writes its output as a new flex-offer document of the job's owner -------


def _document(body: dict[str, Any]) -> FlexOfferDocument:
    return flexoffer_document_from_json(body)


def _aggregate(doc: FlexOfferDocument, params: dict[str, Any], _s: Session) -> tuple[dict, dict, str]:
    agg = aggregate(
        doc.batch,
        est_tolerance_s=60 * int(params.get("est_tolerance_min", 60)),
        tf_tolerance_s=60 * int(params.get("tf_tolerance_min", 60)),
        max_group_size=params.get("max_group_size"),
    )
    kept = agg.report()["retained"]
    info = {"n_members": len(doc.batch), "n_aggregates": len(agg.aggregates), "retained": kept}
    return flexoffers_to_json(agg.aggregates, agg.member_ids()), info, "aggregated"


def _schedule(doc: FlexOfferDocument, params: dict[str, Any], _s: Session) -> tuple[dict, dict, str]:
    grid = covering_grid(doc.batch)
    prices = prices_on_grid(grid, params.get("zone", "France"))
    res = schedule_flexoffers(
        doc.batch,
        grid,
        prices,
        limit_kw=params.get("limit_kw"),
        time_limit_s=params.get("time_limit_s", 10.0),
    )
    info = {"cost_eur": res.cost_eur, "lower_bound_eur": res.lower_bound_eur, "gap": res.gap,
            "method": res.method, "limits_hit": list(res.limits_hit)}  # fmt: skip
    return flexoffers_to_json(doc.batch.with_schedule(res.schedule), doc.members), info, "scheduled"


def _disaggregate(doc: FlexOfferDocument, params: dict[str, Any], s: Session) -> tuple[dict, dict, str]:
    if doc.batch.schedule is None:
        raise DataError("these aggregates have no flexOfferSchedule: schedule them first")
    members_id = int(params["members_id"])
    members = _document(s.get_one(UploadRow, members_id).body).batch
    agg = aggregate(members, groups=member_groups(members, doc, f"flex-offers {members_id}"))
    schedule = disaggregate(agg, doc.batch.schedule)
    info = {"n_members": len(members), "members_id": members_id}
    return flexoffers_to_json(members.with_schedule(schedule)), info, "disaggregated"


_FLEX_STEPS = dict(zip(FLEXOFFER_KINDS, (_aggregate, _schedule, _disaggregate), strict=True))


def execute_flexoffer_job(store: Store, job_id: int) -> None:
    """Aggregate, schedule or disaggregate the job's flex-offer document; the output is stored as a
    new flex-offer document (``result.flex_offers_id``) with what the step reports."""
    with store.transaction() as s:
        job = s.get_one(JobRow, job_id)
        source = s.get_one(UploadRow, int(job.upload_id or 0))
        body, name, params, kind = source.body, source.name, dict(job.params), job.kind
        owner = Principal(job.created_by_org_id, "(job)")
        progress(s, job_id, "computing", 0.2)
        try:
            doc = _document(body)
            out, info, verb = _FLEX_STEPS[kind](doc, params, s)
        except GridflexError as exc:
            fail(s, job_id, f"{type(exc).__name__}: {exc}", utcnow())
            return
    with store.transaction() as s:
        summary = flexoffers_summary(out)
        new = Uploads(s, owner).create(FLEXOFFERS, f"{name} {verb}"[:200], out, summary)
        n = summary["n_offers"]
        succeed(s, job_id, {"flex_offers_id": new.id, **info}, f"{n} flex-offers {verb}", utcnow())


def flexoffers_summary(body: dict[str, Any]) -> dict[str, Any]:
    """What a flex-offer document holds: offers, whether scheduled, whether aggregates (members)."""
    offers = body.get("flexOffers", body) if isinstance(body, dict) else body
    return {
        "n_offers": len(offers),
        "scheduled": any(o.get("flexOfferSchedule") for o in offers),
        "aggregates": any(o.get("gridflexMembers") for o in offers),
    }


for _kind in FLEXOFFER_KINDS:
    EXECUTORS[_kind] = execute_flexoffer_job
