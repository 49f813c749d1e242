"""Congestion forecast: loadings and voltages against limits per period, congestion points and their needs.

1. A time-series power flow (with angles) gives every branch loading and bus voltage per period.
2. Violations: loading above ``Limits.loading_pct``, voltage outside the EN 50160 band (±10 %).
3. Congestion points (USEF): for each violated quantity, the adjoint sensitivity row says which
   flexible connection points (buses with loads, generators or storage) move it; those within half of
   the strongest form the congestion point. A violation whose strongest connection already belongs to a
   congestion point joins it (one point per feeder or transformer, not one per bus).
4. Needs: the point's flexibility, spread evenly over its connections, moves every monitored quantity
   linearly (forward sensitivity). Each limit bounds the change of the point's net consumption per
   period; where zero lies outside those bounds, flexibility is requested (direction and MW), elsewhere
   the bounds are the free capacity, as a USEF FlexRequest's "available" ISPs carry it.

Signs: power positive = consumption. Flexibility **up** = more power into the grid (less consumption or
more production), **down** = less power into the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gridflex.grid.distribution.model import DistributionNetwork
from gridflex.grid.distribution.powerflow import PowerFlow, PowerFlowResult
from gridflex.grid.distribution.profiles import ElementSeries
from gridflex.grid.distribution.sensitivity import JacobianSystem, flexible_buses

RELEVANCE = 0.5  # a connection belongs to a congestion point when within this share of the strongest


@dataclass(frozen=True)
class Limits:
    """Operating limits; the voltage band defaults to EN 50160's ±10 % of nominal."""

    loading_pct: float = 100.0
    voltage_min_pu: float = 0.90
    voltage_max_pu: float = 1.10
    # needs are sized to these tighter limits, so that relief survives the power flow's nonlinearity
    loading_margin_pct: float = 1.0
    voltage_margin_pu: float = 0.002


@dataclass
class Violation:
    """One branch or bus out of limits in some periods."""

    quantity: Literal["loading", "voltage"]
    index: int  # branch (lines then transformers) or bus index
    name: str
    periods: np.ndarray  # period indices out of limits
    worst: float  # worst loading (%) or voltage (pu)
    limit: float  # the limit it breaks


@dataclass
class CongestionPoint:
    """Connections behind one or more violations, and what they need per period."""

    name: str
    violations: list[Violation]
    connection_buses: np.ndarray
    connection_names: list[str]
    min_change_mw: np.ndarray  # per period: lowest allowed change of the point's consumption (-inf: none)
    max_change_mw: np.ndarray  # per period: highest allowed change (+inf: none)
    conflicting: np.ndarray  # periods where no change meets every limit (bounds cross)

    @property
    def requested_mw(self) -> np.ndarray:
        """Per period: + MW of up (less consumption) needed, - MW of down needed, 0 where none."""
        up = np.where(self.max_change_mw < 0, -self.max_change_mw, 0.0)
        down = np.where(self.min_change_mw > 0, self.min_change_mw, 0.0)
        return np.where(up > 0, up, -down)


@dataclass
class CongestionForecast:
    """The forecast of one network over a horizon: power flow, violations and congestion points."""

    network: DistributionNetwork
    series: ElementSeries
    result: PowerFlowResult
    limits: Limits
    violations: list[Violation]
    points: list[CongestionPoint]
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def congested_periods(self) -> np.ndarray:
        return (
            np.unique(np.concatenate([v.periods for v in self.violations]))
            if self.violations
            else np.zeros(0, int)
        )


def find_violations(net: DistributionNetwork, result: PowerFlowResult, limits: Limits) -> list[Violation]:
    out = []
    loading = result.branch_loading_pct
    names = net.branch_names()
    for k in np.flatnonzero((loading > limits.loading_pct).any(axis=0)):
        periods = np.flatnonzero(loading[:, k] > limits.loading_pct)
        out.append(
            Violation(
                "loading", int(k), str(names[k]), periods, float(loading[:, k].max()), limits.loading_pct
            )
        )
    v = result.voltage_pu
    with np.errstate(invalid="ignore"):
        low, high = v < limits.voltage_min_pu, v > limits.voltage_max_pu
    for b in np.flatnonzero((low | high).any(axis=0)):
        periods = np.flatnonzero(low[:, b] | high[:, b])
        is_low = bool(low[:, b].any())
        worst = float(np.nanmin(v[:, b]) if is_low else np.nanmax(v[:, b]))
        limit = limits.voltage_min_pu if is_low else limits.voltage_max_pu
        out.append(Violation("voltage", int(b), str(net.bus.name[b]), periods, worst, limit))
    # most severe first: they name the congestion points
    return sorted(out, key=lambda x: -abs(x.worst - x.limit) / (100.0 if x.quantity == "loading" else 0.1))


def forecast(
    net: DistributionNetwork,
    series: ElementSeries,
    limits: Limits | None = None,
    pf: PowerFlow | None = None,
    refine: int = 2,
) -> CongestionForecast:
    """Power flow, violations, congestion points and their needs over the periods of ``series``.

    ``refine``: Newton-like corrections of the needs: deliver them, solve the power flow again, and
    size what is still missing (or no longer needed) with the sensitivities at that operating point.
    Large overloads (150 % and more) otherwise keep a residual of a point or so after relief.
    """
    import time

    limits = limits or Limits()
    t0 = time.perf_counter()
    result = (pf or PowerFlow(net)).run(series, angles=True)
    t1 = time.perf_counter()
    violations = find_violations(net, result, limits)
    points = congestion_points(net, result, violations, limits) if violations else []
    if points:
        _refine(net, series, result, points, limits, pf or PowerFlow(net), refine)
    t2 = time.perf_counter()
    timings = {"power_flow": t1 - t0, "needs": t2 - t1}
    return CongestionForecast(net, series, result, limits, violations, points, timings)


def congestion_points(
    net: DistributionNetwork, result: PowerFlowResult, violations: list[Violation], limits: Limits
) -> list[CongestionPoint]:
    system = JacobianSystem(net, result)
    flex = flexible_buses(net)
    groups: list[tuple[Violation, np.ndarray, list[Violation]]] = []
    for v in violations:
        row = system.row(v.quantity, v.index)[np.ix_(v.periods, flex)]
        strength = np.abs(row).max(axis=0)
        if strength.max() <= 0:
            continue  # nothing flexible moves it
        strongest = flex[int(np.argmax(strength))]
        home = next((g for g in groups if strongest in g[1]), None)
        if home is not None:
            home[2].append(v)
            continue
        members = flex[strength >= RELEVANCE * strength.max()]
        groups.append((v, members, [v]))
    return [_needs(net, result, system, lead, members, viols, limits) for lead, members, viols in groups]


def _needs(
    net: DistributionNetwork,
    result: PowerFlowResult,
    system: JacobianSystem,
    lead: Violation,
    members: np.ndarray,
    violations: list[Violation],
    limits: Limits,
) -> CongestionPoint:
    lo, hi, conflicting = _bounds(net, result, system, members, violations, limits)
    names = [str(n) for n in net.bus.name[members]]
    return CongestionPoint(f"CP {lead.name}", violations, members, names, lo, hi, conflicting)


def _bounds(
    net: DistributionNetwork,
    result: PowerFlowResult,
    system: JacobianSystem,
    members: np.ndarray,
    violations: list[Violation],
    limits: Limits,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per period, the range of change of the point's consumption (MW) that keeps every limit, linearised."""
    weights = np.zeros(len(net.bus))
    weights[members] = 1.0 / len(members)
    dv, dl = system.forward(weights)  # per MW of the point's consumption, spread evenly
    n_t = result.periods
    lo = np.full(n_t, -np.inf)
    hi = np.full(n_t, np.inf)
    load_lim = limits.loading_pct - limits.loading_margin_pct
    v_lo = limits.voltage_min_pu + limits.voltage_margin_pu
    v_hi = limits.voltage_max_pu - limits.voltage_margin_pu
    x_l = result.branch_loading_pct
    bound_change(lo, hi, dl, load_lim - x_l, upper=True)
    # |I| has a kink at zero: past it the flow reverses and loading rises again, so the linear loading
    # (a signed flow, in effect) must also stay above -limit
    bound_change(lo, hi, dl, -load_lim - x_l, upper=False)
    x_v = np.nan_to_num(result.voltage_pu, nan=1.0)
    s_v = np.nan_to_num(dv)
    bound_change(lo, hi, s_v, v_hi - x_v, upper=True)
    bound_change(lo, hi, s_v, v_lo - x_v, upper=False)
    conflicting = np.flatnonzero(lo > hi)
    # where the limits cannot all be met, relieve the point's own violations and report the conflict
    if len(conflicting):
        own_lo, own_hi = np.full(n_t, -np.inf), np.full(n_t, np.inf)
        for v in violations:
            if v.quantity == "loading":
                bound_change(own_lo, own_hi, dl[:, [v.index]], load_lim - x_l[:, [v.index]], upper=True)
            else:
                bound_change(own_lo, own_hi, s_v[:, [v.index]], v_hi - x_v[:, [v.index]], upper=True)
                bound_change(own_lo, own_hi, s_v[:, [v.index]], v_lo - x_v[:, [v.index]], upper=False)
        lo[conflicting], hi[conflicting] = own_lo[conflicting], own_hi[conflicting]
    return lo, hi, conflicting


def _refine(
    net: DistributionNetwork,
    series: ElementSeries,
    result: PowerFlowResult,
    points: list[CongestionPoint],
    limits: Limits,
    pf: PowerFlow,
    passes: int,
) -> None:
    for _ in range(passes):
        trial = CongestionForecast(net, series, result, limits, [], points)
        relieved = pf.run(relieve(trial), angles=True)
        asked = np.any([cp.requested_mw != 0 for cp in points], axis=0)
        left = find_violations(net, relieved, limits)
        if not any(asked[v.periods].any() for v in left):
            return
        system = JacobianSystem(net, relieved)
        for cp in points:
            applied = -cp.requested_mw  # change of consumption already in the relieved flow
            lo, hi, conflicting = _bounds(net, relieved, system, cp.connection_buses, cp.violations, limits)
            cp.min_change_mw, cp.max_change_mw = applied + lo, applied + hi
            cp.conflicting = np.union1d(cp.conflicting, conflicting)


def bound_change(lo: np.ndarray, hi: np.ndarray, s: np.ndarray, room: np.ndarray, upper: bool) -> None:
    """Tighten [lo, hi] (per period) by x + s·ΔP ≤ limit (``upper``) or ≥ limit, with room = limit - x."""
    significant = np.abs(s) > 1e-9 * (1 + np.abs(s).max(initial=0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(significant, room / np.where(significant, s, 1.0), np.nan)
    caps_above = (s > 0) == upper  # the constraint caps ΔP from above
    up = np.where(significant & caps_above, bound, np.inf).min(axis=1)
    down = np.where(significant & ~caps_above, bound, -np.inf).max(axis=1)
    np.minimum(hi, up, out=hi)
    np.maximum(lo, down, out=lo)


def relieve(forecast_: CongestionForecast) -> ElementSeries:
    """The series after each congestion point delivers what it needs, spread evenly over its connections.

    A check of the needs, not a market: the market clears requests against offers; this spreads the
    requested MW over one element per connection bus.
    """
    net, series = forecast_.network, forecast_.series
    delta = np.zeros_like(series.p_mw)
    bus_of = net.element_bus()
    for cp in forecast_.points:
        # requested_mw: + up = less consumption
        change = -cp.requested_mw / len(cp.connection_buses)
        for b in cp.connection_buses:
            delta[:, int(np.flatnonzero(bus_of == b)[0])] += change
    return series.with_changes(delta, note="relieved as requested")


def forecast_by_day(
    net: DistributionNetwork, series: ElementSeries, limits: Limits | None = None, pf: PowerFlow | None = None
) -> list[CongestionForecast]:
    """``forecast`` day by day (as a DSO runs it day-ahead): a year stays a year of small systems."""
    pf = pf or PowerFlow(net)
    per_day = 24 * 60 // series.step_min
    return [
        forecast(net, series.window(t0, min(per_day, series.periods - t0)), limits, pf)
        for t0 in range(0, series.periods, per_day)
    ]
