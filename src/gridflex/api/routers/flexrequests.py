"""Local flexibility (USEF): a DSO posts a FlexRequest at its congestion point, aggregators answer with
FlexOffers, the DSO accepts them (a FlexOrder) and sees the request's fill.

Volumes kW per ISP; prices EUR/MWh; times UTC. Flexibility **up** = more power into the grid (less
consumption or more production), **down** = less power into the grid. Tenancy: :mod:`gridflex.store.requests`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from gridflex.api.deps import Caller, Now, Tx
from gridflex.api.schemas import DbId
from gridflex.store.requests import (
    Fill,
    FlexRequestOffer,
    FlexRequestRow,
    FlexRequests,
    RequestStatus,
    isp_starts,
)

__all__ = ["FlexOfferIn", "FlexOfferOut", "FlexRequestIn", "FlexRequestOut", "flex_requests", "router"]

router = APIRouter(prefix="/v1", tags=["flex-requests"])

MAX_ISPS = 7 * 96  # a week of 15-min ISPs
Kw = Annotated[float, Field(ge=0, le=1e6)]
Price = Annotated[float, Field(ge=0, le=1e5, description="EUR/MWh")]


def flex_requests(session: Tx, principal: Caller) -> FlexRequests:
    """The caller's view of requests and offers (the API's one authentication, the store's tenancy)."""
    return FlexRequests(session, principal)


Flex = Annotated[FlexRequests, Depends(flex_requests)]


class FlexRequestIn(BaseModel):
    """A FlexRequest: kW of flexibility per ISP from ``start``, in one direction, under a price cap."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    congestion_point: str = Field(min_length=1, max_length=200, description="One of the caller's.")
    direction: Literal["up", "down"] = Field(
        description="up = more power into the grid (less consumption or more production); down = less."
    )
    start: AwareDatetime = Field(description="Start of the first ISP (UTC), on the ISP grid.")
    isp_s: Literal[900, 1800, 3600] = Field(900, description="ISP length, s.")
    volume_kw: list[Kw] = Field(min_length=1, max_length=MAX_ISPS, description="kW requested per ISP.")
    max_price_eur_per_mwh: Price
    expires_at: AwareDatetime | None = Field(
        None, description="Offers are taken until then (default: the start of the first ISP)."
    )

    @model_validator(mode="after")
    def _checks(self) -> FlexRequestIn:
        if self.start.timestamp() % self.isp_s:
            raise ValueError(f"start must be on the {self.isp_s} s ISP grid (UTC)")
        if not any(v > 0 for v in self.volume_kw):
            raise ValueError("volume_kw requests nothing: every ISP is 0 kW")
        return self


class FlexRequestOut(BaseModel):
    id: int
    dso_org_id: int
    congestion_point: str
    direction: str
    start: datetime
    isp_s: int
    isp_starts: list[datetime]
    volume_kw: list[float]
    max_price_eur_per_mwh: float
    expires_at: datetime
    status: str
    created_at: datetime
    offered_kw: list[float] = Field(
        description="Per ISP: offered at or under the cap, capped at the request."
    )
    accepted_kw: list[float] = Field(description="Per ISP: accepted (ordered), capped at the request.")
    fill: float = Field(description="Accepted energy over requested energy, 0..1.")


class FlexOfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    volume_kw: list[Kw] = Field(min_length=1, max_length=MAX_ISPS, description="kW offered per ISP.")
    price_eur_per_mwh: Price


class FlexOfferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    request_id: int
    aggregator_org_id: int
    volume_kw: list[float]
    price_eur_per_mwh: float
    status: str
    created_at: datetime
    accepted_at: datetime | None
    energy_kwh: float = 0.0
    cost_eur: float = 0.0


def request_out(flex: FlexRequests, row: FlexRequestRow, fill: Fill | None = None) -> FlexRequestOut:
    fill = fill or flex.fill(row)
    return FlexRequestOut(
        id=row.id, dso_org_id=row.dso_org_id, congestion_point=row.congestion_point,
        direction=row.direction, start=row.start, isp_s=row.isp_s, isp_starts=isp_starts(row),
        volume_kw=row.volume_kw, max_price_eur_per_mwh=row.max_price_eur_per_mwh,
        expires_at=row.expires_at, status=row.status, created_at=row.created_at,
        offered_kw=fill.offered_kw, accepted_kw=fill.accepted_kw, fill=round(fill.share, 6),
    )  # fmt: skip


def requests_out(flex: FlexRequests, rows: list[FlexRequestRow]) -> list[FlexRequestOut]:
    """:func:`request_out` of many requests, their fills from one query (not one per request)."""
    fills = flex.fills(rows)
    return [request_out(flex, r, fills[r.id]) for r in rows]


def offer_out(flex: FlexRequests, row: FlexRequestOffer, isp_s: int | None = None) -> FlexOfferOut:
    isp_h = (isp_s or flex.get(row.request_id).isp_s) / 3600
    energy_kwh = sum(row.volume_kw) * isp_h
    out = FlexOfferOut.model_validate(row)
    out.energy_kwh = round(energy_kwh, 6)
    out.cost_eur = round(energy_kwh / 1000 * row.price_eur_per_mwh, 6)
    return out


def offers_out(flex: FlexRequests, rows: list[FlexRequestOffer]) -> list[FlexOfferOut]:
    """:func:`offer_out` of many offers, their requests' ISP lengths from one query."""
    isp_s = flex.isp_s_of({o.request_id for o in rows})
    return [offer_out(flex, o, isp_s.get(o.request_id)) for o in rows]


@router.post("/flex-requests", response_model=FlexRequestOut, status_code=status.HTTP_201_CREATED)
def post_request(body: FlexRequestIn, flex: Flex, at: Now) -> FlexRequestOut:
    row = flex.create(**body.model_dump(), now=at)
    return request_out(flex, row)


@router.get("/flex-requests", response_model=list[FlexRequestOut])
def list_requests(
    flex: Flex, at: Now, status_: Annotated[RequestStatus | None, Query(alias="status")] = None
) -> list[FlexRequestOut]:
    return requests_out(flex, flex.list_requests(status_, now=at))


@router.get("/flex-requests/{request_id}", response_model=FlexRequestOut)
def get_request(request_id: DbId, flex: Flex) -> FlexRequestOut:
    return request_out(flex, flex.get(request_id))


@router.post("/flex-requests/{request_id}/close", response_model=FlexRequestOut)
def close_request(request_id: DbId, flex: Flex) -> FlexRequestOut:
    return request_out(flex, flex.close(request_id))


@router.post(
    "/flex-requests/{request_id}/offers", response_model=FlexOfferOut, status_code=status.HTTP_201_CREATED
)
def post_offer(request_id: DbId, body: FlexOfferIn, flex: Flex, at: Now) -> FlexOfferOut:
    return offer_out(flex, flex.offer(request_id, body.volume_kw, body.price_eur_per_mwh, now=at))


@router.get("/flex-requests/{request_id}/offers", response_model=list[FlexOfferOut])
def list_request_offers(request_id: DbId, flex: Flex) -> list[FlexOfferOut]:
    return offers_out(flex, flex.offers(request_id))


@router.get("/flex-request-offers", response_model=list[FlexOfferOut])
def list_offers(flex: Flex) -> list[FlexOfferOut]:
    return offers_out(flex, flex.offers())


@router.post("/flex-request-offers/{offer_id}/accept", response_model=FlexOfferOut)
def accept_offer(offer_id: DbId, flex: Flex, at: Now) -> FlexOfferOut:
    return offer_out(flex, flex.accept(offer_id, now=at))
