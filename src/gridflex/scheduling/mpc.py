"""Model-predictive control of a site over several days: rolling horizon, forecast errors, warm re-solves.

``run_mpc(site, days=7, step_h=1, horizon_h=24, forecast_error=0.1, seed=0)``:

1. The site file describes one day; its daily profiles (loads, PV, tariffs, given price lists) are
   repeated over ``days`` days, day-ahead prices from SMARD are read for the real days. Heat pumps run
   at a constant COP (the mean of their day): a COP is a matrix coefficient, and the rolling model only
   changes costs and bounds. EVs and shiftable processes are not supported yet; services are left out.
2. Every ``step_h`` hours the controller optimises the next ``horizon_h`` hours (shrinking to the end
   of the run in the last steps, so every horizon ends where the run ends) on *forecasts*, applies
   the first ``step_h`` hours and carries the stored energy forward. Stores keep their end target at
   the end of each horizon.
3. One model is built per horizon length; each step writes the new data into it in place
   (``Model.set_cost`` / ``set_bounds`` / ``set_row_bounds``) and HiGHS re-solves from the last basis.
   With ``measure_cold`` the same step is also solved from a fresh model, for the timing comparison.
4. The realised cost: the whole run with the true data and the applied decisions fixed (PV
   production clipped to what was really available; the grid connections take the difference),
   against perfect foresight: the same run solved once with the true data.

Forecast model (seeded, ``numpy.random.default_rng(seed)``, drawn anew at every step): at lead time
``ℓ`` hours, ``σ(ℓ) = forecast_error · sqrt(min(ℓ, 24)/24)`` (the period being applied, ``ℓ = 0``, is
known). Electric loads and PV: ``x̂ = x · max(0, 1 + σ·ε)``; day-ahead prices:
``p̂ = p + σ · mean|p| · ε``, with ``ε ~ N(0, 1)`` independent per period.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridflex.assets.base import ELECTRICITY, expand
from gridflex.errors import Problem, ValidationError
from gridflex.optimize import Model, Solution
from gridflex.scheduling.hub import SiteModel, build_site_model, schedule_site, solve_site_model
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.service_spec import ServicesSpec
from gridflex.scheduling.site import CompiledSite, Site, compile_site
from gridflex.timegrid import TimeGrid

_UNSUPPORTED = ("ev", "shiftable_process")


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
    builds: int = 0  # models built (one per horizon length)
    max_warm_cold_gap_eur: float = 0.0  # largest |objective warm − objective fresh| over the steps
    realised: SiteResult | None = None
    perfect: SiteResult | None = None

    @property
    def regret_eur(self) -> float:
        return self.realised_cost_eur - self.perfect_foresight_cost_eur

    def summary(self) -> dict[str, Any]:
        med = statistics.median
        return {
            "steps": self.steps,
            "builds": self.builds,
            "realised_cost_eur": round(self.realised_cost_eur, 4),
            "perfect_foresight_cost_eur": round(self.perfect_foresight_cost_eur, 4),
            "regret_eur": round(self.regret_eur, 4),
            "forecast_error": self.forecast_error,
            "median_solve_warm_s": med(self.solve_warm_s) if self.solve_warm_s else None,
            "median_solve_cold_s": med(self.solve_cold_s) if self.solve_cold_s else None,
            "max_warm_cold_gap_eur": self.max_warm_cold_gap_eur,
        }


def _tile(value: Any, n_day: int, days: int) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        a = expand(value, n_day)
        if a is not None:
            return [float(v) for v in np.tile(a, days)]
    return value


def week_site(site: Site, days: int) -> Site:
    """The one-day site repeated over ``days`` days (see the module docstring)."""
    compiled = compile_site(site)
    n_day = compiled.grid.n
    probs = []
    if abs(n_day * compiled.grid.step_h - 24.0) > 1e-9:
        probs.append(Problem("time", "n_periods", "run_mpc needs a site file describing exactly one day"))
    for a in site.assets:
        if a.kind in _UNSUPPORTED:
            probs.append(Problem(a.name, "kind", f"{a.kind} is not supported by run_mpc yet"))
    if probs:
        raise ValidationError(f"site '{site.name}' for MPC", probs)
    ctx = compiled.context(Model("cop"))
    assets = []
    for a in site.assets:
        update = {f: _tile(getattr(a, f), n_day, days) for f in type(a).model_fields}
        if a.kind == "heat_pump" and a.cop is None:
            update["cop"] = float(np.mean(a.cop_series(ctx)))
        assets.append(a.model_copy(update=update))
    p = site.prices
    prices = p.model_copy(update={f: _tile(getattr(p, f), n_day, days) for f in type(p).model_fields})
    time_spec = site.time.model_copy(update={"n_periods": n_day * days, "end": None})
    return site.model_copy(
        update={"assets": assets, "prices": prices, "time": time_spec, "services": ServicesSpec()}
    )


def _horizon(
    week: CompiledSite, s: int, length: int, soc: dict[str, float], rng: np.random.Generator | None,
    error: float, peaks: dict[str, float],
) -> CompiledSite:  # fmt: skip
    """The data of one step: the week sliced to [s, s+length), forecasts applied, SOCs carried."""
    dt = week.grid.step_h
    lead = np.arange(length) * dt
    sigma = error * np.sqrt(np.minimum(lead, 24.0) / 24.0)
    eps = (lambda: rng.standard_normal(length)) if rng is not None else (lambda: np.zeros(length))
    assets = []
    n = week.grid.n
    for a in week.site.assets:
        update: dict[str, Any] = {}
        for f in type(a).model_fields:
            v = getattr(a, f)
            if isinstance(v, list) and len(v) == n:
                sliced = np.asarray(v[s : s + length], float)
                noisy = a.kind == "pv" or (a.kind == "load" and a.carrier == ELECTRICITY)
                if noisy and f == "profile_kw":
                    sliced = sliced * np.maximum(0.0, 1.0 + sigma * eps())
                update[f] = [float(x) for x in sliced]
        if a.name in soc:
            update["initial_soc_frac"] = min(
                max(soc[a.name] / float(getattr(a, "capacity_kwh", 1.0)), 0.0), 1.0
            )
        if a.kind == "grid_connection" and a.peak_eur_per_kw > 0:  # the peak reached so far is sunk
            update["existing_peak_kw"] = max(a.existing_peak_kw, peaks.get(a.name, 0.0))
        assets.append(a.model_copy(update=update))
    prices = {k: v[s : s + length].copy() for k, v in week.prices.items()}
    if "day_ahead" in prices:
        da = prices["day_ahead"]
        scale = float(np.mean(np.abs(week.prices["day_ahead"])))
        prices["day_ahead"] = da + sigma * scale * eps()
    grid = TimeGrid(week.grid.start + pd.Timedelta(seconds=s * week.grid.step_s), week.grid.step_s, length)
    return CompiledSite(week.site.model_copy(update={"assets": assets}), grid, week.tz, prices)


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


def _stores(site: Site) -> list[Any]:
    return [a for a in site.assets if a.kind in ("battery", "storage", "thermal_storage")]


def run_mpc(
    site: Site, days: int = 7, step_h: float = 1.0, horizon_h: float = 24.0, forecast_error: float = 0.1,
    seed: int = 0, measure_cold: bool = True,
) -> MpcResult:  # fmt: skip
    """Rolling-horizon control over ``days`` days; see the module docstring."""
    week = compile_site(week_site(site, days))
    n, dt = week.grid.n, week.grid.step_h
    step, horizon = round(step_h / dt), round(horizon_h / dt)
    if step < 1 or horizon < step or abs(step * dt - step_h) > 1e-9 or abs(horizon * dt - horizon_h) > 1e-9:
        raise ValidationError(
            "run_mpc",
            [Problem("mpc", "step_h", "step_h and horizon_h must be whole periods, step_h <= horizon_h")],
        )
    rng = np.random.default_rng(seed)
    stores = _stores(week.site)
    soc = {a.name: a.initial_soc_frac * a.capacity_kwh for a in stores}
    grids = [a.name for a in week.site.assets if a.kind == "grid_connection" and a.carrier == ELECTRICITY]
    peaks: dict[str, float] = {}
    models: dict[int, SiteModel] = {}
    last: dict[int, list[np.ndarray]] = {}  # the latest solution vector of each model
    applied: dict[str, np.ndarray] = {}
    out = MpcResult(0.0, 0.0, 0, horizon, step, forecast_error, seed)
    for s in range(0, n, step):
        length = min(horizon, n - s)
        data = _horizon(week, s, length, soc, rng if forecast_error > 0 else None, forecast_error, peaks)
        if length not in models:
            models[length] = build_site_model(data)
            last[length] = []
            models[length].readers.append(_keeper(last[length]))
            out.builds += 1
            res = solve_site_model(models[length])
        else:
            sm = models[length]
            fresh = build_site_model(data)
            _write_data(sm, fresh)
            res = solve_site_model(sm)
            out.solve_warm_s.append(res.time_solver_s)
            if measure_cold:
                cold = solve_site_model(fresh)
                out.solve_cold_s.append(cold.time_solver_s)
                gap = abs(cold.costs_eur["total"] - res.costs_eur["total"])
                out.max_warm_cold_gap_eur = max(out.max_warm_cold_gap_eur, gap)
        k = min(step, length)
        x = last[length][0]
        for b in models[length].model.var_blocks:
            if b.n == length:
                applied.setdefault(b.name, np.full(n, np.nan))[s : s + k] = x[b.start : b.start + k]
        for a in stores:
            soc[a.name] = float(res.soc_kwh[a.name][k - 1])
        for g in grids:
            peaks[g] = max(peaks.get(g, 0.0), float(res.power_kw[g][ELECTRICITY][:k].max()))
        out.steps += 1
    out.perfect = schedule_site(week)
    out.perfect_foresight_cost_eur = out.perfect.costs_eur["total"]
    out.realised = _realise(week, applied)
    out.realised_cost_eur = out.realised.costs_eur["total"]
    return out


def _realise(week: CompiledSite, applied: dict[str, np.ndarray]) -> SiteResult:
    """The run at the true data with the applied decisions fixed; grid connections take the rest."""
    sm = build_site_model(week)
    arr = sm.model.arrays()
    for b in sm.model.var_blocks:
        x = applied.get(b.name)
        if x is None or b.name.startswith("grid connection") or "state of charge" in b.name:
            continue
        lb, ub = arr.lb[b.start : b.start + b.n], arr.ub[b.start : b.start + b.n]
        v = np.clip(x, lb, ub)
        sm.model.set_bounds(b, v, v)
    return solve_site_model(sm)
