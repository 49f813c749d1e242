"""Model-predictive control of a site over several days: rolling horizon, forecast errors, warm re-solves.

``run_mpc(site, days=7, step_h=1, horizon_h=24, forecast_error=0.1, seed=0, gate_h_before=12)``:

1. The site file describes one day; its daily profiles (loads, PV, tariffs, given price lists,
   reserve prices) are repeated over ``days`` days, day-ahead prices from SMARD are read for the real
   days. Heat pumps run at a constant COP (the mean of their day): a COP is a matrix coefficient, and
   the rolling model only changes costs and bounds. Days are counted from the site's start (local
   midnight in the examples) and repeat every ``n_day`` periods (24 h).
   *EVs*: the site's session (arrival, departure, need) repeats every day
   (:class:`~gridflex.assets.ev.DailyEV`); the car's stored energy is state carried between steps
   like a SOC (energy delivered so far in the session), the need is a lower bound at departure and,
   mid-session, what the charger can still reach by departure (so a horizon that ends before the
   departure keeps the need reachable). The session must leave the car away part of the day.
   *Shiftable processes*: one run a day in the day's window
   (:class:`~gridflex.assets.shiftable_process.DailyProcess`, non-interruptible): its start is decided
   when the window is inside the horizon and applied when the start falls in an applied step; once
   started it continues as committed (its remaining steps are a fixed load of later horizons) and its
   day is closed. Start binaries make each step a MILP (HiGHS branch and bound, re-run per step).
2. Every ``step_h`` hours the controller optimises the next ``horizon_h`` hours (shrinking to the end
   of the run in the last steps, so every horizon ends where the run ends) on *forecasts*, applies
   the first ``step_h`` hours and carries the state forward (stored energy, EV energy, process runs,
   peak import so far). Stores keep their end target at the end of each horizon.
3. Services (reserves, DSO contracts): the commitments of day ``D`` are decided day-ahead, at the
   gate ``gate_h_before`` hours before day ``D`` starts (12:00 the day before by default; day 0 at the
   run start): a *stage* co-optimises energy and services from the gate to the end of day ``D`` on
   the forecasts of that moment, with the blocks already decided fixed and the bid rules (minimum
   bid, step) applied, and fixes day ``D``'s commitments. The MPC steps then keep every fixed
   commitment (headroom for a full activation over its delivery duration, expected activation energy
   drawn from the stores) and price its availability and expected activation revenue; periods not
   decided yet (the tail of a horizon beyond the last gate) are planned with a free per-period
   commitment (no block or bid rule: an estimate of what the next stage will sell). In the step
   models every service is per period (one commitment column per period, bounds = the decision),
   so a step's structure does not depend on where blocks or DSO windows fall.
4. One step model is built per horizon length; each step writes the new data into it in place
   (``Model.set_cost`` / ``set_bounds`` / ``set_row_bounds``) and HiGHS re-solves from the last basis.
   New commitments are data too (bounds of the per-period commitment columns): they need no rebuild.
   Each day-ahead stage builds its own model (its horizon and blocks differ: one build per day).
   With ``measure_cold`` the same step is also solved from a fresh model, for the timing comparison.
5. The realised cost: the whole run with the true data and the applied decisions fixed (PV
   production clipped to what was really available; the grid connections take the difference;
   commitments and their allocations as applied), against perfect foresight: the same run solved
   once with the true data, commitments co-optimised with the blocks and bid rules. Delivery is
   measured there, never imposed (physics stays hard): every provider's applied allocation is split
   into what its headroom rows (power, stored energy, its node's grid connection) can hold and the
   undelivered rest, paid at the availability price plus ``shortfall_eur_per_mw_h``
   (``undelivered_kwh``, ``undelivered_eur``, cost ``service_undelivered``); ``headroom_shortfall``
   names the service row groups the promised allocations break (PV below its forecast, the grid
   taking the load's error, a store re-planned after its applied period).

6. With an intraday market (``prices.intraday``) each stage also fixes its day's day-ahead position
   and the steps re-trade intraday around it (the second loop). The same days are then also run
   without the second loop (``_SingleLoop``): each stage's plan applied as it stands, the error
   settled intraday, its stages on the same forecast draws (the generator copied before each stage)
   from its own state; ``MpcResult.second_loop_value_eur`` = its realised cost − the two loops'.

Forecast model (seeded, ``numpy.random.default_rng(seed)``, drawn anew at every step and stage): at
lead time ``ℓ`` hours, ``σ(ℓ) = forecast_error · sqrt(min(ℓ, 24)/24)`` (the period being applied,
``ℓ = 0``, is known). Electric loads and PV: ``x̂ = x · max(0, 1 + σ·ε)``; day-ahead prices:
``p̂ = p + σ · mean|p| · ε``, with ``ε ~ N(0, 1)`` independent per period. Reserve and DSO prices,
heat loads and EV sessions are known.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridflex.assets.base import ELECTRICITY, Context
from gridflex.assets.ev import DailyEV
from gridflex.assets.grid_connection import position_pairs
from gridflex.assets.pv import PV
from gridflex.assets.shiftable_process import DailyProcess
from gridflex.errors import Problem, ValidationError
from gridflex.optimize import Model, Solution
from gridflex.scheduling.hub import SiteModel, build_site_model, precheck_site, solve_site_model
from gridflex.scheduling.products import Product
from gridflex.scheduling.result import SiteResult, ordered_costs
from gridflex.scheduling.services import SERVICE_COSTS, add_services
from gridflex.scheduling.site import CompiledSite, Site, SiteLike, compile_site
from gridflex.timegrid import TimeGrid, expand

_GRID_ROWS = "grid connection of '"  # service rows of a node's grid connections (see services.py)


@dataclass
class MpcResult:
    """Realised cost of the rolling run against perfect foresight, and the re-solve timings."""

    realised_cost_eur: float
    perfect_foresight_cost_eur: float
    steps: int
    horizon_periods: int
    applied_periods: int
    forecast_error: float
    seed: int
    solve_warm_s: list[float] = field(default_factory=list)
    solve_cold_s: list[float] = field(default_factory=list)
    builds: int = 0  # step models built (one per horizon length)
    stages: int = 0  # day-ahead commitment stages (one model each)
    max_warm_cold_gap_eur: float = 0.0  # largest |objective warm − objective fresh| over the steps
    milp_steps: int = 0  # steps solved as a MILP (process starts, exclusivity binaries)
    commitments_kw: dict[str, np.ndarray] = field(default_factory=dict)  # per service, per period
    headroom_shortfall: dict[str, float] = field(default_factory=dict)  # service row group → worst miss
    commitment_shortfall_kw: dict[str, float] = field(default_factory=dict)  # per service: most not kept
    ev_need_missed_kwh: dict[str, float] = field(default_factory=dict)  # per EV, summed over departures
    # realised run: per service and provider, kW·h of its applied allocation it could not hold
    undelivered_kwh: dict[str, dict[str, float]] = field(default_factory=dict)
    undelivered_eur: dict[str, float] = field(
        default_factory=dict
    )  # per service: paid for that (in the cost)
    position_kw: dict[str, np.ndarray] = field(default_factory=dict)  # intraday: day-ahead net import
    intraday_traded_kwh: float = 0.0  # intraday: realised energy bought plus sold intraday
    single_loop_cost_eur: float | None = None  # intraday: the run without its second loop (see below)
    single_loop: SiteResult | None = None
    single_loop_position_kw: dict[str, np.ndarray] = field(default_factory=dict)  # its day-ahead net import
    realised: SiteResult | None = None
    perfect: SiteResult | None = None
    site: Site | None = None  # the site repeated over the days (DailyEV, DailyProcess, tiled profiles)

    @property
    def regret_eur(self) -> float:
        return self.realised_cost_eur - self.perfect_foresight_cost_eur

    @property
    def second_loop_value_eur(self) -> float | None:
        """With an intraday market: the single loop's realised cost − the two loops' (None without)."""
        return (
            None if self.single_loop_cost_eur is None else self.single_loop_cost_eur - self.realised_cost_eur
        )

    def services_revenue_eur(self, which: str = "realised") -> float:
        r = self.realised if which == "realised" else self.perfect
        return 0.0 if r is None else -sum(r.costs_eur.get(k, 0.0) for k in SERVICE_COSTS)

    def summary(self) -> dict[str, Any]:
        med = statistics.median
        return {
            "steps": self.steps,
            "builds": self.builds,
            "stages": self.stages,
            "milp_steps": self.milp_steps,
            "realised_cost_eur": round(self.realised_cost_eur, 4),
            "perfect_foresight_cost_eur": round(self.perfect_foresight_cost_eur, 4),
            "regret_eur": round(self.regret_eur, 4),
            "services_revenue_realised_eur": round(self.services_revenue_eur("realised"), 4),
            "services_revenue_perfect_eur": round(self.services_revenue_eur("perfect"), 4),
            "headroom_shortfall": {k: round(v, 6) for k, v in self.headroom_shortfall.items()},
            "commitment_shortfall_kw": {k: round(v, 6) for k, v in self.commitment_shortfall_kw.items()},
            "ev_need_missed_kwh": {k: round(v, 6) for k, v in self.ev_need_missed_kwh.items()},
            "undelivered_kwh": {
                k: {a: round(v, 6) for a, v in by.items()} for k, by in self.undelivered_kwh.items()
            },
            "undelivered_eur": {k: round(v, 6) + 0.0 for k, v in self.undelivered_eur.items()},  # no -0.0
            "intraday_traded_kwh": round(self.intraday_traded_kwh, 4),
            **(
                {}
                if self.single_loop_cost_eur is None or self.second_loop_value_eur is None
                else {
                    "single_loop_cost_eur": round(self.single_loop_cost_eur, 4),
                    "second_loop_value_eur": round(self.second_loop_value_eur, 4),
                }
            ),
            "forecast_error": self.forecast_error,
            "median_solve_warm_s": med(self.solve_warm_s) if self.solve_warm_s else None,
            "median_solve_cold_s": med(self.solve_cold_s) if self.solve_cold_s else None,
            "max_warm_cold_gap_eur": self.max_warm_cold_gap_eur,
        }


# ── the week ─────────────────────────────────────────────────────────────────────────────────


def _tile(value: Any, n_day: int, days: int) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        a = expand(value, n_day)
        if a is not None:
            return [float(v) for v in np.tile(a, days)]
    return value


def _daily(a: Any, ctx: Context, probs: list[Problem]) -> Any:
    """An EV or shiftable process of the one-day site as its every-day version."""
    n_day = ctx.n
    common = {f: getattr(a, f) for f in type(a).model_fields}
    if a.kind == "ev":
        arr, dep = a.window(ctx)
        if arr is not None and dep is not None and dep - arr >= n_day:
            probs.append(
                Problem(a.name, "departure", "run_mpc repeats the session daily: the car must leave")
            )
        return DailyEV(**common, n_day=n_day, arrival_period=arr or 0, departure_period=dep or n_day)
    first, end = a.window(ctx)
    if a.interruptible:
        probs.append(Problem(a.name, "interruptible", "run_mpc supports non-interruptible processes only"))
    return DailyProcess(**common, n_day=n_day, start_period=first or 0, end_period=end or n_day)


def week_site(site: SiteLike, days: int) -> Site:
    """The one-day site repeated over ``days`` days (see the module docstring)."""
    compiled = compile_site(site)
    site = compiled.site
    n_day = compiled.grid.n
    probs: list[Problem] = []
    if abs(n_day * compiled.grid.step_h - 24.0) > 1e-9:
        probs.append(Problem("time", "n_periods", "run_mpc needs a site file describing exactly one day"))
    ctx = compiled.context(Model("cop"))
    assets = []
    for a in site.assets:
        if a.kind in ("ev", "shiftable_process"):
            assets.append(_daily(a, ctx, probs))
            continue
        update = {f: _tile(getattr(a, f), n_day, days) for f in type(a).model_fields}
        if a.kind == "heat_pump" and a.cop is None:
            update["cop"] = float(np.mean(a.cop_series(ctx)))
        assets.append(a.model_copy(update=update))
    if probs:
        raise ValidationError(f"site '{site.name}' for MPC", probs)
    p = site.prices
    prices = p.model_copy(update={f: _tile(getattr(p, f), n_day, days) for f in type(p).model_fields})
    if p.intraday is not None:
        tiled_id = _tile(p.intraday.prices_eur_per_mwh, n_day, days)
        prices.intraday = p.intraday.model_copy(update={"prices_eur_per_mwh": tiled_id})
    time_spec = site.time.model_copy(update={"n_periods": n_day * days, "end": None})
    tiled = ("availability_price_eur_per_mw_h", "activation_price_eur_per_mwh", "committed_kw")
    reserves = [
        r.model_copy(update={f: _tile(getattr(r, f), n_day, days) for f in tiled})
        for r in site.services.reserves
    ]
    services = site.services.model_copy(update={"reserves": reserves})
    strategy = site.strategy.model_copy(
        update={"price_forecast": _tile(site.strategy.price_forecast, n_day, days)}
    )
    return site.model_copy(
        update={
            "assets": assets,
            "prices": prices,
            "time": time_spec,
            "services": services,
            "strategy": strategy,
        }
    )


# ── one horizon ──────────────────────────────────────────────────────────────────────────────


@dataclass
class _State:
    """What one step hands to the next: stored energy, EV energy, process starts, peaks so far."""

    soc: dict[str, float]
    ev_kwh: dict[str, float] = field(default_factory=dict)
    starts: dict[str, list[int]] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    frozen: dict[str, np.ndarray] = field(default_factory=dict)  # plan values of the frozen zone


def _horizon(
    week: CompiledSite, s: int, length: int, state: _State, rng: np.random.Generator | None,
    error: float, products: list[Product],
) -> CompiledSite:  # fmt: skip
    """The data of one step: the week sliced to [s, s+length), forecasts applied, state carried."""
    dt = week.grid.step_h
    lead = np.arange(length) * dt
    sigma = error * np.sqrt(np.minimum(lead, 24.0) / 24.0)
    eps = (lambda: rng.standard_normal(length)) if rng is not None else (lambda: np.zeros(length))
    assets = []
    n = week.grid.n
    for a in week.site.assets:
        update: dict[str, Any] = {}
        if a.kind == "ev":
            update = {"offset": s, "energy_kwh": state.ev_kwh.get(a.name)}
        elif a.kind == "shiftable_process":
            update = {"offset": s, "starts": list(state.starts.get(a.name, []))}
        else:
            for f in type(a).model_fields:
                v = getattr(a, f)
                if isinstance(v, list) and len(v) == n:
                    sliced = np.asarray(v[s : s + length], float)
                    noisy = a.kind == "pv" or (a.kind == "load" and a.carrier == ELECTRICITY)
                    if noisy and f == "profile_kw":
                        sliced = sliced * np.maximum(0.0, 1.0 + sigma * eps())
                    update[f] = [float(x) for x in sliced]
        if a.name in state.soc:
            update["initial_soc_frac"] = min(
                max(state.soc[a.name] / float(getattr(a, "capacity_kwh", 1.0)), 0.0), 1.0
            )
        if a.kind == "grid_connection" and a.peak_eur_per_kw > 0:  # the peak reached so far is sunk
            update["existing_peak_kw"] = max(a.existing_peak_kw, state.peaks.get(a.name, 0.0))
        assets.append(a.model_copy(update=update))
    prices = {k: v[s : s + length].copy() for k, v in week.prices.items()}
    if "day_ahead" in prices:
        da = prices["day_ahead"]
        scale = float(np.mean(np.abs(week.prices["day_ahead"])))
        prices["day_ahead"] = da + sigma * scale * eps()
    if "intraday" in prices:  # the same forecast model as day-ahead prices
        scale = float(np.mean(np.abs(week.prices["intraday"])))
        prices["intraday"] = prices["intraday"] + sigma * scale * eps()
    grid = TimeGrid(week.grid.start + pd.Timedelta(seconds=s * week.grid.step_s), week.grid.step_s, length)
    return CompiledSite(week.site.model_copy(update={"assets": assets}), grid, week.tz, prices, products)


def _sliced(p: Product, sl: slice, **update: Any) -> Product:
    return dataclasses.replace(
        p, availability_eur_per_mw_h=p.availability_eur_per_mw_h[sl].copy(),
        activation_share=p.activation_share[sl].copy(), activation_eur_per_mwh=p.activation_eur_per_mwh[sl].copy(),
        **update,
    )  # fmt: skip


def _period_products(
    week: CompiledSite, s: int, length: int, decided: dict[str, np.ndarray], penalty: float
) -> list[Product]:
    """Every service per period on [s, s+length): kept in [0, decided commitment] with ``penalty``
    (EUR/MW/h) added to the availability price of decided periods, else the free range."""
    out = []
    sl = slice(s, s + length)
    for p in week.products:
        blk = p.block[sl]
        on = blk >= 0
        b = np.maximum(blk, 0)
        c = decided[p.name][sl]
        fixed = ~np.isnan(c)
        lb = np.where(fixed, 0.0, np.where(on, p.lb_kw[b], 0.0))
        ub = np.where(fixed, c, np.where(on, p.ub_kw[b], 0.0))
        q = _sliced(p, sl, block=np.arange(length), lb_kw=lb, ub_kw=ub, min_kw=0.0, step_kw=0.0, forced=True)
        q.availability_eur_per_mw_h += np.where(fixed & (c > 0), penalty, 0.0)
        out.append(q)
    return out


def _stage_products(week: CompiledSite, s: int, e: int, decided: dict[str, np.ndarray]) -> list[Product]:
    """Services on [s, e) with their blocks and bid rules; blocks already decided fixed."""
    out = []
    sl = slice(s, e)
    for p in week.products:
        blk = p.block[sl]
        on = blk >= 0
        used, inv = np.unique(blk[on], return_inverse=True)
        block = np.full(e - s, -1, np.int64)
        block[on] = inv
        lb, ub = p.lb_kw[used].copy(), p.ub_kw[used].copy()
        c = decided[p.name][sl]
        for j, b in enumerate(used):
            known = c[(blk == b) & ~np.isnan(c)]
            if known.size:
                lb[j] = ub[j] = known[0]
        out.append(_sliced(p, sl, block=block, lb_kw=lb, ub_kw=ub))
    return out


def _build(data: CompiledSite) -> SiteModel:
    sm = build_site_model(data)
    if data.products:
        add_services(sm, data.products)
    return sm


def _write_data(target: SiteModel, fresh: SiteModel) -> None:
    """Copy costs, bounds and row bounds of a freshly built model of the same structure, in place."""
    src, dst = fresh.model, target.model
    arr = src.arrays()
    known_v = {b.name: b for b in dst.var_blocks}
    for b in src.var_blocks:
        d = known_v[b.name]
        dst.set_cost(d, arr.cost[b.start : b.start + b.n])
        dst.set_bounds(d, arr.lb[b.start : b.start + b.n], arr.ub[b.start : b.start + b.n])
    known_c = {b.name: b for b in dst.constr_blocks}
    for c in src.constr_blocks:
        dst.set_row_bounds(
            known_c[c.name], arr.row_lb[c.start : c.start + c.n], arr.row_ub[c.start : c.start + c.n]
        )


def _keeper(box: list[np.ndarray]) -> Callable[[Solution, SiteResult], None]:
    """A reader that keeps the latest solution vector of a model in ``box[0]``."""

    def keep(sol: Solution, res: SiteResult) -> None:
        box[:] = [sol.x]

    return keep


# ── the run ──────────────────────────────────────────────────────────────────────────────────


def _periods(week: CompiledSite, hours: float, what: str) -> int:
    k = round(hours / week.grid.step_h)
    if abs(k * week.grid.step_h - hours) > 1e-9:
        raise ValidationError(
            "run_mpc", [Problem("mpc", what, f"{hours:g} h is not a whole number of periods")]
        )
    return k


def _gates(n_day: int, days: int, step: int, gate: int) -> dict[int, list[int]]:
    """Step start → days whose commitments are decided there (day 0 at the start)."""
    out: dict[int, list[int]] = {}
    for d in range(days):
        g = 0 if d == 0 else max(0, d * n_day - gate)
        out.setdefault((g // step) * step, []).append(d)
    return out


@dataclass
class _Plan:
    """A day-ahead stage's plan from its gate ``s``: result, solution vector, forecast data, model."""

    s: int
    res: SiteResult
    x: np.ndarray
    data: CompiledSite
    sm: SiteModel


def _stage(
    week: CompiledSite, s: int, day: int, n_day: int, state: _State, decided: dict[str, np.ndarray],
    rng: np.random.Generator | None, error: float, position: dict[str, np.ndarray],
) -> _Plan:  # fmt: skip
    """Day-ahead: co-optimise from the gate to the end of ``day`` on forecasts; fix that day's blocks
    and, with an intraday market, that day's day-ahead position (bought on the day-ahead market only).
    ``state.frozen``: plan values the first periods keep."""
    e = (day + 1) * n_day
    products = _stage_products(week, s, e, decided)
    data = _horizon(week, s, e - s, state, rng, error, products)
    data = dataclasses.replace(data, prices={k: v for k, v in data.prices.items() if k != "intraday"})
    sm = _build(data)
    _freeze(sm, state.frozen, e - s)
    box: list[np.ndarray] = []
    sm.readers.append(_keeper(box))
    res = solve_site_model(
        sm, mip_rel_gap=1e-4
    )  # bid rules: a MILP; its plan is applied in the single loop only
    lo = max(s, day * n_day)
    for p in products:
        decided[p.name][lo:e] = res.service_kw[p.name][lo - s :]
    for g, pos in position.items():
        pos[lo:e] = res.power_kw[g][ELECTRICITY][lo - s :]
    return _Plan(s, res, box[0], data, sm)


@dataclass
class _SingleLoop:
    """The MPC without its second loop: each day-ahead stage's plan is applied as it stands (no
    re-planning in the day, no intraday re-trading); the forecast error is settled intraday. Its
    stages see the same forecasts as the two-loop run's (the same draws) from its own state."""

    state: _State
    decided: dict[str, np.ndarray]
    position: dict[str, np.ndarray]
    applied: dict[str, np.ndarray] = field(default_factory=dict)
    last: _Plan | None = None

    def stage(
        self, week: CompiledSite, s: int, day: int, n_day: int, rng: np.random.Generator | None, error: float,
        assets: list[Any], grids: list[str],
    ) -> None:  # fmt: skip
        n, lo, e = week.grid.n, max(s, day * n_day), (day + 1) * n_day
        prev = self.last
        if prev is not None:  # the state at s and the decisions of [s, lo) come from the last plan
            k = s - prev.s
            if k > 0:
                _carry(self.state, prev.res, self.applied, assets, prev.s, k, grids)
            self.state.frozen = {
                b.name: prev.x[b.start + k : b.start + lo - prev.s]
                for b in prev.sm.model.var_blocks
                if b.n == prev.data.grid.n and _kept(b.name)
            }
        plan = _stage(week, s, day, n_day, self.state, self.decided, rng, error, self.position)
        for b in plan.sm.model.var_blocks:
            if b.n == e - s and _decision(b.name):
                self.applied.setdefault(b.name, np.full(n, np.nan))[lo:e] = plan.x[
                    b.start + lo - s : b.start + e - s
                ]
        # PV applies the plan's curtailment to what is actually available (not its forecast output).
        for a, f in zip(week.site.assets, plan.data.site.assets, strict=True):
            key = f"{a.label} production"
            if isinstance(a, PV) and isinstance(f, PV) and key in self.applied:
                actual, guess = expand(a.profile_kw, n), expand(f.profile_kw, e - s)
                assert actual is not None and guess is not None  # validated with the site
                planned = self.applied[key][lo:e]
                self.applied[key][lo:e] = np.clip(
                    actual[lo:e] - (guess[lo - s :] - planned), 0.0, actual[lo:e]
                )
        self.last = plan


def _hold_position(sm: SiteModel, position: dict[str, np.ndarray], s: int, length: int) -> None:
    """The second loop in a step: the day-ahead trades are the position, intraday trades the rest. In
    periods not decided yet (beyond the last gate) the plan has no position and trades at the
    intraday forecast without its ``max_kw`` — an estimate, as the next stage will buy day-ahead
    there. Every day-ahead trade is then fixed: no trades pair can bind, the step stays an LP."""
    if not position:
        return
    position_pairs(sm.ctx)
    blocks = {b.name: b for b in sm.model.var_blocks}
    for g, pos in position.items():
        label = f"grid connection '{g}'"
        p = np.nan_to_num(pos[s : s + length])
        for side, v in (("import", np.maximum(p, 0.0)), ("export", np.maximum(-p, 0.0))):
            sm.model.set_bounds(blocks[f"{label} {side}"], v, v)
        free = np.flatnonzero(np.isnan(pos[s : s + length]))
        if free.size:
            for side in ("intraday import", "intraday export"):
                sm.model.set_bounds(blocks[f"{label} {side}"], 0.0, np.inf, free)


def run_mpc(
    site: SiteLike, days: int = 7, step_h: float = 1.0, horizon_h: float = 24.0, forecast_error: float = 0.1,
    seed: int = 0, measure_cold: bool = True, gate_h_before: float = 12.0,
    shortfall_eur_per_mw_h: float = 1000.0,
) -> MpcResult:  # fmt: skip
    """Rolling-horizon control over ``days`` days; see the module docstring. ``site``: a
    :class:`Site`, its :class:`CompiledSite`, a site file's path or its dict (one day of the site)."""
    week = compile_site(week_site(site, days))
    n = week.grid.n
    n_day = n // days
    step, horizon = _periods(week, step_h, "step_h"), _periods(week, horizon_h, "horizon_h")
    gate = _periods(week, gate_h_before, "gate_h_before")
    if step < 1 or horizon < step:
        raise ValidationError("run_mpc", [Problem("mpc", "step_h", "needs 0 < step_h <= horizon_h")])
    problems = precheck_site(week)
    if problems:
        raise ValidationError(f"site '{week.site.name}' for MPC", problems)
    rng = np.random.default_rng(seed) if forecast_error > 0 else None
    assets = week.site.assets
    stores = [a for a in assets if a.kind in ("battery", "storage", "thermal_storage")]
    state = _State({a.name: a.initial_soc_frac * a.capacity_kwh for a in stores})
    grids = [a.name for a in assets if a.kind == "grid_connection" and a.carrier == ELECTRICITY]
    decided = {p.name: np.full(n, np.nan) for p in week.products}
    # With an intraday market every day's position is bought at its gate, then re-traded intraday.
    position = {g: np.full(n, np.nan) for g in grids} if "intraday" in week.prices else {}
    gates = _gates(n_day, days, step, gate) if week.products or position else {}
    frozen = max((math.ceil(p.end_h / week.grid.step_h - 1e-9) for p in week.products), default=1) - 1
    models: dict[int, SiteModel] = {}
    last: dict[int, list[np.ndarray]] = {}  # the latest solution vector of each model
    applied: dict[str, np.ndarray] = {}
    out = MpcResult(0.0, 0.0, 0, horizon, step, forecast_error, seed)
    # With an intraday market the run without its second loop goes alongside (the value of the loop).
    single = None
    if position:
        single = _SingleLoop(copy.deepcopy(state),  # its own EV energy, starts and peaks too
                             {k: v.copy() for k, v in decided.items()}, {g: p.copy() for g, p in position.items()})  # fmt: skip
    for s in range(0, n, step):
        for day in gates.get(s, []):
            same_draws = copy.deepcopy(rng)
            _stage(week, s, day, n_day, state, decided, rng, forecast_error, position)
            if single is not None:
                single.stage(week, s, day, n_day, same_draws, forecast_error, assets, grids)
            out.stages += 1
        length = min(horizon, n - s)
        products = _period_products(week, s, length, decided, shortfall_eur_per_mw_h)
        data = _horizon(week, s, length, state, rng, forecast_error, products)
        if length not in models:
            models[length] = _build(data)
            _freeze(models[length], state.frozen, length)
            _hold_position(models[length], position, s, length)
            last[length] = []
            models[length].readers.append(_keeper(last[length]))
            out.builds += 1
            res = solve_site_model(models[length])
        else:
            sm = models[length]
            fresh = _build(data)
            _freeze(fresh, state.frozen, length)
            _hold_position(fresh, position, s, length)
            _write_data(sm, fresh)
            res = solve_site_model(sm)
            out.solve_warm_s.append(res.time_solver_s)
            if measure_cold:
                cold = solve_site_model(fresh)
                out.solve_cold_s.append(cold.time_solver_s)
                gap = abs(cold.costs_eur["total"] - res.costs_eur["total"])
                out.max_warm_cold_gap_eur = max(out.max_warm_cold_gap_eur, gap)
        out.milp_steps += int(res.is_mip)
        k = min(step, length)
        x = last[length][0]
        for b in models[length].model.var_blocks:
            if b.n == length:
                applied.setdefault(b.name, np.full(n, np.nan))[s : s + k] = x[b.start : b.start + k]
        _carry(state, res, applied, assets, s, k, grids)
        state.frozen = {
            b.name: x[b.start + k : b.start + min(k + frozen, length)]
            for b in models[length].model.var_blocks
            if b.n == length and _kept(b.name)
        }
        out.steps += 1
    _finish(out, week, applied, decided, shortfall_eur_per_mw_h, position)
    if single is not None:
        for p in week.products:  # the stage plans keep their commitments in full
            single.applied[f"{p.key} commitment"] = np.nan_to_num(single.decided[p.name])
        commitments = {k: np.nan_to_num(v) for k, v in single.decided.items()}
        out.single_loop, _ = _realise(
            week, single.applied, commitments, single.position, shortfall_eur_per_mw_h
        )
        out.single_loop_cost_eur = out.single_loop.costs_eur["total"]
        out.single_loop_position_kw = {g: p.copy() for g, p in single.position.items()}
    return out


def _carry(
    state: _State, res: SiteResult, applied: dict[str, np.ndarray], assets: list[Any], s: int, k: int,
    grids: list[str],
) -> None:  # fmt: skip
    """The state after the applied periods [s, s+k) of a step."""
    for a in assets:
        if a.name in state.soc:
            state.soc[a.name] = float(res.soc_kwh[a.name][k - 1])
        elif a.kind == "ev":
            state.ev_kwh[a.name] = float(res.soc_kwh[a.name][k - 1])
        elif a.kind == "shiftable_process":
            y = applied[f"{a.label} start"][s : s + k]
            state.starts.setdefault(a.name, []).extend(s + int(j) for j in np.flatnonzero(y > 0.5))
    for g in grids:
        state.peaks[g] = max(state.peaks.get(g, 0.0), float(res.power_kw[g][ELECTRICITY][:k].max()))


def _finish(
    out: MpcResult, week: CompiledSite, applied: dict[str, np.ndarray], decided: dict[str, np.ndarray],
    penalty: float, position: dict[str, np.ndarray],
) -> None:  # fmt: skip
    out.site = week.site
    out.perfect = solve_site_model(_build(week))  # with services: the co-optimised strategy
    if week.products:
        out.perfect.strategy = "cooptimised"
    out.perfect_foresight_cost_eur = out.perfect.costs_eur["total"]
    out.commitments_kw = {k: np.nan_to_num(v) for k, v in decided.items()}
    out.realised, out.headroom_shortfall = _realise(week, applied, out.commitments_kw, position, penalty)
    dt = week.grid.step_h
    out.position_kw = {g: p.copy() for g, p in position.items()}
    out.intraday_traded_kwh = sum(
        float(np.abs(out.realised.power_kw[g][ELECTRICITY] - p).sum()) * dt for g, p in position.items()
    )
    miss = 0.0
    for p in week.products:
        c, kept = out.commitments_kw[p.name], applied[f"{p.key} commitment"]
        name = p.name
        out.commitment_shortfall_kw[name] = float(np.max(c - kept, initial=0.0))
        miss += float(np.sum(np.maximum(c - kept, 0.0))) * dt / 1000.0 * penalty
    for p in week.products:  # what the realised run could not deliver (see _realise)
        u = out.realised.service_undelivered_kw.get(p.name, {})
        out.undelivered_kwh[p.name] = {a: float(v.sum()) * dt for a, v in u.items() if v.sum() * dt > 1e-6}
        total = np.sum(list(u.values()), axis=0) if u else np.zeros(week.grid.n)
        out.undelivered_eur[p.name] = float(total @ (p.availability_eur_per_mw_h + penalty)) * dt / 1000.0
    costs = out.realised.costs_eur
    costs["commitment_shortfall"] = miss
    costs["total"] += miss
    out.realised.costs_eur = ordered_costs(costs)  # total last
    out.realised_cost_eur = out.realised.costs_eur["total"]
    for a in week.site.assets:
        if isinstance(a, DailyEV):
            e = out.realised.soc_kwh[a.name]
            pos = np.arange(week.grid.n) % a.n_day
            short = a.initial_kwh + a.energy_need_kwh - e[pos == a.departure_period - 1]
            out.ev_need_missed_kwh[a.name] = float(np.maximum(short, 0.0).sum())


_DERIVED = ("state of charge", " trip", "expected activation", "shortfall", "bid steps", "bid on")


def _decision(name: str) -> bool:
    """Variable groups the controller applies (the grid connections take the difference; states follow)."""
    return not name.startswith("grid connection") and not any(w in name for w in _DERIVED)


def _kept(name: str) -> bool:
    """Variable groups a frozen zone keeps: the decisions, and the stores' expected activation."""
    return _decision(name) or name.endswith(_ACTIVATION)


_ACTIVATION = " expected activation"  # a store's expected activation draw (kW; services.py)


def _freeze(sm: SiteModel, frozen: dict[str, np.ndarray], length: int) -> None:
    """Fix the first periods of the horizon to the plan of the previous step (the frozen zone).

    The grid connections still take the difference of the new forecast there, so their service rows
    from frozen periods are not imposed. Services are not frozen: a commitment is the site's, and
    its split over the assets (and, at the shortfall penalty, how much of it is kept) is decided
    anew on the new forecast. The assets' power is what the frozen zone keeps; an allocation fixed
    with it could be impossible once the forecast moves (issue 14: PV curtailed by 4.5 kW for FCR
    up, its forecast 1 kW lower, made the step infeasible). The stores keep the plan's expected
    activation draw there (not re-derived from the new split), so their state follows the plan: a
    day-ahead stage of the single loop applies its plan from the end of a zone the previous plan
    applied.
    """
    keys = tuple(f"{p.key} " for p in sm.compiled.products)
    frozen = {k: v for k, v in frozen.items() if not k.startswith(keys)} if keys else frozen
    arr = sm.model.arrays()
    zone = max((v.size for v in frozen.values()), default=0)
    for c in sm.model.constr_blocks:
        if zone and (c.name.startswith(_GRID_ROWS) or c.name.endswith(f"{_ACTIVATION} energy")):
            sm.model.set_row_bounds(c, -np.inf, np.inf, np.arange(min(zone, c.n)))
    for b in sm.model.var_blocks:
        v = frozen.get(b.name)
        if v is None or b.n != length or v.size == 0:
            continue
        idx = np.arange(min(v.size, length))
        lb, ub = arr.lb[b.start + idx], arr.ub[b.start + idx]
        x = np.clip(v[: idx.size], lb, ub)
        sm.model.set_bounds(b, x, x, idx)


def _realise(
    week: CompiledSite, applied: dict[str, np.ndarray], commitments: dict[str, np.ndarray],
    position: dict[str, np.ndarray], penalty: float,
) -> tuple[SiteResult, dict[str, float]]:  # fmt: skip
    """The run at the true data with the applied decisions fixed; grid connections take the rest (with
    an intraday market: the day-ahead position is kept, intraday trades take the rest, beyond its
    ``max_kw`` if need be — the difference has to be settled somewhere; it is priced intraday).
    Services in their measured form (:func:`add_services`): what an asset cannot hold of its applied
    allocation is undelivered, paid at the availability price plus ``penalty`` (EUR/MW/h).

    Returns the result and, per service row group broken by the promised allocations, the worst
    miss (kW or kWh; see the module docstring)."""
    n = week.grid.n
    products = _period_products(week, 0, n, commitments, 0.0) if week.products else []
    sm = build_site_model(dataclasses.replace(week, products=products))
    if products:
        add_services(sm, products, undelivered_eur_per_mw_h=penalty)
    model = sm.model
    arr = model.arrays()
    for b in model.var_blocks:
        x = applied.get(b.name)
        if x is None or not _kept(b.name):
            continue
        lb, ub = arr.lb[b.start : b.start + b.n], arr.ub[b.start : b.start + b.n]
        v = np.clip(x, lb, ub)
        model.set_bounds(b, v, v)
    for c in model.constr_blocks:  # the stores draw what the plans expected (see _freeze)
        if c.name.endswith(f"{_ACTIVATION} energy") and f"{c.name[: -len(' energy')]}" in applied:
            model.set_row_bounds(c, -np.inf, np.inf)
    _hold_position(sm, position, 0, n)
    for g in position:
        for side in ("intraday import", "intraday export"):
            blk = next(b for b in model.var_blocks if b.name == f"grid connection '{g}' {side}")
            model.set_bounds(blk, 0.0, np.inf)
    box: list[np.ndarray] = []
    sm.readers.append(_keeper(box))
    res = solve_site_model(sm)
    # The headroom rows hold the delivered parts; evaluated at the promised allocations instead,
    # they name what could not be kept (an asset's power or energy, a grid connection's limit).
    x = box[0].copy()
    blocks = {b.name: b for b in model.var_blocks}
    for name, b in blocks.items():
        if " delivered by " in name:
            r = blocks[name.replace(" delivered by ", " by ")]
            x[b.start : b.start + b.n] = x[r.start : r.start + r.n]
    activity = model.arrays().a @ x
    shortfall = {}
    for c in model.constr_blocks:
        if "for services" not in c.name:
            continue
        row = activity[c.start : c.start + c.n]
        lo, hi = arr.row_lb[c.start : c.start + c.n], arr.row_ub[c.start : c.start + c.n]
        miss = float(np.max(np.maximum(lo - row, row - hi), initial=0.0))
        if miss > 1e-6:
            shortfall[c.name] = miss
    return res, shortfall
