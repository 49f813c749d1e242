"""The site energy hub: one balance row group per carrier per node per period, assets around it.

``build_site_model`` asks every asset to add its part (one vectorized pass each) and then adds one
balance group per bus (``"balance heat@site"``: the flows taken from the bus sum to zero in every
period, inflexible loads on the right-hand side); a ``community`` with a sharing value adds its pooled
shared energy (:mod:`gridflex.scheduling.sharing`). The returned :class:`SiteModel` can take extra
constraint groups (reserves, DSO limits) on ``site_model.model`` before :func:`solve_site_model`.

Exclusivity (charge/discharge, import/export): the LP is solved first; if any pair is positive on
both sides in some period, binaries are added for those pairs only (``x_a ≤ M_a·y``,
``x_b ≤ M_b·(1 − y)``) and the model is re-solved as a MILP, until no pair is violated. The LP
relaxation is exact whenever it needs no binaries, which is the usual case (losses, prices ≥ 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gridflex.assets.base import Built, Context, Output, Pair
from gridflex.errors import InfeasibleError, Problem, SiteInfeasibleError
from gridflex.optimize import ConstrBlock, Model, Solution
from gridflex.scheduling.flexibility import asset_flexibility, site_flexibility
from gridflex.scheduling.infeasible import explain_infeasible
from gridflex.scheduling.result import COST_TERMS, SiteResult, ordered_costs
from gridflex.scheduling.sharing import add_sharing
from gridflex.scheduling.site import CompiledSite, SiteLike, compile_site

EXCLUSIVE_TOL_KW = 1e-6
"""Both sides of a pair above this (kW) in the same period count as simultaneous."""


@dataclass
class SiteModel:
    """The built model of a site: add extra groups to ``model`` before solving if needed."""

    compiled: CompiledSite
    ctx: Context
    built: dict[str, Built]
    balance: dict[str, ConstrBlock]
    time_build_s: float = 0.0
    binaries: list[str] = field(default_factory=list)  # pairs that needed the MILP fallback
    readers: list[Callable[[Solution, SiteResult], None]] = field(default_factory=list)  # extra results

    @property
    def model(self) -> Model:
        return self.ctx.model


def precheck_site(site: SiteLike) -> list[Problem]:
    """Cheap per-asset feasibility tests (``site``: a path, a dict, a Site or a CompiledSite)."""
    compiled = compile_site(site)
    ctx = compiled.context(Model("precheck"))
    problems: list[Problem] = []
    for a in compiled.site.assets:
        problems += a.precheck(ctx)
    return problems


def build_site_model(site: SiteLike) -> SiteModel:
    """The site's model, ready for extra groups and :func:`solve_site_model`. ``site``: a path, a
    dict, a Site or (not compiled again) a CompiledSite."""
    t0 = time.perf_counter()
    compiled = compile_site(site)
    site = compiled.site
    ctx = compiled.context(Model(f"site '{site.name}'"))
    built = {a.name: a.build(ctx) for a in site.assets}
    add_sharing(ctx, site, built)
    balance = {}
    for bus, terms in ctx.flows.items():
        fixed = ctx.fixed.get(bus)
        rhs = -np.asarray(fixed, dtype=float) if fixed is not None else np.zeros(ctx.n)
        if terms:
            rows = np.concatenate([t[0] for t in terms])
            cols = np.concatenate([t[1] for t in terms])
            vals = np.concatenate([t[2] for t in terms])
        else:
            rows = cols = np.zeros(0, np.int64)
            vals = np.zeros(0)
        balance[bus] = ctx.model.add_constrs(f"balance {bus}", rows, cols, vals, rhs, rhs, ctx.n)
    return SiteModel(compiled, ctx, built, balance, time.perf_counter() - t0)


def _violated(sol: Solution, pair: Pair) -> np.ndarray:
    a = sum(sol.value(b) for b in pair.a)
    b = sum(sol.value(b) for b in pair.b)
    return (np.asarray(a) > EXCLUSIVE_TOL_KW) & (np.asarray(b) > EXCLUSIVE_TOL_KW)


def _bus_bound(sm: SiteModel, bus: str, own: set[int]) -> np.ndarray:
    """Per period, a bound on any flow of ``bus``: the other flows at their limits plus the fixed load."""
    arr_ub = sm.model.arrays().ub
    total = np.abs(np.asarray(sm.ctx.fixed.get(bus, np.zeros(sm.ctx.n)), dtype=float))
    for periods, cols, coef in sm.ctx.flows.get(bus, []):
        keep = ~np.isin(cols, list(own))
        contrib = np.abs(coef[keep]) * arr_ub[cols[keep]]
        total = total + np.bincount(
            periods[keep], weights=np.where(np.isfinite(contrib), contrib, 1e9), minlength=sm.ctx.n
        )
    return np.minimum(total, 1e9)


def _add_binaries(sm: SiteModel, pair: Pair) -> None:
    n = sm.ctx.n
    own = {int(c) for blk in pair.a + pair.b for c in blk.idx}
    a_max, b_max = pair.a_max.astype(float), pair.b_max.astype(float)
    if not (np.isfinite(a_max).all() and np.isfinite(b_max).all()):
        bound = _bus_bound(sm, pair.bus, own)
        a_max, b_max = np.where(np.isfinite(a_max), a_max, bound), np.where(np.isfinite(b_max), b_max, bound)
    y = sm.ctx.add_vars(f"{pair.owner} direction", n, 0.0, 1.0, integer=True)
    t = np.arange(n)
    for side, blocks, big, sign, ub in (("a", pair.a, a_max, -1.0, 0.0), ("b", pair.b, b_max, 1.0, b_max)):
        rows = np.concatenate([t] * len(blocks) + [t])
        cols = np.concatenate([b.idx for b in blocks] + [y.idx])
        vals = np.concatenate([np.ones(n * len(blocks)), sign * big])
        sm.ctx.relation(f"{pair.owner} exclusive {side}", rows, cols, vals, -np.inf, ub, n)
    sm.binaries.append(pair.owner)


def solve_site_model(
    sm: SiteModel, time_limit_s: float | None = None, mip_rel_gap: float = 1e-6
) -> SiteResult:
    """Solve with the exactness check / MILP fallback; map infeasibility to asset messages."""
    time_solver = 0.0
    time_build = sm.time_build_s
    done: set[int] = set()
    for _ in range(len(sm.ctx.pairs) + 1):
        try:
            sol = sm.model.solve(time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
        except InfeasibleError as exc:
            raise explain_infeasible(sm, exc) from None
        time_solver += sol.time_solver_s
        time_build += sol.time_build_s
        t0 = time.perf_counter()
        bad = [i for i, p in enumerate(sm.ctx.pairs) if i not in done and _violated(sol, p).any()]
        for i in bad:
            _add_binaries(sm, sm.ctx.pairs[i])
            done.add(i)
        time_build += time.perf_counter() - t0
        if not bad:
            break
    t0 = time.perf_counter()
    result = _result(sm, sol)
    for reader in sm.readers:
        reader(sol, result)
    result.costs_eur = ordered_costs(result.costs_eur)  # readers add terms (services): total stays last
    result.time_build_s = time_build + (time.perf_counter() - t0)
    result.time_solver_s = time_solver
    return result


def _result(sm: SiteModel, sol: Solution) -> SiteResult:
    ctx = sm.ctx
    outputs: dict[str, Output] = {name: b.read(sol) for name, b in sm.built.items()}
    costs: dict[str, float] = {}
    for category, block, coef in ctx.costs:
        costs[category] = costs.get(category, 0.0) + float(coef @ sol.value(block))
    for k in COST_TERMS[: COST_TERMS.index("feed_in") + 1]:  # energy terms always; services if sold
        costs.setdefault(k, 0.0)
    costs["total"] = float(sol.objective)
    up, down = site_flexibility(outputs)
    kinds = {a.name: str(a.kind) for a in sm.compiled.site.assets}
    return SiteResult(
        site=sm.compiled.site.name,
        grid=sm.compiled.grid,
        tz=sm.compiled.tz,
        kinds=kinds,
        power_kw={name: o.power_kw for name, o in outputs.items()},
        soc_kwh={name: o.soc_kwh for name, o in outputs.items() if o.soc_kwh is not None},
        flex_up_kw=up,
        flex_down_kw=down,
        flex_by_asset_kw={a: {"up": u, "down": d} for a, (u, d) in asset_flexibility(outputs).items()},
        costs_eur=costs,
        status=sol.status,
        is_mip=sol.is_mip,
        exclusivity_binaries=list(sm.binaries),
        mip_gap=sol.mip_gap,
    )


def checked_site(site: SiteLike) -> CompiledSite:
    """The compiled site; raise :class:`SiteInfeasibleError` if a precheck already shows it infeasible."""
    compiled = compile_site(site)
    problems = precheck_site(compiled)
    if problems:
        raise SiteInfeasibleError.of(compiled.site.name, problems, groups=[p.field for p in problems])
    return compiled
