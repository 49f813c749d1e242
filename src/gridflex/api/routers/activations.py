"""Activations: the DSO calls for delivery of an accepted FlexOffer (kW per ISP of its request), the
provider acknowledges it naming the connection points that deliver, or declines it with a reason; it
may then dispatch parts of it to the prosumers behind those points (decision 0032).

Flexibility **up** = more power into the grid (less consumption or more production), **down** = less
power into the grid; kW per ISP, prices EUR/MWh, times UTC. Tenancy: :mod:`gridflex.store.settling`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from gridflex.api.deps import Caller, Now, Tx
from gridflex.api.schemas import MAX_ID, DbId
from gridflex.store.settling import Activations

__all__ = ["AcknowledgeIn", "ActivationIn", "ActivationOut", "DeclineIn", "DispatchIn", "router"]

router = APIRouter(prefix="/v1", tags=["activations"])


def activations(session: Tx, principal: Caller) -> Activations:
    return Activations(session, principal)


Acts = Annotated[Activations, Depends(activations)]


class ActivationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    offer_id: int = Field(
        ge=1, le=MAX_ID, description="An accepted FlexOffer of one of the caller's requests."
    )
    power_kw: list[Annotated[float, Field(ge=0, le=1e6)]] | None = Field(
        None,
        max_length=7 * 96,
        description="kW per ISP of the request (0: not called); default: all not yet called.",
    )
    penalty_eur_per_mwh: float = Field(0.0, ge=0, le=1e5, description="Charged per MWh not delivered.")


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connection_points: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000, description="The provider's connection points that deliver."
    )


class DispatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    connection_point: str = Field(
        min_length=1, max_length=200, description="One the activation names, with a prosumer."
    )
    power_kw: list[Annotated[float, Field(ge=0, le=1e6)]] = Field(
        min_length=1, max_length=7 * 96, description="kW per ISP of the activation (0: not called)."
    )
    price_eur_per_mwh: float = Field(ge=0, le=1e5, description="Paid to the prosumer per MWh delivered.")
    penalty_eur_per_mwh: float = Field(0.0, ge=0, le=1e5, description="Charged per MWh not delivered.")


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class ActivationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    offer_id: int
    buyer_org_id: int
    seller_org_id: int
    congestion_point: str
    direction: str = Field(description="up = more power into the grid; down = less.")
    start: datetime
    isp_s: int
    power_kw: list[float]
    price_eur_per_mwh: float
    penalty_eur_per_mwh: float
    status: str = Field(description="sent, acknowledged, declined or settled.")
    reason: str
    connection_points: list[str]
    settlement_id: int | None
    created_at: datetime
    acknowledged_at: datetime | None
    parent_id: int | None = Field(description="A dispatch: the activation it is a part of.")


@router.post("/activations", response_model=ActivationOut, status_code=status.HTTP_201_CREATED)
def post_activation(body: ActivationIn, acts: Acts, at: Now) -> ActivationOut:
    row = acts.create(body.offer_id, body.power_kw, body.penalty_eur_per_mwh, now=at)
    return ActivationOut.model_validate(row)


@router.get("/activations", response_model=list[ActivationOut])
def list_activations(
    acts: Acts,
    status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Only activations with a larger id (paging).")
    ] = 0,
) -> list[ActivationOut]:
    return [ActivationOut.model_validate(r) for r in acts.list_activations(status_, limit, after)]


@router.get("/activations/{activation_id}", response_model=ActivationOut)
def get_activation(activation_id: DbId, acts: Acts) -> ActivationOut:
    return ActivationOut.model_validate(acts.get(activation_id))


@router.post("/activations/{activation_id}/acknowledge", response_model=ActivationOut)
def acknowledge(activation_id: DbId, body: AcknowledgeIn, acts: Acts, at: Now) -> ActivationOut:
    return ActivationOut.model_validate(acts.acknowledge(activation_id, body.connection_points, now=at))


@router.post(
    "/activations/{activation_id}/dispatches",
    response_model=ActivationOut,
    status_code=status.HTTP_201_CREATED,
)
def dispatch(activation_id: DbId, body: DispatchIn, acts: Acts, at: Now) -> ActivationOut:
    """The provider calls part of an acknowledged activation from the prosumer behind one of its
    connection points: a dispatch (buyer the provider, seller the prosumer), settled with
    ``POST /v1/settlements`` and ``portfolio: true``."""
    row = acts.dispatch(activation_id, body.connection_point, body.power_kw, body.price_eur_per_mwh,
                        body.penalty_eur_per_mwh, now=at)  # fmt: skip
    return ActivationOut.model_validate(row)


@router.post("/activations/{activation_id}/decline", response_model=ActivationOut)
def decline(activation_id: DbId, body: DeclineIn, acts: Acts, at: Now) -> ActivationOut:
    return ActivationOut.model_validate(acts.decline(activation_id, body.reason, now=at))
