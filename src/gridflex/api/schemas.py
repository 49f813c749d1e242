"""Request and response bodies. Orders take the market engine's field names and enums
(`gridflex.market.Order`); quantities MW per ISP, prices EUR/MWh, times UTC (ISO 8601)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridflex.market import Execution, Side
from gridflex.store.tables import Role

__all__ = [
    "MAX_ID",
    "ClearingRunIn",
    "ClearingRunOut",
    "CongestionPointIn",
    "CongestionPointOut",
    "DbId",
    "DeliveryOut",
    "ErrorOut",
    "GridAreaIn",
    "GridAreaOut",
    "Health",
    "JobIn",
    "JobOut",
    "OrderIn",
    "OrderOut",
    "ParticipantIn",
    "ParticipantOut",
    "TokenCreated",
    "TokenIn",
    "TokenOut",
    "TradeOut",
    "UserIn",
    "UserOut",
    "ValidationErrorOut",
    "WebhookCreated",
    "WebhookIn",
    "WebhookOut",
]

MAX_ID = 2**63 - 1  # the stores' 64-bit integer keys: a larger id is a 422, not a driver overflow
DbId = Annotated[int, Path(ge=1, le=MAX_ID)]
_IN = ConfigDict(extra="forbid")  # an unknown field is a 422 naming it, not silently dropped
_OUT = ConfigDict(from_attributes=True)
Name = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class ErrorOut(BaseModel):
    """A refusal: what is wrong, in one sentence (422 answers list each field instead)."""

    detail: str


class ValidationErrorOut(BaseModel):
    """A 422: each bad field with where it is (``loc``) and what is wrong (``msg``)."""

    detail: list[dict[str, Any]]


class Health(BaseModel):
    status: str = "ok"
    database: str


class ParticipantIn(BaseModel):
    model_config = _IN
    name: str = Name
    roles: list[Role] = Field(min_length=1, max_length=len(Role))


class ParticipantOut(BaseModel):
    id: int
    name: str
    roles: list[str]
    created_at: datetime


class TokenIn(BaseModel):
    model_config = _IN
    name: str = Name
    org_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Whose token; default: the caller's organisation."
    )
    expires_at: AwareDatetime | None = None
    user_id: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="A user of the organisation who owns it; default: none (a plain user's token: itself).",
    )


class UserIn(BaseModel):
    model_config = _IN
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field("", max_length=200, pattern=r"^[^\x00-\x1f]*$")
    org_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Whose user; default: the caller's organisation."
    )
    org_admin: bool = Field(False, description="Manages the organisation's users and tokens.")


class UserOut(BaseModel):
    model_config = _OUT
    id: int
    org_id: int
    email: str
    name: str
    org_admin: bool
    created_at: datetime
    disabled_at: datetime | None


class TokenOut(BaseModel):
    model_config = _OUT
    id: int
    org_id: int
    user_id: int | None = Field(description="The user it belongs to; null: the organisation's.")
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    secret: str = Field(description="Shown once; only its SHA-256 digest is stored.")


class GridAreaIn(BaseModel):
    model_config = _IN
    name: str = Name
    dso_org_id: int | None = Field(None, ge=1, le=MAX_ID, description="The owning DSO; default: the caller.")


class GridAreaOut(BaseModel):
    model_config = _OUT
    id: int
    name: str
    dso_org_id: int


class CongestionPointIn(BaseModel):
    model_config = _IN
    name: str = Name


class CongestionPointOut(BaseModel):
    model_config = _OUT
    id: int
    name: str
    grid_area_id: int


class OrderIn(BaseModel):
    """A single-ISP order; the participant is the caller. Rules of the product (horizon, price
    limits, gate closure, places) are checked by the market engine: a broken rule gives an order
    with status ``rejected`` and its reason."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    product: str = Field(min_length=1, max_length=200)
    place: str = Field("", max_length=200, description="Bidding zone or congestion point.")
    side: Side
    isp: int = Field(ge=0, le=100_000, description="ISP index in the product horizon, 0-based.")
    quantity_mw: float = Field(gt=0, le=1e6, description="MW over the ISP.")
    price_eur_per_mwh: float | None = Field(None, ge=-1e6, le=1e6, description="Limit price.")
    execution: Execution = Execution.NORMAL
    client_ref: str = Field("", max_length=200, description="The participant's own reference.")


class OrderOut(BaseModel):
    model_config = _OUT
    id: int
    participant_org_id: int
    product_id: str
    place: str
    side: str
    isp: int
    quantity_mw: float
    price_eur_per_mwh: float | None
    execution: str
    status: str
    reason: str
    accepted_mw: float
    client_ref: str
    submitted_at: datetime
    updated_at: datetime


class ClearingRunIn(BaseModel):
    model_config = _IN
    product_id: str = Field(min_length=1, max_length=200)


class ClearingRunOut(BaseModel):
    model_config = _OUT
    id: int
    product_id: str
    created_at: datetime
    n_orders: int
    n_trades: int
    welfare_eur: float
    cells: dict[str, Any] = Field(description="Per place and ISP: price, volume, welfare, marginal order.")


class TradeOut(BaseModel):
    model_config = _OUT
    id: int
    run_id: int
    order_id: int
    participant_org_id: int
    product_id: str
    place: str
    isp: int
    side: str
    quantity_mw: float
    price_eur_per_mwh: float


class JobIn(BaseModel):
    model_config = _IN
    kind: Literal["clearing"] = "clearing"
    product_id: str = Field(min_length=1, max_length=200)
    run_at: AwareDatetime | None = Field(None, description="Default: the product's gate closure, else now.")


class JobOut(BaseModel):
    """Long work with its status (queued, running, succeeded, failed) and progress (0..1)."""

    model_config = _OUT
    id: int
    kind: str
    product_id: str | None
    upload_id: int | None = Field(description="The document the job works on (a site).")
    params: dict[str, Any]
    status: str
    stage: str
    progress: float
    message: str
    result: dict[str, Any] = Field(
        description="A clearing job's run: {run_id}; a site schedule job's schedule (as `gridflex schedule` writes it)."
    )
    attempts: int
    run_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class WebhookIn(BaseModel):
    model_config = _IN
    url: str = Field(
        min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$", description="Called with POST."
    )
    events: list[Literal["trades", "activations", "jobs"]] = Field(["trades"], min_length=1, max_length=4)


class WebhookOut(BaseModel):
    model_config = _OUT
    id: int
    org_id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Shown once: the HMAC-SHA256 key of the Gridflex-Signature header (t=<unix s>,v1=<hex>)."
    )


class DeliveryOut(BaseModel):
    model_config = _OUT
    id: int
    event: str
    status: str
    attempts: int
    next_at: datetime
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
