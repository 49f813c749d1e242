"""Capacity: reservation now, activation later (Enedis local tenders, TSO balancing reserves).

A :class:`CapacityTender` asks for ``required_mw`` available over a contract period, in one direction
(or symmetric, as FCR). :class:`CapacityBid` s offer MW at an availability price (EUR per MW per hour
of contract) and an activation price (EUR/MWh); an aggregator may pool several sites in one bid to
reach the tender's minimum size (e.g. 0.5 MW, falling to 0.25 MW). A bid is eligible when its pool
reaches the minimum, it can sustain the minimum activation duration, it is fast enough (full
activation time ≤ the reserve's) and its direction matches.

Selection is least cost (MILP: bids are all-or-nothing unless divisible), paid **pay as bid** or
**pay as clear** (every accepted MW at the highest accepted availability price). :func:`activate`
calls the reserved capacity within the activation calendar, in merit order of activation price, and
returns the instructions per bid and site.

Reserve full activation times (the eligibility defaults): FCR 30 s, aFRR 5 min, mFRR 12.5 min, RTE
rapid reserve 13 min, RTE complementary reserve 30 min; local flexibility as the tender says.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from gridflex.errors import Problem
from gridflex.market.errors import raise_market_error
from gridflex.optimize import Model

__all__ = [
    "FULL_ACTIVATION_S",
    "ActivationResult",
    "CapacityBid",
    "CapacityResult",
    "CapacityTender",
    "Reserve",
    "Site",
    "Window",
    "activate",
    "procure_capacity",
]


class Reserve(StrEnum):
    FCR = "fcr"
    AFRR = "afrr"
    MFRR = "mfrr"
    RTE_RAPID = "rte_rapid"
    RTE_COMPLEMENTARY = "rte_complementary"
    LOCAL = "local"  # DSO local flexibility with capacity reservation (Enedis tenders)


FULL_ACTIVATION_S: dict[Reserve, int | None] = {
    Reserve.FCR: 30,
    Reserve.AFRR: 300,
    Reserve.MFRR: 750,
    Reserve.RTE_RAPID: 13 * 60,
    Reserve.RTE_COMPLEMENTARY: 30 * 60,
    Reserve.LOCAL: None,
}

CapDirection = Literal["up", "down", "symmetric"]
_KEYS = ConfigDict(extra="forbid")


class Window(BaseModel):
    """A period in which the buyer may call activations (half-open ``[start, end)``)."""

    model_config = _KEYS
    start: AwareDatetime
    end: AwareDatetime


class CapacityTender(BaseModel):
    model_config = _KEYS

    tender_id: str = Field(min_length=1)
    buyer: str = Field(min_length=1, description="TSO or DSO.")
    reserve: Reserve
    direction: CapDirection
    place: str = Field("", description="Congestion point or zone.")
    contract_start: AwareDatetime
    contract_end: AwareDatetime
    required_mw: float = Field(gt=0)
    min_bid_mw: float = Field(0.0, ge=0, description="Smallest (pooled) bid, e.g. 0.5 MW.")
    min_duration_h: float = Field(0.0, ge=0, description="Each activation lasts at least this long.")
    max_activation_time_s: int | None = Field(None, description="Eligibility; default: the reserve's.")
    activation_calendar: list[Window] = Field(default_factory=list, description="Empty: the whole contract.")
    pricing: Literal["pay_as_bid", "pay_as_clear"] = "pay_as_bid"
    max_availability_price_eur_per_mw_h: float | None = None

    @model_validator(mode="after")
    def _period(self) -> CapacityTender:
        if self.contract_end <= self.contract_start:
            raise ValueError("contract_end must be after contract_start")
        return self

    @property
    def contract_h(self) -> float:
        return (self.contract_end - self.contract_start).total_seconds() / 3600.0

    @property
    def activation_limit_s(self) -> int | None:
        return (
            self.max_activation_time_s
            if self.max_activation_time_s is not None
            else FULL_ACTIVATION_S[self.reserve]
        )


class Site(BaseModel):
    model_config = _KEYS
    site_id: str
    power_mw: float = Field(gt=0)


class CapacityBid(BaseModel):
    model_config = _KEYS

    bid_id: str = Field(min_length=1)
    participant: str = Field(min_length=1)
    tender_id: str
    direction: CapDirection
    sites: list[Site] = Field(min_length=1, description="One site, or an aggregator's pool.")
    availability_price_eur_per_mw_h: float = Field(ge=0)
    activation_price_eur_per_mwh: float
    activation_time_s: int = Field(ge=0, description="Full activation time.")
    max_duration_h: float = Field(gt=0, description="Longest activation the pool sustains.")
    divisible: bool = False

    @property
    def power_mw(self) -> float:
        return float(sum(s.power_mw for s in self.sites))


class Award(BaseModel):
    bid_id: str
    participant: str
    awarded_mw: float
    availability_price_eur_per_mw_h: float  # the price paid (the bid's, or the clearing price)
    availability_payment_eur: float


class CapacityResult(BaseModel):
    tender_id: str
    pricing: str
    awards: list[Award]
    clearing_price_eur_per_mw_h: float | None
    procured_mw: float
    unmet_mw: float
    cost_eur: float
    reasons: dict[str, str]
    mip_gap: float | None
    status: str


def _eligibility(t: CapacityTender, b: CapacityBid, seen: set[str]) -> str:
    if b.bid_id in seen:
        return "duplicate bid_id"
    if b.tender_id != t.tender_id:
        return f"bid is for tender '{b.tender_id}', not '{t.tender_id}'"
    if b.direction != t.direction:
        return f"direction {b.direction} does not match the tender's {t.direction}"
    if b.power_mw < t.min_bid_mw - 1e-12:
        n = len(b.sites)
        pool = f"pool of {n} sites totals" if n > 1 else "single site of"
        return f"{pool} {b.power_mw:g} MW < the {t.min_bid_mw:g} MW minimum (pool sites to reach it)"
    limit = t.activation_limit_s
    if limit is not None and b.activation_time_s > limit:
        return f"too slow: full activation in {b.activation_time_s} s > {limit} s for {t.reserve}"
    if b.max_duration_h < t.min_duration_h:
        return f"sustains {b.max_duration_h:g} h < the {t.min_duration_h:g} h minimum duration"
    cap = t.max_availability_price_eur_per_mw_h
    if cap is not None and b.availability_price_eur_per_mw_h > cap:
        return f"availability price {b.availability_price_eur_per_mw_h:g} above the cap {cap:g} EUR/MW/h"
    return ""


def procure_capacity(
    tender: CapacityTender, bids: list[CapacityBid], time_limit_s: float = 10.0
) -> CapacityResult:
    """Least-cost award of the tender (see the module docstring); ineligible bids carry their reason."""
    reasons: dict[str, str] = {}
    seen: set[str] = set()
    ok: list[CapacityBid] = []
    for b in bids:
        why = _eligibility(tender, b, seen)
        key = b.bid_id if b.bid_id not in seen else f"{b.bid_id}#dup"
        seen.add(b.bid_id)
        if why:
            reasons[key] = f"not eligible: {why}"
        else:
            ok.append(b)
    mw = np.array([b.power_mw for b in ok])
    price = np.array([b.availability_price_eur_per_mw_h for b in ok])
    h = tender.contract_h
    m = Model(name=f"capacity-{tender.tender_id}")
    x = m.add_vars(
        len(ok), ub=1.0, cost=price * mw * h, integer=np.array([not b.divisible for b in ok], bool), name="x"
    )
    # shortfall priced above any bid so that it is used only when the bids cannot cover the need
    penalty = (float(price.max()) if len(ok) else 1.0) * 1e3 + 1e4
    short = m.add_vars(1, cost=penalty * h, name="unmet")
    m.add_constrs("cover", row=np.zeros(len(ok) + 1, dtype=np.int64), col=np.concatenate((x.idx, short.idx)),
                  val=np.concatenate((mw, [1.0])), lb=tender.required_mw, ub=np.inf, n_rows=1)  # fmt: skip
    sol = m.solve(time_limit_s=time_limit_s, mip_rel_gap=1e-6)
    share = np.clip(sol.value(x), 0.0, 1.0)
    share[share < 1e-9] = 0.0
    acc = share > 0
    clearing = float(price[acc].max()) if acc.any() else None
    awards = []
    for k, b in enumerate(ok):
        if not acc[k]:
            reasons[b.bid_id] = (
                f"not selected: cheaper bids cover the {tender.required_mw:g} MW "
                f"({b.availability_price_eur_per_mw_h:g} EUR/MW/h for {b.power_mw:g} MW)"
            )
            continue
        paid = clearing if tender.pricing == "pay_as_clear" and clearing is not None else float(price[k])
        awarded = float(mw[k] * share[k])
        awards.append(Award(bid_id=b.bid_id, participant=b.participant, awarded_mw=awarded,
                            availability_price_eur_per_mw_h=paid, availability_payment_eur=paid * awarded * h))  # fmt: skip
        how = "the clearing price" if tender.pricing == "pay_as_clear" else "its bid"
        reasons[b.bid_id] = f"awarded {awarded:g} MW, paid {paid:g} EUR/MW/h ({how})"
    procured = float(sum(a.awarded_mw for a in awards))
    return CapacityResult(
        tender_id=tender.tender_id, pricing=tender.pricing, awards=awards,
        clearing_price_eur_per_mw_h=clearing if tender.pricing == "pay_as_clear" else None,
        procured_mw=procured, unmet_mw=max(0.0, tender.required_mw - procured),
        cost_eur=float(sum(a.availability_payment_eur for a in awards)), reasons=reasons,
        mip_gap=None if np.isnan(sol.mip_gap) else float(sol.mip_gap), status=sol.status,
    )  # fmt: skip


# ---- activation -----------------------------------------------------------------------------------
class Instruction(BaseModel):
    bid_id: str
    participant: str
    site_id: str
    power_mw: float
    start: AwareDatetime
    end: AwareDatetime


class ActivationResult(BaseModel):
    instructions: list[Instruction]
    activated_mw: float
    unmet_mw: float
    activation_cost_eur: float


def activate(
    tender: CapacityTender,
    bids: list[CapacityBid],
    result: CapacityResult,
    start: datetime,
    duration_h: float,
    power_mw: float,
) -> ActivationResult:
    """Call ``power_mw`` of the reserved capacity for ``duration_h`` from ``start``.

    Raises :class:`MarketError` when the call lies outside the contract or the activation calendar or
    is shorter than the tender's minimum duration. Awarded bids are called in merit order of their
    activation price, each up to its awarded MW and only if it sustains the duration; each bid's
    share is split over its sites in proportion to their power (the aggregator's instruction).
    """
    end = start + timedelta(hours=duration_h)
    problems = []
    if start < tender.contract_start or end > tender.contract_end:
        problems.append(Problem(tender.tender_id, "start", "activation outside the contract period"))
    windows = tender.activation_calendar or [Window(start=tender.contract_start, end=tender.contract_end)]
    if not any(w.start <= start and end <= w.end for w in windows):
        problems.append(Problem(tender.tender_id, "start", "activation outside the activation calendar"))
    if duration_h < tender.min_duration_h:
        problems.append(
            Problem(tender.tender_id, "duration_h", f"shorter than the {tender.min_duration_h:g} h minimum")
        )
    raise_market_error("activation", problems)
    by_id = {b.bid_id: b for b in bids}
    awards = sorted(result.awards, key=lambda a: by_id[a.bid_id].activation_price_eur_per_mwh)
    need, cost, out = power_mw, 0.0, []
    for a in awards:
        b = by_id[a.bid_id]
        if need <= 1e-9 or b.max_duration_h < duration_h:
            continue
        mw = min(need, a.awarded_mw)
        need -= mw
        cost += mw * duration_h * b.activation_price_eur_per_mwh
        for s in b.sites:
            out.append(Instruction(bid_id=b.bid_id, participant=b.participant, site_id=s.site_id,
                                   power_mw=mw * s.power_mw / b.power_mw, start=start, end=end))  # fmt: skip
    return ActivationResult(instructions=out, activated_mw=power_mw - max(need, 0.0), unmet_mw=max(need, 0.0),
                            activation_cost_eur=cost)  # fmt: skip
