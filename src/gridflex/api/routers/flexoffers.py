"""Flex-offers: a participant's FlexOffer JSON documents, and jobs that aggregate, schedule and
disaggregate them (each job's output is a new document of the same owner).

``POST /v1/flex-offers`` takes ``{"flexOffers": [...]}`` (docs/flexoffer-format.md), validated at
once (422 naming the offer and field). ``POST /v1/flex-offers/{id}/jobs`` with ``kind``:
``aggregate`` (members listed in ``gridflexMembers``), ``schedule`` (least cost on real SMARD
day-ahead prices of ``zone``), ``disaggregate`` (scheduled aggregates split over ``members_id``).
Energies kWh per interval, + = consumption.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from gridflex.api.deps import Using
from gridflex.api.errors import in_body
from gridflex.api.jobkinds import flexoffers_summary
from gridflex.api.routers.uploads import document_routes
from gridflex.api.schemas import MAX_ID, DbId, JobOut
from gridflex.errors import Problem, ValidationError
from gridflex.flexoffer.io import flexoffer_document_from_json
from gridflex.store.uploads import FLEXOFFERS

__all__ = ["FlexOffersOut", "router"]

router = APIRouter(prefix="/v1/flex-offers", tags=["flex-offers"])
MAX_TOLERANCE_MIN = 44_640  # 31 days, as the command line


class FlexOffersOut(BaseModel):
    """An uploaded (or computed) FlexOffer document."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    summary: dict[str, Any] = Field(description="n_offers, scheduled, aggregates.")
    created_at: datetime


class FlexOffersIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # the FlexOffer JSON document, checked by its own parser
    flexOffers: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    name: str = Field("flex-offers", min_length=1, max_length=200)


class FlexOfferJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["aggregate", "schedule", "disaggregate"]
    est_tolerance_min: int = Field(60, ge=1, le=MAX_TOLERANCE_MIN, description="aggregate")
    tf_tolerance_min: int = Field(60, ge=1, le=MAX_TOLERANCE_MIN, description="aggregate")
    max_group_size: int | None = Field(None, ge=1, description="aggregate")
    zone: str = Field("France", min_length=1, max_length=40, description="schedule: SMARD price zone")
    limit_kw: float | None = Field(None, description="schedule: portfolio power limit per period, kW")
    time_limit_s: float = Field(10.0, ge=0.1, le=3600, description="schedule: bound of a MILP solve")
    members_id: int | None = Field(None, ge=1, le=MAX_ID, description="disaggregate: the members' document")


@router.post("", response_model=FlexOffersOut, status_code=status.HTTP_201_CREATED)
def upload_flexoffers(body: FlexOffersIn, r: Using) -> FlexOffersOut:
    doc = body.model_dump(exclude={"name"})
    try:
        flexoffer_document_from_json(doc)
    except ValidationError as exc:  # loc: body.<offer id>.<field>
        raise in_body("the flex-offers", exc) from None
    return FlexOffersOut.model_validate(r.uploads.create(FLEXOFFERS, body.name, doc, flexoffers_summary(doc)))


document_routes(
    router,
    FLEXOFFERS,
    FlexOffersOut,
    prefix="",
    names=("list_flexoffers", "get_flexoffers", "get_flexoffers_document"),
    id_name="flexoffers_id",
    file_path="/document",
    file_doc='The FlexOffer JSON document (``{"flexOffers": [...]}``).',
)


@router.post("/{flexoffers_id}/jobs", response_model=JobOut, status_code=status.HTTP_201_CREATED)
def start_flexoffer_job(flexoffers_id: DbId, body: FlexOfferJobIn, r: Using) -> JobOut:
    keep = {
        "aggregate": {"est_tolerance_min", "tf_tolerance_min", "max_group_size"},
        "schedule": {"zone", "limit_kw", "time_limit_s"},
        "disaggregate": {"members_id"},
    }[body.kind]
    params = body.model_dump(include=keep, exclude_none=True)
    if body.kind == "disaggregate":
        if body.members_id is None:
            raise ValidationError("the job", [Problem("body", "members_id", "is required to disaggregate")])
        r.uploads.get(FLEXOFFERS, body.members_id)  # the caller's own, else 404
    return JobOut.model_validate(
        r.jobs.enqueue_upload(f"flexoffers_{body.kind}", FLEXOFFERS, flexoffers_id, params)
    )
