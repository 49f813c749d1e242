"""Close the loop: forecast needs → market FlexRequests → offers → network-aware clearing → activation →
AC re-check, day by day over a horizon (a day, a week, a stressed year).

Per day, in up to ``rounds`` rounds:

1. AC power flow of the day: the periods with a branch above its loading limit or a bus voltage
   outside the band are requested.
2. Offers (:func:`generate_offers`, or the caller's): per connection element (load, PV, storage) and
   direction, at its bus, for the requested periods of the round.
3. :func:`grid_constraints` at the round's operating points: every branch (MW of its rating) and
   bus voltage (MW-equivalent) as an element of a :class:`FlexNetwork`, with one sensitivity block
   per requested ISP (the Jacobian of that ISP). One FlexRequest per element out of limits and ISP,
   for its excess over the limit less the margin (USEF, pay as bid); ``clear_local``.
4. The accepted activations change the consumption of the offering elements only; the AC power flow
   checks the result. What is still violated in requested periods is asked again in the next round
   (the linearisation misses a little on large overloads), from what the offers have left.

Signs: power positive = consumption; flexibility **up** = more power into the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC

import numpy as np

from gridflex.errors import FlexOfferValidationError, Problem, ValidationError
from gridflex.flexoffer.from_site import SiteFlexOffers
from gridflex.grid.distribution.congestion import Limits, find_violations
from gridflex.grid.distribution.model import ELEMENT_KINDS, DistributionNetwork
from gridflex.grid.distribution.powerflow import PowerFlow, PowerFlowResult
from gridflex.grid.distribution.profiles import ElementSeries
from gridflex.grid.distribution.sensitivity import sensitivities
from gridflex.market.local import (
    Direction,
    FlexNetwork,
    FlexOffer,
    FlexRequest,
    SensitivityBlock,
    clear_local,
)
from gridflex.market.products import Product

DSO, AGGREGATOR = "dso", "aggregator"
MAX_PRICE_EUR_PER_MWH = 1000.0  # the DSO's cap per request: a congestion costs more than any offer here


@dataclass(frozen=True)
class OfferModel:
    """How :func:`generate_offers` draws offers (synthetic: no public data on flexibility prices).

    Per element, seeded: a load curtails (up) a share of its consumption, PV curtails (down) a share
    of its production, storage shifts a share of its rating both ways. A share ``divisible_share`` of
    the offers is divisible (down to ``min_activation_factor``), the rest all or nothing.
    """

    # the stress scenarios' EVs and heat pumps make most of a winter peak, and they are the flexible part
    load_share: tuple[float, float] = (0.3, 0.7)
    pv_share: tuple[float, float] = (0.5, 1.0)
    storage_share: tuple[float, float] = (0.5, 1.0)
    load_price_eur_per_mwh: tuple[float, float] = (60.0, 250.0)
    pv_price_eur_per_mwh: tuple[float, float] = (20.0, 120.0)
    storage_price_eur_per_mwh: tuple[float, float] = (80.0, 200.0)
    divisible_share: float = 0.6
    min_activation_factor: float = 0.25
    seed: int = 0


@dataclass
class OfferPool:
    """The day's flexibility, per offer: element, direction, MW per period (0: none), price."""

    element: np.ndarray  # element index (loads, sgens, storage)
    up: np.ndarray  # True: up (less consumption / more production)
    power_mw: np.ndarray  # (offers, periods) available
    price_eur_per_mwh: np.ndarray
    divisible: np.ndarray
    min_activation_factor: np.ndarray
    source: np.ndarray | None = None  # str per offer: who offers it (None: the element's name)

    def window(self, t0: int, n: int) -> OfferPool:
        """The same offers over periods ``t0 .. t0 + n``."""
        return replace(self, power_mw=self.power_mw[:, t0 : t0 + n])

    @staticmethod
    def join(pools: list[OfferPool], names: np.ndarray) -> OfferPool:
        """One pool of several (``names``: the series' element names, the source of unnamed offers)."""

        def src(p: OfferPool) -> np.ndarray:
            return p.source if p.source is not None else np.asarray(names, dtype=object)[p.element]

        def cat(f: str) -> np.ndarray:
            return np.concatenate([getattr(p, f) for p in pools])

        return OfferPool(cat("element"), cat("up"), cat("power_mw"), cat("price_eur_per_mwh"), cat("divisible"),
                         cat("min_activation_factor"), np.concatenate([src(p) for p in pools]))  # fmt: skip


def site_offers(
    net: DistributionNetwork, series: ElementSeries, flexoffers: SiteFlexOffers
) -> tuple[np.ndarray, OfferPool]:
    """Flex-offers located on connection buses (``locationId`` = bus name) as the grid sees them: their
    default schedules as a change of consumption at their bus (periods × elements, MW, on the first
    element there) and their flexibility as offers over the periods of ``series``: **up** = default −
    lower at the price below the default, **down** = upper − default at the price above it (a
    direction without a price is not offered). Divisible down to 1 %. Fixed profiles only
    (``startAfterTime`` = ``startBeforeTime``), on the series' step; intervals outside it are left
    out. Raises :class:`FlexOfferValidationError` naming each offer and field that cannot be placed."""
    batch, step_s = flexoffers.batch, series.step_min * 60
    bus = {str(n): i for i, n in enumerate(net.bus.name)}
    bus_of = net.element_bus()
    problems = []
    for i, (oid, loc) in enumerate(zip(batch.ids.tolist(), flexoffers.locations.tolist(), strict=True)):
        if loc not in bus or not (bus_of == bus[loc]).any():
            problems.append(
                Problem(str(oid), "locationId", f"{loc!r} is not a bus of {net.name} with a connection")
            )
        if batch.est_s[i] != batch.lst_s[i]:
            problems.append(
                Problem(str(oid), "startBeforeTime", "must equal startAfterTime: a fixed profile")
            )
    if batch.interval_s != step_s:
        problems.append(
            Problem("flex-offers", "interval_s", f"{batch.interval_s} s, the grid's step is {step_s} s")
        )
    if batch.default is None:
        problems.append(Problem("flex-offers", "defaultSchedule", "needed: the sites' planned consumption"))
    if problems:
        raise FlexOfferValidationError("located flex-offers", problems)  # fmt: skip
    assert batch.default is not None
    t0_s = int(series.start.replace(tzinfo=series.start.tzinfo or UTC).timestamp())
    dt_h = step_s / 3600.0
    delta = np.zeros_like(series.p_mw)
    element, up, power, price, source = [], [], [], [], []
    for i, oid in enumerate(batch.ids.tolist()):
        a, b = int(batch.offsets[i]), int(batch.offsets[i + 1])
        k = (int(batch.est_s[i]) - t0_s) // step_s + np.arange(b - a)
        on = (k >= 0) & (k < series.periods)
        e = int(np.flatnonzero(bus_of == bus[str(flexoffers.locations[i])])[0])
        default = np.asarray(batch.default.energy_kwh[a:b], dtype=float) / dt_h / 1e3  # MW
        delta[k[on], e] += default[on]
        for direction, room, p in (
            (True, default - np.asarray(batch.lower_kwh[a:b]) / dt_h / 1e3, batch.price_below_eur_per_mwh[i]),
            (
                False,
                np.asarray(batch.upper_kwh[a:b]) / dt_h / 1e3 - default,
                batch.price_above_eur_per_mwh[i],
            ),
        ):
            mw = np.zeros(series.periods)
            mw[k[on]] = np.clip(room[on], 0.0, None)
            if not np.isfinite(p) or mw.max() <= 0:
                continue
            element.append(e)
            up.append(direction)
            power.append(mw)
            price.append(float(p))
            source.append(str(oid))
    n = len(element)
    pool = OfferPool(np.asarray(element, dtype=np.int64), np.asarray(up, dtype=bool),
                     np.asarray(power, dtype=float).reshape(n, series.periods), np.asarray(price, dtype=float),
                     np.ones(n, dtype=bool), np.full(n, 0.01), np.asarray(source, dtype=object))  # fmt: skip
    return delta, pool


VOLTAGE_PREFIX = "V "  # a voltage element of the FlexNetwork: "V <bus name>"


@dataclass
class GridConstraints:
    """The DSO's linear view of its grid for one clearing: every branch loading and bus voltage as an
    element of a :class:`FlexNetwork`, with per-ISP sensitivities at the AC operating point.

    Branches count in MW of their rating (loading % × rating / 100), within ``loading_pct`` less its
    margin. A bus voltage counts as its distance from the middle of the band, in **MW-equivalent**:
    pu divided by the strongest sensitivity of that voltage to injection at the network's nodes, so a
    voltage request asks for the MW of injection (up) or withdrawal (down) at the most effective
    node; its limit is the half band less the voltage margin. Elements: branches, then voltages.
    """

    elements: list[str]
    nodes: list[str]
    quantity: np.ndarray  # "loading" or "voltage", per element
    base: np.ndarray  # (elements, ISPs of the horizon): forecast flow, MW or MW-equivalent
    limit: np.ndarray  # (elements,): the limit less the margin
    over: np.ndarray  # (elements, ISPs): out of limits (the limit itself, without margin)
    isps: np.ndarray  # ISPs with their own sensitivity block
    sensitivity: np.ndarray  # (len(isps), elements, nodes): flow change per MW injected

    def network(self) -> FlexNetwork:
        """The :class:`FlexNetwork`: one sensitivity block per ISP of ``isps``; their mean elsewhere."""
        mean = (
            self.sensitivity.mean(axis=0)
            if len(self.isps)
            else np.zeros((len(self.elements), len(self.nodes)))
        )
        return FlexNetwork(
            nodes=self.nodes, elements=self.elements, sensitivity=mean.tolist(),
            sensitivity_blocks=[SensitivityBlock(isps=[int(t)], sensitivity=m.tolist())
                                for t, m in zip(self.isps, self.sensitivity, strict=True)],
            base_flow_mw=self.base.tolist(), limit_mw=self.limit.tolist(),
        )  # fmt: skip

    def requests(
        self, product_id: str, prefix: str, decimals: int,
        max_price_eur_per_mwh: float = MAX_PRICE_EUR_PER_MWH, where: np.ndarray | None = None,
    ) -> list[FlexRequest]:  # fmt: skip
        """The DSO's requests: one per element out of limits (``over``, and ``where`` if given: elements ×
        ISPs) in an ISP with a block, for its excess over the limit less the margin, rounded up to
        ``decimals`` decimals of a MW, at most ``max_price_eur_per_mwh``. Its direction is the one
        that relieves it: up where more injection at the nodes lowers the excess (an overload fed
        from upstream, an under-voltage), down where it raises it (a reverse flow, an over-voltage)."""
        over = self.over[:, self.isps] if where is None else (self.over & where)[:, self.isps]
        scale = 10.0**decimals
        out = []
        for k, e in zip(*np.nonzero(over.T), strict=True):
            t = int(self.isps[k])
            need = float(np.ceil((abs(self.base[e, t]) - self.limit[e]) * scale) / scale)
            if need <= 0:
                continue
            relief = -np.sign(self.base[e, t]) * self.sensitivity[k, e].sum()  # per MW injected everywhere
            out.append(FlexRequest(
                request_id=f"{prefix}-{self.elements[e]}-{t}", participant=DSO, product=product_id,
                congestion_point=self.elements[e], isp=t, direction=Direction.UP if relief >= 0 else Direction.DOWN,
                power_mw=need, max_price_eur_per_mwh=max_price_eur_per_mwh))  # fmt: skip
        return out


def grid_constraints(
    net: DistributionNetwork,
    result: PowerFlowResult,
    buses: np.ndarray,
    isps: np.ndarray,
    limits: Limits | None = None,
) -> GridConstraints:
    """:class:`GridConstraints` of ``net`` at the operating points of ``result`` (the product's horizon,
    with angles), with nodes at ``buses`` and a sensitivity block per ISP of ``isps``."""
    limits = limits or Limits()
    isps = np.asarray(isps, dtype=np.int64)
    buses = np.asarray(buses, dtype=np.int64)
    rating = rating_mw(net)
    used = np.flatnonzero(rating > 0)
    loading = result.branch_loading_pct
    sub = replace(
        result,
        voltage_pu=result.voltage_pu[isps],
        angle_rad=None if result.angle_rad is None else result.angle_rad[isps],
        line_loading_pct=result.line_loading_pct[isps],
        trafo_loading_pct=result.trafo_loading_pct[isps],
    )
    sens = sensitivities(net, sub, buses)  # per MW of consumption: injection is its opposite
    s_l = -sens.loading_pct_per_mw[:, used] / 100.0 * rating[used, None]
    # voltages: every live bus that injection at the nodes moves (not the slack)
    dv = -np.nan_to_num(sens.voltage_pu_per_mw)  # (ISPs, buses, nodes), pu per MW injected
    strongest = np.abs(dv).mean(axis=0).max(axis=1, initial=0.0)  # pu per MW at the most effective node
    live = np.isfinite(result.voltage_pu).all(axis=0)
    vbus = np.flatnonzero(live & (strongest > 1e-9))
    mw_per_pu = 1.0 / strongest[vbus]
    middle = (limits.voltage_max_pu + limits.voltage_min_pu) / 2.0
    half = (limits.voltage_max_pu - limits.voltage_min_pu) / 2.0
    v = result.voltage_pu[:, vbus]
    with np.errstate(invalid="ignore"):
        v_over = (v < limits.voltage_min_pu) | (v > limits.voltage_max_pu)
    return GridConstraints(
        elements=[str(n) for n in net.branch_names()[used]] + [VOLTAGE_PREFIX + str(b) for b in net.bus.name[vbus]],
        nodes=[str(b) for b in net.bus.name[buses]],
        quantity=np.array(["loading"] * len(used) + ["voltage"] * len(vbus)),
        base=np.concatenate([(loading[:, used] / 100.0 * rating[used]).T, ((v - middle) * mw_per_pu).T]),
        limit=np.concatenate([rating[used] * (limits.loading_pct - limits.loading_margin_pct) / 100.0,
                              (half - limits.voltage_margin_pu) * mw_per_pu]),
        over=np.concatenate([(loading[:, used] > limits.loading_pct).T, v_over.T]),
        isps=isps,
        sensitivity=np.concatenate([s_l, dv[:, vbus] * mw_per_pu[None, :, None]], axis=1),
    )  # fmt: skip


def generate_offers(
    net: DistributionNetwork, series: ElementSeries, model: OfferModel | None = None, day: int = 0
) -> OfferPool:
    """Offers from the flexible load, PV and storage of every connection (see :class:`OfferModel`).

    ``day`` enters the seed, so that each day of a year draws its own prices, reproducibly.
    """
    model = model or OfferModel()
    rng = np.random.default_rng([model.seed, day])
    kinds = np.concatenate([np.full(len(net.tables[k]), k, dtype=object) for k in ELEMENT_KINDS])
    p = series.p_mw.T  # elements × periods, + consumption
    elements, up, power, price = [], [], [], []
    for e, kind in enumerate(kinds):
        if kind == "load":
            options = [(True, model.load_share, model.load_price_eur_per_mwh, np.clip(p[e], 0, None))]
        elif kind == "sgen":
            options = [(False, model.pv_share, model.pv_price_eur_per_mwh, np.clip(-p[e], 0, None))]
        else:  # storage: its rating, either way, whatever its schedule
            rated = np.full(series.periods, abs(float(net.storage.p_mw[e - len(net.load) - len(net.sgen)])))
            options = [
                (d, model.storage_share, model.storage_price_eur_per_mwh, rated) for d in (True, False)
            ]
        for direction, share, prices, avail_mw in options:
            if avail_mw.max() <= 0:
                continue
            elements.append(e)
            up.append(direction)
            power.append(rng.uniform(*share) * avail_mw)
            price.append(round(float(rng.uniform(*prices)), 0))
    n = len(elements)
    divisible = rng.random(n) < model.divisible_share
    return OfferPool(
        np.asarray(elements, dtype=np.int64),
        np.asarray(up, dtype=bool),
        np.asarray(power, dtype=float).reshape(n, series.periods),
        np.asarray(price, dtype=float),
        divisible,
        np.where(divisible, model.min_activation_factor, 1.0),
    )


@dataclass
class DayRelief:
    """One day of the loop."""

    start: str
    periods_requested: np.ndarray  # period indices with a request (any round)
    periods_residual: np.ndarray  # requested periods still violated (loading or voltage) after relief
    unrequested_periods: np.ndarray  # periods violated after relief that no round requested (new ones)
    requests: int
    offers: int
    accepted: int
    energy_mwh: float
    cost_eur: float
    max_loading_before_pct: float
    max_loading_after_pct: float
    voltage_before_pu: tuple[float, float]  # lowest and highest bus voltage
    voltage_after_pu: tuple[float, float]
    rounds: int  # clearing rounds run (0: nothing to request, or no offer)
    delta_p_mw: np.ndarray  # periods × elements: change of consumption by the activations
    orders: list[dict] = field(default_factory=list)  # accepted offers: id, element, factor, MWh, EUR


@dataclass
class Relief:
    """The loop over a horizon: the days, and the relieved series."""

    days: list[DayRelief]
    relieved: ElementSeries

    def summary(self) -> dict:
        req = sum(len(d.periods_requested) for d in self.days)
        res = sum(len(d.periods_residual) for d in self.days)
        return {
            "days": len(self.days),
            "days_congested": sum(len(d.periods_requested) > 0 for d in self.days),
            "periods_requested": req,
            "periods_relieved": req - res,
            "periods_residual": res,
            "relieved_share": round((req - res) / req, 4) if req else 1.0,
            "unrequested_periods": sum(len(d.unrequested_periods) for d in self.days),
            "requests": sum(d.requests for d in self.days),
            "offers": sum(d.offers for d in self.days),
            "accepted": sum(d.accepted for d in self.days),
            "energy_mwh": round(sum(d.energy_mwh for d in self.days), 4),
            "cost_eur": round(sum(d.cost_eur for d in self.days), 2),
            "max_loading_before_pct": round(
                max((d.max_loading_before_pct for d in self.days), default=0.0), 2
            ),
            "max_loading_after_pct": round(max((d.max_loading_after_pct for d in self.days), default=0.0), 2),
            "min_voltage_before_pu": _extreme(self.days, "voltage_before_pu", 0),
            "min_voltage_after_pu": _extreme(self.days, "voltage_after_pu", 0),
            "max_voltage_before_pu": _extreme(self.days, "voltage_before_pu", 1),
            "max_voltage_after_pu": _extreme(self.days, "voltage_after_pu", 1),
        }


def _extreme(days: list[DayRelief], attr: str, which: int) -> float | None:
    values = [getattr(d, attr)[which] for d in days if np.isfinite(getattr(d, attr)[which])]
    if not values:
        return None
    return round(float(min(values) if which == 0 else max(values)), 4)


def rating_mw(net: DistributionNetwork) -> np.ndarray:
    """Branch ratings (lines then transformers) in MVA, read as MW: loading % × rating / 100 = flow."""
    line = np.sqrt(3.0) * net.bus.vn_kv[net.line.from_bus] * net.line.max_i_ka
    return np.concatenate([line, net.trafo.rating_mva]).astype(float)


def relieve_by_market(
    net: DistributionNetwork,
    series: ElementSeries,
    limits: Limits | None = None,
    offer_model: OfferModel | None = None,
    rounds: int = 3,
    pf: PowerFlow | None = None,
    flexoffers: SiteFlexOffers | None = None,
    grid_offers: bool = True,
) -> Relief:
    """The loop (module docstring) day by day over ``series``; returns every day and the relieved series.

    ``flexoffers``: sites' flex-offers located on connection buses (:func:`site_offers`): their
    default schedules join the series (the relieved series includes them) and their flexibility is
    offered next to the grid elements' own (``grid_offers``: drawn by ``offer_model``; False: the
    located flex-offers only)."""
    limits = limits or Limits()
    pf = pf or PowerFlow(net)
    if not grid_offers and flexoffers is None:
        raise ValidationError(
            "relief", [Problem("relief", "flexoffers", "no offers: give flex-offers or grid_offers")]
        )
    sites = None
    if flexoffers is not None:
        planned, sites = site_offers(net, series, flexoffers)
        series = series.with_changes(planned, "the located flex-offers' default schedules")
    per_day = 24 * 60 // series.step_min
    days, deltas = [], []
    for d, t0 in enumerate(range(0, series.periods, per_day)):
        day = series.window(t0, min(per_day, series.periods - t0))
        pools = [generate_offers(net, day, offer_model, d)] if grid_offers else []
        if sites is not None:
            pools.append(sites.window(t0, day.periods))
        days.append(_relieve_day(net, day, limits, OfferPool.join(pools, day.names), rounds, pf))
        deltas.append(days[-1].delta_p_mw)
    delta = np.concatenate(deltas) if deltas else np.zeros_like(series.p_mw)
    return Relief(days, series.with_changes(delta, "accepted FlexOrders"))


def _relieve_day(
    net: DistributionNetwork, day: ElementSeries, limits: Limits, pool: OfferPool, rounds: int, pf: PowerFlow
) -> DayRelief:
    bus_of = net.element_bus()
    product = Product.model_validate(dict(
        product_id=f"LF-{net.name}-{day.start:%Y-%m-%dT%H%M}", kind="local_flex", isp_s=day.step_min * 60,
        n_isps=day.periods, delivery_start=day.start.replace(tzinfo=day.start.tzinfo or UTC),
        price_min_eur_per_mwh=-1000, price_max_eur_per_mwh=MAX_PRICE_EUR_PER_MWH))  # fmt: skip
    left = np.ones(len(pool.element))  # share of each offer not yet activated
    delta = np.zeros_like(day.p_mw)
    requested: set[int] = set()
    n_req = n_off = 0
    orders: list[dict] = []
    result = pf.run(day, angles=True)
    before = float(result.branch_loading_pct.max(initial=0.0))
    v_before = _voltage_range(result)
    cleared_rounds = 0
    for r in range(1, rounds + 1):
        # a violation (loading or voltage) asks for relief down to the limit less the margin
        isps = np.flatnonzero(violated_periods(net, result, limits))
        if not len(isps):
            break
        requested.update(int(t) for t in isps)
        offers, rows = _offers(pool, left, isps, net, product.product_id, r)
        n_off += len(offers)
        if not offers:
            break
        constraints = grid_constraints(net, result, np.unique(bus_of[pool.element[rows]]), isps, limits)
        requests = constraints.requests(product.product_id, f"r{r}", 4)
        n_req += len(requests)
        network = constraints.network()
        cleared = clear_local(product, requests, offers, network=network)
        cleared_rounds += 1
        for o, k in zip(offers, rows, strict=True):
            a = cleared.activation.get(o.offer_id, 0.0)
            if a <= 0:
                continue
            share = a * left[k]  # of the offer's original power
            sign = -1.0 if pool.up[k] else 1.0  # up = less consumption
            delta[isps, pool.element[k]] += sign * share * pool.power_mw[k, isps]
            left[k] -= share
            order = next(x for x in cleared.orders if x.offer_id == o.offer_id)
            orders.append({"offer_id": o.offer_id, "element": str(pool.source[k] if pool.source is not None else day.names[pool.element[k]]),
                           "node": o.node, "direction": o.direction.value, "factor": round(a, 6),
                           "price_eur_per_mwh": o.price_eur_per_mwh, "energy_mwh": order.energy_mwh,
                           "cost_eur": order.cost_eur})  # fmt: skip
        result = pf.run(day.with_changes(delta), angles=True)
    bad = violated_periods(net, result, limits)
    req_mask = np.zeros(day.periods, dtype=bool)
    req_mask[list(requested)] = True
    return DayRelief(
        start=day.start.isoformat(),
        periods_requested=np.flatnonzero(req_mask),
        periods_residual=np.flatnonzero(req_mask & bad),
        unrequested_periods=np.flatnonzero(bad & ~req_mask),
        requests=n_req,
        offers=n_off,
        accepted=len(orders),
        energy_mwh=float(sum(o["energy_mwh"] for o in orders)),
        cost_eur=float(sum(o["cost_eur"] for o in orders)),
        max_loading_before_pct=before,
        max_loading_after_pct=float(result.branch_loading_pct.max(initial=0.0)),
        voltage_before_pu=v_before,
        voltage_after_pu=_voltage_range(result),
        rounds=cleared_rounds,
        delta_p_mw=delta,
        orders=orders,
    )


def violated_periods(net: DistributionNetwork, result: PowerFlowResult, limits: Limits) -> np.ndarray:
    """Per period: is any loading or voltage out of ``limits`` (without margins)?"""
    bad = np.zeros(result.periods, dtype=bool)
    for v in find_violations(net, result, limits):
        bad[v.periods] = True
    return bad


def _voltage_range(result: PowerFlowResult) -> tuple[float, float]:
    v = result.voltage_pu
    return (float(np.nanmin(v)), float(np.nanmax(v))) if np.isfinite(v).any() else (np.nan, np.nan)


def _offers(
    pool: OfferPool, left: np.ndarray, isps: np.ndarray, net: DistributionNetwork, product: str, round_: int
) -> tuple[list[FlexOffer], np.ndarray]:
    """What the pool has left in the round's periods, as market offers (rows of the pool)."""
    offers, rows = [], []
    bus_of = net.element_bus()
    for k in np.flatnonzero(left > 1e-6):
        p = pool.power_mw[k, isps] * left[k]
        keep = p > 1e-4  # the market wants > 0 in every ISP an offer names
        if not keep.any() or (not pool.divisible[k] and not keep.all()):
            continue  # an indivisible block is offered over all the round's periods or not at all
        # a divisible offer keeps its smallest share of the original power
        maf = min(1.0, pool.min_activation_factor[k] / left[k]) if pool.divisible[k] else 1.0
        offers.append(FlexOffer(
            offer_id=f"o{round_}-{k}", participant=AGGREGATOR, product=product, congestion_point="",
            node=str(net.bus.name[bus_of[pool.element[k]]]),
            direction=Direction.UP if pool.up[k] else Direction.DOWN,
            isps=[int(t) for t in isps[keep]], power_mw=[round(float(x), 6) for x in p[keep]],
            price_eur_per_mwh=float(pool.price_eur_per_mwh[k]), divisible=bool(pool.divisible[k]),
            min_activation_factor=maf))  # fmt: skip
        rows.append(k)
    return offers, np.asarray(rows, dtype=np.int64)
