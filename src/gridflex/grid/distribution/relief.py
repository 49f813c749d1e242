"""Close the loop: forecast needs → market FlexRequests → offers → network-aware clearing → activation →
AC re-check, day by day over a horizon (a day, a week, a stressed year).

Per day, in up to ``rounds`` rounds:

1. AC power flow of the day; every branch above its limit (less the forecast's loading margin) asks,
   per period, for the MW above that limit: one FlexRequest per branch and period (USEF, pay as bid).
2. Offers (:func:`generate_offers`, or the caller's): per connection element (load, PV, storage) and
   direction, at its bus, for the requested periods of the round.
3. A :class:`FlexNetwork` from the sensitivities of the round (loading %/MW at every offering bus,
   mean over the requested periods, converted to MW with each branch's rating) and ``clear_local``.
4. The accepted activations change the consumption of the offering elements only; the AC power flow
   checks the result. What is still violated in requested periods is asked again in the next round
   (the linearisation misses a little on large overloads), from what the offers have left.

Only loading violations are requested: ``FlexNetwork`` limits flows. Voltage violations are reported
(``unrequested_periods``), not traded.

Signs: power positive = consumption; flexibility **up** = more power into the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC

import numpy as np

from gridflex.grid.distribution.congestion import Limits, find_violations
from gridflex.grid.distribution.model import ELEMENT_KINDS, DistributionNetwork
from gridflex.grid.distribution.powerflow import PowerFlow, PowerFlowResult
from gridflex.grid.distribution.profiles import ElementSeries
from gridflex.grid.distribution.sensitivity import sensitivities
from gridflex.market.local import Direction, FlexNetwork, FlexOffer, FlexRequest, clear_local
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


def overload_requests(
    over: np.ndarray, flow_mw: np.ndarray, limit_mw: np.ndarray, names: list[str], product_id: str,
    prefix: str, decimals: int,
) -> list[FlexRequest]:  # fmt: skip
    """The DSO's up requests: one per overloaded (ISP, branch) of ``over``, for the excess flow over
    its limit rounded up to ``decimals`` decimals of a MW, at the DSO's price cap."""
    return [
        FlexRequest(request_id=f"{prefix}-{names[k]}-{t}", participant=DSO, product=product_id,
                    congestion_point=names[k], isp=int(t), direction=Direction.UP,
                    power_mw=float(np.ceil((flow_mw[t, k] - limit_mw[k]) * 10.0**decimals) / 10.0**decimals),
                    max_price_eur_per_mwh=MAX_PRICE_EUR_PER_MWH)
        for t, k in zip(*np.nonzero(over), strict=True)
    ]  # fmt: skip


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
    periods_residual: np.ndarray  # requested periods still violated (loading) after relief
    unrequested_periods: np.ndarray  # periods with other violations after relief (voltage, new ones)
    requests: int
    offers: int
    accepted: int
    energy_mwh: float
    cost_eur: float
    max_loading_before_pct: float
    max_loading_after_pct: float
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
        }


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
) -> Relief:
    """The loop (module docstring) day by day over ``series``; returns every day and the relieved series."""
    limits = limits or Limits()
    pf = pf or PowerFlow(net)
    per_day = 24 * 60 // series.step_min
    days, deltas = [], []
    for d, t0 in enumerate(range(0, series.periods, per_day)):
        day = series.window(t0, min(per_day, series.periods - t0))
        days.append(_relieve_day(net, day, limits, generate_offers(net, day, offer_model, d), rounds, pf))
        deltas.append(days[-1].delta_p_mw)
    delta = np.concatenate(deltas) if deltas else np.zeros_like(series.p_mw)
    return Relief(days, series.with_changes(delta, "accepted FlexOrders"))


def _relieve_day(
    net: DistributionNetwork, day: ElementSeries, limits: Limits, pool: OfferPool, rounds: int, pf: PowerFlow
) -> DayRelief:
    rating = rating_mw(net)
    used = rating > 0
    limit_mw = rating * (limits.loading_pct - limits.loading_margin_pct) / 100.0
    names = [str(n) for n in net.branch_names()]
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
    cleared_rounds = 0
    for r in range(1, rounds + 1):
        flow_mw = result.branch_loading_pct / 100.0 * rating
        # a violation asks for relief down to the limit less the margin (the nonlinearity's reserve)
        over = (result.branch_loading_pct > limits.loading_pct) & used
        isps = np.flatnonzero(over.any(axis=1))
        if not len(isps):
            break
        requested.update(int(t) for t in isps)
        requests = overload_requests(over, flow_mw, limit_mw, names, product.product_id, f"r{r}", 4)
        offers, rows = _offers(pool, left, isps, net, product.product_id, r)
        n_req, n_off = n_req + len(requests), n_off + len(offers)
        if not offers:
            break
        buses = np.unique(bus_of[pool.element[rows]])
        network = _network(net, result, buses, isps, rating, used, limit_mw)
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
            orders.append({"offer_id": o.offer_id, "element": str(day.names[pool.element[k]]),
                           "node": o.node, "direction": o.direction.value, "factor": round(a, 6),
                           "price_eur_per_mwh": o.price_eur_per_mwh, "energy_mwh": order.energy_mwh,
                           "cost_eur": order.cost_eur})  # fmt: skip
        result = pf.run(day.with_changes(delta), angles=True)
    after = find_violations(net, result, limits)
    bad_loading = np.zeros(day.periods, dtype=bool)
    bad_other = np.zeros(day.periods, dtype=bool)
    req_mask = np.zeros(day.periods, dtype=bool)
    req_mask[list(requested)] = True
    for v in after:
        (bad_loading if v.quantity == "loading" else bad_other)[v.periods] = True
    return DayRelief(
        start=day.start.isoformat(),
        periods_requested=np.flatnonzero(req_mask),
        periods_residual=np.flatnonzero(req_mask & bad_loading),
        unrequested_periods=np.flatnonzero(bad_other | (bad_loading & ~req_mask)),
        requests=n_req,
        offers=n_off,
        accepted=len(orders),
        energy_mwh=float(sum(o["energy_mwh"] for o in orders)),
        cost_eur=float(sum(o["cost_eur"] for o in orders)),
        max_loading_before_pct=before,
        max_loading_after_pct=float(result.branch_loading_pct.max(initial=0.0)),
        rounds=cleared_rounds,
        delta_p_mw=delta,
        orders=orders,
    )


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


def _network(
    net: DistributionNetwork,
    result: PowerFlowResult,
    buses: np.ndarray,
    isps: np.ndarray,
    rating: np.ndarray,
    used: np.ndarray,
    limit_mw: np.ndarray,
) -> FlexNetwork:
    """The round's FlexNetwork: one sensitivity matrix (the mean over the requested periods)."""
    sub = replace(
        result,
        voltage_pu=result.voltage_pu[isps],
        angle_rad=None if result.angle_rad is None else result.angle_rad[isps],
        line_loading_pct=result.line_loading_pct[isps],
        trafo_loading_pct=result.trafo_loading_pct[isps],
    )
    per_mw = sensitivities(net, sub, buses).loading_pct_per_mw.mean(axis=0)  # branches × buses
    return FlexNetwork(
        nodes=[str(b) for b in net.bus.name[buses]],
        elements=[str(n) for n in net.branch_names()[used]],
        # injection = −consumption; loading % → MW of the branch's rating
        sensitivity=(-per_mw[used] / 100.0 * rating[used, None]).tolist(),
        base_flow_mw=(result.branch_loading_pct[:, used].T / 100.0 * rating[used, None]).tolist(),
        limit_mw=limit_mw[used].tolist(),
    )
