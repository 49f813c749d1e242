"""How energy and services are decided: co-optimised, or one of the two-loop sequences.

* ``cooptimised``: one model, energy and every service together (the upper bound of value).
* ``energy_first``: (1) optimise energy alone (obligations such as a DSO reservation kept);
  (2) keep the site's net exchange with the grid per period as traded in (1) — its day-ahead
  position — and sell services on the residual headroom, the assets re-dispatching behind the meter.
* ``services_first``: reserve auctions close before day-ahead. (1) Co-optimise with a forecast of
  the day-ahead prices (``strategy.price_forecast``: the daily mean, the previous day's SMARD
  prices, or a series) and keep the commitments; (2) optimise energy at the true prices with those
  commitments fixed.
* ``two_loop`` (a site with ``prices.intraday``): the day-ahead position and the commitments are
  decided on forecasts of loads and PV (``strategy.forecast_error``, ``strategy.seed``), then the
  assets re-dispatch on the actual data and intraday trades the difference
  (:func:`gridflex.scheduling.intraday.run_two_loop`); the result is the second loop's, with
  ``second_loop`` (its value against the day-ahead plan applied alone).

Every strategy but ``two_loop`` ends with a schedule that is feasible for the co-optimised model at
the true prices, so the co-optimised value is at least that of each sequence (checked by a test);
``two_loop`` decides on forecasts, so it carries their error.

Public API::

    run_strategy(site, name=None) -> SiteResult          # name: the site's strategy by default
    compare_strategies(site) -> pandas.DataFrame         # value and breakdown side by side
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from gridflex.errors import Problem, ValidationError
from gridflex.scheduling.hub import SiteModel, build_site_model, checked_site, solve_site_model
from gridflex.scheduling.result import SiteResult, ordered_costs
from gridflex.scheduling.services import SERVICE_COSTS, ServiceModel, add_services
from gridflex.scheduling.site import CompiledSite, SiteLike, SmardSource

STRATEGIES = ("cooptimised", "energy_first", "services_first")
"""The sequences of energy and services on one set of data (``compare_strategies``' default)."""
TWO_LOOP = "two_loop"  # also a strategy: the day-ahead loop on forecasts, then intraday


def run_strategy(
    site: SiteLike, name: str | None = None, time_limit_s: float | None = None,
    mip_rel_gap: float = 1e-6,
) -> SiteResult:  # fmt: skip
    """Schedule a site with services under a strategy (default: the site's ``strategy.name``)."""
    t0 = time.perf_counter()
    compiled = checked_site(site)
    name = name or compiled.site.strategy.name
    if name not in (*STRATEGIES, TWO_LOOP):
        why = f"unknown strategy {name!r}; choose one of {', '.join((*STRATEGIES, TWO_LOOP))}"
        raise ValidationError("run_strategy", [Problem("strategy", "name", why)])
    if name == TWO_LOOP:
        from gridflex.scheduling.intraday import run_two_loop  # the second loop builds on the MPC's pieces

        spec = compiled.site.strategy
        run = run_two_loop(compiled, spec.forecast_error, spec.seed)
        result = run.intraday
        result.second_loop = {
            "value_eur": run.value_eur,
            "single_loop_cost_eur": run.single_loop.costs_eur["total"],
            "day_ahead_plan_cost_eur": run.day_ahead.costs_eur["total"],
            "traded_intraday_kwh": run.traded_intraday_kwh(),
            "forecast_error": spec.forecast_error,
            "seed": float(spec.seed),
        }
        result.time_solver_s = sum(r.time_solver_s for r in (run.day_ahead, run.intraday, run.single_loop))
    elif name == "services_first":
        forecast = dataclasses.replace(compiled, prices=_forecast_prices(compiled))
        first = _solve(forecast, time_limit_s, mip_rel_gap)
        sm, sv = _build(compiled)
        sv.fix_commitments(sm, {n: _per_block(first, n, sv) for n in sv.products})
        result = solve_site_model(sm, time_limit_s, mip_rel_gap)
    else:
        sm, sv = _build(compiled)
        if name == "energy_first":
            sv.fix_commitments(sm, None)
            energy = solve_site_model(sm, time_limit_s, mip_rel_gap)
            _fix_grid_position(sm, energy)
            sv.release(sm)
        result = solve_site_model(sm, time_limit_s, mip_rel_gap)
    result.strategy = name
    result.time_build_s = time.perf_counter() - t0 - result.time_solver_s
    return result


def _build(compiled: CompiledSite) -> tuple[SiteModel, ServiceModel]:
    sm = build_site_model(compiled)
    return sm, add_services(sm, compiled.products)


def _solve(compiled: CompiledSite, time_limit_s: float | None, gap: float) -> SiteResult:
    sm, _sv = _build(compiled)
    return solve_site_model(sm, time_limit_s, gap)


def _per_block(result: SiteResult, name: str, sv: ServiceModel) -> np.ndarray:
    return np.array([b["kw"] for b in result.service_blocks[name]], dtype=float).reshape(
        sv.products[name].product.n_blocks
    )


def _forecast_prices(compiled: CompiledSite) -> dict[str, np.ndarray]:
    """The site's prices with day-ahead replaced by the strategy's forecast."""
    prices = dict(compiled.prices)
    true = prices.get("day_ahead", np.zeros(compiled.grid.n))
    forecast = compiled.site.strategy.price_forecast
    if forecast == "flat":
        prices["day_ahead"] = np.full_like(true, float(np.mean(true)))
    elif forecast == "previous_day":
        from gridflex.market.prices import prices_on_grid
        from gridflex.timegrid import TimeGrid

        spec = compiled.site.prices.day_ahead_eur_per_mwh
        assert isinstance(spec, SmardSource)
        g = compiled.grid
        day_before = TimeGrid(g.start - pd.Timedelta(days=1), g.step_s, g.n)
        prices["day_ahead"] = prices_on_grid(day_before, spec.smard.zone, spec.smard.year)
    else:
        from gridflex.timegrid import expand

        a = expand(forecast, compiled.grid.n)
        assert a is not None  # validated with the site
        prices["day_ahead"] = a
    return prices


def _fix_grid_position(sm: SiteModel, energy: SiteResult) -> None:
    """Rows: every electricity grid connection keeps its net exchange of the energy-only schedule."""
    ctx = sm.ctx
    t = np.arange(ctx.n)
    for name, built in sm.built.items():
        h = built.hook
        if h is None or not h.is_grid or not h.bus.startswith("electricity@"):
            continue
        net = energy.power_kw[name]["electricity"]
        rows = np.concatenate([t] * len(h.terms))
        cols = np.concatenate([b.idx for b, _ in h.terms])
        vals = np.concatenate([np.full(ctx.n, c) for _, c in h.terms])
        ctx.relation(f"{h.label} day-ahead position", rows, cols, vals, net - 1e-7, net + 1e-7, ctx.n)


def strategy_table(results: dict[str, SiteResult]) -> pd.DataFrame:
    """Cost terms (``COST_TERMS`` order, revenue negative), total cost, value (EUR, −total: higher
    is better), services revenue and mean commitments per strategy, one column each; every row name
    carries its unit. The run time of each strategy (build + solve, s) is in
    ``table.attrs["time_s"]``, not among the rows: it is no money."""
    merged: dict[str, float] = {}
    for r in results.values():
        merged |= {k: 0.0 for k in r.costs_eur}
    keys = [k for k in ordered_costs(merged) if k != "total"]
    rows = {}
    for name, r in results.items():
        col = {f"cost_{k}_eur": r.costs_eur.get(k, 0.0) for k in keys}  # the cost terms, total last
        col |= {"total_cost_eur": r.costs_eur["total"], "value_eur": -r.costs_eur["total"]}
        col["services_revenue_eur"] = -sum(r.costs_eur.get(k, 0.0) for k in SERVICE_COSTS)
        for s, kw in r.service_kw.items():
            col[f"mean_committed_kw_{s}"] = float(np.mean(kw))
        rows[name] = col
    table = pd.DataFrame(rows)
    table.attrs["time_s"] = {name: r.time_build_s + r.time_solver_s for name, r in results.items()}
    return table


def compare_strategies(site: SiteLike, names: tuple[str, ...] = STRATEGIES) -> pd.DataFrame:
    """Run every strategy on the same site and prices; the table of :func:`strategy_table`."""
    compiled = checked_site(site)
    return strategy_table({n: run_strategy(compiled, n) for n in names})
