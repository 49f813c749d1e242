"""OMBC (operation-mode based control), e.g. a CHP or a genset, and the operation-mode machine MILP
that DDBC shares.

State (:class:`OmbcState`): OMBC.SystemDescription, OMBC.Status, OMBC.TimerStatus. ``check`` refuses
unknown references (an operation mode or timer the system description does not define, a transition
naming an unknown mode or timer) before ``apply`` changes anything.

The machine (:func:`add_machine`, documented in docs/s2.md)
-----------------------------------------------------------
One binary ``u[m,t]`` per mode and period (exactly one mode per period) and a factor ``f[m,t] ∈
[0, u[m,t]]``. A mode's power per carrier (and DDBC's supply rate) is linear in the factor:
``P0·u + (P1 − P0)·f``. The mode before the horizon is the reported active mode. A change ``i → j``
between two periods is allowed only along a declared, non-abnormal transition: for every other pair
``u[i,t−1] + u[j,t] ≤ 1``. A transition indicator ``s[i→j,t] ≥ u[i,t−1] + u[j,t] − 1`` carries the
transition cost and the timers: a transition blocked by timer ``b`` (duration ``D_b``, rounded up to
whole periods) cannot happen within ``D_b`` periods after a transition that starts ``b``, nor before
the ``finished_at`` of a running timer (OMBC.TimerStatus). Running costs (per second, linear in the
factor) are costs of the plan.

Carriers: electric power goes to the electricity bus and NATURAL_GAS.FLOW_RATE to the gas bus (both
always). HEAT.THERMAL_POWER goes to the heat bus of the device's node only when the site already has
one, that is when an asset built before the device (the site file's assets: the CEM appends its
devices after them) takes heat from or gives heat to it; otherwise the device's heat is left out, as
before. A device whose modes produce heat also gets a vent (``HEAT_VENT_EUR_PER_MWH``, at most the heat
it produces in each period: a CHP's emergency cooler), so heat without a use never makes the site
infeasible; unused heat is simply vented.

Back from the schedule: the mode and factor per period (the factor of a mode whose power, supply
and costs do not depend on it is 0); each change (of mode, or of a modulating mode's factor by more
than 0.001) gives one OMBC.Instruction at the period start (not before ``now`` + the RM's processing
delay, nor before the blocking timers of its transition finish).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import PrivateAttr
from s2python.common import (
    CommodityQuantity,
    InstructionStatus,
    PowerRange,
    RevokableObjects,
    RevokeObject,
)
from s2python.ombc import OMBCInstruction, OMBCStatus, OMBCSystemDescription, OMBCTimerStatus

from gridflex.assets.base import AssetBase, Built, Context, Output, bus_name
from gridflex.optimize import Solution, VarBlock
from gridflex.s2.frbc import ELECTRIC

GAS_KWH_PER_LITRE = 9.77e-3
"""Energy of natural gas per litre (Groningen quality, superior calorific value 9.77 kWh/m³):
S2 gives NATURAL_GAS.FLOW_RATE in l/s, so 1 l/s is 35.2 kW of gas."""

MODE_PENALTY_EUR = 1e-4
"""A tiny cost per mode change per period, so that equal-cost plans do not toggle."""

HEAT = "heat"
"""The site carrier of HEAT.THERMAL_POWER (the carrier of the site file's heat loads and converters)."""

HEAT_VENT_EUR_PER_MWH = 0.01
"""Cost of venting a device's heat (its emergency cooler): tiny, so heat with a use is never vented."""

SITE_BUS_ONLY = frozenset({HEAT})
"""Carriers mapped only onto a bus the site already has at the device's node (see the module doc)."""

OmbcMessage = OMBCSystemDescription | OMBCStatus | OMBCTimerStatus
_PENDING = {InstructionStatus.NEW, InstructionStatus.ACCEPTED}


def revoke_pending(records: dict[uuid.UUID, Any], now: datetime) -> list[RevokeObject]:
    """RevokeObjects for the instructions that have not started (their type from the instruction)."""
    out = []
    for iid, rec in records.items():
        if rec.status in _PENDING and rec.instruction.execution_time > now:
            rec.status = InstructionStatus.REVOKED
            kind = RevokableObjects(rec.instruction.message_type)
            out.append(RevokeObject(message_id=uuid.uuid4(), object_type=kind, object_id=iid))
    return out


def as_uuid(value: Any) -> uuid.UUID:
    """An id as a UUID: s2-python 0.11 leaves some ids as the generated ``ID`` (a string model)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(getattr(value, "root", value)))


def carrier_kw(pr: PowerRange) -> tuple[str, float, float] | None:
    """A power range as (site carrier, kW at factor 0, kW at factor 1), + = taken from the site (the
    S2 sign); None for what the site does not model (hydrogen, oil, heat flow rates, temperatures).
    Heat (HEAT.THERMAL_POWER, W) reaches the site only where it has a heat bus (:func:`add_machine`)."""
    if pr.commodity_quantity in ELECTRIC:
        return "electricity", pr.start_of_range / 1000.0, pr.end_of_range / 1000.0
    if pr.commodity_quantity == CommodityQuantity.NATURAL_GAS_FLOW_RATE:
        k = GAS_KWH_PER_LITRE * 3600.0
        return "gas", pr.start_of_range * k, pr.end_of_range * k
    if pr.commodity_quantity == CommodityQuantity.HEAT_THERMAL_POWER:
        return HEAT, pr.start_of_range / 1000.0, pr.end_of_range / 1000.0
    return None


def machine_problem(modes: list[Any], timers: list[Any], transitions: list[Any], of: str = "") -> str | None:
    """Why the operation modes, timers and transitions of one machine (an OMBC.SystemDescription, a
    DDBC actuator: ``of`` names it in the message) do not hold together, or None: mode and timer ids
    unique, transitions naming known modes and timers."""
    mode_ids = [as_uuid(m.id) for m in modes]
    timer_ids = [as_uuid(t.id) for t in timers]
    if not mode_ids or len(set(mode_ids)) != len(mode_ids):
        return f"operation mode ids{of} are missing or not unique"
    if len(set(timer_ids)) != len(timer_ids):
        return f"timer ids{of} are not unique"
    for tr in transitions:
        for ref in (tr.from_, tr.to):
            if as_uuid(ref) not in mode_ids:
                return f"transition {as_uuid(tr.id)} names unknown operation mode {as_uuid(ref)}"
        for ref in (*tr.start_timers, *tr.blocking_timers):
            if as_uuid(ref) not in timer_ids:
                return f"transition {as_uuid(tr.id)} names unknown timer {as_uuid(ref)}"
    return None


def status_problem(modes: list[Any], timers: list[Any], msg: Any) -> str | None:
    """Why a status of one machine (OMBC.Status / DDBC.ActuatorStatus: operation modes; OMBC /
    DDBC.TimerStatus: a timer) names something the machine does not have, or None."""
    timer_id = getattr(msg, "timer_id", None)
    if timer_id is not None:
        if as_uuid(timer_id) not in {as_uuid(t.id) for t in timers}:
            return f"unknown timer {as_uuid(timer_id)}"
        return None
    known = {as_uuid(m.id) for m in modes}
    for ref in (msg.active_operation_mode_id, msg.previous_operation_mode_id):
        if ref is not None and as_uuid(ref) not in known:
            return f"unknown operation mode {as_uuid(ref)}"
    return None


@dataclass
class ModeSpec:
    """One operation mode as plain data: power per carrier and supply at factor 0 and 1."""

    mode_id: uuid.UUID
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
    Carriers in :data:`SITE_BUS_ONLY` (heat) get flows only when an asset built before has put that
    bus into the site; heat then also gets the device's vent (see the module docstring).
    """
    n, m = ctx.n, len(spec.modes)
    lab = spec.label
    t = np.arange(n)
    dt_s = ctx.dt_h * 3600.0
    cost0 = np.repeat([md.cost0_eur_per_s * dt_s for md in spec.modes], n)
    cost1 = np.repeat([(md.cost1_eur_per_s - md.cost0_eur_per_s) * dt_s for md in spec.modes], n)
    ub_u = np.ones(m * n)
    u = ctx.add_vars(f"s2 '{lab}' mode", m * n, 0.0, ub_u, {"s2_running": cost0}, integer=True)
    f = ctx.add_vars(f"s2 '{lab}' factor", m * n, 0.0, 1.0, {"s2_running": cost1})
    mi = np.repeat(np.arange(m), n)
    ti = np.tile(t, m)
    ctx.relation(f"s2 '{lab}' one mode", ti, u.idx, 1.0, 1.0, 1.0, n)
    rows = np.concatenate([np.arange(m * n)] * 2)
    ctx.relation(f"s2 '{lab}' factor only in its mode", rows, np.concatenate([f.idx, u.idx]),
                 np.concatenate([np.ones(m * n), -np.ones(m * n)]), -np.inf, 0.0, m * n)  # fmt: skip
    # decided before any flow is added: the device itself never creates an optional bus
    carriers = [c for c in spec.carriers if c not in SITE_BUS_ONLY or bus_name(c, node) in ctx.flows]
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
    vent = ctx.add_vars(f"s2 '{spec.label}' heat vent", n, 0.0, np.inf, {"s2_running": cost})
    ctx.flow(HEAT, node, t, vent.idx, 1.0)
    mi = np.repeat(np.arange(m), n)
    ti = np.tile(t, m)
    ctx.relation(f"s2 '{spec.label}' heat vent at most the heat produced",
                 np.concatenate([t, ti, ti]), np.concatenate([vent.idx, u.idx, f.idx]),
                 np.concatenate([np.ones(n), -a[mi], -b[mi]]), -np.inf, 0.0, n)  # fmt: skip
    return vent


def _transition_rows(ctx: Context, spec: MachineSpec, u: VarBlock, n: int, m: int) -> None:
    lab = spec.label
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
            s = ctx.add_vars(f"s2 '{lab}' transition {i}->{j}", n, 0.0, 1.0,
                             {"s2_transition": cost + MODE_PENALTY_EUR})  # fmt: skip
            s_of[(i, j)] = s
            # s_t - u[i,t-1] - u[j,t] >= -1 ; at t = 0: s_0 - u[j,0] >= (current == i) - 1
            r = np.concatenate([np.arange(n), np.arange(1, n), np.arange(n)])
            c = np.concatenate([s.idx, uidx[i, :-1], uidx[j]])
            v = np.concatenate([np.ones(n), -np.ones(n - 1), -np.ones(n)])
            lb = np.full(n, -1.0)
            lb[0] = (1.0 if spec.current == i else 0.0) - 1.0
            ctx.relation(f"s2 '{lab}' transition {i}->{j} indicator", r, c, v, lb, np.inf, n)
    if n_forb:
        ctx.relation(f"s2 '{lab}' only declared transitions", np.concatenate(forb_r), np.concatenate(forb_c),
                     1.0, -np.inf, 1.0, n_forb)  # fmt: skip
    if fixed_zero:
        zero = np.array([uidx[j, k] for j, k in sorted(fixed_zero)])
        ctx.relation(f"s2 '{lab}' blocked at the start", np.arange(zero.size), zero, 1.0, 0.0, 0.0, zero.size)
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
        ctx.relation(f"s2 '{lab}' timers", np.concatenate(rr), np.concatenate(cc), 1.0, -np.inf, 1.0, n_rows)


def machine_spec(
    label: str,
    modes: list[ModeSpec],
    transitions: list[Any],
    timers: list[Any],
    current: uuid.UUID | None,
    timers_finish: dict[uuid.UUID, datetime],
    start: datetime,
    step_s: int,
    n: int,
    earliest: datetime,
) -> MachineSpec:
    """The machine of a system description on the grid ``start + k·step_s``."""
    index = {md.mode_id: i for i, md in enumerate(modes)}
    tindex = {as_uuid(tm.id): k for k, tm in enumerate(timers)}
    allowed: dict[tuple[int, int], float] = {}
    starts: dict[tuple[int, int], list[int]] = {}
    blocks: dict[tuple[int, int], list[int]] = {}
    before: dict[tuple[int, int], int] = {}
    for tr in transitions:
        src, dst = as_uuid(tr.from_), as_uuid(tr.to)
        if tr.abnormal_condition_only or src not in index or dst not in index:
            continue
        key = (index[src], index[dst])
        allowed[key] = float(tr.transition_costs or 0.0)
        starts[key] = [tindex[as_uuid(x)] for x in tr.start_timers if as_uuid(x) in tindex]
        blocks[key] = [tindex[as_uuid(x)] for x in tr.blocking_timers if as_uuid(x) in tindex]
        # a running timer (TimerStatus) blocks the transition until it finishes
        for x in tr.blocking_timers:
            done = timers_finish.get(as_uuid(x))
            if done is None:
                continue
            first = max(done, earliest)
            k = math.ceil((first - start).total_seconds() / step_s - 1e-9) if done > earliest else 0
            if k > 0:
                before[key] = max(before.get(key, 0), k)
    periods = [max(1, math.ceil(tm.duration.root / 1000.0 / step_s - 1e-9)) for tm in timers]
    cur = index.get(current) if current is not None else None
    spec = MachineSpec(
        label, modes, cur, allowed, starts, blocks, periods, before, restricted=bool(transitions)
    )
    return spec


# ── OMBC state ────────────────────────────────────────────────────────────────────────────────


class OmbcAsset(AssetBase):
    """An OMBC device in the site: one operation-mode machine (see the module docstring)."""

    kind: Literal["s2_ombc"] = "s2_ombc"
    _spec: MachineSpec | None = PrivateAttr(None)
    _decision: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(None)
    _vent_kw: np.ndarray | None = PrivateAttr(None)  # heat vented (None: heat not on a site bus)
    _start: datetime | None = PrivateAttr(None)
    _step_s: int = PrivateAttr(900)

    @property
    def carriers(self) -> list[str]:
        """Carriers the device's modes name (heat among them even where the site has no heat bus)."""
        return [] if self._spec is None else self._spec.carriers

    def build(self, ctx: Context) -> Built:
        spec = self._spec
        assert spec is not None
        mv, _ = add_machine(ctx, spec, self.node)
        n = ctx.n

        def read(sol: Solution) -> Output:
            mode, factor = mv.decode(sol, spec, n)
            self._decision = (mode, factor)
            self._vent_kw = None if mv.vent is None else sol.value(mv.vent)
            return Output(mv.power(sol, spec, mode, factor) or {"electricity": np.zeros(n)})

        return Built(read)


def machine_power(
    spec: MachineSpec, mode: np.ndarray, factor: np.ndarray, carriers: list[str]
) -> dict[str, np.ndarray]:
    out = {}
    for c in carriers:
        p0 = np.array([md.p0_kw.get(c, 0.0) for md in spec.modes])
        p1 = np.array([md.p1_kw.get(c, 0.0) for md in spec.modes])
        out[c] = p0[mode] + (p1 - p0)[mode] * factor
    return out


def mode_specs(modes: list[Any], supply: bool = False) -> tuple[list[ModeSpec], set[uuid.UUID]]:
    """Plain-data modes (abnormal-only modes are left out of the plan)."""
    out, abnormal = [], set()
    for md in modes:
        if md.abnormal_condition_only:
            abnormal.add(md.id)
            continue
        p0: dict[str, float] = {}
        p1: dict[str, float] = {}
        for pr in md.power_ranges:
            ck = carrier_kw(pr)
            if ck is not None:
                p0[ck[0]] = p0.get(ck[0], 0.0) + ck[1]
                p1[ck[0]] = p1.get(ck[0], 0.0) + ck[2]
        rc = md.running_costs
        spec = ModeSpec(md.id, p0, p1, cost0_eur_per_s=0.0 if rc is None else rc.start_of_range,
                        cost1_eur_per_s=0.0 if rc is None else rc.end_of_range)  # fmt: skip
        if supply:
            ranges = md.supply_range if isinstance(md.supply_range, list) else [md.supply_range]
            spec.supply0 = float(ranges[0].start_of_range) if ranges else 0.0
            spec.supply1 = float(ranges[0].end_of_range) if ranges else 0.0
        out.append(spec)
    return out, abnormal


def mode_instructions(
    make: Any,
    spec: MachineSpec,
    decision: tuple[np.ndarray, np.ndarray],
    transitions: list[Any],
    timers_finish: dict[uuid.UUID, datetime],
    current: tuple[uuid.UUID, float] | None,
    start: datetime,
    step_s: int,
    earliest: datetime,
    max_count: int,
) -> list[Any]:
    """Instructions for the mode changes of a decision (``make(mode_id, factor, when)`` builds one)."""
    mode, factor = decision
    out: list[Any] = []
    for k in range(mode.size):
        md = spec.modes[int(mode[k])]
        mid = md.mode_id
        fac = round(float(factor[k]), 4)
        if current is not None and current[0] == mid and (not md.modulates or abs(current[1] - fac) < 1e-3):
            continue
        when = max(start + timedelta(seconds=k * step_s), earliest)
        if current is not None and current[0] != mid and transitions:
            tr = next((x for x in transitions if as_uuid(x.from_) == current[0] and as_uuid(x.to) == mid
                       and not x.abnormal_condition_only), None)  # fmt: skip
            if tr is None:
                break  # the plan cannot go on from here (never happens: the MILP forbids it)
            for b in tr.blocking_timers:
                done = timers_finish.get(as_uuid(b))
                if done is not None and done > when:
                    when = done
        out.append(make(mid, fac, when))
        current = (mid, fac)
        if len(out) >= max_count:
            break
    return out


@dataclass
class OmbcState:
    """What an OMBC resource manager has told the CEM."""

    system_description: OMBCSystemDescription | None = None
    status: OMBCStatus | None = None
    timers_finish: dict[uuid.UUID, datetime] = field(default_factory=dict)

    def check(self, msg: OmbcMessage) -> str | None:
        if isinstance(msg, OMBCSystemDescription):
            return machine_problem(list(msg.operation_modes), list(msg.timers), list(msg.transitions))
        sd = self.system_description
        if sd is None:
            return f"{msg.message_type} before any OMBC.SystemDescription"
        return status_problem(list(sd.operation_modes), list(sd.timers), msg)

    def apply(self, msg: OmbcMessage) -> None:
        if isinstance(msg, OMBCSystemDescription):
            self.system_description = msg
            modes = {m.id for m in msg.operation_modes}
            if self.status is not None and as_uuid(self.status.active_operation_mode_id) not in modes:
                self.status = None
        elif isinstance(msg, OMBCStatus):
            self.status = msg
        else:
            self.timers_finish[msg.timer_id] = msg.finished_at

    def revoke(self, object_type: str, object_id: uuid.UUID) -> bool:
        sd = self.system_description
        if object_type == "OMBC.SystemDescription" and sd is not None and sd.message_id == object_id:
            self.system_description = None
            return True
        return False

    @property
    def ready(self) -> bool:
        return self.system_description is not None and self.status is not None

    def asset(self, name: str, start: datetime, step_s: int, n: int, earliest: datetime) -> OmbcAsset | None:
        sd, st = self.system_description, self.status
        if sd is None or st is None:
            return None
        modes, abnormal = mode_specs(list(sd.operation_modes))
        active = as_uuid(st.active_operation_mode_id)
        if not modes or active in abnormal:
            return None
        spec = machine_spec(name, modes, list(sd.transitions), list(sd.timers), active,
                            self.timers_finish, start, step_s, n, earliest)  # fmt: skip
        a = OmbcAsset(name=f"{name}/ombc", node="site")
        a._spec, a._start, a._step_s = spec, start, step_s
        return a

    def messages(
        self, asset: Any, earliest: datetime, now: datetime, records: dict[uuid.UUID, Any], max_count: int
    ) -> list[Any]:
        """OMBC.Instructions of the solved plan (the CEM revokes the previous plan's pending ones)."""
        sd, st = self.system_description, self.status
        if sd is None or st is None or asset._decision is None or asset._spec is None:
            return []

        def make(mid: uuid.UUID, fac: float, when: datetime) -> OMBCInstruction:
            return OMBCInstruction(message_id=uuid.uuid4(), id=uuid.uuid4(), execution_time=when,
                                   operation_mode_id=mid, operation_mode_factor=fac, abnormal_condition=False)  # fmt: skip

        current = (as_uuid(st.active_operation_mode_id), st.operation_mode_factor)
        return revoke_pending(records, now) + mode_instructions(make, asset._spec, asset._decision, list(sd.transitions), self.timers_finish,
                                 current, asset._start, asset._step_s, earliest, max_count)  # fmt: skip
