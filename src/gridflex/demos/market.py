"""The marketplace worked example: a DSO request on a congested feeder, answered by an aggregator,
cleared, activated, metered, baselined and settled.

1. Grid: the SimBench MV grid shipped with gridflex (``mv-semiurb``), on a winter weekday with the
   stress generator's EV and heat-pump adoption (``WINTER``): a time-series AC power flow forecasts the
   overloads of one feeder in the evening (``gridflex.grid.distribution.forecast``).
2. Requests: per overloaded branch and ISP of the evening run, a USEF FlexRequest (up) for the MW above
   its limit (less the 1 % margin the forecast keeps for non-linearity).
3. Network: the sensitivity of every branch and bus voltage to injection at the aggregator's
   connection buses, from the power-flow Jacobian of each event ISP, as a :class:`FlexNetwork`
   (``grid.distribution.relief.grid_constraints``): offers count only through their sensitivity.
4. Portfolio: the aggregator controls the EVs and heat pumps the stress scenario added behind a few
   connection points (real SimBench EV and heat-pump profiles); it offers to curtail a share of the
   load it expects (its baseline) over the evening, pay as bid. One cheap pool sits outside the feeder:
   network-aware clearing leaves it out.
5. Clearing: ``clear_local`` (least cost, network-aware); an AC power flow with the accepted
   curtailment checks the relief.
6. Metering: the pools' consumption over eleven days with seeded Gaussian noise; on the event
   day the activated pools deliver (one pool only part of what it was ordered: a penalty follows).
7. Baseline: the aggregator's D-prognosis (USEF's nominated baseline), its forecast error seeded.
8. Settlement: per FlexOrder, activation payment and USEF penalty (DSO ↔ aggregator), BRP correction
   (aggregator → BRP); money only moves between participants, so the statements sum to zero.

The EV/heat-pump adoption, the offer prices, the performance of the pools and the transfer price are
synthetic (no public data exists for them); the grid, loads and device profiles are SimBench (ODbL).
Signs: power positive = consumption; flexibility **up** = more power into the grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridflex.grid.distribution.relief import VOLTAGE_PREFIX, grid_constraints
from gridflex.market.baselines import (
    AccuracyReport,
    BaselineSpec,
    accuracy,
    compute_baseline,
    day_layout,
    write_meter_csv,
)
from gridflex.market.baselines.spec import BaselineInputs
from gridflex.market.capacity import ActivationResult, CapacityBid, CapacityResult, CapacityTender
from gridflex.market.dispatch import SiteDispatch, dispatch_activation
from gridflex.market.local import Direction, FlexNetwork, FlexOffer, FlexRequest, LocalResult, clear_local
from gridflex.market.products import Product
from gridflex.market.settlement import Settlement, SettlementDocument, settle
from gridflex.timegrid import TimeGrid

__all__ = [
    "CapacityDemo", "MarketDemo", "run_capacity_demo", "run_market_demo",
    "write_market_demo", "write_market_demo_report",
]  # fmt: skip

GRID = "mv-semiurb"
EVENT_DAY = datetime(2016, 1, 20, tzinfo=UTC)  # a Wednesday in winter; SimBench times read as UTC
HISTORY_DAYS = 10
POOLS_ON_FEEDER = 12
OFFER_SHARE = 0.5  # of the expected (baseline) load a pool offers to curtail
MAX_PRICE_EUR_PER_MWH = 400.0
PENALTY_EUR_PER_MWH = 300.0
TRANSFER_PRICE_EUR_PER_MWH = 60.0
NOISE_SHARE = 0.03  # meter noise: standard deviation as a share of the pool's mean load
UNDER_DELIVERY = 0.6  # the largest activated pool delivers this share of its order
DSO, AGGREGATOR, BRP = "dso", "aggregator", "brp"
# USEF's baseline for DSO flexibility: the aggregator's D-prognosis (nominated). Like-day methods
# miss this day: heat pumps follow the weather, and the cold event day lies far above its like days.
BASELINE = BaselineSpec.model_validate({"method": "nominated"})
LIKE_DAYS = BaselineSpec.model_validate({"method": "x_of_y", "x": 4, "y": 5, "variant": "high"})  # compared


@dataclass(eq=False)
class MarketDemo:
    """Everything the worked example produced, for the summary, the files and the tests."""

    product: Product
    requests: list[FlexRequest]
    offers: list[FlexOffer]
    network: FlexNetwork
    cleared: LocalResult
    congestion_point: str
    event_isps: np.ndarray  # ISP indices of the event day
    loading_before_pct: dict[str, float]  # AC power flow, worst over the event ISPs
    loading_after_pct: dict[str, float]  # with the FlexOrders as ordered
    loading_delivered_pct: dict[str, float]  # with the response as delivered (one pool falls short)
    congestion_loading_pct: dict[str, np.ndarray]  # before / after: the congestion point per ISP of the day
    baseline_accuracy: list[AccuracyReport]  # on the event, against the load the pools would have had
    grid: TimeGrid  # the meter grid: history and event day
    meter_ids: list[str]
    metered_kw: np.ndarray  # meters × periods
    baseline_kw: np.ndarray
    settlement_doc: SettlementDocument
    settlement: Settlement

    def summary(self) -> list[tuple[str, str]]:
        acts = self.settlement.activations
        net = self.settlement.totals().net_eur
        requested = sum(r.power_mw for r in self.requests if r.congestion_point == self.congestion_point)
        return [
            ("grid", f"{GRID}, {EVENT_DAY:%Y-%m-%d}, winter stress (EVs, heat pumps)"),
            ("congestion point", f"{self.congestion_point}, ISPs {self.event_isps[0]}–{self.event_isps[-1]} "
                                 f"({_clock(self.event_isps[0])}–{_clock(self.event_isps[-1] + 1)} UTC)"),
            ("requested (up)", f"{requested:.3f} MW·ISP on {self.congestion_point}, {len(self.requests)} requests"),
            ("offers / accepted", f"{len(self.offers)} / {len(self.cleared.orders)}, cost {self.cleared.cost_eur:.2f} EUR"),
            ("worst loading: forecast, ordered, delivered", f"{max(self.loading_before_pct.values()):.1f} %, "
                f"{max(self.loading_after_pct.values()):.1f} %, {max(self.loading_delivered_pct.values()):.1f} % (AC power flow)"),
            ("ordered / delivered", f"{acts.ordered_kwh.sum():.1f} / {acts.delivered_kwh.sum():.1f} kWh"),
            ("penalties", f"{acts.penalty_eur.sum():.2f} EUR"),
            ("baseline bias on the event", ", ".join(f"{a.method} {a.bias_pct:+.1f} %" for a in self.baseline_accuracy)),
            *((f"net {p}", f"{v:+.2f} EUR") for p, v in net.items()),
        ]  # fmt: skip


def _clock(isp: int) -> str:
    return f"{isp * 15 // 60:02d}:{isp * 15 % 60:02d}"


def _runs(periods: np.ndarray) -> list[np.ndarray]:
    return [r for r in np.split(periods, np.flatnonzero(np.diff(periods) != 1) + 1) if len(r)]


def _feeder(seed: int):
    """The stressed grid over history + event day, and its forecast on the event day."""
    from gridflex.grid.distribution import forecast, load_grid, stress
    from gridflex.grid.distribution.stress import WINTER, StressScenario

    case = load_grid(GRID)
    net = case.network
    start = (EVENT_DAY - timedelta(days=HISTORY_DAYS)).replace(tzinfo=None)
    days = case.profiles.series(net, start=start, periods=96 * (HISTORY_DAYS + 1))
    stressed = stress(net, days, StressScenario(**{**WINTER.__dict__, "seed": WINTER.seed + seed}))
    pools_mw = stressed.p_mw - days.p_mw  # the EVs and heat pumps the scenario added: the aggregator's pools
    event = stressed.window(96 * HISTORY_DAYS, 96)
    return net, event, pools_mw, forecast(net, event)


def run_market_demo(seed: int = 0) -> MarketDemo:
    """The worked example (see the module docstring); ``seed`` draws the stress, prices and meter noise."""
    from gridflex.errors import DataError

    rng = np.random.default_rng(seed)
    net, event, pools_mw, fc = _feeder(seed)
    if not fc.points:
        raise DataError(f"no congestion on {GRID} with seed {seed}: nothing to request")
    cp = fc.points[0]
    lead = cp.violations[0]
    event_isps = max(_runs(np.asarray(lead.periods)), key=len)  # the longest overload: the evening peak
    on_event = 96 * HISTORY_DAYS + event_isps  # the event's periods on the meter grid
    pools = _pools(net, cp.connection_buses, pools_mw[on_event])
    meter_ids = [f"pool-{net.load.name[i]}" for i in pools]
    grid = TimeGrid(EVENT_DAY - timedelta(days=HISTORY_DAYS), 900, 96 * (HISTORY_DAYS + 1))
    unflexed_kw, baseline_kw, checks = _meters(pools_mw[:, pools].T * 1000.0, grid, on_event, rng)

    # offers: a share of the load each pool expects (its baseline) over the evening, pay as bid
    product = Product.model_validate(dict(product_id=f"LF-{GRID}-{EVENT_DAY:%Y-%m-%d}", kind="local_flex", isp_s=900,
        n_isps=96, delivery_start=EVENT_DAY, price_min_eur_per_mwh=-1000, price_max_eur_per_mwh=1000))  # fmt: skip
    offer_mw = OFFER_SHARE * baseline_kw[:, on_event].min(axis=1) / 1000.0
    prices = np.round(rng.uniform(80.0, 250.0, len(pools)), 0)
    prices[-1] = 30.0  # the pool outside the feeder is the cheapest: it would win without the network
    offers = [
        FlexOffer(offer_id=f"offer-{m}", participant=AGGREGATOR, product=product.product_id,
                  congestion_point=str(lead.name), node=str(net.bus.name[net.load.bus[i]]), direction=Direction.UP,
                  isps=[int(t) for t in event_isps], power_mw=round(float(p), 3), price_eur_per_mwh=float(c),
                  divisible=k % 2 == 0, min_activation_factor=0.5 if k % 2 == 0 else 1.0)
        for k, (i, m, p, c) in enumerate(zip(pools, meter_ids, offer_mw, prices, strict=True))
    ]  # fmt: skip
    # the DSO's linear view at the forecast's operating points, one sensitivity block per event ISP
    constraints = grid_constraints(net, fc.result, np.unique(net.load.bus[pools]), event_isps, fc.limits)
    network = constraints.network()
    # one request (up) per violated element of the congestion point and event ISP: its excess
    point = np.isin(constraints.elements, [_element(v) for v in cp.violations])[:, None]
    requests = constraints.requests(product.product_id, "req", 3, MAX_PRICE_EUR_PER_MWH, where=point)
    cleared = clear_local(product, requests, offers, network=network)
    accepted_mw = np.array([cleared.activation.get(o.offer_id, 0.0) * np.max(o.power_mw) for o in offers])
    # metering: the activated pools respond (the largest only partly), on top of the noisy load
    metered_kw = unflexed_kw.copy()
    performance = np.ones(len(pools))
    if accepted_mw.max() > 0:
        performance[int(np.argmax(accepted_mw))] = UNDER_DELIVERY
    metered_kw[:, on_event] -= (accepted_mw * performance * 1000.0)[:, None]
    before_pct, after_pct, series_pct = _ac_check(
        net, event, fc, cp.violations, pools, accepted_mw, event_isps
    )
    _, delivered_pct, _ = _ac_check(
        net, event, fc, cp.violations, pools, accepted_mw * performance, event_isps
    )
    doc = _settlement_document(offers, accepted_mw, meter_ids, event_isps)
    settlement = settle(doc, grid, meter_ids, baseline_kw, metered_kw)
    return MarketDemo(product, requests, offers, network, cleared, str(lead.name), event_isps, before_pct,
                      after_pct, delivered_pct, series_pct, checks, grid, meter_ids, metered_kw, baseline_kw, doc, settlement)  # fmt: skip


def _element(v) -> str:
    """The FlexNetwork element of a violation: the branch, or the voltage of the bus."""
    return str(v.name) if v.quantity == "loading" else VOLTAGE_PREFIX + str(v.name)


def _pools(net, feeder_buses: np.ndarray, evening_mw: np.ndarray) -> np.ndarray:
    """Load rows of the aggregator's pools: the largest in the evening on the feeder, and one outside."""
    rows = np.arange(len(net.load))
    low_mw = evening_mw[:, rows].min(axis=0)
    on_feeder = np.isin(net.load.bus, feeder_buses)
    inside = rows[on_feeder][np.argsort(-low_mw[on_feeder], kind="stable")][:POOLS_ON_FEEDER]
    outside = rows[~on_feeder][np.argsort(-low_mw[~on_feeder], kind="stable")][:1]
    return np.concatenate([inside, outside])


def _meters(true_kw: np.ndarray, grid: TimeGrid, on_event: np.ndarray, rng: np.random.Generator):
    """Noisy meter data without flexibility, the D-prognosis baseline, and how two baselines fit the event."""
    layout = day_layout(grid, "UTC")
    sigma_kw = NOISE_SHARE * true_kw.mean(axis=1, keepdims=True)
    prognosis_kw = true_kw + rng.normal(0.0, sigma_kw, true_kw.shape)  # the aggregator's forecast error
    unflexed_kw = true_kw + rng.normal(0.0, sigma_kw, true_kw.shape)  # meter noise
    inputs = BaselineInputs(layout, layout.day_mask([EVENT_DAY.date()]), prognosis_kw=prognosis_kw)
    baseline_kw = compute_baseline(unflexed_kw, BASELINE, inputs)
    mask = np.zeros(grid.n, dtype=bool)
    mask[on_event] = True
    checks = [accuracy(baseline_kw, unflexed_kw, mask, "nominated (D-prognosis)"),
              accuracy(compute_baseline(unflexed_kw, LIKE_DAYS, inputs), unflexed_kw, mask, "X-of-Y 4/5 high")]  # fmt: skip
    return unflexed_kw, baseline_kw, checks


def _ac_check(net, event, fc, violations, pools: np.ndarray, accepted_mw: np.ndarray, event_isps: np.ndarray):
    """The accepted curtailment in the AC power flow: worst loadings of the overloaded branches before
    and after, and the congestion point's loading over the day."""
    from gridflex.grid.distribution import forecast

    delta = np.zeros_like(event.p_mw)
    delta[np.ix_(event_isps, pools)] = -accepted_mw  # loads come first among the elements
    after = forecast(net, event.with_changes(delta, "accepted FlexOrders"))
    branches = [str(n) for n in net.branch_names()]
    names = [str(v.name) for v in violations]
    rows = np.array([branches.index(n) for n in names])
    worst = [dict(zip(names, r.result.branch_loading_pct[np.ix_(event_isps, rows)].max(axis=0).round(2).tolist(),
                      strict=True)) for r in (fc, after)]  # fmt: skip
    series = {
        k: r.result.branch_loading_pct[:, rows[0]].copy() for k, r in (("before", fc), ("after", after))
    }
    return worst[0], worst[1], series


def _settlement_document(offers: list[FlexOffer], accepted_mw: np.ndarray, meter_ids: list[str],
                         event_isps: np.ndarray) -> SettlementDocument:  # fmt: skip
    """One activation per FlexOrder, each on its pool's meter; every meter in the BRP's perimeter."""
    t0, t1 = (EVENT_DAY + timedelta(minutes=15 * int(t)) for t in (event_isps[0], event_isps[-1] + 1))
    return SettlementDocument.model_validate(dict(
        participants=[{"id": DSO, "role": "DSO"}, {"id": AGGREGATOR, "role": "aggregator"},
                      {"id": BRP, "role": "BRP"}],
        meters=[{"id": m, "brp": BRP} for m in meter_ids],
        activations=[
            {"id": f"flexorder-{o.offer_id.removeprefix('offer-')}", "buyer": DSO, "seller": AGGREGATOR,
             "direction": "up", "start": f"{t0:%Y-%m-%dT%H:%M:%SZ}", "end": f"{t1:%Y-%m-%dT%H:%M:%SZ}",
             "power_kw": round(a * 1000.0, 6), "price_eur_per_mwh": o.price_eur_per_mwh,
             "penalty_eur_per_mwh": PENALTY_EUR_PER_MWH, "meters": [m]}
            for o, a, m in zip(offers, accepted_mw, meter_ids, strict=True) if a > 0
        ],
        transfer_price_eur_per_mwh=TRANSFER_PRICE_EUR_PER_MWH,
    ))  # fmt: skip


def write_market_demo(demo: MarketDemo, out: str | Path) -> dict[str, Path]:
    """Write the example's files under ``out``: the local round (``gridflex market local`` reads it), the
    meter and baseline CSVs and the settlement document (``gridflex market settle`` reads them), the
    statements CSV, a JSON summary and an offline HTML report. Returns name → path."""
    from gridflex.market.io import LocalDocument

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in {
        "local": "local-round.json", "metered": "metered.csv", "baseline": "baseline.csv",
        "settlement_document": "settlement-document.json", "statements": "statements.csv", "summary": "summary.json",
        "report": "report.html",
    }.items()}  # fmt: skip
    round_ = LocalDocument.model_validate(
        dict(product=demo.product, requests=demo.requests, offers=demo.offers, network=demo.network)
    )
    paths["local"].write_text(round_.model_dump_json(indent=1, exclude_none=True) + "\n", encoding="utf-8")
    write_meter_csv(paths["metered"], demo.meter_ids, demo.grid, demo.metered_kw)
    write_meter_csv(paths["baseline"], demo.meter_ids, demo.grid, demo.baseline_kw)
    paths["settlement_document"].write_text(
        demo.settlement_doc.model_dump_json(indent=1) + "\n", encoding="utf-8"
    )
    demo.settlement.write_csv(paths["statements"])
    paths["summary"].write_text(json.dumps(_summary_json(demo), indent=1) + "\n", encoding="utf-8")
    write_market_demo_report(demo, paths["report"])
    return paths


def _summary_json(demo: MarketDemo) -> dict[str, Any]:
    totals = demo.settlement.totals()
    acts: pd.DataFrame = demo.settlement.activations
    return {
        "directions": "up = more power into the grid (less consumption); power positive = consumption",
        "congestion_point": demo.congestion_point,
        "event_isps": [int(t) for t in demo.event_isps],
        "clearing": demo.cleared.to_json(),
        "loading_before_pct": demo.loading_before_pct,
        "loading_after_pct": demo.loading_after_pct,
        "loading_delivered_pct": demo.loading_delivered_pct,
        "activations": acts.to_dict(orient="records"),
        "baseline_accuracy": [
            {"method": a.method, "bias_pct": a.bias_pct, "mape_pct": a.mape_pct}
            for a in demo.baseline_accuracy
        ],
        "totals_eur": {str(p): {str(k): float(v) for k, v in row.items()} for p, row in totals.iterrows()},
    }


@dataclass(eq=False)
class CapacityDemo:
    tender: CapacityTender
    bids: list[CapacityBid]
    award: CapacityResult
    activation: ActivationResult
    grid: TimeGrid
    sites: dict[str, SiteDispatch]


def run_capacity_demo(seed: int = 0) -> CapacityDemo:
    """A DSO reserves an aggregator's pool of two sites (generated fleets of 300 devices each) for a
    night peak, calls 1 h of it inside the activation calendar, and the call reaches the devices."""
    from gridflex.flexoffer.fleet import fleet_horizon, generate_fleet
    from gridflex.market.capacity import activate, procure_capacity
    from gridflex.market.prices import prices_on_grid

    day = "2018-06-12"
    grid = fleet_horizon(day)  # 36 h from local midnight: the EVs charge over night
    prices = prices_on_grid(grid, "France")
    fleets = {f"site-{k}": generate_fleet(300, day=day, seed=seed + k) for k in (1, 2)}
    tender = CapacityTender.model_validate(dict(
        tender_id="dso-night-peak", buyer=DSO, reserve="local", direction="up", place="feeder-1",
        contract_start="2018-06-12T00:00:00Z", contract_end="2018-06-14T00:00:00Z", required_mw=0.04,
        min_bid_mw=0.03, min_duration_h=1.0,
        activation_calendar=[{"start": "2018-06-13T00:00:00Z", "end": "2018-06-13T04:00:00Z"}],
    ))  # fmt: skip
    bid = CapacityBid.model_validate(dict(
        bid_id="pool-1", participant=AGGREGATOR, tender_id=tender.tender_id, direction="up",
        sites=[{"site_id": s, "power_mw": 0.02} for s in fleets], availability_price_eur_per_mw_h=5.0,
        activation_price_eur_per_mwh=120.0, activation_time_s=600, max_duration_h=2.0,
    ))  # fmt: skip
    award = procure_capacity(tender, [bid])
    start = datetime(2018, 6, 13, 1, tzinfo=UTC)
    call = activate(tender, [bid], award, start, 1.0, 0.04)
    now_s = int(start.timestamp())  # dispatched as the call starts: the plan ran until then
    return CapacityDemo(
        tender, [bid], award, call, grid, dispatch_activation(call, "up", fleets, grid, prices, now_s=now_s)
    )


def write_market_demo_report(demo: MarketDemo, path: str | Path) -> Path:
    """An offline HTML page: the congestion before and after, baseline against metered, the settlement."""
    import plotly.graph_objects as go

    from gridflex.reports.html import Section, write_report

    day = demo.grid.index[-96:]
    loading = go.Figure()
    for name, pct in demo.congestion_loading_pct.items():
        loading.add_scatter(x=day, y=pct, name=f"{name} the FlexOrders", mode="lines")
    loading.add_hline(y=100.0, line_dash="dot", annotation_text="rating")
    loading.update_layout(yaxis_title="loading %", xaxis_title="UTC", height=360)
    activated = [demo.meter_ids.index(a.meters[0]) for a in demo.settlement_doc.activations]
    meters = go.Figure()
    for label, kw in (("baseline (D-prognosis)", demo.baseline_kw), ("metered", demo.metered_kw)):
        meters.add_scatter(x=day, y=kw[activated, -96:].sum(axis=0), name=label, mode="lines")
    meters.update_layout(yaxis_title="kW (consumption +)", xaxis_title="UTC", height=360)
    acts = demo.settlement.activations
    rows = [(str(r.order_id), f"ordered {r.ordered_kwh:.1f} kWh, delivered {r.delivered_kwh:.1f} kWh "
             f"({r.performance_ratio:.0%}), paid {r.activation_eur:.2f} EUR, penalty {r.penalty_eur:.2f} EUR")
            for r in acts.itertuples()]  # fmt: skip
    totals = demo.settlement.totals()
    money = [
        (str(p), ", ".join(f"{k} {v:+.2f}" for k, v in row.items()) + " EUR") for p, row in totals.iterrows()
    ]
    sections = [
        Section(
            "Summary", "Flexibility up = more power into the grid (less consumption).", table=demo.summary()
        ),
        Section(
            f"Congestion point {demo.congestion_point}",
            "AC power flow before and after the accepted "
            "FlexOrders (the requests keep a 1 % margin below the rating).",
            figure=loading,
        ),
        Section("Activated pools: baseline and metered", "Delivered up = baseline − metered.", figure=meters),
        Section("FlexOrders settled", table=rows),
        Section(
            "Settlement per participant (+ = receives)",
            "Money only moves between them: it sums to zero.",
            table=money,
        ),
    ]
    footer = ("Grid, loads and device profiles: SimBench (ODbL). EV/heat-pump adoption, offer prices, "
              "performance and the transfer price are synthetic.")  # fmt: skip
    return write_report(path, "gridflex — worked example of the flexibility market", sections, footer)
