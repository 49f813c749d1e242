"""Operation-mode machines: a device that runs one of several modes per period, e.g. a CHP with
minimum up and down times, a genset, a hybrid heat pump's actuators (S2's OMBC and DDBC devices).

The MILP (:func:`add_machine`, documented in docs/s2.md)
------------------------------------------------------
One binary ``u[m,t]`` per mode and period (exactly one mode per period) and a factor ``f[m,t] ∈
[0, u[m,t]]``. A mode's power per carrier (and a DDBC supply rate) is linear in the factor:
``P0·u + (P1 − P0)·f``. The mode before the horizon is the given current mode. A change ``i → j``
between two periods is allowed only along a declared transition (when any is declared): for every
other pair ``u[i,t−1] + u[j,t] ≤ 1``. A transition indicator ``s[i→j,t] ≥ u[i,t−1] + u[j,t] − 1``
carries the transition cost and the timers: a transition blocked by timer ``b`` (duration ``D_b``,
rounded up to whole periods) cannot happen within ``D_b`` periods after a transition that starts
``b``, nor before a running timer finishes. Running costs (per second, linear in the factor) are
costs of the plan. A minimum up time is a timer started by ``off → on`` that blocks ``on → off``; a
minimum down time the other way round.

Carriers: each carrier's power goes to its bus at the machine's node. Carriers in
``MachineSpec.site_bus_only`` (heat, for S2 devices) go there only when the site already has that
bus (an asset built before the machine takes heat from it or gives heat to it). A machine whose
modes produce heat also gets a vent (``HEAT_VENT_EUR_PER_MWH``, at most the heat it produces in each
period: a CHP's emergency cooler), so heat without a use never makes the site infeasible.

Two asset kinds use it: ``mode_machine`` (one machine; site files and S2 OMBC) and
``demand_machines`` (machines whose supplies meet a demand of the device's own; S2 DDBC).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from gridflex.assets.base import AssetBase, Built, Context, Output, bus_name
from gridflex.errors import Problem
from gridflex.optimize import Solution, VarBlock

MODE_PENALTY_EUR = 1e-4
"""A tiny cost per mode change per period, so that equal-cost plans do not toggle."""

HEAT = "heat"
"""The site carrier of heat (S2: HEAT.THERMAL_POWER; the carrier of the site file's heat loads)."""

HEAT_VENT_EUR_PER_MWH = 0.01
"""Cost of venting a device's heat (its emergency cooler): tiny, so heat with a use is never vented."""

SITE_BUS_ONLY = frozenset({HEAT})
"""Carriers an S2 device maps only onto a bus the site already has at its node (module docstring)."""


@dataclass
class ModeSpec:
    """One operation mode as plain data: power per carrier and supply at factor 0 and 1."""

    mode_id: uuid.UUID | str  # S2: the operation mode's id; a site file: the mode's name
    p0_kw: dict[str, float]
    p1_kw: dict[str, float]
    supply0: float = 0.0
    supply1: float = 0.0
    cost0_eur_per_s: float = 0.0
    cost1_eur_per_s: float = 0.0

    @property
    def modulates(self) -> bool:
        """Whether the factor changes anything: power, supply or running cost."""
        return (
            any(self.p0_kw.get(c, 0.0) != self.p1_kw.get(c, 0.0) for c in {*self.p0_kw, *self.p1_kw})
            or self.supply0 != self.supply1
            or self.cost0_eur_per_s != self.cost1_eur_per_s
        )


@dataclass
class MachineSpec:
    """Modes, the allowed transitions and their timers, in whole periods of the horizon."""

    label: str
    modes: list[ModeSpec]
    current: int | None  # index of the active mode before the horizon (None: unknown, free)
    transitions: dict[tuple[int, int], float]  # allowed (from, to) → transition cost, EUR
    start_timers: dict[tuple[int, int], list[int]]  # transition → timers it (re)starts
    blocking: dict[tuple[int, int], list[int]]  # transition → timers that block it
    timer_periods: list[int]  # timer → duration in periods (rounded up)
    blocked_before: dict[tuple[int, int], int] = field(default_factory=dict)  # not before period k
    restricted: bool = True  # False: the device declares no transitions, every change is allowed
    prefix: str = "s2"  # of the constraint groups' names: "<prefix> '<label>' ..."
    costs: tuple[str, str] = ("s2_running", "s2_transition")  # cost categories: running, transitions
    site_bus_only: frozenset[str] = SITE_BUS_ONLY  # carriers put only on a bus the site already has

    @property
    def carriers(self) -> list[str]:
        return sorted({c for m in self.modes for c in (*m.p0_kw, *m.p1_kw)})


@dataclass
class MachineVars:
    u: VarBlock  # mode m in period t at m·n + t
    f: VarBlock
    carriers: list[str] = field(default_factory=list)  # carriers on the site's buses
    vent: VarBlock | None = None  # heat vented by the device (kW), when its heat is on the heat bus

    def decode(self, sol: Solution, spec: MachineSpec, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mode and factor per period (0 for a mode whose factor changes nothing)."""
        u = np.round(sol.value(self.u)).reshape(len(spec.modes), n)
        f = sol.value(self.f).reshape(len(spec.modes), n)
        mode = u.argmax(axis=0)
        modulates = np.array([md.modulates for md in spec.modes])
        factor = np.where(modulates[mode], np.clip(f[mode, np.arange(n)], 0.0, 1.0), 0.0)
        return mode, factor

    def power(
        self, sol: Solution, spec: MachineSpec, mode: np.ndarray, factor: np.ndarray
    ) -> dict[str, np.ndarray]:
        """kW taken from each bus the machine is on; heat net of the vent."""
        out = machine_power(spec, mode, factor, self.carriers)
        if self.vent is not None:
            out[HEAT] = out[HEAT] + sol.value(self.vent)
        return out


def add_machine(
    ctx: Context, spec: MachineSpec, node: str, with_supply: bool = False
) -> tuple[MachineVars, Any]:
    """Variables and constraints of one operation-mode machine; flows go to the site's buses.

    Returns the variables and, when ``with_supply``, the supply terms ``(periods, cols, coef)``.
    Carriers in ``spec.site_bus_only`` get flows only when an asset built before has put that bus into
    the site; heat gets the machine's vent (see the module docstring).
    """
    n, m = ctx.n, len(spec.modes)
    lab = f"{spec.prefix} '{spec.label}'"
    run_cost = spec.costs[0]
    t = np.arange(n)
    dt_s = ctx.dt_h * 3600.0
    cost0 = np.repeat([md.cost0_eur_per_s * dt_s for md in spec.modes], n)
    cost1 = np.repeat([(md.cost1_eur_per_s - md.cost0_eur_per_s) * dt_s for md in spec.modes], n)
    ub_u = np.ones(m * n)
    u = ctx.add_vars(f"{lab} mode", m * n, 0.0, ub_u, {run_cost: cost0}, integer=True)
    f = ctx.add_vars(f"{lab} factor", m * n, 0.0, 1.0, {run_cost: cost1})
    mi = np.repeat(np.arange(m), n)
    ti = np.tile(t, m)
    ctx.relation(f"{lab} one mode", ti, u.idx, 1.0, 1.0, 1.0, n)
    rows = np.concatenate([np.arange(m * n)] * 2)
    ctx.relation(f"{lab} factor only in its mode", rows, np.concatenate([f.idx, u.idx]),
                 np.concatenate([np.ones(m * n), -np.ones(m * n)]), -np.inf, 0.0, m * n)  # fmt: skip
    # decided before any flow is added: the device itself never creates an optional bus
    carriers = [c for c in spec.carriers if c not in spec.site_bus_only or bus_name(c, node) in ctx.flows]
    for carrier in carriers:
        p0 = np.array([md.p0_kw.get(carrier, 0.0) for md in spec.modes])
        p1 = np.array([md.p1_kw.get(carrier, 0.0) for md in spec.modes])
        ctx.flow(carrier, node, np.concatenate([ti, ti]), np.concatenate([u.idx, f.idx]),
                 np.concatenate([p0[mi], (p1 - p0)[mi]]))  # fmt: skip
    vent = _heat_vent(ctx, spec, node, u, f) if HEAT in carriers else None
    _transition_rows(ctx, spec, u, n, m)
    supply = None
    if with_supply:
        s0 = np.array([md.supply0 for md in spec.modes])
        s1 = np.array([md.supply1 for md in spec.modes])
        supply = (
            np.concatenate([ti, ti]),
            np.concatenate([u.idx, f.idx]),
            np.concatenate([s0[mi], (s1 - s0)[mi]]),
        )
    return MachineVars(u, f, carriers, vent), supply


def _heat_vent(ctx: Context, spec: MachineSpec, node: str, u: VarBlock, f: VarBlock) -> VarBlock | None:
    """A column per period that takes heat from the heat bus, at most the heat the machine produces
    then (``vent ≤ a·u + b·f`` per mode: exact where a mode's heat range is all production; for a
    range that crosses zero, its largest production whatever the factor). None if it never produces."""
    n, m = ctx.n, len(spec.modes)
    p0 = np.array([md.p0_kw.get(HEAT, 0.0) for md in spec.modes])
    p1 = np.array([md.p1_kw.get(HEAT, 0.0) for md in spec.modes])
    producing = (p0 <= 0.0) & (p1 <= 0.0)
    a = np.where(producing, -p0, np.maximum(np.maximum(-p0, -p1), 0.0))
    b = np.where(producing, p0 - p1, 0.0)
    if not (a > 0).any() and not (a + b > 0).any():
        return None
    t = np.arange(n)
    cost = HEAT_VENT_EUR_PER_MWH / 1000.0 * ctx.dt_h
    lab = f"{spec.prefix} '{spec.label}'"
    vent = ctx.add_vars(f"{lab} heat vent", n, 0.0, np.inf, {spec.costs[0]: cost})
    ctx.flow(HEAT, node, t, vent.idx, 1.0)
    mi = np.repeat(np.arange(m), n)
    ti = np.tile(t, m)
    ctx.relation(f"{lab} heat vent at most the heat produced",
                 np.concatenate([t, ti, ti]), np.concatenate([vent.idx, u.idx, f.idx]),
                 np.concatenate([np.ones(n), -a[mi], -b[mi]]), -np.inf, 0.0, n)  # fmt: skip
    return vent


def _transition_rows(ctx: Context, spec: MachineSpec, u: VarBlock, n: int, m: int) -> None:
    lab = f"{spec.prefix} '{spec.label}'"
    uidx = u.idx.reshape(m, n)
    fixed_zero: set[tuple[int, int]] = set()  # (mode, period) that cannot be active
    forb_r: list[np.ndarray] = []
    forb_c: list[np.ndarray] = []
    n_forb = 0
    s_of: dict[tuple[int, int], VarBlock] = {}
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            allowed = (i, j) in spec.transitions or not spec.restricted
            k0 = spec.blocked_before.get((i, j), 0) if allowed else n
            k0 = min(k0, n)
            # forbidden in periods t < k0: u[i,t-1] + u[j,t] <= 1 (t >= 1); t = 0 from the current mode
            if k0 > 0:
                if spec.current == i:
                    fixed_zero.add((j, 0))
                tt = np.arange(1, k0)
                if tt.size:
                    forb_r.append(np.repeat(np.arange(n_forb, n_forb + tt.size), 2))
                    forb_c.append(np.column_stack([uidx[i, tt - 1], uidx[j, tt]]).ravel())
                    n_forb += tt.size
            if not allowed:
                continue
            cost = spec.transitions.get((i, j), 0.0)
            timed = spec.blocking.get((i, j)) or spec.start_timers.get((i, j))
            if not (cost or timed or MODE_PENALTY_EUR):
                continue
            s = ctx.add_vars(f"{lab} transition {i}->{j}", n, 0.0, 1.0,
                             {spec.costs[1]: cost + MODE_PENALTY_EUR})  # fmt: skip
            s_of[(i, j)] = s
            # s_t - u[i,t-1] - u[j,t] >= -1 ; at t = 0: s_0 - u[j,0] >= (current == i) - 1
            r = np.concatenate([np.arange(n), np.arange(1, n), np.arange(n)])
            c = np.concatenate([s.idx, uidx[i, :-1], uidx[j]])
            v = np.concatenate([np.ones(n), -np.ones(n - 1), -np.ones(n)])
            lb = np.full(n, -1.0)
            lb[0] = (1.0 if spec.current == i else 0.0) - 1.0
            ctx.relation(f"{lab} transition {i}->{j} indicator", r, c, v, lb, np.inf, n)
    if n_forb:
        ctx.relation(f"{lab} only declared transitions", np.concatenate(forb_r), np.concatenate(forb_c),
                     1.0, -np.inf, 1.0, n_forb)  # fmt: skip
    if fixed_zero:
        zero = np.array([uidx[j, k] for j, k in sorted(fixed_zero)])
        ctx.relation(f"{lab} blocked at the start", np.arange(zero.size), zero, 1.0, 0.0, 0.0, zero.size)
    # timers: s[tr, t] + Σ_{τ = t-D+1 .. t-1} s[tr', τ] <= 1 for tr blocked by b, tr' starting b
    rr: list[np.ndarray] = []
    cc: list[np.ndarray] = []
    n_rows = 0
    for tr, timers in spec.blocking.items():
        if tr not in s_of:
            continue
        for b in timers:
            d = spec.timer_periods[b]
            if d <= 1:
                continue
            starters = [s_of[o] for o, st in spec.start_timers.items() if b in st and o in s_of]
            for t in range(n):
                lo = max(t - d + 1, 0)
                cols: list[int] = [int(s_of[tr].idx[t])] + [int(x) for st in starters for x in st.idx[lo:t]]
                if len(cols) <= 1:
                    continue
                rr.append(np.full(len(cols), n_rows))
                cc.append(np.asarray(cols))
                n_rows += 1
    if n_rows:
        ctx.relation(f"{lab} timers", np.concatenate(rr), np.concatenate(cc), 1.0, -np.inf, 1.0, n_rows)


def machine_power(
    spec: MachineSpec, mode: np.ndarray, factor: np.ndarray, carriers: list[str]
) -> dict[str, np.ndarray]:
    out = {}
    for c in carriers:
        p0 = np.array([md.p0_kw.get(c, 0.0) for md in spec.modes])
        p1 = np.array([md.p1_kw.get(c, 0.0) for md in spec.modes])
        out[c] = p0[mode] + (p1 - p0)[mode] * factor
    return out


# ── the site-file kind ───────────────────────────────────────────────────────────────────────────

KwRange = float | tuple[float, float]
"""kW at factor 0 and at factor 1 (a mode that modulates), or one value (a fixed point)."""


class MachineMode(BaseModel):
    """One operation mode of a ``mode_machine``: power per carrier (kW, + = taken from the site, − =
    produced, as S2) and running cost, each linear in the mode's factor between its two values."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="mode name, unique within the machine")
    power_kw: dict[str, KwRange] = Field(
        default_factory=dict,
        description="carrier → kW (+ = consumption, − = production); [at factor 0, at factor 1] to modulate",
    )
    running_cost_eur_per_h: KwRange = Field(0.0, description="cost while in the mode, EUR/h (or a range)")


class MachineTransition(BaseModel):
    """An allowed mode change, its cost, the timers it starts and the timers that block it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", description="mode before")
    to: str = Field(description="mode after")
    cost_eur: float = Field(0.0, ge=0, description="cost of each change")
    start_timers: list[str] = Field(default_factory=list, description="timers (re)started by the change")
    blocking_timers: list[str] = Field(default_factory=list, description="timers that must have run out")


def _pair(v: KwRange) -> tuple[float, float]:
    return (float(v), float(v)) if isinstance(v, int | float) else (float(v[0]), float(v[1]))


class ModeMachine(AssetBase):
    """A device with operation modes, transitions and timers (module docstring), e.g. a CHP with
    minimum up and down times. The S2 CEM makes one per OMBC device (its spec set directly)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["mode_machine"] = "mode_machine"
    modes: list[MachineMode] = Field(default_factory=list, description="the operation modes")
    transitions: list[MachineTransition] | None = Field(
        default=None, description="allowed mode changes; none given: every change is allowed, at no cost"
    )
    timers_s: dict[str, float] = Field(default_factory=dict, description="timer name → duration, s")
    initial_mode: str | None = Field(default=None, description="mode before the horizon (none: free)")
    timers_running_s: dict[str, float] = Field(
        default_factory=dict, description="timer name → seconds it still runs at the horizon start"
    )
    _spec: MachineSpec | None = PrivateAttr(None)  # set by the S2 CEM (an OMBC device), else from the fields
    _decision: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(None)  # mode index, factor per period
    _vent_kw: np.ndarray | None = PrivateAttr(None)  # heat vented (None: heat not on a site bus)
    _start: datetime | None = PrivateAttr(None)  # the horizon the S2 spec was made for
    _step_s: int = PrivateAttr(900)

    @property
    def carriers(self) -> list[str]:
        """Carriers the modes name (heat among them even where the site has no heat bus)."""
        if self._spec is not None:
            return self._spec.carriers
        return sorted({c for m in self.modes for c in m.power_kw})

    @property
    def mode_names(self) -> list[str]:
        return [m.name for m in self.modes]

    def check(self, ctx: Context) -> list[Problem]:
        if self._spec is not None:
            return []
        out: list[Problem] = []
        names = self.mode_names
        if not names:
            out.append(Problem(self.name, "modes", "needs at least one mode"))
        if len(set(names)) != len(names):
            out.append(Problem(self.name, "modes", "mode names are not unique"))
        for m in self.modes:
            for c, v in m.power_kw.items():
                if not all(math.isfinite(x) and abs(x) <= 1e9 for x in _pair(v)):
                    out.append(
                        Problem(self.name, f"modes.{m.name}.power_kw.{c}", "must be finite, at most 1e9 kW")
                    )
            if not all(math.isfinite(x) and abs(x) <= 1e9 for x in _pair(m.running_cost_eur_per_h)):
                out.append(Problem(self.name, f"modes.{m.name}.running_cost_eur_per_h", "must be finite"))
        for k, d in {**self.timers_s, **self.timers_running_s}.items():
            if not (math.isfinite(d) and 0 <= d <= 1e9):
                out.append(Problem(self.name, f"timers_s.{k}", f"{d} is not a duration in 0..1e9 s"))
        for k in self.timers_running_s:
            if k not in self.timers_s:
                out.append(Problem(self.name, f"timers_running_s.{k}", "names no timer of timers_s"))
        for i, tr in enumerate(self.transitions or []):
            for ref in (tr.from_, tr.to):
                if ref not in names:
                    out.append(Problem(self.name, f"transitions[{i}]", f"names unknown mode {ref!r}"))
            for ref in (*tr.start_timers, *tr.blocking_timers):
                if ref not in self.timers_s:
                    out.append(Problem(self.name, f"transitions[{i}]", f"names unknown timer {ref!r}"))
        if self.initial_mode is not None and self.initial_mode not in names:
            out.append(Problem(self.name, "initial_mode", f"{self.initial_mode!r} is not one of its modes"))
        return out

    def machine_spec(self, step_s: float) -> MachineSpec:
        """The fields as a :class:`MachineSpec` on periods of ``step_s`` (the spec the S2 CEM set, if any)."""
        if self._spec is not None:
            return self._spec
        modes = []
        for m in self.modes:
            p0 = {c: _pair(v)[0] for c, v in m.power_kw.items()}
            p1 = {c: _pair(v)[1] for c, v in m.power_kw.items()}
            c0, c1 = (x / 3600.0 for x in _pair(m.running_cost_eur_per_h))
            modes.append(ModeSpec(m.name, p0, p1, cost0_eur_per_s=c0, cost1_eur_per_s=c1))
        index = {m.name: i for i, m in enumerate(self.modes)}
        tindex = {k: i for i, k in enumerate(self.timers_s)}
        allowed: dict[tuple[int, int], float] = {}
        starts: dict[tuple[int, int], list[int]] = {}
        blocks: dict[tuple[int, int], list[int]] = {}
        before: dict[tuple[int, int], int] = {}
        for tr in self.transitions or []:
            key = (index[tr.from_], index[tr.to])
            allowed[key] = tr.cost_eur
            starts[key] = [tindex[x] for x in tr.start_timers]
            blocks[key] = [tindex[x] for x in tr.blocking_timers]
            for x in tr.blocking_timers:  # a running timer blocks the transition until it runs out
                k = math.ceil(self.timers_running_s.get(x, 0.0) / step_s - 1e-9)
                if k > 0:
                    before[key] = max(before.get(key, 0), k)
        periods = [max(1, math.ceil(d / step_s - 1e-9)) for d in self.timers_s.values()]
        cur = None if self.initial_mode is None else index[self.initial_mode]
        return MachineSpec(self.name, modes, cur, allowed, starts, blocks, periods, before,
                           restricted=self.transitions is not None, prefix="mode machine",
                           costs=("running", "transition"), site_bus_only=frozenset())  # fmt: skip

    def build(self, ctx: Context) -> Built:
        spec = self.machine_spec(ctx.dt_h * 3600.0)
        mv, _ = add_machine(ctx, spec, self.node)
        n = ctx.n

        def read(sol: Solution) -> Output:
            mode, factor = mv.decode(sol, spec, n)
            self._decision = (mode, factor)
            self._vent_kw = None if mv.vent is None else sol.value(mv.vent)
            return Output(mv.power(sol, spec, mode, factor) or {"electricity": np.zeros(n)})

        return Built(read)

    def planned_modes(self) -> list[str] | None:
        """The mode name per period of the last solution (None before a solve)."""
        if self._decision is None:
            return None
        spec = self._spec
        names = [str(m.mode_id) for m in spec.modes] if spec is not None else self.mode_names
        return [names[int(k)] for k in self._decision[0]]


DEMAND_PENALTY_EUR = 1000.0
"""Cost of one unit of demand rate missed (or exceeded) during one hour."""


class DemandMachines(AssetBase):
    """Machines whose supplies meet a demand rate of the device's own (an S2 DDBC device): per
    period ``Σ supply + short − over = demand``, a unit of demand missed or exceeded for one hour
    costing ``DEMAND_PENALTY_EUR``, so a demand the machines cannot meet never makes the plan
    infeasible. The demand stays inside the device (its unit is the device's own); only the
    machines' power reaches the site. Made by the S2 CEM (its machines and demand set directly)."""

    kind: Literal["demand_machines"] = "demand_machines"
    _specs: list[tuple[Any, MachineSpec]] = PrivateAttr(default_factory=list)  # (actuator id, machine)
    _demand: np.ndarray | None = PrivateAttr(None)
    _decision: dict[Any, tuple[np.ndarray, np.ndarray]] | None = PrivateAttr(None)
    _supply: np.ndarray | None = PrivateAttr(None)
    _vent_kw: np.ndarray | None = PrivateAttr(None)  # heat vented (None: no heat on a site bus)
    _start: datetime | None = PrivateAttr(None)
    _step_s: int = PrivateAttr(900)

    @property
    def carriers(self) -> list[str]:
        return sorted({c for _, spec in self._specs for c in spec.carriers})

    def check(self, ctx: Context) -> list[Problem]:
        if not self._specs:
            return [Problem(self.name, "kind", "demand_machines are made by the S2 CEM (a DDBC device), "
                                               "not written in a site file")]  # fmt: skip
        return []

    def build(self, ctx: Context) -> Built:
        n = ctx.n
        demand = self._demand if self._demand is not None else np.zeros(n)
        built = []
        rows, cols, vals = [], [], []
        for aid, spec in self._specs:
            mv, supply = add_machine(ctx, spec, self.node, with_supply=True)
            built.append((aid, spec, mv))
            rows.append(supply[0])
            cols.append(supply[1])
            vals.append(supply[2])
        pen = DEMAND_PENALTY_EUR * ctx.dt_h
        short = ctx.add_vars(f"s2 '{self.name}' demand short", n, 0.0, np.inf, {"penalty": pen})
        over = ctx.add_vars(f"s2 '{self.name}' demand over", n, 0.0, np.inf, {"penalty": pen})
        t = np.arange(n)
        ctx.relation(f"s2 '{self.name}' demand met",
                     np.concatenate([*rows, t, t]), np.concatenate([*cols, short.idx, over.idx]),
                     np.concatenate([*vals, np.ones(n), -np.ones(n)]), demand, demand, n)  # fmt: skip

        def read(sol: Solution) -> Output:
            decision: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
            power: dict[str, np.ndarray] = {}
            supply = np.zeros(n)
            vent: np.ndarray | None = None
            for aid, spec, mv in built:
                mode, factor = mv.decode(sol, spec, n)
                decision[aid] = (mode, factor)
                for c, p in mv.power(sol, spec, mode, factor).items():
                    power[c] = power.get(c, 0.0) + p
                if mv.vent is not None:
                    vent = (0.0 if vent is None else vent) + sol.value(mv.vent)
                s0 = np.array([md.supply0 for md in spec.modes])
                s1 = np.array([md.supply1 for md in spec.modes])
                supply += s0[mode] + (s1 - s0)[mode] * factor
            self._decision, self._supply, self._vent_kw = decision, supply, vent
            return Output(power or {"electricity": np.zeros(n)})

        return Built(read)
