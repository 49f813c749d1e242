"""Connection points and their meter readings (kW per ISP, positive = consumption), uploaded as JSON or
as a meter CSV; the audit trail of the lifecycle. Tenancy: :mod:`gridflex.store.metering`.

An upload is idempotent: the same values again change nothing; a different value for a stored ISP is a
correction (its revision goes up, the audit trail keeps both values). A bad row is refused with 422
naming the row and the field, and nothing of the upload is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridflex.api.deps import Caller, Now, Tx
from gridflex.api.schemas import MAX_ID, ValidationErrorOut
from gridflex.errors import Problem, ValidationError
from gridflex.store.metering import ISP_LENGTHS_S, Metering, Uploaded

__all__ = ["ConnectionPointIn", "ConnectionPointOut", "ReadingsIn", "UploadOut", "router"]

router = APIRouter(prefix="/v1", tags=["metering"])

MAX_ISPS = 62 * 96  # two months of 15-min ISPs per series


def metering(session: Tx, principal: Caller) -> Metering:
    return Metering(session, principal)


Meters = Annotated[Metering, Depends(metering)]
Name = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class ConnectionPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f,]+$", description="The EAN.")
    congestion_point: str | None = Field(None, min_length=1, max_length=200, description="Behind this one.")
    brp_org_id: int | None = Field(None, ge=1, le=MAX_ID, description="The BRP whose perimeter it is in.")
    prosumer_org_id: int | None = Field(
        None, ge=1, le=MAX_ID,
        description="An aggregator's point: the prosumer whose site it is (sees it; paid for its dispatches).",
    )  # fmt: skip


class ConnectionPointOut(BaseModel):
    id: int
    name: str
    owner_org_id: int
    congestion_point: str | None
    brp_org_id: int | None
    prosumer_org_id: int | None
    created_at: datetime


class Series(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    connection_point: str = Name
    start: AwareDatetime = Field(description="Start of the first ISP (UTC), on the ISP grid.")
    isp_s: int = Field(900, description=f"ISP length, s: one of {ISP_LENGTHS_S}.")
    power_kw: list[float | None] = Field(
        min_length=1, max_length=MAX_ISPS, description="Average kW per ISP (+ = consumption); null: none."
    )


class ReadingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    readings: list[Series] = Field(min_length=1, max_length=1000)


class UploadOut(BaseModel):
    inserted: int = Field(description="ISPs stored for the first time.")
    unchanged: int = Field(description="ISPs sent again with the stored value (an idempotent re-upload).")
    corrected: int = Field(description="ISPs whose stored value was replaced (audited).")
    connection_points: list[str]


class ReadingsOut(BaseModel):
    connection_point: str
    start: datetime
    isp_s: int
    power_kw: list[float | None] = Field(description="kW per ISP from start; null: no reading.")


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor_org_id: int
    actor_token_id: int | None = Field(description="The token that acted.")
    actor_user_id: int | None = Field(description="The user of that token; null: an organisation's token.")
    subject_org_id: int | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


def _point_out(row: Any, congestion_point: str | None) -> ConnectionPointOut:
    return ConnectionPointOut(
        id=row.id, name=row.name, owner_org_id=row.owner_org_id, congestion_point=congestion_point,
        brp_org_id=row.brp_org_id, prosumer_org_id=row.prosumer_org_id, created_at=row.created_at,
    )  # fmt: skip


def _upload_out(u: Uploaded) -> UploadOut:
    return UploadOut(
        inserted=u.inserted,
        unchanged=u.unchanged,
        corrected=u.corrected,
        connection_points=u.connection_points,
    )


@router.post("/connection-points", response_model=ConnectionPointOut, status_code=status.HTTP_201_CREATED)
def post_point(body: ConnectionPointIn, m: Meters) -> ConnectionPointOut:
    row = m.create_point(body.name, body.congestion_point, body.brp_org_id, body.prosumer_org_id)
    return _point_out(row, m.congestion_point_name(row))


@router.get("/connection-points", response_model=list[ConnectionPointOut])
def list_points(m: Meters) -> list[ConnectionPointOut]:
    rows = m.points()
    names = m.congestion_point_names(rows)  # one query, not one per point
    return [_point_out(r, names[r.id]) for r in rows]


@router.get("/connection-points/{name}", response_model=ConnectionPointOut)
def get_point(name: str, m: Meters) -> ConnectionPointOut:
    row = m.point(name)
    return _point_out(row, m.congestion_point_name(row))


@router.get("/connection-points/{name}/readings", response_model=ReadingsOut)
def get_readings(
    name: str,
    m: Meters,
    start: Annotated[AwareDatetime, Query()],
    end: Annotated[AwareDatetime, Query()],
    isp_s: Annotated[int, Query(description=f"One of {ISP_LENGTHS_S}.")] = 900,
) -> ReadingsOut:
    problems = []
    if isp_s not in ISP_LENGTHS_S:
        problems.append(Problem("readings", "isp_s", f"one of {ISP_LENGTHS_S}"))
    elif start.timestamp() % isp_s:
        problems.append(Problem("readings", "start", f"not on the {isp_s} s ISP grid (UTC)"))
    elif not 0 < (end - start).total_seconds() <= MAX_ISPS * isp_s:
        problems.append(Problem("readings", "end", f"after start, and at most {MAX_ISPS} ISPs later"))
    if problems:
        raise ValidationError("readings", problems)
    got = m.readings([name], start, end, isp_s)
    values = [None if v != v else float(v) for v in got.power_kw[0]]  # NaN: no reading
    return ReadingsOut(connection_point=name, start=start, isp_s=isp_s, power_kw=values)


@router.post("/meter-readings", response_model=UploadOut)
def post_readings(body: ReadingsIn, m: Meters, at: Now) -> UploadOut:
    problems = [
        Problem("meter readings", f"readings.{k}.isp_s", f"one of {ISP_LENGTHS_S}")
        for k, s in enumerate(body.readings)
        if s.isp_s not in ISP_LENGTHS_S
    ]
    if problems:
        raise ValidationError("meter readings", problems)
    series = [(s.connection_point, s.start, s.isp_s, s.power_kw) for s in body.readings]
    return _upload_out(m.upload(series, now=at))


async def csv_text(request: Request) -> str:
    """The body as text (the meter CSV); not UTF-8 is a 422 naming it."""
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            "meter readings", [Problem("meter readings", "csv", f"not UTF-8: {exc.reason}")]
        ) from None


CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "time_utc,EAN-1\n2030-01-02T00:00:00Z,1.5\n",
            }
        },
        "description": "A meter CSV: time_utc, then one column of kW per connection point (an empty cell: none).",
    }
}


@router.post(
    "/meter-readings/csv",
    response_model=UploadOut,
    openapi_extra=CSV_BODY,
    responses={422: {"model": ValidationErrorOut, "description": "A bad line or column, named."}},
)
def post_readings_csv(text: Annotated[str, Depends(csv_text)], m: Meters, at: Now) -> UploadOut:
    return _upload_out(m.upload_csv(text, now=at))


@router.get("/audit-events", response_model=list[AuditOut])
def list_audit(
    m: Meters,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Only events with a larger id (paging).")] = 0,
) -> list[AuditOut]:
    return [AuditOut.model_validate(r) for r in m.audit_trail(object_type, limit, after)]
