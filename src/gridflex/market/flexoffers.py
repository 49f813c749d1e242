"""Flex-offer trading (TotalFlex): an aggregator sells aggregated flex-offers, a buyer schedules them.

The aggregator aggregates its prosumers' flex-offers (:func:`gridflex.flexoffer.aggregation.aggregate`)
and sells the aggregates: the buyer (BRP or DSO) acquires the right to assign schedules inside them.
The buyer schedules the aggregates against its own prices (e.g. day-ahead, or a DSO's congestion
prices) with :func:`gridflex.flexoffer.schedule.schedule_flexoffers`; the assignment flows back
to the prosumers by :func:`gridflex.flexoffer.disaggregation.disaggregate`.

Money: each prosumer is paid for moving away from its default schedule at its own unit prices
(:func:`gridflex.flexoffer.execution.activation_payment_eur`, EUR/MWh above and below), the
aggregator adds its margin, and the buyer pays that price. The buyer's value is the cost of the
default schedules minus the cost of the assigned ones at its prices. The trade goes through only if
the value covers the price: the result says so, with the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridflex.flexoffer.aggregation import Aggregation
from gridflex.flexoffer.disaggregation import disaggregate_assigned
from gridflex.flexoffer.execution import activation_payment_eur
from gridflex.flexoffer.model import FlexOfferBatch, Schedule, place_on_grid
from gridflex.flexoffer.schedule import ScheduleResult, schedule_flexoffers
from gridflex.timegrid import TimeGrid

__all__ = ["FlexOfferTrade", "trade_flexoffers"]


@dataclass(eq=False)
class FlexOfferTrade:
    accepted: bool
    reason: str
    buyer: str
    seller: str
    aggregate_schedule: ScheduleResult
    member_schedule: Schedule | None  # None when not accepted: prosumers keep their defaults
    member_payment_eur: np.ndarray  # per member of the aggregation
    price_eur: float  # paid by the buyer to the aggregator
    buyer_value_eur: float  # default cost − assigned cost at the buyer's prices
    default_cost_eur: float
    assigned_cost_eur: float

    @property
    def aggregator_margin_eur(self) -> float:
        return self.price_eur - float(self.member_payment_eur.sum())

    def to_json(self) -> dict:
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "buyer": self.buyer,
            "seller": self.seller,
            "price_eur": self.price_eur,
            "buyer_value_eur": self.buyer_value_eur,
            "default_cost_eur": self.default_cost_eur,
            "assigned_cost_eur": self.assigned_cost_eur,
            "prosumer_payments_eur": float(self.member_payment_eur.sum()),
            "aggregator_margin_eur": self.aggregator_margin_eur,
            "optimality_gap": self.aggregate_schedule.gap,
        }


def trade_flexoffers(
    aggregation: Aggregation,
    grid: TimeGrid,
    buyer_prices_eur_per_mwh: np.ndarray,
    buyer: str = "BRP",
    seller: str = "aggregator",
    margin: float = 0.1,
    limit_kw: float | np.ndarray | None = None,
    method: str = "auto",
    now_s: int | None = None,
) -> FlexOfferTrade:
    """The buyer schedules ``aggregation.aggregates`` at its prices; disaggregate; settle; see the module.

    ``margin``: the aggregator's mark-up on the prosumers' payments (0.1 = 10 %). The members need a
    default schedule and unit prices (as :func:`gridflex.flexoffer.fleet.generate_fleet` gives).
    ``now_s``: when the buyer decides (UTC seconds; None: no clock): aggregates whose acceptBeforeTime
    or assignmentBeforeTime has passed are not scheduled and their members keep their defaults.
    """
    members: FlexOfferBatch = aggregation.members
    prices = np.asarray(buyer_prices_eur_per_mwh, dtype=float)
    res = schedule_flexoffers(
        aggregation.aggregates, grid, prices, limit_kw=limit_kw, method=method, now_s=now_s
    )
    member_sched = disaggregate_assigned(aggregation, res.schedule)
    pay = np.nan_to_num(activation_payment_eur(members, member_sched))
    if members.default is None:  # activation_payment_eur has raised already; keeps mypy informed
        raise AssertionError("members need a default schedule")
    default_cost = float(place_on_grid(members, members.default, grid.start_s, grid.n) @ prices) / 1000.0
    assigned = float(place_on_grid(members, member_sched, grid.start_s, grid.n) @ prices) / 1000.0
    value = default_cost - assigned
    price = float(pay.sum()) * (1.0 + margin)
    ok = value >= price
    reason = (
        f"{'accepted' if ok else 'not accepted'}: the buyer saves {value:.2f} EUR at its prices "
        f"{'>=' if ok else '<'} the price {price:.2f} EUR (prosumer payments {pay.sum():.2f} EUR + {margin:.0%} margin)"
    )
    return FlexOfferTrade(
        accepted=ok, reason=reason, buyer=buyer, seller=seller, aggregate_schedule=res,
        member_schedule=member_sched if ok else None, member_payment_eur=pay if ok else np.zeros(len(members)),
        price_eur=price if ok else 0.0, buyer_value_eur=value, default_cost_eur=default_cost, assigned_cost_eur=assigned,
    )  # fmt: skip
