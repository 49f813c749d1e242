"""Intraday as a second loop (seed 001's two-loop optimisation of a multi-energy site).

1. **Day-ahead loop**, at the gate: the site is optimised on forecasts of its electric loads and PV
   (``x̂ = x·max(0, 1 + σε)``, ``σ = forecast_error``, seeded: the MPC's forecast model at a lead of
   a day or more) at the day-ahead prices, with its services; its net exchange per period is bought
   or sold day-ahead (the *position*) and its service commitments are sold.
2. **Intraday loop**, on the actual data: the position and the commitments are fixed; the assets
   re-dispatch and the difference is traded intraday (``prices.intraday``: price and ``max_kw``).

Its value is measured against a **single loop**: the day-ahead plan's decisions applied to the
actual data (PV clipped to what was available), the forecast error settled at the intraday price.
``value_eur = single_loop − two loops`` (≥ 0: the single loop is feasible for the second loop).

Public API::

    run_two_loop(site, forecast_error=0.1, seed=0) -> TwoLoopResult
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gridflex.assets.base import ELECTRICITY
from gridflex.assets.grid_connection import position_pairs
from gridflex.assets.load import Load
from gridflex.assets.pv import PV
from gridflex.errors import Problem, ValidationError
from gridflex.scheduling.hub import SiteModel, checked_site, solve_site_model
from gridflex.scheduling.mpc import _build, _decision, _keeper
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.site import CompiledSite, SiteLike
from gridflex.timegrid import expand


@dataclass
class TwoLoopResult:
    """The three runs; costs EUR over the horizon (revenue negative)."""

    day_ahead: SiteResult  # loop 1: the plan on the forecasts
    intraday: SiteResult  # loop 2: position and commitments fixed, re-dispatch and intraday trades
    single_loop: SiteResult  # the day-ahead plan applied, the error settled intraday
    position_kw: dict[str, np.ndarray]  # grid connection → day-ahead net import per period

    @property
    def value_eur(self) -> float:
        """What the second loop is worth: single-loop cost − two-loop cost."""
        return self.single_loop.costs_eur["total"] - self.intraday.costs_eur["total"]

    def traded_intraday_kwh(self, which: str = "intraday") -> float:
        """Energy bought plus sold intraday (kWh) in the two-loop run (or the single loop)."""
        r = self.intraday if which == "intraday" else self.single_loop
        dt = r.grid.step_h
        return float(
            sum(np.abs(r.power_kw[g]["electricity"] - p).sum() * dt for g, p in self.position_kw.items())
        )


def _forecast(compiled: CompiledSite, error: float, seed: int) -> CompiledSite:
    """Electric loads and PV as forecast at the day-ahead gate; no intraday market yet."""
    rng = np.random.default_rng(seed)
    n = compiled.grid.n
    assets = []
    for a in compiled.site.assets:
        if isinstance(a, PV) or (isinstance(a, Load) and a.carrier == ELECTRICITY):
            x = expand(a.profile_kw, n)  # validated with the site: never None here
            assert x is not None
            forecast = x * np.maximum(0.0, 1.0 + error * rng.standard_normal(n))
            a = a.model_copy(update={"profile_kw": [float(v) for v in forecast]})
        assets.append(a)
    prices = {k: v for k, v in compiled.prices.items() if k != "intraday"}
    site = compiled.site.model_copy(update={"assets": assets})
    return dataclasses.replace(compiled, site=site, prices=prices)


def _fix(sm: SiteModel, values: dict[str, np.ndarray]) -> None:
    """Fix the named columns; the position is financial, so buying day-ahead and selling intraday in
    one period is allowed (intraday buys and sells share one price: doing both never pays; the
    network tariff is on the metered flow, see assets.grid_connection)."""
    position_pairs(sm.ctx)
    arr = sm.model.arrays()
    for b in sm.model.var_blocks:
        v = values.get(b.name)
        if v is not None and v.size == b.n:
            x = np.clip(v, arr.lb[b.start : b.start + b.n], arr.ub[b.start : b.start + b.n])
            sm.model.set_bounds(b, x, x)


def _grids(compiled: CompiledSite) -> list[str]:
    return [a.name for a in compiled.site.assets if a.kind == "grid_connection" and a.carrier == ELECTRICITY]


def run_two_loop(site: SiteLike, forecast_error: float = 0.1, seed: int = 0) -> TwoLoopResult:
    """Day-ahead on forecasts, then intraday on the actual data; see the module docstring."""
    compiled = checked_site(site)
    if compiled.site.prices.intraday is None:
        why = "the second loop trades intraday: give prices.intraday (prices_eur_per_mwh, max_kw)"
        raise ValidationError("run_two_loop", [Problem("prices", "intraday", why)])
    if not (0 <= forecast_error < 10):
        raise ValidationError("run_two_loop", [Problem("two_loop", "forecast_error", "must be in [0, 10)")])
    # Loop 1: the plan on the forecasts; its solution vector is kept to read every decision by name.
    n = compiled.grid.n
    forecast = _forecast(compiled, forecast_error, seed)
    sm1 = _build(forecast)
    box: list[np.ndarray] = []
    sm1.readers.append(_keeper(box))
    day_ahead = solve_site_model(sm1)
    plan = {b.name: box[0][b.start : b.start + b.n].copy() for b in sm1.model.var_blocks}
    position = {g: day_ahead.power_kw[g]["electricity"].copy() for g in _grids(compiled)}
    labels = {g: next(b.hook.label for n, b in sm1.built.items() if n == g and b.hook) for g in position}
    fixed: dict[str, np.ndarray] = {}
    for g, p in position.items():  # the day-ahead trades: net import bought, net export sold
        fixed[f"{labels[g]} import"] = np.maximum(p, 0.0)
        fixed[f"{labels[g]} export"] = np.maximum(-p, 0.0)
    commitments = {name: v for name, v in plan.items() if name.endswith("commitment")}
    # Loop 2: actual data, the position and the commitments fixed, intraday free.
    sm2 = _build(compiled)
    _fix(sm2, fixed | commitments)
    two = solve_site_model(sm2)
    # The single loop: every decision of the plan applied as well; intraday settles the rest.
    sm3 = _build(compiled)
    decisions = {k: v for k, v in plan.items() if _decision(k)}
    # PV applies the plan's curtailment (not its forecast production) to what is actually available.
    for a, f in zip(compiled.site.assets, forecast.site.assets, strict=True):
        key = f"{a.label} production"
        if isinstance(a, PV) and isinstance(f, PV) and key in decisions:
            actual, guess = expand(a.profile_kw, n), expand(f.profile_kw, n)
            assert actual is not None and guess is not None
            decisions[key] = np.clip(actual - (guess - decisions[key]), 0.0, actual)
    _fix(sm3, decisions | fixed | commitments)
    single = solve_site_model(sm3)
    for r, name in ((day_ahead, "day_ahead"), (two, "two_loop"), (single, "single_loop")):
        r.strategy = name
    return TwoLoopResult(day_ahead, two, single, position)
