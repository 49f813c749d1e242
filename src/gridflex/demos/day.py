"""``gridflex demo``: the day from device to grid, end to end.

One winter day on a stressed SimBench MV feeder, on real day-ahead prices:

1. **Devices → CEMs (S2).** Home and office sites each run their own CEM (``gridflex.s2.server.CEM``,
   ephemeral port on 127.0.0.1, bearer token) with device simulators of ``gridflex rm simulate``
   connected over real WebSockets, all on one accelerated clock (as ``cem serve --speed``). The
   clock holds still while the devices connect, the CEMs make their first plans and the market
   round runs (:func:`~gridflex.demos.day_sites.held_clock`), so the day starts at 00:00 UTC whatever the machine's load; then
   the devices run the whole day. Each live site stands for ``like_sites`` sites like it behind its
   MV bus (an MV/LV substation): its plans, flexibility and meter readings count that many times,
   each like site's meter with its own noise.
2. **Sites → flex-offers (the C-VPP arrow).** Each CEM's first plan is the site's schedule and its
   baseline (USEF D-prognosis). The DSO's forecast (below) names the congested ISPs; each CEM's
   snapshot is then planned once more with the site's import capped at zero over them: the lowest
   import the site can reach there with every device need kept. Schedule minus that is its **up**
   flexibility; both become a FlexOffer with the site's bus as ``locationId``
   (:mod:`gridflex.flexoffer.from_site`). Its price: what the capped plan's energy costs more than
   the free plan's at day-ahead prices, per MWh of up, plus the site's margin.
3. **Aggregator.** The sites of one bus form one pool, aggregated (``flexoffer.aggregate``); each
   pool becomes a market FlexOffer (node = its bus, up, per ISP) at its members' energy-weighted
   price, plus the BRP correction it expects to pay (the day-ahead price), plus its margin.
4. **DSO (T-VPP).** A time-series AC power flow of the feeder with the stress generator's heat pumps
   and EVs plus the sites' baselines forecasts the overloads; a FlexRequest per overloaded branch
   and ISP asks for the MW above the rating (less the 1 % margin), with the sensitivities of every
   branch to the pools' buses as the FlexNetwork (``grid.distribution.relief``).
5. **Market.** ``clear_local``: least cost, network-aware. Accepted activations are disaggregated
   per pool to its sites against their baselines (``market.dispatch.dispatch_orders``), every site
   schedule checked inside its flex-offer, and reach the devices as S2 instructions: each CEM gets
   its site's new schedule as an import cap over the ISPs (``set_congestion_limit``) and re-plans.
6. **Delivery.** The simulators execute; each site's power is metered per ISP (with seeded meter
   noise), baselined (the nominated D-prognosis, ``market.baselines``) and settled
   (``market.settlement``): DSO → aggregator for the relief (penalty for a shortfall, BRP
   correction at the day-ahead price), aggregator → sites for their part. A second AC power flow
   with the metered sites verifies the relief.

Signs: power positive = consumption; flexibility **up** = more power into the grid.
Data: SimBench ``1-MV-semiurb--0-sw`` (ODbL; 2016-01-20, a Wednesday) with the stress generator's
``WINTER`` scenario, day-ahead prices of Germany/Austria/Luxembourg on 2018-01-17 (a Wednesday;
Bundesnetzagentur | SMARD.de, CC BY 4.0): the profiles' day is mapped onto the prices' day, period
by period. Site sizes, the number of like sites, margins, meter noise and penalty are synthetic (no
public data for them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridflex.demos.day_sites import (
    ISP_S,
    MIN_UP_KW,
    ZONE,
    LiveSites,
    first_plans,
    held_clock,
    instruct,
    meter,
    site_flexibility,
    window_kw,
)
from gridflex.errors import DataError, Problem, ValidationError
from gridflex.flexoffer.from_site import SiteFlexOffers, location_groups, site_flexoffers
from gridflex.flexoffer.model import FlexOfferBatch
from gridflex.market.dispatch import SiteDispatch
from gridflex.market.local import Direction, FlexNetwork, FlexOffer, FlexRequest, LocalResult
from gridflex.market.products import Product
from gridflex.market.settlement import Settlement, SettlementDocument
from gridflex.timegrid import TimeGrid

__all__ = ["STEPS", "DayConfig", "DayResult", "DaySink", "SiteSpec", "run_day"]

DAY = datetime(2018, 1, 17, tzinfo=UTC)
GRID_DAY = datetime(2016, 1, 20)  # SimBench profiles (read as UTC), a Wednesday as DAY
GRID = "mv-semiurb"
DSO, AGGREGATOR, BRP = "dso", "aggregator", "brp"
PENALTY_EUR_PER_MWH = 150.0  # the aggregator's shortfall towards the DSO
MAX_PRICE_EUR_PER_MWH = 1000.0  # the DSO's cap per request
AGGREGATOR_MARGIN_EUR_PER_MWH = 30.0

STEPS = ("grid", "sites", "plans", "requests", "flexoffers", "clearing", "instructions", "delivery",
         "settlement")  # fmt: skip
"""The steps of the day, in order (``on_step(step, seconds)`` after each)."""


@dataclass(frozen=True)
class SiteSpec:
    """One site of the day: its devices (simulator kinds), fuse, base load, feeder bus (index into the
    congestion point's buses) and how many like sites it stands for behind that bus."""

    name: str
    kinds: tuple[str, ...]
    fuse_kw: float
    base_kw: float
    bus: int
    like_sites: int = 1


HOMES = (
    SiteSpec("homes-a", ("battery", "heatpump", "ev"), 25.0, 0.5, 0, 60),
    SiteSpec("homes-b", ("battery", "heatpump", "ev"), 25.0, 0.4, 1, 60),
    SiteSpec("homes-c", ("battery", "heatpump"), 25.0, 0.6, 2, 60),
)
OFFICE = SiteSpec("offices", ("battery", "heatpump", "ev", "pv"), 60.0, 12.0, 2, 5)


@dataclass(frozen=True)
class DayConfig:
    """What the day runs: sites, clock and the synthetic parts (seeded)."""

    sites: tuple[SiteSpec, ...] = (*HOMES, OFFICE)
    speed: float = 1440.0  # simulated seconds per real second
    seed: int = 0
    meter_noise_kw: float = 0.05  # standard deviation of each ISP's meter reading
    # factor on the stress scenario's EV and heat-pump shares: at 0.85 (68 % of homes) the feeder is
    # overloaded with the sites' baselines (up to 116 %) and the sites can relieve all of it; at 1.0
    # the evening overload comes from the scenario's EVs and heat pumps, which charge when their
    # SimBench profiles say (no site offers them), and the sites relieve about half
    stress_scale: float = 0.85

    def validate(self) -> list[Problem]:
        out = []
        if not self.sites:
            out.append(Problem("day", "sites", "at least one site"))
        names = [s.name for s in self.sites]
        out += [
            Problem(n, "name", "appears more than once")
            for n in sorted({n for n in names if names.count(n) > 1})
        ]
        if not 1 <= self.speed <= 7200:
            out.append(
                Problem("day", "speed", f"1 to 7200 simulated seconds per real second, got {self.speed:g}")
            )
        if self.seed < 0:
            out.append(Problem("day", "seed", f"must be >= 0, got {self.seed}"))
        if not 0 <= self.meter_noise_kw < 10:
            out.append(Problem("day", "meter_noise_kw", f"0 to 10 kW, got {self.meter_noise_kw:g}"))
        if not 0 < self.stress_scale <= 1.25:
            out.append(Problem("day", "stress_scale", f"above 0 and at most 1.25, got {self.stress_scale:g}"))
        return out  # fmt: skip

    @property
    def start(self) -> datetime:
        return DAY

    @property
    def periods(self) -> int:
        return 24 * 3600 // ISP_S


@dataclass(eq=False)
class SiteRun:
    """One site through the day."""

    spec: SiteSpec
    bus_name: str
    element: int  # the feeder's load element at its bus (the site's power is added to it)
    plan_kw: np.ndarray  # the CEM's first plan (the baseline), per ISP of the day's window
    capped_kw: np.ndarray  # its plan with the import capped at zero in the requested ISPs
    up_kw: np.ndarray
    price_eur_per_mwh: float
    flex_cost_eur: float = 0.0  # what the capped plan's energy costs more than the free one (all its up)
    target_kw: np.ndarray | None = None  # after the activation (None: not activated)
    metered_kw: np.ndarray | None = None
    instructions_before: int = 0  # S2 instructions its devices received before the activation
    instructions_after: int = 0  # and after it
    instructed_at: list[datetime] = field(default_factory=list)  # execution times of those after it
    devices: list[dict[str, Any]] = field(default_factory=list)
    received_before: dict[str, int] = field(default_factory=dict)  # per device kind


@dataclass(eq=False)
class DayResult:
    """Everything the summary, the report and the tests read."""

    config: DayConfig
    grid: TimeGrid  # the day: 96 ISPs from ``config.start``
    prices_eur_per_mwh: np.ndarray  # on ``grid``
    sites: dict[str, SiteRun]
    flexoffers: SiteFlexOffers
    pools: dict[str, FlexOfferBatch]  # bus → its sites' flex-offers
    product: Product
    requests: list[FlexRequest]
    offers: list[FlexOffer]
    network: FlexNetwork
    cleared: LocalResult
    dispatch: dict[str, SiteDispatch]
    congestion_branch: str
    loading_pct: dict[str, np.ndarray]  # before / planned / delivered: the congested branch over the window
    overloaded_isps: dict[str, int]  # before / planned / delivered: ISPs with any branch over 100 %
    max_loading_pct: dict[str, float]
    baseline_kw: np.ndarray  # meters × ISPs (sites in ``meter_ids`` order)
    metered_kw: np.ndarray
    meter_ids: list[str]
    settlement_docs: tuple[SettlementDocument, SettlementDocument]  # the market's, the portfolio's
    settlement: Settlement
    wall_s: float
    step_s: dict[str, float] = field(default_factory=dict)
    overload_mwh: dict[str, float] = field(default_factory=dict)  # before / planned / delivered, all branches
    overloaded_requested: dict[str, int] = field(default_factory=dict)  # before / planned / delivered

    def gains_eur(self) -> dict[str, dict[str, float]]:
        """Per participant against doing nothing: the settlement's net and, for a site, what its
        activated share costs it in energy (its CEM's capped plan against its free one, at day-ahead
        prices, times the share of its offered up energy it was asked for) and the difference of both.
        The metered bill is not used: over a whole day it mostly measures the D-prognosis' error."""
        totals = self.settlement.totals()
        out = {str(p): {"settlement_eur": round(float(row["net_eur"]), 2)} for p, row in totals.iterrows()}
        for name, s in self.sites.items():
            offered = float(s.up_kw.sum())
            asked = 0.0 if s.target_kw is None else float((s.plan_kw - s.target_kw).sum())
            cost = s.flex_cost_eur * (asked / offered if offered > 0 else 0.0)
            row = out.setdefault(name, {"settlement_eur": 0.0})
            row["energy_cost_eur"] = round(cost, 2)
            row["gain_eur"] = round(row["settlement_eur"] - cost, 2)
        removed = self.overload_mwh.get("before", 0.0) - self.overload_mwh.get("delivered", 0.0)
        if DSO in out and self.overload_mwh:  # what the DSO bought: overload energy its lines did not carry
            out[DSO]["overload_removed_mwh"] = round(removed, 3)
            if removed > 0:
                out[DSO]["eur_per_mwh_removed"] = round(-out[DSO]["settlement_eur"] / removed, 2)
        return out

    def summary(self) -> list[tuple[str, str]]:
        c = self.cleared
        activated_kwh = sum(float(d.instructed_kw.sum()) for d in self.dispatch.values()) * self.grid.step_h
        ml = self.max_loading_pct
        oi = self.overloaded_isps
        return [
            ("day", f"{self.grid.start:%Y-%m-%d} UTC, {len(self.sites)} live sites over S2 standing for "
                    f"{sum(s.spec.like_sites for s in self.sites.values())}"),
            ("feeder", f"{GRID} (SimBench), winter stress; congestion at {self.congestion_branch}"),
            ("flexibility", "up = more power into the grid (less consumption); power + = consumption"),
            ("requests (DSO)", f"{len(self.requests)} FlexRequests over {len({r.isp for r in self.requests})} ISPs"),
            ("offers (aggregator)", f"{len(self.offers)} pools from {len(self.flexoffers.batch)} site flex-offers"),
            ("cleared", f"{sum(1 for v in c.activation.values() if v > 0)} accepted, {activated_kwh:.1f} kWh up, "
                        f"{c.cost_eur:.2f} EUR"),
            ("max loading (before → planned → delivered)",
             f"{ml['before']:.1f} % → {ml['planned']:.1f} % → {ml['delivered']:.1f} %"),
            ("ISPs overloaded (before → planned → delivered)",
             f"{oi['before']} → {oi['planned']} → {oi['delivered']}"),
            ("energy above the ratings in the requested ISPs (before → planned → delivered)",
             " → ".join(f"{self.overload_mwh.get(k, float('nan')):.2f}" for k in ("before", "planned", "delivered"))
             + " MWh"),
            ("residual (delivered)", self.residual()),
            ("S2 instructions after the activation",
             f"{sum(s.instructions_after for s in self.sites.values())} (to "
             f"{sum(1 for s in self.sites.values() if s.instructions_after)} sites)"),
            ("run time", f"{self.wall_s:.1f} s"),
        ]  # fmt: skip

    def residual(self) -> str:
        """What the delivered day leaves above the ratings, and why."""
        asked = self.overloaded_requested.get("delivered", 0)
        other = self.overloaded_isps["delivered"] - asked
        full = sum(1 for v in self.cleared.activation.values() if v >= 1 - 1e-6)
        out = [f"{asked} requested ISPs over the ratings"]
        if asked and not self.overloaded_requested.get("planned", 0):
            out.append("as cleared none: the sites delivered less than ordered there (metered)")
        elif asked:
            out.append(f"{full} of {len(self.offers)} offers accepted in full: the sites' flexibility there is exhausted"
                       if full == len(self.offers) else "the market's linear model under-bought")  # fmt: skip
        if other > 0:
            out.append(f"{other} other ISPs over: the sites' CEMs re-plan through the day and move consumption "
                       "around the capped ISPs (their first plan was the forecast; the flex-offers carry no rebound)")  # fmt: skip
        return "; ".join(out)

    def payments(self) -> list[tuple[str, str, float, str]]:
        """Who paid whom and why: (payer, payee, EUR, why), summed over the day, largest first."""
        lines = self.settlement.lines
        why = {"activation": "flexibility delivered", "penalty": "shortfall against the order",
               "imbalance_correction": "energy moved in the BRP's perimeter", "availability": "capacity held"}  # fmt: skip
        out = []
        for (payer, payee, item), amount in (
            lines.groupby(["payer", "payee", "item"]).amount_eur.sum().items()
        ):
            if abs(amount) < 0.005:
                continue
            if amount < 0:
                payer, payee, amount = payee, payer, -amount
            out.append((str(payer), str(payee), round(float(amount), 2), why.get(str(item), str(item))))
        return sorted(out, key=lambda r: -r[2])


class DaySink:
    """Where the day's actors report what they do, as they do it; the default keeps nothing
    (``gridflex demo --serve``: the service's API, :mod:`gridflex.demos.day_serve`). The round's methods
    run in a thread while the clock holds; :meth:`metered` runs on the day's event loop every sample
    and must return at once. The day's computations stay in this module: a sink only records them."""

    def requested(self, config: DayConfig, grid: TimeGrid, product: Product, requests: list[FlexRequest],
                  branch: str, sites: dict[str, SiteRun]) -> None:  # fmt: skip
        """The sites' baselines are known and the DSO has posted its requests."""

    def offered(self, flexoffers: SiteFlexOffers, offers: list[FlexOffer]) -> None:
        """The sites' flex-offers and the aggregator's pool offers."""

    def cleared(self, cleared: LocalResult, activated_kw: dict[str, np.ndarray]) -> None:
        """The clearing and each activated pool's kW per ISP of the window."""

    def metered(self, live: LiveSites, grid: TimeGrid) -> None:
        """A sample of the devices' power was taken (simulated time runs)."""

    def settled(self, result: DayResult) -> None:
        """The day is metered, settled and verified."""


# ── grid ─────────────────────────────────────────────────────────────────────────────────────


@dataclass(eq=False)
class _Feeder:
    net: Any
    series: Any  # ElementSeries of the whole day (96 ISPs), stressed
    buses: list[int]  # bus indices the sites may hang on (the congested feeder's, most sensitive first)


def _feeder(config: DayConfig) -> _Feeder:
    from gridflex.grid.distribution import forecast, load_grid, stress
    from gridflex.grid.distribution.stress import WINTER

    case = load_grid(GRID)
    net = case.network
    day = case.profiles.series(net, start=GRID_DAY, periods=96)
    # the sites join the feeder that congests under the full winter stress (the DSO's planning case);
    # the day itself runs at the configured share of it
    fc = forecast(net, stress(net, day, WINTER))
    if not fc.points:
        raise DataError(f"no congestion on {GRID} on {GRID_DAY:%Y-%m-%d} under the winter stress")
    scenario = replace(WINTER, ev_share=WINTER.ev_share * config.stress_scale,
                       heat_pump_share=WINTER.heat_pump_share * config.stress_scale)  # fmt: skip
    buses = [int(b) for b in fc.points[0].connection_buses]
    return _Feeder(net, stress(net, day, scenario), buses)


def _element_at(net: Any, bus: int) -> int:
    """The first load element at ``bus`` (loads come first among the elements)."""
    rows = np.flatnonzero(np.asarray(net.load.bus) == bus)
    if not len(rows):
        raise DataError(f"{GRID}: no load at bus {net.bus.name[bus]} for a site to join")
    return int(rows[0])


# ── the market round ─────────────────────────────────────────────────────────────────────────


def _requests_and_network(
    feeder: _Feeder, series: Any, product: Product, day_k0: int, buses: np.ndarray
) -> tuple[list[FlexRequest], FlexNetwork, np.ndarray, str]:
    """The DSO's FlexRequests (per element out of limits and ISP of the window) and its FlexNetwork."""
    from gridflex.grid.distribution.congestion import Limits
    from gridflex.grid.distribution.powerflow import PowerFlow
    from gridflex.grid.distribution.relief import grid_constraints, violated_periods

    net = feeder.net
    limits = Limits()
    result = PowerFlow(net).run(series, angles=True)
    bad = violated_periods(net, result, limits)
    bad[:day_k0] = False  # the window only: the market round is for the rest of the day
    isps = np.flatnonzero(bad)
    if not len(isps):
        raise DataError("no overload in the day's window: nothing for the DSO to request")
    constraints = grid_constraints(net, result, buses, isps, limits)
    requests = constraints.requests(product.product_id, "req", 5)
    names = [str(x) for x in net.branch_names()]
    worst = int(np.argmax(result.branch_loading_pct[isps].max(axis=0)))
    return requests, constraints.network(), isps, names[worst]


def _pool_offers(
    pools: dict[str, FlexOfferBatch], product: Product, isps_day: np.ndarray, k0: int,
    day_ahead_eur_per_mwh: np.ndarray,
) -> list[FlexOffer]:  # fmt: skip
    """One market FlexOffer (up) per pool: its aggregate's room below its summed baseline per ISP, at
    its sites' energy-weighted price plus the expected BRP correction and the aggregator's margin."""
    from gridflex.flexoffer.aggregation import aggregate

    offers = []
    for bus, fleet in pools.items():
        agg = aggregate(fleet, groups=np.zeros(len(fleet), dtype=np.int64)).aggregates
        dt_h = fleet.interval_s / 3600.0
        n = int(fleet.lengths[0])
        assert fleet.default is not None
        base_kw = fleet.default.energy_kwh.reshape(len(fleet), n).sum(axis=0) / dt_h
        up_kw = base_kw - agg.lower_kwh / dt_h
        w = isps_day - k0
        keep = up_kw[w] >= MIN_UP_KW
        if not keep.any():
            continue
        up_i = np.maximum(base_kw - fleet.lower_kwh.reshape(len(fleet), n) / dt_h, 0.0)[:, w].sum(axis=1)
        prices = fleet.price_below_eur_per_mwh
        price = float(np.average(prices, weights=up_i)) if up_i.sum() > 0 else float(prices.max())
        # the BRP correction the aggregator will pay for the energy it moves, at the day-ahead price
        price += float(np.mean(np.maximum(day_ahead_eur_per_mwh[w][keep], 0.0)))
        offers.append(FlexOffer(
            offer_id=f"pool-{bus}", participant=AGGREGATOR, product=product.product_id, congestion_point="",
            node=bus, direction=Direction.UP, isps=[int(t) for t in isps_day[keep]],
            power_mw=[float(np.floor(x * 1000.0) / 1e6) for x in up_kw[w][keep]],  # never above the room
            price_eur_per_mwh=round(price + AGGREGATOR_MARGIN_EUR_PER_MWH, 2), divisible=True,
            min_activation_factor=0.01))  # fmt: skip
    return offers


def _activated_kw(cleared: LocalResult, offers: list[FlexOffer], n: int, k0: int) -> dict[str, np.ndarray]:
    """Per pool (bus), the activated up power per ISP of the window (kW)."""
    out: dict[str, np.ndarray] = {}
    for o in offers:
        a = cleared.activation.get(o.offer_id, 0.0)
        kw = np.zeros(n)
        if a > 0:
            kw[np.asarray(o.isps) - k0] = a * np.asarray(o.power_mw, dtype=float) * 1000.0
        out[o.node] = kw
    return out


# ── settlement ───────────────────────────────────────────────────────────────────────────────


def _settlement_doc(result_sites: dict[str, SiteRun], dispatch: dict[str, SiteDispatch], pool_price: dict[str, float],
                    grid: TimeGrid, prices: np.ndarray) -> tuple[SettlementDocument, SettlementDocument]:  # fmt: skip
    """The market's document: per pool and ISP, DSO → aggregator (with a penalty, BRP correction on
    at the day-ahead price); the portfolio's: per site and ISP, aggregator → site at the site's price
    (the aggregator carries the penalty risk). Two documents: a meter is in one activation at a time."""

    def when(k: int) -> tuple[str, str]:
        t0 = grid.start + timedelta(seconds=ISP_S * k)
        return f"{t0:%Y-%m-%dT%H:%M:%SZ}", f"{t0 + timedelta(seconds=ISP_S):%Y-%m-%dT%H:%M:%SZ}"

    acts: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for bus, d in dispatch.items():
        members = [s for s in result_sites.values() if s.bus_name == bus]
        for k in np.flatnonzero(d.instructed_kw > 1e-6):
            start, end = when(int(k))
            acts.append({"id": f"order-{bus}-{k}", "buyer": DSO, "seller": AGGREGATOR, "direction": "up",
                         "start": start, "end": end, "power_kw": round(float(d.instructed_kw[k]), 6),
                         "price_eur_per_mwh": pool_price[bus], "penalty_eur_per_mwh": PENALTY_EUR_PER_MWH,
                         "meters": [s.spec.name for s in members]})  # fmt: skip
    for s in result_sites.values():
        if s.target_kw is None:
            continue
        part = s.plan_kw - s.target_kw
        for k in np.flatnonzero(part > 1e-6):
            start, end = when(int(k))
            parts.append({"id": f"part-{s.spec.name}-{k}", "buyer": AGGREGATOR, "seller": s.spec.name,
                         "direction": "up", "start": start, "end": end, "power_kw": round(float(part[k]), 6),
                         "price_eur_per_mwh": s.price_eur_per_mwh, "meters": [s.spec.name],
                         "brp_correction": False})  # fmt: skip
    participants = [
        {"id": DSO, "role": "DSO"},
        {"id": AGGREGATOR, "role": "aggregator"},
        {"id": BRP, "role": "BRP"},
    ]
    participants += [{"id": n, "role": "prosumer"} for n in result_sites]
    docs = tuple(SettlementDocument.model_validate({
        "participants": participants, "meters": [{"id": n, "brp": BRP} for n in result_sites],
        "activations": a, "transfer_price_eur_per_mwh": [float(max(p, 0.0)) for p in prices],
    }) for a in (acts, parts))  # fmt: skip
    return docs[0], docs[1]


# ── the day ──────────────────────────────────────────────────────────────────────────────────


def check_day_config(config: DayConfig) -> None:
    problems = config.validate()
    if problems:
        raise ValidationError("day", problems)


def run_day(
    config: DayConfig | None = None, on_step: Callable[[str, float], None] | None = None,
    sink: DaySink | None = None, on_clock: Callable[[datetime], None] | None = None,
) -> DayResult:  # fmt: skip
    """Run the day (module doc); ``on_step(step, seconds)`` after each of :data:`STEPS`; ``sink``
    records what the actors do as they do it; ``on_clock(simulated time)`` at each sample of the
    devices (every 20 ms of wall time: return at once)."""
    config = config or DayConfig()
    check_day_config(config)
    return asyncio.run(_day(config, on_step or (lambda step, s: None), sink or DaySink(), on_clock))


async def _day(
    config: DayConfig, on_step: Callable[[str, float], None], sink: DaySink,
    on_clock: Callable[[datetime], None] | None = None,
) -> DayResult:  # fmt: skip
    from gridflex.market.prices import prices_on_grid

    t_start = time.perf_counter()
    steps: dict[str, float] = {}
    mark = [time.perf_counter()]

    def done(step: str) -> None:
        now = time.perf_counter()
        steps[step] = now - mark[0]
        mark[0] = now
        on_step(step, steps[step])

    feeder = await asyncio.to_thread(_feeder, config)
    grid = TimeGrid(config.start, ISP_S, config.periods)
    prices = np.asarray(prices_on_grid(grid, ZONE), dtype=float)
    k0 = 96 - config.periods  # first ISP of the window in the day
    done("grid")
    buses = feeder.buses
    live = LiveSites(config, held_clock(config.speed, config.start))
    await live.start()
    try:
        result = await _market_and_delivery(
            config, feeder, grid, prices, k0, buses, live, done, sink, on_clock
        )
    except BaseException:
        await live.stop(cancel=True)
        raise
    summaries = await live.stop()
    for sims, site in zip(live.sims.values(), result.sites.values(), strict=True):
        for sim in sims:
            summ = summaries.pop(0)
            site.devices.append({"kind": sim.kind, "instructions_received": len(sim.received),
                                 "summary": summ if isinstance(summ, dict) else {"error": repr(summ)}})  # fmt: skip
    result.wall_s = time.perf_counter() - t_start
    result.step_s = steps
    await asyncio.to_thread(sink.settled, result)
    return result


async def _market_and_delivery(
    config: DayConfig, feeder: _Feeder, grid: TimeGrid, prices: np.ndarray, k0: int, buses: list[int],
    live: LiveSites, done: Callable[[str], None], sink: DaySink, on_clock: Callable[[datetime], None] | None,
) -> DayResult:  # fmt: skip
    from gridflex.market.local import clear_local

    stop = asyncio.Event()

    async def sampler() -> None:
        while not stop.is_set():
            live.sample()
            sink.metered(live, grid)
            if on_clock is not None:
                on_clock(live.clock.now())
            await asyncio.sleep(0.02)

    sampling = asyncio.create_task(sampler())
    try:
        done("sites")
        plans = await first_plans(live)
        done("plans")
        net, n = feeder.net, config.periods
        sites: dict[str, SiteRun] = {}
        delta = np.zeros_like(feeder.series.p_mw)
        for spec in config.sites:
            bus = buses[spec.bus % len(buses)]
            run = SiteRun(spec, str(net.bus.name[bus]), _element_at(net, bus), spec.like_sites * window_kw(plans[spec.name], config.start, n),
                          np.zeros(n), np.zeros(n), 0.0)  # fmt: skip
            delta[k0:, run.element] += run.plan_kw / 1000.0
            sites[spec.name] = run
        planned = feeder.series.with_changes(delta, "the sites' D-prognosis")
        product = Product.model_validate(dict(
            product_id=f"LF-{GRID}-{DAY:%Y-%m-%d}", kind="local_flex", isp_s=ISP_S, n_isps=96, delivery_start=DAY,
            price_min_eur_per_mwh=-1000, price_max_eur_per_mwh=MAX_PRICE_EUR_PER_MWH))  # fmt: skip
        pool_buses = np.unique([buses[s.bus % len(buses)] for s in config.sites])
        requests, network, isps, branch = await asyncio.to_thread(
            _requests_and_network, feeder, planned, product, k0, pool_buses
        )
        await asyncio.to_thread(sink.requested, config, grid, product, requests, branch, sites)
        done("requests")
        offers_in = await asyncio.gather(*(
            asyncio.to_thread(site_flexibility, live.cems[name], run, config.start, isps - k0, n)
            for name, run in sites.items()))  # fmt: skip
        flexoffers = site_flexoffers(offers_in)
        group, places = location_groups(flexoffers)
        pools = {
            str(places[g]): flexoffers.batch.take(np.flatnonzero(group == g)) for g in range(len(places))
        }
        offers = _pool_offers(pools, product, isps, k0, prices)
        if not offers:
            raise DataError("no site has up flexibility in the requested ISPs: nothing to offer")
        await asyncio.to_thread(sink.offered, flexoffers, offers)
        done("flexoffers")
        cleared = clear_local(product, requests, offers, network=network)  # ~0.1 s; the clock holds
        from gridflex.market.dispatch import dispatch_orders

        activated = {b: kw for b, kw in _activated_kw(cleared, offers, n, k0).items() if kw.any()}
        dispatch = dispatch_orders(pools, activated, "up") if activated else {}
        for d in dispatch.values():
            for i, sid in enumerate(d.members.ids.tolist()):
                assert d.members.schedule is not None
                sites[sid].target_kw = d.members.schedule.energy_kwh[i * n : (i + 1) * n] / grid.step_h
        await asyncio.to_thread(sink.cleared, cleared, activated)
        done("clearing")
        await instruct(live, sites, grid)
        live.clock.release()  # the market round is over: the devices run the day
        done("instructions")
        await asyncio.wait(live.tasks)
    finally:
        stop.set()
        await sampling
    rng = np.random.default_rng(config.seed)
    metered = meter(live, grid, rng, config.meter_noise_kw)
    for name, run in sites.items():
        run.metered_kw = metered[name]
        after = [m for s in live.sims[name] for m in s.received[run.received_before.get(s.kind, 0) :]]
        run.instructions_after = len(after)
        run.instructed_at = sorted(m.execution_time for m in after)
    done("delivery")
    result = _settle_and_verify(config, feeder, grid, prices, k0, sites, flexoffers, pools, product, requests,
                                offers, network, cleared, dispatch, branch, planned)  # fmt: skip
    done("settlement")
    return result


def _settle_and_verify(
    config: DayConfig, feeder: _Feeder, grid: TimeGrid, prices: np.ndarray, k0: int, sites: dict[str, SiteRun],
    flexoffers: SiteFlexOffers, pools: dict[str, FlexOfferBatch], product: Product, requests: list[FlexRequest],
    offers: list[FlexOffer], network: FlexNetwork, cleared: LocalResult, dispatch: dict[str, SiteDispatch],
    branch: str, planned: Any,
) -> DayResult:  # fmt: skip
    """Baseline (nominated D-prognosis), settlement, and the relief in the AC power flow."""
    from gridflex.grid.distribution.powerflow import PowerFlow
    from gridflex.market.baselines import BaselineSpec, compute_baseline, day_layout
    from gridflex.market.baselines.spec import BaselineInputs
    from gridflex.market.settlement import settle

    meter_ids = list(sites)
    metered = np.array([sites[m].metered_kw for m in meter_ids])
    layout = day_layout(grid, "UTC")
    inputs = BaselineInputs(layout, layout.day_mask([grid.start.date()]),
                            prognosis_kw=np.array([sites[m].plan_kw for m in meter_ids]))  # fmt: skip
    baseline = compute_baseline(metered, BaselineSpec.model_validate({"method": "nominated"}), inputs)
    pool_price = {o.node: o.price_eur_per_mwh for o in offers}
    docs = _settlement_doc(sites, dispatch, pool_price, grid, prices)
    both = [settle(d, grid, meter_ids, baseline, metered) for d in docs]
    settlement = Settlement(pd.concat([b.lines for b in both], ignore_index=True),
                            pd.concat([b.activations for b in both], ignore_index=True), both[0].roles)  # fmt: skip

    pf = PowerFlow(feeder.net)
    names = [str(x) for x in feeder.net.branch_names()]
    b = names.index(branch)
    from gridflex.grid.distribution.relief import rating_mw

    rating = rating_mw(feeder.net)
    loading, overloaded, worst, over_mwh, over_asked = {}, {}, {}, {}, {}
    for label, kw in (("before", None), ("planned", "target_kw"), ("delivered", "metered_kw")):
        delta = np.zeros_like(feeder.series.p_mw)
        for s in sites.values():
            v = getattr(s, kw) if kw else None
            if v is not None:
                delta[k0:, s.element] += (v - s.plan_kw) / 1000.0
        res = pf.run(planned.with_changes(delta), angles=False)
        pct = res.branch_loading_pct[k0:]
        loading[label] = pct[:, b].copy()
        overloaded[label] = int((pct > 100.0).any(axis=1).sum())
        worst[label] = float(pct.max(initial=0.0))
        # energy above the ratings, all branches, in the ISPs the DSO asked for (elsewhere the meters
        # differ from the baselines by the D-prognosis' error, not by the activations)
        asked = np.array(sorted({r.isp - k0 for r in requests}), dtype=np.int64)
        over_mwh[label] = float((np.clip(pct[asked] - 100.0, 0.0, None) / 100.0 * rating).sum() * grid.step_h)
        over_asked[label] = int((pct[asked] > 100.0).any(axis=1).sum())
    result = DayResult(config, grid, prices, sites, flexoffers, pools, product, requests, offers, network, cleared,
                     dispatch, branch, loading, overloaded, worst, baseline, metered, meter_ids, docs, settlement,
                     0.0)  # fmt: skip
    result.overload_mwh = over_mwh
    result.overloaded_requested = over_asked
    return result


def summary_json(result: DayResult) -> dict[str, Any]:
    """The day's figures as JSON (``summary.json``)."""
    return {
        "directions": "up = more power into the grid (less consumption); power positive = consumption",
        "day": f"{result.grid.start:%Y-%m-%dT%H:%M:%SZ}",
        "grid": GRID,
        "congestion_branch": result.congestion_branch,
        "requests": len(result.requests),
        "offers": len(result.offers),
        "clearing": result.cleared.to_json(),
        "max_loading_pct": {k: round(v, 2) for k, v in result.max_loading_pct.items()},
        "overloaded_isps": result.overloaded_isps,
        "overload_mwh": {k: round(v, 3) for k, v in result.overload_mwh.items()},
        "overloaded_requested_isps": result.overloaded_requested,
        "residual": result.residual(),
        "congestion_loading_pct": {k: [round(float(x), 2) for x in v] for k, v in result.loading_pct.items()},
        "sites": {n: {"bus": s.bus_name, "price_up_eur_per_mwh": s.price_eur_per_mwh,
                      "up_offered_kwh": round(float(s.up_kw.sum()) * result.grid.step_h, 3),
                      "activated_kwh": 0.0 if s.target_kw is None else round(float((s.plan_kw - s.target_kw).sum()) * result.grid.step_h, 3),
                      "instructions_after_activation": s.instructions_after, "devices": s.devices}
                  for n, s in result.sites.items()},
        "payments": [{"payer": a, "payee": b, "eur": e, "why": w} for a, b, e, w in result.payments()],
        "gains_eur": result.gains_eur(),
        "wall_s": round(result.wall_s, 2),
        "step_s": {k: round(v, 3) for k, v in result.step_s.items()},
    }  # fmt: skip


def write_day(result: DayResult, out: str | Path) -> dict[str, Path]:
    """Write the day under ``out``: the offline report, the sites' flex-offers (FlexOffer JSON with
    ``locationId`` and the schedules the market gave them), the local market round (``gridflex market
    local`` reads it), the settlement statements and a JSON summary. Returns name → path."""
    from gridflex.flexoffer.from_site import site_flexoffers_to_json
    from gridflex.market.io import LocalDocument
    from gridflex.reports.day import day_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in {"report": "report.html", "flexoffers": "flexoffers.json",
             "local": "local-round.json", "statements": "statements.csv", "summary": "summary.json"}.items()}  # fmt: skip
    paths["flexoffers"].write_text(json.dumps(site_flexoffers_to_json(_with_schedules(result)), indent=1) + "\n",
                                   encoding="utf-8")  # fmt: skip
    round_ = LocalDocument.model_validate(dict(product=result.product, requests=result.requests,
                                               offers=result.offers, network=result.network))  # fmt: skip
    paths["local"].write_text(round_.model_dump_json(indent=1, exclude_none=True) + "\n", encoding="utf-8")
    result.settlement.write_csv(paths["statements"])
    paths["summary"].write_text(json.dumps(summary_json(result), indent=1) + "\n", encoding="utf-8")
    day_report(result, paths["report"])
    return paths


def _with_schedules(result: DayResult) -> SiteFlexOffers:
    """The sites' flex-offers with the schedule each was given (its baseline where not activated)."""
    from gridflex.flexoffer.model import Schedule

    batch = result.flexoffers.batch
    assert batch.default is not None
    energy = batch.default.energy_kwh.copy()
    for i, sid in enumerate(batch.ids.tolist()):
        target = result.sites[sid].target_kw
        if target is not None:
            energy[batch.offsets[i] : batch.offsets[i + 1]] = target * result.grid.step_h
    return SiteFlexOffers(
        batch.with_schedule(Schedule(batch.default.start_s, energy)), result.flexoffers.locations
    )
