"""Reserves and DSO flexibility as constraint groups on a built site model (revenue stacking).

For every service ``p`` (a :class:`~gridflex.scheduling.products.Product`) and block ``b``: the site
commitment ``C_{p,b}`` (kW). Each provider ``h`` gets an allocation ``r_{h,p,t} ≥ 0`` with
``Σ_h r_{h,p,t} = C_{p,b(t)}`` in offered periods (0 elsewhere). Bid rules: ``C = step·k`` with ``k``
integer when ``step_kw > 0``; ``C ∈ {0} ∪ [min, max]`` with one binary per block when ``min_kw > 0``.
Converters (heat pump) push their deviation onto stores of their other buses: allocations ``s`` of
those stores with ``Σ s = COP·r``. For every asset and direction, from every period ``t`` and for
every offset ``k`` within the delivery duration ``D``:

* power: ``net_{t+k} − Σ_{p up, D_p > k·dt} r_{p,t} ≥ net_min_{t+k}`` (down: ``+ … ≤ net_max``);
* stored energy at every checkpoint ``τ ≤ D`` (period ends and each ``D_p``), interpolating the
  scheduled energy linearly inside a period: ``e(t, τ) − Σ_p r_{p,t}·min(τ, D_p)/η_d ≥ e_min``
  (down: ``e(t, τ) + Σ_p r_{p,t}·min(τ, D_p)·η_c ≤ e_max``);
* the grid connections of the asset's node take the sum: ``NI_{t+k} − Σ r ≥ −export_max`` (down:
  ``NI + Σ r ≤ import_max``).

Expected activation (share ``a`` of the time) draws ``a·(r_up/η_d − r_down·η_c)`` kW from each
store's energy balance, and is paid at the activation price (cost categories ``reserve_activation``
/ ``dso_activation``); availability is paid per MW and hour (``reserve_availability`` /
``dso_availability``). Revenue is a negative cost.

*Measured* (``undelivered_eur_per_mw_h`` given: a realised run, every decision fixed as applied):
the commitments and allocations ``r`` are the promise and keep the split and activation rows (the
physics as applied); the headroom rows above hold ``d ≤ r`` instead, the part of each allocation
the asset can deliver, and ``u = r − d`` is paid at the product's availability price plus
``undelivered_eur_per_mw_h`` (cost ``service_undelivered``). A promise that cannot be kept is
then a measured shortfall, never an infeasible run.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridflex.assets.base import ELECTRICITY, Context, Hook
from gridflex.errors import Problem, SiteInfeasibleError
from gridflex.optimize import Solution, VarBlock
from gridflex.scheduling.hub import SiteModel
from gridflex.scheduling.products import Product
from gridflex.scheduling.result import SiteResult

_EPS = 1e-9
SERVICE_COSTS = (
    "reserve_availability", "reserve_activation", "dso_availability", "dso_activation", "capacity_availability",
)  # fmt: skip


@dataclass
class ProductVars:
    product: Product
    commit: VarBlock
    alloc: dict[str, VarBlock] = field(default_factory=dict)  # asset name → r (kW per period)
    integers: list[VarBlock] = field(default_factory=list)  # k (granularity) and z (min bid) blocks
    undelivered: dict[str, VarBlock] = field(default_factory=dict)  # measured: asset name → u = r − d


@dataclass
class ServiceModel:
    """The service groups added to a site model; ``products`` keyed by service name."""

    products: dict[str, ProductVars]

    def fix_commitments(self, sm: SiteModel, values: dict[str, np.ndarray] | None) -> None:
        """Fix every commitment to ``values[name]`` per block (None: optional sales to zero)."""
        for name, pv in self.products.items():
            if values is None and pv.product.forced:
                continue  # obligations (a DSO reservation, a commitment already sold) stay
            c = np.zeros(pv.product.n_blocks) if values is None else np.asarray(values[name], float)
            sm.model.set_bounds(pv.commit, c, c)
            for blk in pv.integers:  # the integer helpers follow the fixed value
                sm.model.set_bounds(blk, 0.0, np.inf if blk.name.endswith("steps") else 1.0)

    def release(self, sm: SiteModel) -> None:
        for pv in self.products.values():
            sm.model.set_bounds(pv.commit, pv.product.lb_kw, pv.product.ub_kw)


def add_services(
    sm: SiteModel, products: list[Product], undelivered_eur_per_mw_h: float | None = None
) -> ServiceModel:
    """Add commitments, allocations and headroom groups of ``products`` to ``sm`` (before solving).
    ``undelivered_eur_per_mw_h``: the measured form (see the module docstring)."""
    ctx = sm.ctx
    hooks = {name: b.hook for name, b in sm.built.items() if b.hook is not None}
    _precheck_forced(sm, products, hooks)
    out: dict[str, ProductVars] = {}
    parts: dict[str, list[tuple[Product, VarBlock]]] = defaultdict(list)  # hook name → (product, r)
    held = parts if undelivered_eur_per_mw_h is None else defaultdict(list)  # → (product, d): headroom
    for p in products:
        pv = _commitment(ctx, p, _bound(p, hooks))
        out[p.name] = pv
        active = p.block >= 0
        # Per coupled bus and sense (+1: its stores move with the product, −1: against it).
        need: dict[tuple[str, int], list[tuple[VarBlock, np.ndarray]]] = defaultdict(list)
        held_need: dict[tuple[str, int], list[tuple[VarBlock, np.ndarray]]] = defaultdict(list)
        for a in p.providers:
            h = hooks[a]
            r = ctx.add_vars(f"{p.key} by {h.label}", ctx.n, 0.0, np.where(active, np.inf, 0.0))
            pv.alloc[a] = r
            parts[a].append((p, r))
            d = r
            if undelivered_eur_per_mw_h is not None:
                d, pv.undelivered[a] = _delivered(ctx, p, h.label, r, undelivered_eur_per_mw_h)
                held[a].append((p, d))
            for bus, coef in (h.coupled or {}).items():
                c = np.broadcast_to(np.asarray(coef, float), (ctx.n,))
                if not _stored(hooks, bus) and _networked(hooks, bus):
                    continue  # a network on that bus (gas, hydrogen pipeline) absorbs the change
                # A heat pump (coef < 0) makes less heat when it moves up: its stores move up too;
                # a CHP (coef > 0) makes more heat when it moves up: its stores take it (down).
                sense = -1 if np.all(c >= 0) and np.any(c > 0) else 1
                need[(bus, sense)].append((r, -sense * c))
                held_need[(bus, sense)].append((d, -sense * c))
        _split_rows(ctx, p, pv, active)
        for (bus, sense), terms in need.items():
            stores = [a for a, h in hooks.items() if h.bus == bus and h.soc is not None]
            ps = p if sense > 0 else dataclasses.replace(p, up=p.down, down=p.up)
            s_blocks = []
            for a in stores:
                s = ctx.add_vars(f"{p.key} by {hooks[a].label}", ctx.n, 0.0, np.inf)
                pv.alloc[a] = s
                parts[a].append((ps, s))
                s_blocks.append(s)
            _absorbed(ctx, f"{p.key} absorbed on {bus}", s_blocks, terms)
            if held is not parts:  # the stores' delivered parts absorb the converters' delivered parts
                ds = [
                    ctx.add_vars(f"{p.key} delivered by {hooks[a].label}", ctx.n, 0.0, np.inf) for a in stores
                ]
                for a, blk in zip(stores, ds, strict=True):
                    held[a].append((ps, blk))
                _absorbed(ctx, f"{p.key} delivered absorbed on {bus}", ds, held_need[(bus, sense)])
    _tie_groups(ctx, out)
    for a, prs in parts.items():
        _asset_rows(sm, hooks[a], held.get(a, []), prs)
    _grid_rows(sm, hooks, held)
    sv = ServiceModel(out)
    sm.readers.append(lambda sol, res: read_services(sv, sm, sol, res))
    return sv


def _absorbed(
    ctx: Context, group: str, stores: list[VarBlock], terms: list[tuple[VarBlock, np.ndarray]]
) -> None:
    """Σ_stores s_t = Σ_converters c_t·r_t: the stores absorb the converters' deviation."""
    t = np.arange(ctx.n)
    rows = np.concatenate([t] * (len(stores) + len(terms)))
    cols = np.concatenate([s.idx for s in stores] + [r.idx for r, _ in terms])
    vals = np.concatenate([np.ones(ctx.n)] * len(stores) + [-c for _, c in terms])
    ctx.relation(group, rows, cols, vals, 0.0, 0.0, ctx.n)


def _delivered(
    ctx: Context, p: Product, label: str, r: VarBlock, penalty: float
) -> tuple[VarBlock, VarBlock]:
    """Measured form: ``d + u = r``, ``d`` what the asset can hold of its allocation ``r`` (the headroom
    rows take it), ``u`` the rest, paid at the availability price plus ``penalty`` (EUR/MW/h)."""
    n = ctx.n
    rate = np.where(p.block >= 0, p.availability_eur_per_mw_h + penalty, 0.0) * ctx.dt_h / 1000.0
    d = ctx.add_vars(f"{p.key} delivered by {label}", n, 0.0, np.inf)
    u = ctx.add_vars(f"{p.key} undelivered by {label}", n, 0.0, np.inf, {"service_undelivered": rate})
    t = np.arange(n)
    ctx.relation(f"{p.key} delivered or not by {label}", np.r_[t, t, t], np.r_[d.idx, u.idx, r.idx],
                 np.r_[np.ones(2 * n), -np.ones(n)], 0.0, 0.0, n)  # fmt: skip
    return d, u


def _stored(hooks: dict[str, Hook], bus: str) -> bool:
    return any(h.bus == bus and h.soc is not None for h in hooks.values())


def _networked(hooks: dict[str, Hook], bus: str) -> bool:
    return any(h.bus == bus and h.is_grid for h in hooks.values())


def _running_rows(ctx: Context, h: Hook, prs: list[tuple[Product, VarBlock]]) -> None:
    """A unit with a minimum load provides only while on: Σ_p r_{p,t} ≤ span_t·on_t."""
    on, span = getattr(h, "running", None), getattr(h, "running_kw", None)
    if on is None or span is None:
        return
    n = ctx.n
    t = np.arange(n)
    rows = np.concatenate([t] * (len(prs) + 1))
    cols = np.concatenate([r.idx for _, r in prs] + [on.idx])
    vals = np.concatenate([np.ones(n)] * len(prs) + [-np.asarray(span, float)])
    ctx.relation(f"{h.label} provides while running", rows, cols, vals, -np.inf, 0.0, n)


def _tie_groups(ctx: Context, products: dict[str, ProductVars]) -> None:
    """Products of one group (the capacity mechanism's windows) share one commitment."""
    groups: dict[str, list[ProductVars]] = defaultdict(list)
    for pv in products.values():
        if pv.product.group and pv.product.n_blocks == 1:
            groups[pv.product.group].append(pv)
    for name, pvs in groups.items():
        for other in pvs[1:]:
            cols = np.r_[pvs[0].commit.idx, other.commit.idx]
            ctx.relation(f"capacity '{name}' one certified level", np.zeros(2, np.int64), cols,
                         np.array([1.0, -1.0]), 0.0, 0.0, 1)  # fmt: skip


def _bound(p: Product, hooks: dict[str, Hook]) -> float:
    """A finite bound on any commitment (big-M of the min-bid binary): the providers' power ranges."""
    total = sum(float(np.max(hooks[a].net_max_kw - hooks[a].net_min_kw)) for a in p.providers)
    return max(total, float(np.max(p.lb_kw, initial=0.0)), 1.0)


def _commitment(ctx: Context, p: Product, big: float) -> ProductVars:
    nb, dt = p.n_blocks, ctx.dt_h
    active = p.block >= 0
    blk = np.where(active, p.block, 0)
    w = active * dt / 1000.0  # kW in one period → MW·h
    avail = -np.bincount(blk, weights=w * p.availability_eur_per_mw_h, minlength=nb)
    act = -p.activation_sign() * np.bincount(
        blk, weights=w * p.activation_share * p.activation_eur_per_mwh, minlength=nb
    )
    ub = np.minimum(p.ub_kw, big)
    costs: dict[str, np.ndarray] = {f"{p.category}_availability": avail}
    if p.category != "capacity":  # the capacity mechanism pays availability only
        costs[f"{p.category}_activation"] = act
    c = ctx.add_vars(f"{p.key} commitment", nb, p.lb_kw, ub, costs)
    pv = ProductVars(p, c)
    if p.forced or nb == 0:
        return pv
    rows = np.arange(nb)
    if p.step_kw > 0:
        k = ctx.add_vars(f"{p.key} bid steps", nb, 0.0, np.inf, integer=True)
        ctx.relation(
            f"{p.key} bid granularity", np.r_[rows, rows], np.r_[c.idx, k.idx],
            np.r_[np.ones(nb), np.full(nb, -p.step_kw)], 0.0, 0.0, nb,
        )  # fmt: skip
        pv.integers.append(k)
    if p.min_kw > 0:
        z = ctx.add_vars(f"{p.key} bid on", nb, 0.0, 1.0, integer=True)
        two = np.r_[rows, rows]
        cols = np.r_[c.idx, z.idx]
        ctx.relation(
            f"{p.key} minimum bid", two, cols, np.r_[np.ones(nb), np.full(nb, -p.min_kw)], 0.0, np.inf, nb
        )
        ctx.relation(f"{p.key} bid off", two, cols, np.r_[np.ones(nb), -ub], -np.inf, 0.0, nb)
        pv.integers.append(z)
    return pv


def _split_rows(ctx: Context, p: Product, pv: ProductVars, active: np.ndarray) -> None:
    """Σ_h r_{h,t} − C_{b(t)} = 0 in every offered period."""
    t = np.flatnonzero(active)
    m = t.size
    rows = np.concatenate([np.arange(m)] * (len(pv.alloc) + 1))
    cols = np.concatenate([r.idx[t] for r in pv.alloc.values()] + [pv.commit.idx[p.block[t]]])
    vals = np.r_[np.ones(m * len(pv.alloc)), -np.ones(m)]
    group = f"{p.key} split over providers"
    ctx.relation(group, rows, cols, vals, 0.0, 0.0, m)
    names = ", ".join(pv.alloc)
    ctx.explain[group] = lambda k, amount: (
        f"{p.key} cannot deliver its commitment from {ctx.clock(int(t[min(k, m - 1)]))} with its providers "
        f"({names}): their power or stored energy does not allow it for {p.duration_h:g} h"
    )


def _asset_rows(
    sm: SiteModel, h: Hook, prs: list[tuple[Product, VarBlock]], promised: list[tuple[Product, VarBlock]]
) -> None:
    """Headroom rows on ``prs`` (the allocations, or in the measured form their delivered parts);
    the expected activation energy on the ``promised`` allocations."""
    ctx = sm.ctx
    _running_rows(ctx, h, prs)
    for up in (True, False):
        mine = [(p, r) for p, r in prs if (p.up if up else p.down)]
        if not mine:
            continue
        _power_rows(ctx, h.label, h.terms, h.net_min_kw, h.net_max_kw, mine, up)
        if h.soc is not None:
            _energy_rows(ctx, h, mine, up)
    if h.soc is not None and h.activation is not None:
        _activation_rows(sm, h, promised)


def _power_rows(
    ctx: Context, label: str, terms: list[tuple[VarBlock, float]], lo: np.ndarray, hi: np.ndarray,
    prs: list[tuple[Product, VarBlock]], up: bool,
) -> None:  # fmt: skip
    n, dt = ctx.n, ctx.dt_h
    limit = lo if up else hi
    steps = max(math.ceil(p.end_h / dt - _EPS) for p, _ in prs)
    word = "up" if up else "down"
    for k in range(min(steps, n)):
        # Period k after the call overlaps the delivery [delay, delay + D) of these products.
        active = [(p, r) for p, r in prs if p.end_h > k * dt + _EPS and (k + 1) * dt > p.delay_h + _EPS]
        src = _offered(active, n - k)  # activation start periods: rows only where something is offered
        m = src.size
        lim = limit[src + k]
        if m == 0 or not np.isfinite(lim).any():
            continue
        t = np.arange(m)
        rows = [t] * (len(terms) + len(active))
        cols = [blk.idx[src + k] for blk, _ in terms] + [r.idx[src] for _, r in active]
        sign = -1.0 if up else 1.0
        vals = [np.broadcast_to(np.asarray(c, float), (n,))[src + k] for _, c in terms]
        vals += [np.full(m, sign)] * len(active)
        lim = np.where(np.isfinite(lim), lim, (-1e12 if up else 1e12))
        group = f"{label} {word} power for services" + (f" (+{k} periods)" if k else "")
        lb, ub = (lim, np.inf) if up else (-np.inf, lim)
        ctx.relation(group, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), lb, ub, m)
        names = ", ".join(p.key for p, _ in active)

        def explain(i: int, amount: float, names: str = names, k: int = k, src: np.ndarray = src) -> str:
            return (
                f"{label} cannot move {word} by what {names} needs from {ctx.clock(int(src[i]))} "
                f"(power limit {k * dt:g} h into the activation)"
            )

        ctx.explain[group] = explain


def _offered(prs: list[tuple[Product, VarBlock]], m: int) -> np.ndarray:
    """Periods (< m) in which at least one of the products is offered."""
    if m <= 0:  # a checkpoint beyond a horizon shorter than the delivery duration
        return np.zeros(0, np.int64)
    mask = np.zeros(m, bool)
    for p, _ in prs:
        mask |= p.block[:m] >= 0
    return np.flatnonzero(mask)


def _energy_rows(ctx: Context, h: Hook, prs: list[tuple[Product, VarBlock]], up: bool) -> None:
    assert h.soc is not None and h.soc_lo_kwh is not None and h.soc_hi_kwh is not None
    n, dt = ctx.n, ctx.dt_h
    dmax = max(p.end_h for p, _ in prs)
    first = min(p.delay_h for p, _ in prs)  # before any delivery starts the energy is the schedule's
    taus = {j * dt for j in range(1, math.ceil(dmax / dt - _EPS) + 1) if first + _EPS < j * dt < dmax - _EPS}
    taus |= {p.end_h for p, _ in prs}
    word = "up" if up else "down"
    for tau in sorted(taus):
        kk = math.ceil(tau / dt - _EPS) - 1  # the period (offset) in which the checkpoint lies
        f = tau / dt - kk
        # From periods where a product lasting at least τ is offered (shorter ones count in full).
        src = _offered([(p, r) for p, r in prs if p.end_h >= tau - _EPS], n - kk)
        m = src.size
        if m == 0:
            continue
        t = np.arange(m)
        const = np.zeros(m)
        unit = h.soc_per_unit  # stored kWh per unit of the soc column (a zone's kWh per kelvin)
        rows, cols, vals = [t], [h.soc.idx[src + kk]], [np.full(m, f * unit)]
        prev = src + kk - 1
        has = prev >= 0
        rows.append(t[has])
        cols.append(h.soc.idx[prev[has]])
        vals.append(np.full(int(has.sum()), (1.0 - f) * unit))
        const[~has] = (1.0 - f) * h.initial_kwh
        for p, r in prs:
            delivered_h = moved_h(tau, p.delay_h, p.duration_h, h.decay_per_h)  # energy moved by τ
            coef = delivered_h * (1.0 / h.eta_discharge if up else h.eta_charge)
            if coef == 0.0:
                continue
            rows.append(t)
            cols.append(r.idx[src])
            vals.append(np.full(m, -coef if up else coef))
        if up:
            lb, ub = h.soc_lo_kwh[src + kk] - const, np.full(m, np.inf)
        else:
            lb, ub = np.full(m, -np.inf), h.soc_hi_kwh[src + kk] - const
        group = f"{h.label} {word} energy for services ({tau:g} h)"
        ctx.relation(group, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), lb, ub, m)
        names = ", ".join(p.key for p, _ in prs)
        side = "stored energy" if up else "room to store"

        def explain(
            i: int,
            amount: float,
            tau: float = tau,
            src: np.ndarray = src,
            names: str = names,
            side: str = side,
        ) -> str:
            return (
                f"{h.label} has not the {side} to deliver {names} for {tau:g} h from {ctx.clock(int(src[i]))}"
            )

        ctx.explain[group] = explain


def moved_h(tau_h: float, delay_h: float, duration_h: float, decay_per_h: float = 0.0) -> float:
    """Stored energy moved ``tau_h`` after a call by a deviation of 1 kW held from ``delay_h`` for
    ``duration_h`` (kWh): ``∫ exp(−λ·(τ − s)) ds`` over the delivery up to τ, ``λ = decay_per_h``
    (a thermal zone's ``H/C``: what the zone gains or loses by then partly leaks to its ambient)."""
    a, b = delay_h, min(tau_h, delay_h + duration_h)
    if b <= a:
        return 0.0
    if decay_per_h <= 0.0:
        return b - a
    lam = decay_per_h
    return float((math.exp(-lam * (tau_h - b)) - math.exp(-lam * (tau_h - a))) / lam)


def _activation_rows(sm: SiteModel, h: Hook, prs: list[tuple[Product, VarBlock]]) -> None:
    """Expected activation energy drawn from the store: a·(r_up/η_d − r_down·η_c) kW."""
    assert h.activation is not None
    ctx, n = sm.ctx, sm.ctx.n
    t = np.arange(n)
    rows, cols, vals = [t], [h.activation.idx], [np.ones(n)]
    for p, r in prs:
        coef = p.activation_share * (
            (1.0 / h.eta_discharge if p.up else 0.0) - (h.eta_charge if p.down else 0.0)
        )
        if np.any(coef):
            rows.append(t)
            cols.append(r.idx)
            vals.append(-coef)
    sm.model.set_bounds(h.activation, -np.inf, np.inf)
    ctx.relation(f"{h.label} expected activation energy", np.concatenate(rows), np.concatenate(cols),
                 np.concatenate(vals), 0.0, 0.0, n)  # fmt: skip


def _grid_rows(
    sm: SiteModel, hooks: dict[str, Hook], parts: dict[str, list[tuple[Product, VarBlock]]]
) -> None:
    """The grid connections of each node take the sum of its electric providers' deviations."""
    by_node: dict[str, list[tuple[Product, VarBlock]]] = defaultdict(list)
    for a, prs in parts.items():
        h = hooks[a]
        if h.bus.split("@", 1)[0] == ELECTRICITY and not h.is_grid:
            by_node[h.bus].extend(prs)
    for bus, prs in by_node.items():
        grids = [h for h in hooks.values() if h.is_grid and h.bus == bus]
        terms = [t for g in grids for t in g.terms]
        lo = np.sum([g.net_min_kw for g in grids], axis=0)
        hi = np.sum([g.net_max_kw for g in grids], axis=0)
        for up in (True, False):
            mine = [(p, r) for p, r in prs if (p.up if up else p.down)]
            if mine:
                _power_rows(sm.ctx, f"grid connection of '{bus.split('@', 1)[1]}'", terms, lo, hi, mine, up)


def _precheck_forced(sm: SiteModel, products: list[Product], hooks: dict[str, Hook]) -> None:
    """Forced commitments larger than the providers' best case: one message naming service and assets."""
    ctx = sm.ctx
    problems = []
    for p in products:
        if not p.forced or p.n_blocks == 0:
            continue
        caps = {a: _best_case(hooks, hooks[a], p) for a in p.providers}
        total = np.sum(list(caps.values()), axis=0) if caps else np.zeros(ctx.n)
        need = np.where(p.block >= 0, p.lb_kw[np.maximum(p.block, 0)], 0.0)
        bad = np.flatnonzero(need > total + 1e-6)
        if bad.size:
            i = int(bad[0])
            each = ", ".join(f"{hooks[a].label} {caps[a][i]:.4g} kW" for a in p.providers) or "none"
            problems.append(
                Problem(
                    p.name, "committed_kw" if p.kind != "dso" else "power_kw",
                    f"{p.key} commits {need[i]:g} kW {p.direction} for {p.duration_h:g} h from {ctx.clock(i)} "
                    f"but its providers can deliver at most {total[i]:.4g} kW ({each})",
                )
            )  # fmt: skip
    if problems:
        raise SiteInfeasibleError.of(sm.compiled.site.name, problems, [x.field for x in problems])


def _best_case(hooks: dict[str, Hook], h: Hook, p: Product) -> np.ndarray:
    """Most an asset could deliver in each period, in the product's direction(s), whatever its schedule."""
    cap = np.maximum(h.net_max_kw - h.net_min_kw, 0.0)
    if h.soc is not None and h.soc_lo_kwh is not None and h.soc_hi_kwh is not None:
        room = np.maximum(h.soc_hi_kwh - h.soc_lo_kwh, 0.0)
        held_h = moved_h(p.end_h, p.delay_h, p.duration_h, h.decay_per_h)
        if p.up:
            cap = np.minimum(cap, room * h.eta_discharge / held_h)
        if p.down:
            cap = np.minimum(cap, room / (h.eta_charge * held_h))
        if p.up and p.down:  # symmetric: half the range each way at best
            cap = cap / 2.0
    for bus, coef in (h.coupled or {}).items():
        if not _stored(hooks, bus) and _networked(hooks, bus):
            continue
        stores = [s for s in hooks.values() if s.bus == bus and s.soc is not None]
        absorb = sum((_best_case(hooks, s, p) for s in stores), np.zeros_like(cap))
        cap = np.minimum(cap, absorb / np.maximum(np.abs(np.asarray(coef, float)), _EPS))
    return cap


def read_services(sv: ServiceModel, sm: SiteModel, sol: Solution, res: SiteResult) -> None:
    """Commitments per service (kW per period and per block), allocations per asset, revenues."""
    grid = sm.compiled.grid
    starts = grid.index
    for name, pv in sv.products.items():
        p = pv.product
        c = sol.value(pv.commit)
        if pv.integers or p.forced:
            c = np.round(c, 6)
        per = np.where(p.block >= 0, c[np.maximum(p.block, 0)], 0.0) if c.size else np.zeros(grid.n)
        res.service_kw[name] = per
        res.service_allocation_kw[name] = {a: sol.value(r).copy() for a, r in pv.alloc.items()}
        if pv.undelivered:
            res.service_undelivered_kw[name] = {a: sol.value(u).copy() for a, u in pv.undelivered.items()}
        blocks = []
        for b in range(p.n_blocks):
            idx = np.flatnonzero(p.block == b)
            end = starts[idx[-1]] + pd.Timedelta(seconds=grid.step_s)
            blocks.append({"start": starts[idx[0]].isoformat(), "end": end.isoformat(), "kw": float(c[b])})
        res.service_blocks[name] = blocks
        res.service_info[name] = {
            "kind": p.kind, "direction": p.direction, "delivery_duration_h": p.duration_h,
            "activation_delay_h": p.delay_h, "response_time_s": p.response_s, "providers": list(p.providers),
            **({"group": p.group} if p.group else {}),
            "min_bid_kw": p.min_kw, "step_kw": p.step_kw, "forced": p.forced,
            "binaries": [blk.name for blk in pv.integers],
        }  # fmt: skip
    for k in SERVICE_COSTS:
        res.costs_eur.setdefault(k, 0.0)
