"""Baselines, settlements and statements, computed by the market engine (`gridflex.market.baselines`,
`gridflex.market.settlement`) on the stored readings of whole local days.

A settlement settles the caller's acknowledged activations of ``[start, end)``: activation payments
(buyer → provider, for the energy delivered up to the energy called), penalties (provider → buyer, per
MWh short) and BRP corrections (provider → BRP at the transfer price). With ``portfolio``, an
aggregator settles its dispatches instead (``POST /v1/activations/{id}/dispatches``): what it pays
the prosumers behind its connection points for their part, without BRP correction (decision 0032). Every line moves money from one
party to another, so over all parties each period sums to zero. A statement is one party's view
(+ = receives), per ISP, UTC day (``period=D``) or month (``MS``), as JSON or CSV.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from gridflex.api.deps import Caller, Now, Tx
from gridflex.api.schemas import MAX_ID, DbId, JobOut
from gridflex.market.baselines import BaselineSpec
from gridflex.store.settling import BaselineRow, Settlements

__all__ = [
    "BaselineIn",
    "BaselineOut",
    "DisputeIn",
    "DisputeOut",
    "LineOut",
    "SettlementIn",
    "SettlementOut",
    "StatementRow",
    "router",
]

router = APIRouter(prefix="/v1", tags=["settlements"])


def settlements(session: Tx, principal: Caller) -> Settlements:
    return Settlements(session, principal)


Settle = Annotated[Settlements, Depends(settlements)]


class _Span(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    start: AwareDatetime = Field(description="A local midnight in tz.")
    end: AwareDatetime = Field(description="A local midnight in tz, after start (at most 62 days).")
    tz: str = Field("Europe/Berlin", max_length=64, description="The time zone of the local days.")
    baseline: BaselineSpec = Field(description="The engine's baseline method and its parameters.")
    history_days: int = Field(10, ge=0, le=60, description="Local days of readings before start.")
    holidays: list[date] = Field([], max_length=100, description="Count as weekend days.")

    @field_validator("start", "end")
    @classmethod
    def _in_range(cls, t: datetime) -> datetime:
        if not 1990 <= t.year <= 2200:  # pandas holds 1677..2262; meter data of this service is recent
            raise ValueError("a time between the years 1990 and 2200")
        return t

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        return tz


class BaselineIn(_Span):
    connection_point: str = Field(min_length=1, max_length=200)


class BaselineOut(BaseModel):
    id: int
    connection_point: str
    settlement_id: int | None
    start: datetime
    isp_s: int
    tz: str
    spec: dict[str, Any]
    baseline_kw: list[float | None] = Field(description="kW per ISP from start; null: too little history.")
    metered_kw: list[float | None] = Field(description="kW per ISP from start; null: no reading.")
    created_at: datetime


class SettlementIn(_Span):
    transfer_price_eur_per_mwh: float = Field(0.0, ge=-1e5, le=1e5, description="BRP correction price.")
    portfolio: bool = Field(
        False, description="An aggregator settles its dispatches to its prosumers (no BRP correction)."
    )


class ActivationSummary(BaseModel):
    activation_id: int
    ordered_kwh: float
    delivered_kwh: float
    performance_ratio: float
    activation_eur: float
    penalty_eur: float


class SettlementOut(BaseModel):
    id: int
    run_by_org_id: int
    start: datetime
    end: datetime
    tz: str
    baseline: dict[str, Any]
    history_days: int
    transfer_price_eur_per_mwh: float
    activations: list[ActivationSummary] = Field(description="The caller's activations in it.")
    created_at: datetime
    revision: int = Field(description="1, then 2, 3 … when re-settled after corrections.")
    revises_id: int | None = Field(description="The revision this one replaces.")
    superseded_by_id: int | None = Field(description="The revision that replaced this one.")


class LineOut(BaseModel):
    """One transfer: ``amount_eur`` from payer to payee (negative: the other way)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    period_start: datetime
    item: str
    activation_id: int
    payer_org_id: int
    payee_org_id: int
    energy_kwh: float
    amount_eur: float


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: int = Field(ge=1, le=MAX_ID, description="A line of the settlement the caller is a party of.")
    reason: str = Field(min_length=1, max_length=1000)


class DisputeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    settlement_id: int
    line_id: int
    raised_by_org_id: int
    reason: str
    status: str = Field(description="open, or resolved by a later revision.")
    resolved_by_settlement_id: int | None
    created_at: datetime
    resolved_at: datetime | None


class StatementRow(BaseModel):
    participant: str
    role: str
    period_start_utc: datetime
    item: str = Field(description="activation, penalty or imbalance_correction.")
    counterparty: str
    energy_kwh: float
    amount_eur: float = Field(description="+ = the participant receives it.")


def _baseline_out(st: Settlements, row: BaselineRow, point: str | None = None) -> BaselineOut:
    return BaselineOut(
        id=row.id, connection_point=point or st.point_name(row), settlement_id=row.settlement_id, start=row.start,
        isp_s=row.isp_s, tz=row.tz, spec=row.spec, baseline_kw=row.baseline_kw, metered_kw=row.metered_kw,
        created_at=row.created_at,
    )  # fmt: skip


def _settlement_out(
    st: Settlements, row: Any, summaries: list[dict[str, Any]] | None = None
) -> SettlementOut:
    summaries = st.summaries(row) if summaries is None else summaries
    return SettlementOut(
        id=row.id, run_by_org_id=row.run_by_org_id, start=row.start, end=row.end, tz=row.tz,
        baseline=row.baseline, history_days=row.history_days,
        transfer_price_eur_per_mwh=row.transfer_price_eur_per_mwh,
        activations=[ActivationSummary(**a) for a in summaries], created_at=row.created_at,
        revision=row.revision, revises_id=row.revises_id, superseded_by_id=row.superseded_by_id,
    )  # fmt: skip


@router.post("/baselines", response_model=BaselineOut, status_code=status.HTTP_201_CREATED)
def post_baseline(body: BaselineIn, st: Settle, at: Now) -> BaselineOut:
    row = st.baseline(
        body.connection_point,
        body.start,
        body.end,
        body.tz,
        body.baseline,
        body.history_days,
        body.holidays,
        at,
    )
    return _baseline_out(st, row)


@router.get("/baselines", response_model=list[BaselineOut])
def list_baselines(
    st: Settle,
    settlement_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Only baselines with a larger id (paging).")
    ] = 0,
) -> list[BaselineOut]:
    rows = st.baselines(settlement_id, limit, after)
    names = st.point_names(rows)  # one query, not one per baseline
    return [_baseline_out(st, r, names[r.connection_point_id]) for r in rows]


@router.get("/baselines/{baseline_id}", response_model=BaselineOut)
def get_baseline(baseline_id: DbId, st: Settle) -> BaselineOut:
    return _baseline_out(st, st.get_baseline(baseline_id))


@router.post("/settlements", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
def post_settlement(body: SettlementIn, st: Settle) -> JobOut:
    """Settles as a job (kind ``settlement``): follow it at ``/v1/jobs/{id}``; when it succeeds,
    ``result.settlement_id`` is the settlement. A missing baseline fails the job naming the
    activation, meter and time."""
    job = st.enqueue(
        body.start, body.end, body.tz, body.baseline, body.history_days, body.transfer_price_eur_per_mwh,
        body.holidays, body.portfolio,
    )  # fmt: skip
    return JobOut.model_validate(job)


@router.post(
    "/settlements/{settlement_id}/revisions", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED
)
def post_revision(settlement_id: DbId, st: Settle) -> JobOut:
    """Re-settles on the readings stored now (a job): a new revision; the old one is superseded.
    A corrected reading behind an open dispute starts one by itself."""
    return JobOut.model_validate(st.enqueue_revision(settlement_id))


@router.get("/settlements/{settlement_id}/lines", response_model=list[LineOut])
def get_lines(settlement_id: DbId, st: Settle) -> list[LineOut]:
    return [LineOut.model_validate(x) for x in st.lines(settlement_id)]


@router.post(
    "/settlements/{settlement_id}/disputes", response_model=DisputeOut, status_code=status.HTTP_201_CREATED
)
def post_dispute(settlement_id: DbId, body: DisputeIn, st: Settle, at: Now) -> DisputeOut:
    """A party of a line disputes it; a correction of the readings behind it re-settles."""
    return DisputeOut.model_validate(st.dispute(settlement_id, body.line_id, body.reason, at))


@router.get("/settlements/{settlement_id}/disputes", response_model=list[DisputeOut])
def get_disputes(settlement_id: DbId, st: Settle) -> list[DisputeOut]:
    return [DisputeOut.model_validate(d) for d in st.disputes(settlement_id)]


@router.get("/settlements", response_model=list[SettlementOut])
def list_settlements(
    st: Settle,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Only settlements with a larger id (paging).")
    ] = 0,
) -> list[SettlementOut]:
    rows = st.list_settlements(limit, after)
    summaries = st.summaries_of(rows)  # one query, not one per settlement
    return [_settlement_out(st, r, summaries[r.id]) for r in rows]


@router.get("/settlements/{settlement_id}", response_model=SettlementOut)
def get_settlement(settlement_id: DbId, st: Settle) -> SettlementOut:
    return _settlement_out(st, st.get(settlement_id))


CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "JSON rows, or CSV with format=csv.",
    }
}


@router.get("/settlements/{settlement_id}/statement", response_model=list[StatementRow], responses=CSV_ANSWER)
def get_statement(
    settlement_id: DbId,
    st: Settle,
    period: Annotated[
        Literal["D", "W", "MS"] | None, Query(description="Sum per UTC day, week or month; default: per ISP.")
    ] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    difference: Annotated[
        bool, Query(description="Of a revision: only what changed against the one it replaces (new − old).")
    ] = False,
) -> Any:
    frame = st.statements(settlement_id, period, difference)
    if format_ == "csv":
        frame["period_start_utc"] = frame.period_start_utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        text = frame.to_csv(index=False, float_format="%.10g")
        return Response(text, media_type="text/csv")
    return [StatementRow(**r) for r in frame.to_dict(orient="records")]
