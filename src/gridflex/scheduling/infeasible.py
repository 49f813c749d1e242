"""Why a site cannot be scheduled, in the words of its assets.

First a bus check: on every bus (carrier at a node) and in every period, the fixed flows (load
profiles, committed runs) must lie within what the decided flows can take or give at their bounds.
If a load needs more than every supplier of its bus can give together (a 100 kW load behind a 60 kW
fuse), that is the conflict, whatever else the solver's elastic model spreads its slack over: the
load and the limit are named together. The check is a relaxation (every variable alone at its
bounds), so what it reports is certainly infeasible. Then the energy needs (EVs): the energy a car
must take in between arrival and departure against what the rest of its bus can give in that
window. When neither finds the conflict, the optimize layer's elastic diagnosis is translated group
by group.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from gridflex.errors import InfeasibleError, Problem, SiteInfeasibleError

if TYPE_CHECKING:
    from gridflex.scheduling.hub import SiteModel

_OWNER = re.compile(r"'([^']*)'")
_TOL_KW = 1e-6


def _when(sm: SiteModel, bad: np.ndarray) -> str:
    k = int(bad[0])
    ctx = sm.ctx
    more = f" (and {bad.size - 1} more period(s))" if bad.size > 1 else ""
    return f"in period {ctx.clock(k)}–{ctx.clock(k + 1)}{more}"


def _kw(x: float) -> str:
    return f"{x:,.4g} kW"


def _bus_ranges(sm: SiteModel, terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Per asset on a bus, per period: the most it can give to the bus and the most it can take (kW)."""
    ctx, arr = sm.ctx, sm.model.arrays()
    blocks = sm.model.var_blocks
    starts = np.array([b.start for b in blocks], dtype=np.int64)
    give: dict[str, np.ndarray] = {}
    take: dict[str, np.ndarray] = {}
    for periods, cols, coef in terms:
        lo = np.where(coef == 0, 0.0, coef * arr.lb[cols])
        hi = np.where(coef == 0, 0.0, coef * arr.ub[cols])
        owner_of = np.searchsorted(starts, cols, side="right") - 1
        for b in np.unique(owner_of):
            m = owner_of == b
            name = blocks[b].name
            found = _OWNER.search(name)
            owner = name[: found.end()] if found else name  # the asset label: "grid connection 'grid'"
            for acc, val in ((give, -np.minimum(lo[m], hi[m])), (take, np.maximum(lo[m], hi[m]))):
                acc[owner] = acc.get(owner, np.zeros(ctx.n)) + np.bincount(
                    periods[m], weights=np.maximum(val, 0.0), minlength=ctx.n
                )
    return {"give": give, "take": take}


def _limit_field(sm: SiteModel, label: str, direction: str) -> str:
    for a in sm.compiled.site.assets:
        if a.label == label:
            fn = getattr(a, "limit_field", None)
            return fn(direction) if fn is not None else ""
    return ""


def _name_of(label: str) -> str:
    found = _OWNER.search(label)
    return found.group(1) if found else label


def bus_problems(sm: SiteModel) -> list[Problem]:
    """Buses whose fixed flows exceed what the other assets can supply (or absorb) at their limits."""
    ctx = sm.ctx
    out: list[Problem] = []
    for bus, terms in ctx.flows.items():
        fixed_by = ctx.fixed_by.get(bus, [])
        if not fixed_by:
            continue
        fixed = np.sum([kw for _, kw in fixed_by], axis=0)
        ranges = _bus_ranges(sm, terms)
        carrier, node = bus.split("@", 1)
        for need, side, verb, limit_dir in (
            (fixed, "give", "needs", "import"),
            (-fixed, "take", "produces", "export"),
        ):
            cap = {o: v for o, v in ranges[side].items() if np.any(v > 0)}
            total = np.sum(list(cap.values()), axis=0) if cap else np.zeros(ctx.n)
            bad = np.flatnonzero(need > total + _TOL_KW * np.maximum(1.0, np.abs(need)))
            if bad.size == 0:
                continue
            k = int(bad[0])
            sign = 1.0 if side == "give" else -1.0
            owners = [(o, sign * kw[k]) for o, kw in fixed_by if sign * kw[k] > _TOL_KW]
            if len(owners) == 1:
                what = f"{owners[0][0]} {verb} {_kw(need[k])}"
            else:
                parts = ", ".join(f"{o} {_kw(v)}" for o, v in owners)
                what = f"{parts} together {verb.removesuffix('s')} {_kw(need[k])}"
            what += f" of {carrier} at node '{node}' {_when(sm, bad)}"
            limits = [(o, float(v[k])) for o, v in cap.items() if v[k] > _TOL_KW]
            if not limits:
                tail = f"nothing on that bus can {'supply' if side == 'give' else 'take'} it"
                obj, fld = node, f"balance {bus}"
            elif len(limits) == 1:
                o, v = limits[0]
                fld = _limit_field(sm, o, limit_dir)
                tail = f"{o} allows {_kw(v)}" + (f" ({fld})" if fld else "")
                obj = _name_of(o)
            else:
                fields = [_limit_field(sm, o, limit_dir) for o, _ in limits]
                parts = ", ".join(
                    f"{o} {_kw(v)}" + (f" ({f})" if f else "")
                    for (o, v), f in zip(limits, fields, strict=True)
                )
                tail = f"at most {_kw(total[k])} can be {'supplied' if side == 'give' else 'taken'} ({parts})"
                obj, fld = node, f"balance {bus}"
            out.append(Problem(obj, fld, f"{what}, {tail}"))
    return out


def need_problems(sm: SiteModel) -> list[Problem]:
    """Energy needs (an EV's) that the rest of their bus cannot give within their window: at most,
    in each period, what every other supplier gives at its limit less the fixed loads, up to the
    charger's own limit."""
    ctx, arr = sm.ctx, sm.model.arrays()
    out: list[Problem] = []
    for need in ctx.needs:
        ranges = _bus_ranges(sm, ctx.flows.get(need.bus, []))
        others = {o: v for o, v in ranges["give"].items() if o != need.label}
        give = np.sum(list(others.values()), axis=0) if others else np.zeros(ctx.n)
        fixed_by = ctx.fixed_by.get(need.bus, [])
        fixed = np.sum([kw for _, kw in fixed_by], axis=0) if fixed_by else np.zeros(ctx.n)
        w = slice(need.start, need.end)
        room = np.minimum(arr.ub[need.charge_cols][w], np.maximum(give[w] - fixed[w], 0.0))
        best = float(room.sum() * need.eta_charge * ctx.dt_h)
        if best >= need.energy_kwh - 1e-6:
            continue
        hours = (need.end - need.start) * ctx.dt_h
        avg = need.energy_kwh / (need.eta_charge * hours)
        limits = []
        for o, v in others.items():
            peak = float(v[w].max(initial=0.0))
            if peak > _TOL_KW:
                fld = _limit_field(sm, o, "import")
                limits.append(f"{o} allows {_kw(peak)}" + (f" ({fld})" if fld else ""))
        loads = [f"{o} up to {_kw(float(kw[w].max()))}" for o, kw in fixed_by if kw[w].max() > _TOL_KW]
        text = (
            f"{need.label.replace('ev ', 'EV ', 1)} needs {need.energy_kwh:g} kWh between "
            f"{ctx.clock(need.start)} and {ctx.clock(need.end)} ({avg:.3g} kW on average at the charger), "
            f"the rest of the site can give it at most {best:.4g} kWh: "
            + (", ".join(limits) if limits else "nothing on its bus supplies power")
            + (f", less {', '.join(loads)}" if loads else "")
        )
        out.append(Problem(need.name, need.field, text))
    return out


def explain_infeasible(sm: SiteModel, exc: InfeasibleError) -> SiteInfeasibleError:
    """Turn the optimize layer's group names into one message per asset, in human terms."""
    ctx = sm.ctx
    problems = bus_problems(sm) or need_problems(sm)
    violations = [] if problems else (getattr(exc, "violations", None) or [])
    for v in violations:
        group = v.group
        m = _OWNER.search(group)
        owner = m.group(1) if m else "site"
        if group in ctx.explain:
            text = ctx.explain[group](v.first_index, v.amount)
        elif group.startswith("balance "):
            carrier, node = group.removeprefix("balance ").split("@", 1)
            side = (
                "the other side of that conflict"
                if v.amount <= 0
                else (f"short by {v.amount * ctx.dt_h:.4g} kWh over {v.n_violated} period(s)")
            )
            text = (
                f"{carrier} at node '{node}' cannot be balanced from {ctx.clock(v.first_index)}: "
                f"supply, storage and demand do not match ({side})"
            )
            owner = node
        else:
            text = v.describe()
        problems.append(Problem(owner, group, text))
    if not problems:
        problems = [Problem("site", "", str(exc))]
    return SiteInfeasibleError.of(sm.compiled.site.name, problems, groups=exc.groups)
