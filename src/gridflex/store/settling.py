"""Activations, baselines and settlements: the market lifecycle after the FlexOrder, on the market engine.

* **Activation**: the DSO of an accepted FlexOffer (a FlexOrder) calls for delivery of kW per ISP (at
  most what was ordered, never twice); the provider acknowledges it, naming the connection points
  that deliver, or declines it with a reason.
* **Baseline**: what a connection point would have drawn without the activation, computed by the
  engine's methods (:func:`gridflex.market.baselines.compute_baseline`) on the stored readings of
  whole local days (history before the activation day; activation days left out of histories).
* **Settlement**: the buyer settles its acknowledged activations of a span of local days with
  :func:`gridflex.market.settlement.settle`: activation payments, penalties and BRP corrections as
  transfers payer → payee, stored line by line; a **statement** is one participant's view of them.
* **Dispatch** (the aggregator's portfolio, decision 0032): the provider of an acknowledged activation
  calls part of it from the prosumer behind one of its connection points (the point names it), at
  the prosumer's price: an activation row with ``parent_id``, buyer the aggregator, seller the
  prosumer. The aggregator settles its dispatches (``portfolio``) with the same engine, without BRP
  correction (the aggregator's, in the market's settlement): aggregator → prosumer per ISP.

Tenancy: an activation is seen by its buyer and its provider (and the market operator and the admin);
a settlement by the organisation that ran it and by every party of one of its lines, each party seeing
only its own lines; a baseline as its connection point (the rules: :mod:`gridflex.store.tenancy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gridflex.errors import Problem, TimeGridError, ValidationError
from gridflex.market.baselines import BaselineSpec, compute_baseline, day_layout
from gridflex.market.baselines.spec import BaselineInputs
from gridflex.market.settlement import Settlement, SettlementDocument, settle
from gridflex.store.columns import utcnow
from gridflex.store.errors import ConflictError, NotFoundError, PermissionDeniedError
from gridflex.store.jobs import SETTLEMENT, Jobs, fail, progress, succeed
from gridflex.store.metering import CORRECTION_HOOKS, Metering, audit
from gridflex.store.requests import OfferStatus
from gridflex.store.tables import (
    ActivationRow,
    ActivationStatus,
    BaselineRow,
    ConnectionPointRow,
    DisputeRow,
    DisputeStatus,
    FlexRequestOffer,
    FlexRequestRow,
    JobRow,
    MeterReadingRow,
    Organisation,
    Role,
    SettlementLineRow,
    SettlementRow,
)
from gridflex.store.tenancy import (
    Principal,
    activations_visible,
    offers_visible,
    one_visible,
    points_visible,
    require_owner,
    require_role,
    settlement_lines_visible,
    settlements_visible,
)
from gridflex.store.webhooks import enqueue_event
from gridflex.timegrid import TimeGrid

__all__ = [
    "ActivationRow",
    "ActivationStatus",
    "Activations",
    "BaselineRow",
    "Computed",
    "DisputeRow",
    "DisputeStatus",
    "SettlementLineRow",
    "SettlementRow",
    "Settlements",
    "execute_settlement_job",
]

BUYER_ROLES = (Role.DSO, Role.TSO)


def _invalid(what: str, field: str, message: str) -> ValidationError:
    return ValidationError(what, [Problem(what, field, message)])


class Activations:
    """Activations of accepted FlexOffers, as ``principal`` may see and change them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def create(
        self,
        offer_id: int,
        power_kw: list[float] | None = None,
        penalty_eur_per_mwh: float = 0.0,
        now: datetime | None = None,
    ) -> ActivationRow:
        """The DSO of the offer's request calls for ``power_kw`` per ISP (default: all that is left)."""
        require_role(self.p, *BUYER_ROLES, action="activating flexibility")
        now = now or utcnow()
        offer = one_visible(self.s, FlexRequestOffer, offer_id, offers_visible(self.p), "flex offer")
        req = self.s.get_one(FlexRequestRow, offer.request_id)
        require_owner(self.p, req.dso_org_id, f"flex offer {offer_id} answers another DSO's request")
        if offer.status != OfferStatus.ACCEPTED:
            raise ConflictError(
                f"flex offer {offer_id} is {offer.status}: only an accepted offer is activated"
            )
        n = len(offer.volume_kw)
        taken = np.zeros(n)
        for (kw,) in self.s.execute(
            select(ActivationRow.power_kw).where(
                ActivationRow.offer_id == offer_id,
                ActivationRow.status != ActivationStatus.DECLINED,
                ActivationRow.parent_id.is_(None),  # dispatches are parts of these, not more
            )
        ):
            taken += np.asarray(kw, dtype=float)
        left = np.maximum(np.asarray(offer.volume_kw, dtype=float) - taken, 0.0)
        want = left if power_kw is None else np.asarray(power_kw, dtype=float)
        if want.shape != (n,):
            raise _invalid("activation", "power_kw", f"{len(want)} ISPs, the offer has {n}")
        problems = [
            Problem("activation", f"power_kw.{k}", f"{want[k]:g} kW is more than the {left[k]:g} kW ordered and not yet activated")
            for k in range(n)
            if want[k] > left[k] + 1e-9
        ]  # fmt: skip
        starts = [req.start + timedelta(seconds=req.isp_s * k) for k in range(n)]
        problems += [
            Problem("activation", f"power_kw.{k}", f"the ISP started at {starts[k].isoformat()} (now {now.isoformat()})")
            for k in range(n)
            if want[k] > 0 and starts[k] < now
        ]  # fmt: skip
        if not (want > 0).any():
            problems.append(Problem("activation", "power_kw", "activates nothing: every ISP is 0 kW"))
        if problems:
            raise ValidationError("activation", problems)
        row = ActivationRow(
            offer_id=offer.id, buyer_org_id=req.dso_org_id, seller_org_id=offer.aggregator_org_id,
            congestion_point=req.congestion_point, direction=req.direction, start=req.start, isp_s=req.isp_s,
            power_kw=[float(v) for v in want], price_eur_per_mwh=offer.price_eur_per_mwh,
            penalty_eur_per_mwh=penalty_eur_per_mwh, status=ActivationStatus.SENT, created_at=now,
        )  # fmt: skip
        self.s.add(row)
        self.s.flush()
        audit(self.s, self.p, "activation.sent", "activation", row.id, at=now, subject_org_id=row.seller_org_id,
              detail={"offer_id": offer.id, "power_kw": row.power_kw})  # fmt: skip
        enqueue_event(
            self.s, row.seller_org_id, "activations", {"activation_id": row.id, "status": row.status}
        )
        return row

    def get(self, activation_id: int) -> ActivationRow:
        row = self.s.scalar(
            select(ActivationRow).where(ActivationRow.id == activation_id, activations_visible(self.p))
        )
        if row is None:
            raise NotFoundError(f"activation {activation_id} not found")
        return row

    def list_activations(
        self, status: str | None = None, limit: int = 100, after_id: int = 0
    ) -> list[ActivationRow]:
        q = select(ActivationRow).where(activations_visible(self.p), ActivationRow.id > after_id)
        if status is not None:
            q = q.where(ActivationRow.status == status)
        return list(self.s.scalars(q.order_by(ActivationRow.id).limit(limit)))

    def _provider_of(self, activation_id: int) -> ActivationRow:
        row = self.get(activation_id)
        if row.seller_org_id != self.p.org_id and not self.p.is_admin:
            raise PermissionDeniedError(f"activation {activation_id} is answered by its provider")
        if row.status != ActivationStatus.SENT:
            raise ConflictError(f"activation {activation_id} is {row.status}")
        return row

    def acknowledge(
        self, activation_id: int, connection_points: list[str], now: datetime | None = None
    ) -> ActivationRow:
        """The provider confirms and names the connection points (its own, at the congestion point) that deliver."""
        row = self._provider_of(activation_id)
        metering = Metering(self.s, self.p)
        problems = []
        for k, name in enumerate(connection_points):
            point = self.s.scalar(
                select(ConnectionPointRow).where(ConnectionPointRow.name == name, points_visible(self.p))
            )
            if point is None or point.owner_org_id != row.seller_org_id:
                problems.append(Problem("acknowledgement", f"connection_points.{k}", f"{name!r} is not a connection point of the provider"))  # fmt: skip
            elif metering.congestion_point_name(point) not in (None, row.congestion_point):
                problems.append(Problem("acknowledgement", f"connection_points.{k}", f"{name!r} is not behind congestion point {row.congestion_point!r}"))  # fmt: skip
        if len(set(connection_points)) != len(connection_points):
            problems.append(
                Problem("acknowledgement", "connection_points", "a connection point is named twice")
            )
        if problems:
            raise ValidationError("acknowledgement", problems)
        now = now or utcnow()
        row.status, row.connection_points, row.acknowledged_at = (
            ActivationStatus.ACKNOWLEDGED,
            list(connection_points),
            now,
        )
        audit(self.s, self.p, "activation.acknowledged", "activation", row.id, at=now, subject_org_id=row.buyer_org_id,
              detail={"connection_points": row.connection_points})  # fmt: skip
        self.s.flush()
        return row

    def dispatch(
        self, activation_id: int, connection_point: str, power_kw: list[float], price_eur_per_mwh: float,
        penalty_eur_per_mwh: float = 0.0, now: datetime | None = None,
    ) -> ActivationRow:  # fmt: skip
        """The provider of an acknowledged activation calls ``power_kw`` per ISP of it from the
        prosumer behind ``connection_point`` (one the activation names, with a prosumer): a dispatch,
        acknowledged as it is made (the prosumer's site delivers from the point it names)."""
        parent = self.get(activation_id)
        if parent.parent_id is not None:
            raise ConflictError(
                f"activation {activation_id} is a dispatch: dispatch its activation {parent.parent_id}"
            )
        if parent.seller_org_id != self.p.org_id and not self.p.is_admin:
            raise PermissionDeniedError(f"activation {activation_id} is dispatched by its provider")
        if parent.status not in (ActivationStatus.ACKNOWLEDGED, ActivationStatus.SETTLED):
            raise ConflictError(
                f"activation {activation_id} is {parent.status}: only an acknowledged one is dispatched"
            )
        now = now or utcnow()
        problems = []
        point = self.s.scalar(  # locked: two dispatches of one point in one ISP are told apart below
            select(ConnectionPointRow).where(ConnectionPointRow.name == connection_point).with_for_update()
        )
        if connection_point not in parent.connection_points or point is None:
            problems.append(
                Problem(
                    "dispatch",
                    "connection_point",
                    f"{connection_point!r} does not deliver activation {activation_id} (it names {parent.connection_points})",
                )
            )
        elif point.prosumer_org_id is None:
            problems.append(
                Problem(
                    "dispatch",
                    "connection_point",
                    f"{connection_point!r} names no prosumer (register it with prosumer_org_id)",
                )
            )
        n = len(parent.power_kw)
        want = np.asarray(power_kw, dtype=float)
        if want.shape != (n,):
            problems.append(Problem("dispatch", "power_kw", f"{len(want)} ISPs, the activation has {n}"))
        else:
            for k in range(n):
                t = parent.start + timedelta(seconds=parent.isp_s * k)
                if want[k] > 0 and parent.power_kw[k] <= 0:
                    problems.append(
                        Problem("dispatch", f"power_kw.{k}", "the activation calls nothing in this ISP")
                    )
                elif want[k] > 0 and t < now:
                    problems.append(
                        Problem(
                            "dispatch",
                            f"power_kw.{k}",
                            f"the ISP started at {t.isoformat()} (now {now.isoformat()})",
                        )
                    )
            if not (want > 0).any():
                problems.append(Problem("dispatch", "power_kw", "dispatches nothing: every ISP is 0 kW"))
        if problems:
            raise ValidationError("dispatch", problems)
        assert point is not None and point.prosumer_org_id is not None
        on = {parent.start + timedelta(seconds=parent.isp_s * k) for k in range(n) if want[k] > 0}
        for other in self.s.scalars(select(ActivationRow).where(
            ActivationRow.parent_id.is_not(None), ActivationRow.seller_org_id == point.prosumer_org_id,
            ActivationRow.status != ActivationStatus.DECLINED)):  # fmt: skip
            busy = {
                other.start + timedelta(seconds=other.isp_s * k)
                for k, kw in enumerate(other.power_kw)
                if kw > 0
            }
            if connection_point in other.connection_points and on & busy:
                raise ConflictError(
                    f"{connection_point!r} is dispatched at {min(on & busy).isoformat()} already (dispatch {other.id})"
                )
        row = ActivationRow(
            offer_id=parent.offer_id, buyer_org_id=parent.seller_org_id, seller_org_id=point.prosumer_org_id,
            congestion_point=parent.congestion_point, direction=parent.direction, start=parent.start,
            isp_s=parent.isp_s, power_kw=[float(v) for v in want], price_eur_per_mwh=price_eur_per_mwh,
            penalty_eur_per_mwh=penalty_eur_per_mwh, status=ActivationStatus.ACKNOWLEDGED,
            connection_points=[connection_point], created_at=now, acknowledged_at=now, parent_id=parent.id,
        )  # fmt: skip
        self.s.add(row)
        self.s.flush()
        audit(self.s, self.p, "activation.dispatched", "activation", row.id, at=now, subject_org_id=row.seller_org_id,
              detail={"parent_id": parent.id, "connection_point": connection_point, "power_kw": row.power_kw})  # fmt: skip
        enqueue_event(
            self.s, row.seller_org_id, "activations", {"activation_id": row.id, "status": row.status}
        )
        return row

    def decline(self, activation_id: int, reason: str, now: datetime | None = None) -> ActivationRow:
        row = self._provider_of(activation_id)
        row.status, row.reason = ActivationStatus.DECLINED, reason
        audit(self.s, self.p, "activation.declined", "activation", row.id, at=now, subject_org_id=row.buyer_org_id,
              detail={"reason": reason})  # fmt: skip
        self.s.flush()
        return row


@dataclass(frozen=True)
class Computed:
    """Baseline and readings of some connection points on the ISPs of ``grid`` (kW, points × ISPs)."""

    names: list[str]
    grid: TimeGrid
    baseline_kw: np.ndarray
    metered_kw: np.ndarray


def _local_days(start: datetime, end: datetime, tz: str, what: str) -> None:
    for field, t in (("start", start), ("end", end)):
        try:
            local = pd.Timestamp(t).tz_convert(tz)
        except Exception as exc:  # out of pandas' range, an unknown zone: pandas raises several types
            raise _invalid(what, field, f"{t.isoformat()} in {tz}: {exc}") from None
        if local != local.normalize():
            raise _invalid(what, field, f"{t.isoformat()} is not a local midnight in {tz}: settle whole days")
    if end <= start:
        raise _invalid(what, "end", "is not after start")
    if end - start > timedelta(days=62):
        raise _invalid(what, "end", "at most 62 days at once")


def compute_baselines(
    metering: Metering,
    names: list[str],
    start: datetime,
    end: datetime,
    tz: str,
    spec: BaselineSpec,
    isp_s: int,
    history_days: int,
    holidays: list[date] | None = None,
    events: dict[str, np.ndarray] | None = None,
) -> Computed:
    """The baseline named by ``spec`` of ``names`` over ``[start, end)`` (whole local days), from the
    stored readings of the ``history_days`` local days before and of the span itself.

    ``events``: per connection point, a boolean mask of the ISPs of ``[start, end)`` it was activated
    in (left out of like-day histories by day, and the events of MBMA)."""
    _local_days(start, end, tz, "baseline")
    first = (pd.Timestamp(start).tz_convert(tz) - pd.Timedelta(days=history_days)).normalize()
    first = first.tz_convert("UTC").to_pydatetime()
    n_all = int((end - first).total_seconds() // isp_s)
    grid = TimeGrid(pd.Timestamp(first), isp_s, n_all)
    try:
        layout = day_layout(grid, tz, holidays or [])
    except TimeGridError as exc:
        raise _invalid("baseline", "tz", str(exc)) from None
    metered = metering.readings(names, first, end, isp_s).power_kw
    offset = n_all - int((end - start).total_seconds() // isp_s)
    mask = np.zeros((len(names), n_all), dtype=bool)
    for i, name in enumerate(names):
        if events and name in events:
            mask[i, offset:] = events[name]
    event_days = np.zeros(layout.n_days, dtype=bool)
    event_days[np.unique(layout.day_of_period[mask.any(axis=0)])] = True
    inputs = BaselineInputs(layout, event_days, mask if mask.any() else None)
    try:
        base = compute_baseline(metered, spec, inputs)
    except (TimeGridError, ValueError) as exc:  # a window off the ISP grid, a reference of another shape
        raise _invalid("baseline", "baseline", str(exc)) from None
    n = n_all - offset
    return Computed(names, TimeGrid(pd.Timestamp(start), isp_s, n), base[:, offset:], metered[:, offset:])


def _json_values(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in a]


class Settlements:
    """Baselines, settlement runs, their lines and statements, as ``principal`` may see them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    # -- baselines
    def baseline(
        self, connection_point: str, start: datetime, end: datetime, tz: str, spec: BaselineSpec,
        history_days: int, holidays: list[date] | None = None, now: datetime | None = None,
    ) -> BaselineRow:  # fmt: skip
        """Compute and keep the baseline of one connection point the caller sees (no events: a check
        of the method on a span, e.g. the provider's own view before a settlement)."""
        metering = Metering(self.s, self.p)
        point = metering.point(connection_point)
        step = self.s.scalar(
            select(MeterReadingRow.isp_s).where(MeterReadingRow.connection_point_id == point.id).limit(1)
        )
        if step is None:
            raise ConflictError(f"connection point {connection_point!r} has no readings")
        got = compute_baselines(
            metering, [connection_point], start, end, tz, spec, step, history_days, holidays
        )
        return self._keep(point, got, 0, tz, spec, None, now)

    def _keep(self, point: ConnectionPointRow, got: Computed, i: int, tz: str, spec: BaselineSpec,
              settlement_id: int | None, now: datetime | None) -> BaselineRow:  # fmt: skip
        row = BaselineRow(
            connection_point_id=point.id, settlement_id=settlement_id, created_by_org_id=self.p.org_id,
            start=got.grid.start.to_pydatetime(), isp_s=got.grid.step_s, tz=tz, spec=spec.model_dump(mode="json"),
            baseline_kw=_json_values(got.baseline_kw[i]), metered_kw=_json_values(got.metered_kw[i]),
            created_at=now or utcnow(),
        )  # fmt: skip
        self.s.add(row)
        self.s.flush()
        return row

    def baselines(
        self, settlement_id: int | None = None, limit: int = 100, after_id: int = 0
    ) -> list[BaselineRow]:
        q = (
            select(BaselineRow)
            .join(ConnectionPointRow, ConnectionPointRow.id == BaselineRow.connection_point_id)
            .where(points_visible(self.p), BaselineRow.id > after_id)
        )
        if settlement_id is not None:
            q = q.where(BaselineRow.settlement_id == settlement_id)
        return list(self.s.scalars(q.order_by(BaselineRow.id).limit(limit)))

    def get_baseline(self, baseline_id: int) -> BaselineRow:
        row = self.s.scalar(
            select(BaselineRow)
            .join(ConnectionPointRow, ConnectionPointRow.id == BaselineRow.connection_point_id)
            .where(BaselineRow.id == baseline_id, points_visible(self.p))
        )
        if row is None:
            raise NotFoundError(f"baseline {baseline_id} not found")
        return row

    def point_name(self, row: BaselineRow) -> str:
        return self.s.get_one(ConnectionPointRow, row.connection_point_id).name

    def point_names(self, rows: list[BaselineRow]) -> dict[int, str]:
        """The connection point's name of each baseline, by the point's id: one query for a listing."""
        ids = {r.connection_point_id for r in rows}
        q = select(ConnectionPointRow.id, ConnectionPointRow.name).where(ConnectionPointRow.id.in_(ids))
        return dict(self.s.execute(q).all()) if ids else {}

    # -- settlement
    def _settleable(self, start: datetime, end: datetime, portfolio: bool = False) -> list[ActivationRow]:
        """The caller's acknowledged activations wholly within ``[start, end)`` (409 when none);
        ``portfolio``: its dispatches to its prosumers instead."""
        q = select(ActivationRow).where(
            ActivationRow.status == ActivationStatus.ACKNOWLEDGED, ActivationRow.start >= start,
            ActivationRow.start < end,
            ActivationRow.parent_id.is_not(None) if portfolio else ActivationRow.parent_id.is_(None),
        ).order_by(ActivationRow.id).with_for_update()  # fmt: skip
        if portfolio or not self.p.sees_book:
            q = q.where(ActivationRow.buyer_org_id == self.p.org_id)
        acts = [a for a in self.s.scalars(q) if a.start + timedelta(seconds=a.isp_s * len(a.power_kw)) <= end]
        if not acts:
            what = "dispatch" if portfolio else "activation"
            raise ConflictError(
                f"no acknowledged {what} to settle in [{start.isoformat()}, {end.isoformat()})"
            )
        return acts

    def _require_settler(self, portfolio: bool) -> None:
        if portfolio:
            require_role(self.p, Role.AGGREGATOR, action="settling a portfolio")
        else:
            require_role(self.p, *BUYER_ROLES, Role.MARKET_OPERATOR, action="running a settlement")

    def enqueue(
        self, start: datetime, end: datetime, tz: str, spec: BaselineSpec, history_days: int,
        transfer_price_eur_per_mwh: float = 0.0, holidays: list[date] | None = None, portfolio: bool = False,
    ) -> JobRow:  # fmt: skip
        """Settle as a job (:func:`execute_settlement_job`): the checks that need no computing are
        made now (roles, local days, something to settle), the rest fails the job with the reason."""
        self._require_settler(portfolio)
        _local_days(start, end, tz, "settlement")
        self._settleable(start, end, portfolio)
        params = {"start": start.isoformat(), "end": end.isoformat(), "tz": tz,
                  "baseline": spec.model_dump(mode="json"), "history_days": history_days,
                  "transfer_price_eur_per_mwh": transfer_price_eur_per_mwh,
                  "holidays": [d.isoformat() for d in holidays or []], "portfolio": portfolio}  # fmt: skip
        return Jobs(self.s, self.p).enqueue(SETTLEMENT, params)

    def run(
        self, start: datetime, end: datetime, tz: str, spec: BaselineSpec, history_days: int,
        transfer_price_eur_per_mwh: float = 0.0, holidays: list[date] | None = None, now: datetime | None = None,
        portfolio: bool = False,
    ) -> SettlementRow:  # fmt: skip
        """Settle the caller's acknowledged activations within ``[start, end)`` (``portfolio``: its
        dispatches): baselines, the engine's transfers, the lines, each activation marked settled;
        all in the caller's transaction."""
        self._require_settler(portfolio)
        _local_days(start, end, tz, "settlement")
        acts = self._settleable(start, end, portfolio)
        return self._settle(
            acts, start, end, tz, spec, history_days, transfer_price_eur_per_mwh, holidays, now
        )

    def enqueue_revision(self, settlement_id: int) -> JobRow:
        """Re-settle a settlement on the readings stored now, as a job (who ran it, or the book)."""
        old = self.get(settlement_id)
        require_owner(self.p, old.run_by_org_id, f"settlement {settlement_id} is re-settled by who ran it")
        if old.superseded_by_id is not None:
            raise ConflictError(
                f"settlement {settlement_id} was revised by settlement {old.superseded_by_id}"
            )
        return Jobs(self.s, self.p).enqueue(SETTLEMENT, {"revise": old.id}, org_id=old.run_by_org_id)

    def revise(self, settlement_id: int, now: datetime | None = None) -> SettlementRow:
        """Settle the activations of a settlement again on the readings stored now (corrected): a new
        revision with the same span and options; the old one is superseded, its open disputes resolved."""
        old = self.get(settlement_id)
        require_owner(self.p, old.run_by_org_id, f"settlement {settlement_id} is re-settled by who ran it")
        if old.superseded_by_id is not None:
            raise ConflictError(
                f"settlement {settlement_id} was revised by settlement {old.superseded_by_id}"
            )
        acts = list(self.s.scalars(select(ActivationRow).where(ActivationRow.settlement_id == old.id)
                                   .order_by(ActivationRow.id).with_for_update()))  # fmt: skip
        spec = BaselineSpec.model_validate(old.baseline)
        holidays = [date.fromisoformat(d) for d in old.holidays or []]
        row = self._settle(acts, old.start, old.end, old.tz, spec, old.history_days,
                           old.transfer_price_eur_per_mwh, holidays, now, revises=old)  # fmt: skip
        old.superseded_by_id = row.id
        for d in self.s.scalars(select(DisputeRow).where(DisputeRow.settlement_id == old.id,
                                                          DisputeRow.status == DisputeStatus.OPEN)):  # fmt: skip
            d.status, d.resolved_by_settlement_id, d.resolved_at = (
                DisputeStatus.RESOLVED,
                row.id,
                row.created_at,
            )
        self.s.flush()
        return row

    def _settle(
        self, acts: list[ActivationRow], start: datetime, end: datetime, tz: str, spec: BaselineSpec,
        history_days: int, transfer_price_eur_per_mwh: float, holidays: list[date] | None,
        now: datetime | None, revises: SettlementRow | None = None,
    ) -> SettlementRow:  # fmt: skip
        steps = {a.isp_s for a in acts}
        if len(steps) > 1:
            raise ConflictError(
                f"the activations have different ISP lengths {sorted(steps)}: settle them apart"
            )
        isp_s = steps.pop()
        names = sorted({n for a in acts for n in a.connection_points})
        n = int((end - start).total_seconds() // isp_s)
        events = {name: np.zeros(n, dtype=bool) for name in names}
        for a in acts:
            k0 = int((a.start - start).total_seconds() // isp_s)
            on = np.asarray(a.power_kw) > 0
            for name in a.connection_points:
                events[name][k0 : k0 + len(on)] |= on
        metering = Metering(
            self.s, Principal.system()
        )  # the readings of the activated points, whoever uploaded them
        got = compute_baselines(metering, names, start, end, tz, spec, isp_s, history_days, holidays, events)
        points = {
            p.name: p
            for p in self.s.scalars(select(ConnectionPointRow).where(ConnectionPointRow.name.in_(names)))
        }
        doc, names_of = self._document(acts, points, transfer_price_eur_per_mwh)
        result = settle(doc, got.grid, names, got.baseline_kw, got.metered_kw)
        now = now or utcnow()
        row = SettlementRow(
            run_by_org_id=self.p.org_id if revises is None else revises.run_by_org_id, start=start, end=end,
            tz=tz, baseline=spec.model_dump(mode="json"), history_days=history_days,
            transfer_price_eur_per_mwh=transfer_price_eur_per_mwh, activations=_summaries(result),
            holidays=[d.isoformat() for d in holidays or []], created_at=now,
            revision=1 if revises is None else revises.revision + 1, revises_id=None if revises is None else revises.id,
        )  # fmt: skip
        self.s.add(row)
        self.s.flush()
        self._write_lines(row.id, result, {v: k for k, v in names_of.items()})
        for i, name in enumerate(names):
            self._keep(points[name], got, i, tz, spec, row.id, now)
        for a in acts:
            a.status, a.settlement_id = ActivationStatus.SETTLED, row.id
        parties = sorted(
            {a.seller_org_id for a in acts} | {p.brp_org_id for p in points.values() if p.brp_org_id}
        )
        action = "settlement.created" if revises is None else "settlement.revised"
        for org in parties:
            audit(self.s, self.p, action, "settlement", row.id, at=now, subject_org_id=org,
                  detail={"activations": [a.id for a in acts], "revises": None if revises is None else revises.id})  # fmt: skip
        self.s.flush()
        return row

    def _document(
        self, acts: list[ActivationRow], points: dict[str, ConnectionPointRow], transfer: float
    ) -> tuple[SettlementDocument, dict[int, str]]:
        """The engine's settlement document: one engine activation per activated ISP (constant power)."""
        orgs = {a.buyer_org_id for a in acts} | {a.seller_org_id for a in acts}
        brps = {p.brp_org_id for p in points.values() if p.brp_org_id is not None}
        names_of = dict(
            self.s.execute(
                select(Organisation.id, Organisation.name).where(Organisation.id.in_(orgs | brps))
            ).all()
        )
        dsos = {a.buyer_org_id for a in acts if a.parent_id is None}
        prosumers = {a.seller_org_id for a in acts if a.parent_id is not None}
        role = {o: "BRP" if o in brps else "prosumer" if o in prosumers else "DSO" if o in dsos else "aggregator"
                for o in names_of}  # fmt: skip
        engine_acts = []
        for a in acts:
            for k, kw in enumerate(a.power_kw):
                if kw <= 0:
                    continue
                t0 = a.start + timedelta(seconds=a.isp_s * k)
                engine_acts.append({
                    "id": f"{a.id}/{k}", "buyer": names_of[a.buyer_org_id], "seller": names_of[a.seller_org_id],
                    "direction": a.direction, "start": t0.isoformat(), "end": (t0 + timedelta(seconds=a.isp_s)).isoformat(),
                    "power_kw": kw, "price_eur_per_mwh": a.price_eur_per_mwh, "penalty_eur_per_mwh": a.penalty_eur_per_mwh,
                    "meters": a.connection_points,
                    # a dispatch's energy is the activation's, corrected once in the market's settlement
                    "brp_correction": a.parent_id is None,
                })  # fmt: skip
        doc = SettlementDocument.model_validate({
            "participants": [{"id": names_of[o], "role": role[o]} for o in sorted(names_of)],
            "meters": [{"id": p.name, "brp": names_of.get(p.brp_org_id) if p.brp_org_id else None} for p in points.values()],
            "activations": engine_acts, "transfer_price_eur_per_mwh": transfer,
        })  # fmt: skip
        return doc, {int(k): str(v) for k, v in names_of.items()}

    def _write_lines(self, settlement_id: int, result: Settlement, org_of: dict[str, int]) -> None:
        lines = result.lines
        if not len(lines):
            return
        rows = [
            {"settlement_id": settlement_id, "period_start": t.to_pydatetime(), "item": item,
             "activation_id": int(oid.split("/")[0]), "payer_org_id": org_of[payer], "payee_org_id": org_of[payee],
             "energy_kwh": float(e), "price": float(pr), "price_unit": unit, "amount_eur": float(amt)}
            for t, item, oid, payer, payee, e, pr, unit, amt in zip(
                lines.period_start_utc, lines["item"], lines.order_id, lines.payer, lines.payee, lines.energy_kwh,
                lines.price, lines.price_unit, lines.amount_eur, strict=True)
        ]  # fmt: skip
        self.s.execute(insert(SettlementLineRow), rows)

    def get(self, settlement_id: int) -> SettlementRow:
        row = self.s.scalar(
            select(SettlementRow).where(SettlementRow.id == settlement_id, settlements_visible(self.p))
        )
        if row is None:
            raise NotFoundError(f"settlement {settlement_id} not found")
        return row

    def list_settlements(self, limit: int = 100, after_id: int = 0) -> list[SettlementRow]:
        q = select(SettlementRow).where(settlements_visible(self.p), SettlementRow.id > after_id)
        return list(self.s.scalars(q.order_by(SettlementRow.id).limit(limit)))

    def summaries(self, row: SettlementRow) -> list[dict[str, Any]]:
        """The activation summaries the caller is a party of (all for the runner and the book)."""
        return self.summaries_of([row])[row.id]

    def summaries_of(self, rows: list[SettlementRow]) -> dict[int, list[dict[str, Any]]]:
        """:meth:`summaries` of each settlement, by id: one query for a listing, not one per settlement."""
        whole = {r.id for r in rows if self.p.sees_book or r.run_by_org_id == self.p.org_id}
        part = [r.id for r in rows if r.id not in whole]
        mine: set[int] = set()
        if part:
            mine = set(self.s.scalars(select(ActivationRow.id).where(
                ActivationRow.settlement_id.in_(part), activations_visible(self.p))))  # fmt: skip
        return {r.id: [s for s in r.activations if r.id in whole or s["activation_id"] in mine] for r in rows}

    def statements(
        self, settlement_id: int, period: str | None = None, difference: bool = False
    ) -> pd.DataFrame:
        """The caller's statement (the runner and the book: everyone's), per participant, period, item
        and counterparty: energy_kwh and amount_eur (+ = receives), by the engine's own view.
        ``difference``: of a revision, what changed against the revision it replaces (new − old)."""
        row = self.get(settlement_id)
        q = select(SettlementLineRow).where(SettlementLineRow.settlement_id == row.id)
        lines = [(x, 1.0) for x in self.s.scalars(q.order_by(SettlementLineRow.id))]
        if difference:
            if row.revises_id is None:
                raise ConflictError(f"settlement {settlement_id} is a first revision: no difference")
            q = select(SettlementLineRow).where(SettlementLineRow.settlement_id == row.revises_id)
            lines += [(x, -1.0) for x in self.s.scalars(q.order_by(SettlementLineRow.id))]
        orgs = {o.id: o for o in self.s.scalars(select(Organisation))}
        frame = pd.DataFrame({
            "period_start_utc": pd.DatetimeIndex([x.period_start for x, _ in lines], tz="UTC") if lines else pd.DatetimeIndex([], tz="UTC"),
            "item": [x.item for x, _ in lines], "order_id": [str(x.activation_id) for x, _ in lines],
            "payer": [orgs[x.payer_org_id].name for x, _ in lines], "payee": [orgs[x.payee_org_id].name for x, _ in lines],
            "energy_kwh": [sign * x.energy_kwh for x, sign in lines], "price": [x.price for x, _ in lines],
            "price_unit": [x.price_unit for x, _ in lines], "amount_eur": [sign * x.amount_eur for x, sign in lines],
        })  # fmt: skip
        roles = {o.name: ",".join(o.role_names) for o in orgs.values()}
        out = Settlement(frame, pd.DataFrame(), roles).statements(period)
        if difference:  # what did not change is not a difference
            out = out[(out.amount_eur.abs() > 1e-9) | (out.energy_kwh.abs() > 1e-9)]
        if not (self.p.sees_book or row.run_by_org_id == self.p.org_id):
            out = out[out.participant == self.p.org_name]
        return out.reset_index(drop=True)

    # -- disputes
    def lines(self, settlement_id: int) -> list[SettlementLineRow]:
        """The settlement's lines the caller is a party of (the runner and the book: all), with ids."""
        row = self.get(settlement_id)
        q = select(SettlementLineRow).where(
            SettlementLineRow.settlement_id == row.id, settlement_lines_visible(self.p)
        )
        return list(self.s.scalars(q.order_by(SettlementLineRow.id)))

    def dispute(
        self, settlement_id: int, line_id: int, reason: str, now: datetime | None = None
    ) -> DisputeRow:
        """A party of a line objects to it; a correction of the readings behind it then re-settles."""
        row = self.get(settlement_id)
        line = self.s.scalar(select(SettlementLineRow).where(
            SettlementLineRow.id == line_id, SettlementLineRow.settlement_id == row.id))  # fmt: skip
        if line is None or not (self.p.is_admin or self.p.org_id in (line.payer_org_id, line.payee_org_id)):
            raise NotFoundError(f"line {line_id} of settlement {settlement_id} not found")
        if row.superseded_by_id is not None:
            raise ConflictError(
                f"settlement {settlement_id} was revised by settlement {row.superseded_by_id}: dispute that one"
            )
        now = now or utcnow()
        d = DisputeRow(settlement_id=row.id, line_id=line.id, raised_by_org_id=self.p.org_id, reason=reason,
                       status=DisputeStatus.OPEN, created_at=now)  # fmt: skip
        self.s.add(d)
        self.s.flush()
        other = line.payee_org_id if self.p.org_id == line.payer_org_id else line.payer_org_id
        for org in sorted({row.run_by_org_id, other} - {self.p.org_id}):
            audit(self.s, self.p, "settlement.disputed", "settlement", row.id, at=now, subject_org_id=org,
                  detail={"dispute_id": d.id, "line_id": line.id, "reason": reason})  # fmt: skip
        return d

    def disputes(self, settlement_id: int) -> list[DisputeRow]:
        """Disputes of the settlement's lines the caller is a party of (the runner and the book: all)."""
        mine = {x.id for x in self.lines(settlement_id)}
        q = select(DisputeRow).where(DisputeRow.settlement_id == settlement_id).order_by(DisputeRow.id)
        return [d for d in self.s.scalars(q) if d.line_id in mine]


def _summaries(result: Settlement) -> list[dict[str, Any]]:
    """One row per activation: the engine's per-ISP rows summed back."""
    acts = result.activations
    if not len(acts):
        return []
    acts = acts.assign(activation_id=acts.order_id.str.split("/").str[0].astype(int))
    sums = acts.groupby("activation_id", sort=True)[
        ["ordered_kwh", "delivered_kwh", "activation_eur", "penalty_eur"]
    ].sum()
    return [
        {"activation_id": int(i), **{k: round(float(v), 6) for k, v in r.items()},
         "performance_ratio": round(float(r.delivered_kwh / r.ordered_kwh), 6) if r.ordered_kwh else 0.0}
        for i, r in sums.iterrows()
    ]  # fmt: skip


def execute_settlement_job(store: Any, job_id: int) -> int:
    """Run a settlement job (``store``: a :class:`gridflex.store.Store`) as the organisation that
    started it: a settlement, or the revision of one (``params.revise``). The settlement and the job's
    success are written in one transaction; a settlement that cannot be computed (a missing
    baseline) fails the job with the reason, naming the activation, meter and time."""
    with store.transaction() as s:
        job = s.get_one(JobRow, job_id)
        params, org = dict(job.params), s.get_one(Organisation, job.created_by_org_id)
        principal = Principal(org.id, org.name, frozenset(Role(r) for r in org.role_names))
        progress(s, job_id, "settling", 0.25)
    try:
        with store.transaction() as s:
            st = Settlements(s, principal)
            if "revise" in params:
                row = st.revise(int(params["revise"]))
            else:
                row = st.run(
                    datetime.fromisoformat(params["start"]), datetime.fromisoformat(params["end"]), params["tz"],
                    BaselineSpec.model_validate(params["baseline"]), int(params["history_days"]),
                    float(params["transfer_price_eur_per_mwh"]), [date.fromisoformat(d) for d in params["holidays"]],
                    portfolio=bool(params.get("portfolio", False)),
                )  # fmt: skip
            n = len(row.activations)
            succeed(s, job_id, {"settlement_id": row.id, "revision": row.revision},
                    f"settled {n} activation{'' if n == 1 else 's'} (revision {row.revision})", utcnow())  # fmt: skip
            return row.id
    except (ValidationError, ConflictError, NotFoundError, PermissionDeniedError) as exc:
        with store.transaction() as s:
            fail(s, job_id, f"{type(exc).__name__}: {exc}", utcnow())
        return 0


def _resettle_disputed(
    s: Session, point: ConnectionPointRow, corrected: list[datetime], now: datetime
) -> None:
    """A correction of readings behind an open dispute re-settles its settlement (a job, once)."""
    first, last = min(corrected), max(corrected)
    disputed = (
        select(SettlementRow.id, SettlementRow.run_by_org_id)
        .join(DisputeRow, DisputeRow.settlement_id == SettlementRow.id)
        .where(DisputeRow.status == DisputeStatus.OPEN, SettlementRow.superseded_by_id.is_(None),
               SettlementRow.start <= last, SettlementRow.end > first)
        .distinct()
    )  # fmt: skip
    for row in s.execute(disputed).all():
        names = {n for (cps,) in s.execute(select(ActivationRow.connection_points).where(
            ActivationRow.settlement_id == row.id)) for n in cps}  # fmt: skip
        if point.name not in names:
            continue
        pending = s.scalars(select(JobRow).where(
            JobRow.kind == SETTLEMENT, JobRow.status.in_(("queued", "running")))).all()  # fmt: skip
        if any(j.params.get("revise") == row.id for j in pending):
            continue
        Jobs(s, Principal.system()).enqueue(SETTLEMENT, {"revise": row.id}, org_id=row.run_by_org_id)


CORRECTION_HOOKS.append(_resettle_disputed)
