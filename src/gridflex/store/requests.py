"""Local flexibility, USEF style: a DSO's FlexRequest at a congestion point, aggregators' FlexOffers
answering it, and the DSO's acceptance (a FlexOrder). Tables on the store's metadata, and their repository.

A request asks, for consecutive ISPs from ``start`` (``isp_s`` long each), for ``volume_kw[k]`` kW of
flexibility in one ``direction`` at no more than ``max_price_eur_per_mwh``. **up** = more power into
the grid (less consumption or more production), **down** = less power into the grid. An offer answers
with its own kW per ISP (at most the request's) and one price. The *fill* of a request per ISP is the
accepted kW, capped at the requested kW.

Who sees what (the same rules as :mod:`gridflex.store.tenancy`): a request is seen by its DSO, by every
aggregator (the flexibility providers it is addressed to), by the market operator and the admin; an
offer by its aggregator, by the DSO of the request, by the market operator and the admin. Anything else
is not found (404); a write the caller's roles do not allow is forbidden (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridflex.errors import Problem, ValidationError
from gridflex.store.columns import utcnow
from gridflex.store.errors import ConflictError
from gridflex.store.tables import CongestionPoint, FlexRequestOffer, FlexRequestRow, GridArea, Role
from gridflex.store.tenancy import (
    Principal,
    offers_visible,
    one_visible,
    requests_visible,
    require_owner,
    require_role,
)

__all__ = [
    "Fill",
    "FlexRequestOffer",
    "FlexRequestRow",
    "FlexRequests",
    "OfferStatus",
    "RequestStatus",
    "isp_starts",
    "offers_visible",
    "requests_visible",
]


class RequestStatus(StrEnum):
    OPEN = "open"  # offers are taken until expires_at
    CLOSED = "closed"  # the DSO closed it (or it expired)


class OfferStatus(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"  # the DSO ordered it (a USEF FlexOrder)
    REJECTED = "rejected"  # the request closed without it


@dataclass(frozen=True)
class Fill:
    """Per ISP of a request: requested, offered (at or under the price cap) and accepted kW."""

    requested_kw: list[float]
    offered_kw: list[float]
    accepted_kw: list[float]

    @property
    def share(self) -> float:
        """Accepted energy over requested energy (0..1)."""
        want = sum(self.requested_kw)
        return sum(self.accepted_kw) / want if want > 0 else 0.0


def _problem(field: str, message: str) -> ValidationError:
    return ValidationError("flex request", [Problem("flex request", field, message)])


class FlexRequests:
    """Requests and their offers, as ``principal`` may see and change them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    # -- requests
    def create(
        self,
        congestion_point: str,
        direction: str,
        start: datetime,
        isp_s: int,
        volume_kw: list[float],
        max_price_eur_per_mwh: float,
        expires_at: datetime | None = None,
        now: datetime | None = None,
    ) -> FlexRequestRow:
        """A new open request at one of the caller's congestion points (by name)."""
        require_role(self.p, Role.DSO, action="posting a flexibility request")
        now = now or utcnow()
        row = self.s.execute(
            select(CongestionPoint, GridArea.dso_org_id)
            .join(GridArea, GridArea.id == CongestionPoint.grid_area_id)
            .where(CongestionPoint.name == congestion_point)
        ).first()
        if row is None:
            raise _problem("congestion_point", f"unknown congestion point {congestion_point!r}")
        point, owner = row
        require_owner(self.p, owner, f"congestion point {congestion_point!r} belongs to another DSO")
        expires = expires_at or start
        if expires > start:
            raise _problem("expires_at", "offers must be closed by the start of the first ISP")
        if expires <= now:
            raise _problem("expires_at", f"is in the past (now {now.isoformat()})")
        req = FlexRequestRow(
            dso_org_id=owner, congestion_point_id=point.id, congestion_point=point.name,
            direction=direction, start=start, isp_s=isp_s, volume_kw=[float(v) for v in volume_kw],
            max_price_eur_per_mwh=max_price_eur_per_mwh, expires_at=expires, created_at=now,
        )  # fmt: skip
        self.s.add(req)
        self.s.flush()
        return req

    def get(self, request_id: int) -> FlexRequestRow:
        return one_visible(self.s, FlexRequestRow, request_id, requests_visible(self.p), "flex request")

    def list_requests(self, status: str | None = None, now: datetime | None = None) -> list[FlexRequestRow]:
        q = select(FlexRequestRow).where(requests_visible(self.p))
        if status == RequestStatus.OPEN:
            q = q.where(FlexRequestRow.status == status, FlexRequestRow.expires_at > (now or utcnow()))
        elif status is not None:
            q = q.where(FlexRequestRow.status == status)
        return list(self.s.scalars(q.order_by(FlexRequestRow.id.desc()).limit(1000)))

    def close(self, request_id: int) -> FlexRequestRow:
        """The DSO closes its request: offers not accepted are rejected."""
        req = self._own_request(request_id)
        req.status = RequestStatus.CLOSED.value
        for o in self.s.scalars(select(FlexRequestOffer).where(FlexRequestOffer.request_id == req.id)):
            if o.status == OfferStatus.OFFERED:
                o.status = OfferStatus.REJECTED.value
        self.s.flush()
        return req

    def fill(self, req: FlexRequestRow) -> Fill:
        return self.fills([req])[req.id]

    def fills(self, reqs: list[FlexRequestRow]) -> dict[int, Fill]:
        """The fill of each request, by id, from one query over their offers the caller sees (an
        aggregator sees its own part of a fill, never a competitor's offers)."""
        seen: dict[int, list[Any]] = {r.id: [] for r in reqs}
        cols = (FlexRequestOffer.request_id, FlexRequestOffer.volume_kw, FlexRequestOffer.price_eur_per_mwh,
                FlexRequestOffer.status)  # fmt: skip
        if seen:
            q = select(*cols).where(FlexRequestOffer.request_id.in_(list(seen)), offers_visible(self.p))
            for request_id, *offer in self.s.execute(q):
                seen[request_id].append(offer)
        return {r.id: _fill(r, seen[r.id]) for r in reqs}

    def isp_s_of(self, request_ids: set[int]) -> dict[int, int]:
        """The ISP length (s) of each visible request among ``request_ids``, in one query."""
        q = select(FlexRequestRow.id, FlexRequestRow.isp_s).where(
            FlexRequestRow.id.in_(request_ids), requests_visible(self.p)
        )
        return dict(self.s.execute(q).all())

    # -- offers
    def offer(
        self, request_id: int, volume_kw: list[float], price_eur_per_mwh: float, now: datetime | None = None
    ) -> FlexRequestOffer:
        """An aggregator answers an open request with kW per ISP (at most the requested) and a price."""
        require_role(self.p, Role.AGGREGATOR, action="offering flexibility")
        now = now or utcnow()
        req = self.get(request_id)
        if req.status != RequestStatus.OPEN or req.expires_at <= now:
            raise ConflictError(f"flex request {request_id} is closed for offers")
        if len(volume_kw) != len(req.volume_kw):
            raise ValidationError(
                "flex offer",
                [Problem("flex offer", "volume_kw", f"{len(volume_kw)} ISPs, the request has {len(req.volume_kw)}")],
            )  # fmt: skip
        over = [
            Problem("flex offer", f"volume_kw.{k}", f"{v:g} kW is more than the {w:g} kW requested")
            for k, (v, w) in enumerate(zip(volume_kw, req.volume_kw, strict=True))
            if v > w + 1e-9
        ]
        if not any(v > 0 for v in volume_kw):
            over.append(Problem("flex offer", "volume_kw", "offers nothing: every ISP is 0 kW"))
        if over:
            raise ValidationError("flex offer", over)
        row = FlexRequestOffer(
            request_id=req.id, aggregator_org_id=self.p.org_id, volume_kw=[float(v) for v in volume_kw],
            price_eur_per_mwh=price_eur_per_mwh, created_at=now,
        )  # fmt: skip
        self.s.add(row)
        self.s.flush()
        return row

    def offers(self, request_id: int | None = None) -> list[FlexRequestOffer]:
        q = select(FlexRequestOffer).where(offers_visible(self.p))
        if request_id is not None:
            self.get(request_id)  # 404 when the request is not the caller's to see
            q = q.where(FlexRequestOffer.request_id == request_id)
        return list(self.s.scalars(q.order_by(FlexRequestOffer.id.desc()).limit(1000)))

    def get_offer(self, offer_id: int) -> FlexRequestOffer:
        return one_visible(self.s, FlexRequestOffer, offer_id, offers_visible(self.p), "flex offer")

    def accept(self, offer_id: int, now: datetime | None = None) -> FlexRequestOffer:
        """The DSO orders an offer of its own open request (USEF FlexOrder)."""
        offer = self.get_offer(offer_id)
        req = self._own_request(offer.request_id)
        if offer.status != OfferStatus.OFFERED:
            raise ConflictError(f"flex offer {offer_id} is {offer.status}")
        if req.status != RequestStatus.OPEN:
            raise ConflictError(f"flex request {req.id} is closed")
        if offer.price_eur_per_mwh > req.max_price_eur_per_mwh:
            raise ConflictError(
                f"flex offer {offer_id} asks {offer.price_eur_per_mwh:g} EUR/MWh, over the request's "
                f"cap of {req.max_price_eur_per_mwh:g}"
            )
        offer.status, offer.accepted_at = OfferStatus.ACCEPTED.value, now or utcnow()
        self.s.flush()
        return offer

    def _own_request(self, request_id: int) -> FlexRequestRow:
        req = self.get(request_id)
        require_owner(self.p, req.dso_org_id, f"flex request {request_id} is another DSO's")
        return req


def isp_starts(req: FlexRequestRow) -> list[datetime]:
    """The start time (UTC) of each ISP of a request."""
    return [req.start + timedelta(seconds=req.isp_s * k) for k in range(len(req.volume_kw))]


def _fill(req: FlexRequestRow, rows: list[Any]) -> Fill:
    """Offered (under the cap, not rejected) and accepted kW per ISP of ``rows`` (volume, price,
    status of offers), each at most the requested."""
    n = len(req.volume_kw)
    offered, accepted = [0.0] * n, [0.0] * n
    for vol, price, status in rows:
        for k in range(n):
            if price <= req.max_price_eur_per_mwh and status != OfferStatus.REJECTED:
                offered[k] += vol[k]
            if status == OfferStatus.ACCEPTED:
                accepted[k] += vol[k]
    want = req.volume_kw
    return Fill(
        list(want),
        [min(o, w) for o, w in zip(offered, want, strict=True)],
        [min(a, w) for a, w in zip(accepted, want, strict=True)],
    )
