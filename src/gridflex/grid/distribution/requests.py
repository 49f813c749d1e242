"""The needs of congestion points as USEF FlexRequest-shaped messages (pydantic, JSON).

One FlexRequest per congestion point and day, with one ISP per period (15 min): ``requested`` where
flexibility is needed (direction and MW), ``available`` elsewhere, carrying the free capacity: the
range of change of the point's net consumption that creates no new violation. As in UFTP, ISPs hold a
``min_power_mw``/``max_power_mw`` range, here of the *change* of net consumption (MW, positive = more
consumption); ``None`` means unbounded. Flexibility **up** = more power into the grid (less consumption
or more production), **down** = less power into the grid.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from gridflex.grid.distribution.congestion import CongestionForecast, CongestionPoint

SIGN_CONVENTION = (
    "power positive = consumption; min/max_power_mw bound the change of the congestion point's net "
    "consumption; up = more power into the grid (less consumption or more production), down = less"
)
_NAMESPACE = uuid.UUID("6f1c3a52-7d0b-4d6e-9c55-3b8f0a9e2d11")


class Cause(BaseModel):
    """A limit the congestion point breaks."""

    asset: str
    quantity: Literal["loading", "voltage"]
    worst: float = Field(description="worst loading (%) or voltage (pu) forecast")
    limit: float
    periods: int = Field(description="number of periods out of limits")


class FlexRequestISP(BaseModel):
    start: datetime
    duration_min: int = 15
    disposition: Literal["requested", "available"]
    direction: Literal["up", "down"] | None = None
    power_mw: float = Field(default=0.0, ge=0, description="flexibility requested in `direction` (MW)")
    min_power_mw: float | None = Field(description="lowest allowed change of net consumption (MW)")
    max_power_mw: float | None = Field(description="highest allowed change of net consumption (MW)")


class FlexRequest(BaseModel):
    """A DSO's request for local flexibility at one congestion point (USEF/UFTP FlexRequest, extended)."""

    message_type: Literal["FlexRequest"] = "FlexRequest"
    message_id: str
    sender_role: Literal["DSO"] = "DSO"
    congestion_point: str
    network: str
    period: date
    time_zone: str = "UTC"
    isp_duration: str = "PT15M"
    revision: int = 1
    expiration: datetime
    sign_convention: str = SIGN_CONVENTION
    connection_points: list[str] = Field(description="buses whose flexibility relieves the point")
    causes: list[Cause]
    conflicting_periods: list[datetime] = Field(
        default_factory=list, description="periods where no single change meets every limit"
    )
    isps: list[FlexRequestISP]

    @property
    def requested(self) -> list[FlexRequestISP]:
        return [i for i in self.isps if i.disposition == "requested"]


class FlexRequestBatch(BaseModel):
    """All FlexRequests of one forecast, as the CLI writes them."""

    network: str
    start: datetime
    periods: int
    sign_convention: str = SIGN_CONVENTION
    notes: list[str] = Field(default_factory=list)
    requests: list[FlexRequest]


def _finite(x: float) -> float | None:
    return round(float(x), 6) if math.isfinite(x) else None


def flex_requests(fc: CongestionForecast) -> list[FlexRequest]:
    """One FlexRequest per congestion point and (UTC) day of the forecast."""
    times = fc.result.times()
    out = []
    for cp in fc.points:
        by_day: dict[date, list[int]] = {}
        for t, when in enumerate(times):
            by_day.setdefault(when.date(), []).append(t)
        for day, periods in by_day.items():
            isps = [_isp(cp, t, times[t], fc.result.step_min) for t in periods]
            if not any(i.disposition == "requested" for i in isps):
                continue
            out.append(
                FlexRequest(
                    message_id=str(uuid.uuid5(_NAMESPACE, f"{fc.network.name}/{cp.name}/{day}")),
                    congestion_point=cp.name,
                    network=fc.network.name,
                    period=day,
                    expiration=datetime.combine(day, datetime.min.time()) - timedelta(hours=12),
                    connection_points=cp.connection_names,
                    causes=[
                        Cause(
                            asset=v.name,
                            quantity=v.quantity,
                            worst=round(v.worst, 4),
                            limit=v.limit,
                            periods=len(v.periods),
                        )
                        for v in cp.violations
                    ],
                    conflicting_periods=[times[t] for t in cp.conflicting if t in periods],
                    isps=isps,
                )
            )
    return out


def _isp(cp: CongestionPoint, t: int, start: datetime, step_min: int) -> FlexRequestISP:
    need = float(cp.requested_mw[t])
    lo, hi = _finite(cp.min_change_mw[t]), _finite(cp.max_change_mw[t])
    if need == 0:
        return FlexRequestISP(
            start=start,
            duration_min=step_min,
            disposition="available",
            power_mw=0.0,
            min_power_mw=lo,
            max_power_mw=hi,
        )
    return FlexRequestISP(
        start=start, duration_min=step_min, disposition="requested", direction="up" if need > 0 else "down",
        power_mw=round(abs(need), 6), min_power_mw=lo, max_power_mw=hi,
    )  # fmt: skip


def request_batch(fc: CongestionForecast) -> FlexRequestBatch:
    return FlexRequestBatch(
        network=fc.network.name,
        start=fc.series.start,
        periods=fc.series.periods,
        notes=list(fc.series.notes),
        requests=flex_requests(fc),
    )
