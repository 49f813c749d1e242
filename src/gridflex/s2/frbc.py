"""FRBC (fill-rate based control): what the RM told us, its linearisation as site assets, and instructions.

State (:class:`FrbcState`) is built from FRBC.SystemDescription, StorageStatus, ActuatorStatus,
TimerStatus, FillLevelTargetProfile, LeakageBehaviour and UsageForecast. ``check`` finds unknown
references (an actuator, operation mode or timer the system description does not define) before
``apply`` changes anything, so a refused message never reaches the optimiser.

Linearisation (documented in docs/s2.md)
----------------------------------------
The fill level (any unit: kWh, °C, %) is the state of a store on a carrier of its own,
``s2fill_<device>``, where 1 "kW" of that carrier is one fill-level unit per hour. For each actuator,
at the *present* fill level, the operation-mode element covering it is taken, and three modes are
picked: the one with the highest fill rate (``charge``), the one with the lowest negative fill rate
(``discharge``, if any) and an idle mode (fill rate range and power range both containing 0, if any).
Within a mode the power and the fill rate are linear in the operation-mode factor, so

* charging is a converter electricity → fill carrier with efficiency ``a_c = f_max·3600 / p_max``
  (fill units per kWh), input at most ``p_max`` kW;
* discharging is a converter fill carrier → electricity with efficiency ``1/a_d``,
  ``a_d = |f_min|·3600 / |p_min|``, input at most ``|f_min|·3600`` fill units per hour;
* the usage forecast (expected rate) plus the leakage at the present fill level is a fixed demand
  on the fill carrier (fill units per hour; held for the whole horizon after the forecast ends);
* the store's content is ``fill − fill_min`` over the storage's fill-level range; the fill-level
  target profile becomes soft lower/upper bounds per period (a shortfall costs
  ``TARGET_PENALTY_EUR`` per fill unit, so the plan never becomes infeasible through a target).

Back from the schedule, per period: net fill rate ``r`` (fill units per second) → mode and factor
``(r − f_lo)/(f_hi − f_lo)`` of the chosen mode (clamped to [0, 1]); consecutive equal periods give
one instruction. A mode change is only planned along a declared transition (when the actuator
declares any) and not before its blocking timers finish. An actuator with both columns is a site
exclusivity pair (fill in and out not in one period; binaries only where the LP does both).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, PrivateAttr
from s2python.common import CommodityQuantity
from s2python.frbc import (
    FRBCActuatorDescription,
    FRBCActuatorStatus,
    FRBCFillLevelTargetProfile,
    FRBCInstruction,
    FRBCLeakageBehaviour,
    FRBCOperationMode,
    FRBCOperationModeElement,
    FRBCStorageStatus,
    FRBCSystemDescription,
    FRBCTimerStatus,
    FRBCUsageForecast,
)

from gridflex.assets.base import AssetBase, Built, Context, Output, Pair
from gridflex.optimize import ConstrBlock, Solution, VarBlock

TARGET_PENALTY_EUR = 10_000.0
"""Cost per fill-level unit by which a fill-level target range is missed (per period)."""

ELECTRIC = {
    CommodityQuantity.ELECTRIC_POWER_L1,
    CommodityQuantity.ELECTRIC_POWER_L2,
    CommodityQuantity.ELECTRIC_POWER_L3,
    CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC,
}

FrbcMessage = (
    FRBCSystemDescription
    | FRBCStorageStatus
    | FRBCActuatorStatus
    | FRBCTimerStatus
    | FRBCFillLevelTargetProfile
    | FRBCLeakageBehaviour
    | FRBCUsageForecast
)


def electric_w(element: FRBCOperationModeElement, factor: float) -> float:
    """Electric power (W, + = consumption) of an operation-mode element at a factor in [0, 1]."""
    total = 0.0
    for pr in element.power_ranges:
        if pr.commodity_quantity in ELECTRIC:
            total += pr.start_of_range + factor * (pr.end_of_range - pr.start_of_range)
    return total


def element_at(mode: FRBCOperationMode, fill: float) -> FRBCOperationModeElement:
    """The element of a mode whose fill-level range covers ``fill`` (the nearest one outside them)."""
    best, dist = mode.elements[0], float("inf")
    for el in mode.elements:
        lo, hi = el.fill_level_range.start_of_range, el.fill_level_range.end_of_range
        d = 0.0 if lo <= fill <= hi else min(abs(fill - lo), abs(fill - hi))
        if d < dist:
            best, dist = el, d
    return best


@dataclass
class ModeChoice:
    """One operation mode at the present fill level: fill rate and electric power at factor 0 and 1."""

    mode_id: uuid.UUID
    f0: float  # fill units per second at factor 0
    f1: float
    p0_w: float
    p1_w: float

    def factor_for_rate(self, rate: float) -> float:
        if abs(self.f1 - self.f0) < 1e-12:
            return 0.0
        return float(np.clip((rate - self.f0) / (self.f1 - self.f0), 0.0, 1.0))


@dataclass
class ActuatorPlanSpec:
    """The linearised actuator: its charge / discharge / idle modes (see the module docstring)."""

    actuator_id: uuid.UUID
    charge: ModeChoice | None
    discharge: ModeChoice | None
    idle: ModeChoice | None


@dataclass
class FrbcInputs:
    """A plain-data snapshot of one FRBC device, taken on the event loop, optimised in a thread."""

    name: str
    fill_now: float
    fill_min: float
    fill_max: float
    actuators: list[ActuatorPlanSpec]
    drain_per_h: np.ndarray  # usage + leakage, fill units per hour per period
    target_lo: np.ndarray  # per period, -inf where none
    target_hi: np.ndarray  # per period, +inf where none
    first_frac: float = 1.0  # share of the first period still ahead (the plan starts at its start)


@dataclass
class FrbcState:
    """What an FRBC resource manager has told the CEM (see the module docstring)."""

    system_description: FRBCSystemDescription | None = None
    storage_status: FRBCStorageStatus | None = None
    actuator_status: dict[uuid.UUID, FRBCActuatorStatus] = field(default_factory=dict)
    timers_finish: dict[tuple[uuid.UUID, uuid.UUID], datetime] = field(default_factory=dict)
    target: FRBCFillLevelTargetProfile | None = None
    leakage: FRBCLeakageBehaviour | None = None
    usage: FRBCUsageForecast | None = None

    # ---- checking and applying messages ----------------------------------------------------
    def _actuator(self, actuator_id: uuid.UUID) -> FRBCActuatorDescription | None:
        sd = self.system_description
        if sd is None:
            return None
        return next((a for a in sd.actuators if a.id == actuator_id), None)

    def check(self, msg: FrbcMessage) -> str | None:
        """Why the message refers to something unknown (INVALID_CONTENT), else None."""
        if isinstance(msg, FRBCSystemDescription):
            ids = [a.id for a in msg.actuators]
            if len(set(ids)) != len(ids):
                return "actuator ids are not unique"
            fr = msg.storage.fill_level_range
            if not fr.start_of_range <= fr.end_of_range:
                return "storage fill_level_range is empty"
            return None
        if isinstance(msg, FRBCActuatorStatus | FRBCTimerStatus):
            act = self._actuator(msg.actuator_id)
            if act is None:
                return f"unknown actuator {msg.actuator_id}"
            if isinstance(msg, FRBCActuatorStatus):
                modes = {m.id for m in act.operation_modes}
                if msg.active_operation_mode_id not in modes:
                    return f"unknown operation mode {msg.active_operation_mode_id}"
                if msg.previous_operation_mode_id is not None and msg.previous_operation_mode_id not in modes:
                    return f"unknown operation mode {msg.previous_operation_mode_id}"
            elif msg.timer_id not in {t.id for t in act.timers}:
                return f"unknown timer {msg.timer_id}"
            return None
        if self.system_description is None and not isinstance(msg, FRBCStorageStatus):
            return f"{msg.message_type} before any FRBC.SystemDescription"
        return None

    def apply(self, msg: FrbcMessage) -> None:
        if isinstance(msg, FRBCSystemDescription):
            self.system_description = msg
            keep = {a.id for a in msg.actuators}
            self.actuator_status = {k: v for k, v in self.actuator_status.items() if k in keep}
        elif isinstance(msg, FRBCStorageStatus):
            self.storage_status = msg
        elif isinstance(msg, FRBCActuatorStatus):
            self.actuator_status[msg.actuator_id] = msg
        elif isinstance(msg, FRBCTimerStatus):
            self.timers_finish[(msg.actuator_id, msg.timer_id)] = msg.finished_at
        elif isinstance(msg, FRBCFillLevelTargetProfile):
            self.target = msg
        elif isinstance(msg, FRBCLeakageBehaviour):
            self.leakage = msg
        elif isinstance(msg, FRBCUsageForecast):
            self.usage = msg

    def revoke_system_description(self, object_id: uuid.UUID) -> bool:
        if self.system_description is not None and self.system_description.message_id == object_id:
            self.system_description = None
            self.actuator_status.clear()
            return True
        return False

    @property
    def ready(self) -> bool:
        return self.system_description is not None and self.storage_status is not None

    # ---- linearisation ------------------------------------------------------------------
    def inputs(self, name: str, start: datetime, step_s: int, n: int) -> FrbcInputs | None:
        """Snapshot for the optimiser on the grid ``start + k·step_s``; None until ready."""
        sd, st = self.system_description, self.storage_status
        if sd is None or st is None:
            return None
        fr = sd.storage.fill_level_range
        fill = float(np.clip(st.present_fill_level, fr.start_of_range, fr.end_of_range))
        acts = [_actuator_spec(a, fill) for a in sd.actuators]
        drain = profile_average(self.usage, start, step_s, n, lambda e: e.usage_rate_expected, hold_last=True)
        drain = drain * 3600.0
        drain = drain + _leakage_at(self.leakage, fill) * 3600.0
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        if self.target is not None:
            lo = profile_extreme(self.target, start, step_s, n, _target_lo, -np.inf, np.fmax)
            hi = profile_extreme(self.target, start, step_s, n, _target_hi, np.inf, np.fmin)
        return FrbcInputs(name, fill, fr.start_of_range, fr.end_of_range, acts, drain, lo, hi)

    def instructions(
        self,
        spec: FrbcInputs,
        net_rate_per_s: dict[uuid.UUID, np.ndarray],
        start: datetime,
        step_s: int,
        earliest: datetime,
        max_count: int,
    ) -> list[FRBCInstruction]:
        """FRBC.Instruction per actuator for the planned periods (mode changes only, timers honoured)."""
        out: list[FRBCInstruction] = []
        sd = self.system_description
        if sd is None:
            return out
        for act_spec in spec.actuators:
            rates = net_rate_per_s.get(act_spec.actuator_id)
            desc = self._actuator(act_spec.actuator_id)
            if rates is None or desc is None:
                continue
            status = self.actuator_status.get(act_spec.actuator_id)
            current = (
                None if status is None else (status.active_operation_mode_id, status.operation_mode_factor)
            )
            timers = dict(self.timers_finish)  # with the timers this batch's own changes start
            for k, r in enumerate(rates):
                choice = _choose(act_spec, float(r))
                if choice is None:
                    continue
                factor = round(choice.factor_for_rate(float(r)), 4)
                when = max(start + timedelta(seconds=k * step_s), earliest)
                if current is not None and current[0] == choice.mode_id and abs(current[1] - factor) < 1e-3:
                    continue
                if current is not None and current[0] != choice.mode_id:
                    allowed, when = self._transition_time(desc, current[0], choice.mode_id, when, timers)
                    if not allowed or when >= start + timedelta(seconds=(k + 1) * step_s):
                        continue  # blocked for this whole period: the next period decides again
                out.append(
                    FRBCInstruction(
                        message_id=uuid.uuid4(),
                        id=uuid.uuid4(),
                        actuator_id=act_spec.actuator_id,
                        operation_mode=choice.mode_id,
                        operation_mode_factor=factor,
                        execution_time=when,
                        abnormal_condition=False,
                    )
                )
                current = (choice.mode_id, factor)
                if len(out) >= max_count:
                    return out
        return out

    @staticmethod
    def _transition_time(
        desc: FRBCActuatorDescription,
        src: uuid.UUID,
        dst: uuid.UUID,
        when: datetime,
        timers: dict[tuple[uuid.UUID, uuid.UUID], datetime],
    ) -> tuple[bool, datetime]:
        """Whether ``src → dst`` is allowed and its earliest time at or after ``when``; a planned
        transition starts its timers in ``timers`` (so later changes of the same batch respect them)."""
        if not desc.transitions:
            return True, when
        tr = next((t for t in desc.transitions if t.from_ == src and t.to == dst), None)
        if tr is None or tr.abnormal_condition_only:
            return False, when
        for timer_id in tr.blocking_timers:
            done = timers.get((desc.id, timer_id))
            if done is not None and done > when:
                when = done
        durations = {t.id: t.duration.root / 1000.0 for t in desc.timers}
        for timer_id in tr.start_timers:
            timers[(desc.id, timer_id)] = when + timedelta(seconds=durations.get(timer_id, 0.0))
        return True, when


def _actuator_spec(act: FRBCActuatorDescription, fill: float) -> ActuatorPlanSpec:
    choices = []
    for mode in act.operation_modes:
        if mode.abnormal_condition_only:
            continue
        el = element_at(mode, fill)
        f0, f1 = el.fill_rate.start_of_range, el.fill_rate.end_of_range
        choices.append(ModeChoice(mode.id, f0, f1, electric_w(el, 0.0), electric_w(el, 1.0)))
    # the highest (lowest) fill rate; among equals the mode that can modulate the most
    charge = max((c for c in choices if max(c.f0, c.f1) > 0),
                 key=lambda c: (max(c.f0, c.f1), abs(c.f1 - c.f0)), default=None)  # fmt: skip
    discharge = min((c for c in choices if min(c.f0, c.f1) < 0),
                    key=lambda c: (min(c.f0, c.f1), -abs(c.f1 - c.f0)), default=None)  # fmt: skip
    idle = next(
        (
            c
            for c in choices
            if min(c.f0, c.f1) <= 0 <= max(c.f0, c.f1) and min(c.p0_w, c.p1_w) <= 0 <= max(c.p0_w, c.p1_w)
        ),
        None,
    )
    return ActuatorPlanSpec(act.id, charge, discharge, idle)


def _choose(spec: ActuatorPlanSpec, rate: float) -> ModeChoice | None:
    eps = 1e-9
    if rate > eps and spec.charge is not None:
        return spec.charge
    if rate < -eps and spec.discharge is not None:
        return spec.discharge
    return spec.idle or spec.charge or spec.discharge


def profile_average(
    msg: Any, start: datetime, step_s: int, n: int, value: Any, default: float = 0.0, hold_last: bool = False
) -> np.ndarray:
    """Per-period time-weighted average of a profile message (``start_time`` + elements with a
    ``duration`` in ms) on the grid ``start + k·step_s``; ``default`` where it says nothing, or its
    last value after its end when ``hold_last``."""
    out = np.full(n, default, dtype=float)
    if msg is None:
        return out
    edges = np.arange(n + 1, dtype=float) * step_s
    t = (msg.start_time - start).total_seconds()
    acc, weight = np.zeros(n), np.zeros(n)
    last = default
    for el in msg.elements:
        dur = el.duration.root / 1000.0
        last = float(value(el))
        ov = np.minimum(edges[1:], t + dur) - np.maximum(edges[:-1], t)
        ov = np.maximum(ov, 0.0)
        acc += ov * last
        weight += ov
        t += dur
    has = weight > 0
    out[has] = acc[has] / weight[has]
    if hold_last:
        out[~has & (edges[:-1] >= t)] = last
    return out


def profile_extreme(
    msg: Any, start: datetime, step_s: int, n: int, value: Any, default: float, pick: Any
) -> np.ndarray:
    """Per period, the strictest value (``pick``: ``np.fmax`` for lower bounds, ``np.fmin`` for upper)
    of the profile elements that overlap it; ``default`` where none does. A target that starts inside
    a period applies to that period's end, so the plan never reaches it late."""
    out = np.full(n, np.nan)
    if msg is None:
        return np.full(n, default, dtype=float)
    edges = np.arange(n + 1, dtype=float) * step_s
    t = (msg.start_time - start).total_seconds()
    for el in msg.elements:
        dur = el.duration.root / 1000.0
        touch = (edges[:-1] < t + dur) & (edges[1:] > t)
        out[touch] = pick(out[touch], float(value(el)))
        t += dur
    return np.where(np.isnan(out), default, out)


def _target_lo(e: Any) -> float:
    return float(e.fill_level_range.start_of_range)


def _target_hi(e: Any) -> float:
    return float(e.fill_level_range.end_of_range)


def _leakage_at(leak: FRBCLeakageBehaviour | None, fill: float) -> float:
    if leak is None:
        return 0.0
    for el in leak.elements:
        if el.fill_level_range.start_of_range <= fill <= el.fill_level_range.end_of_range:
            return float(el.leakage_rate)
    return 0.0


# ── the lean linearisation: all FRBC devices of a plan in one vectorized pass ─────────────────────

FLEET_ASSET = "s2-frbc-fleet"
"""Name of the asset that carries every FRBC device of a plan in the site model."""

_EPS_EUR_PER_MWH = 1e-3  # tiny cost on every fill-rate column: no needless cycling
EARLY_EUR_PER_MWH = 0.5
"""Filling in the last period costs this much more (EUR per MWh of electricity) than in the first:
at equal prices the plan fills early, so execution lags do not make it miss a target."""


def _endpoint(m: ModeChoice, highest: bool) -> tuple[float, float]:
    """(fill units per hour, kW) at the factor with the highest (or lowest) fill rate of a mode."""
    use_one = (m.f1 >= m.f0) if highest else (m.f1 <= m.f0)
    f, p = (m.f1, m.p1_w) if use_one else (m.f0, m.p0_w)
    return f * 3600.0, p / 1000.0


def battery_fleet(n_dev: int, n: int, seed: int = 0, kw: float = 5.0, kwh: float = 10.0) -> list[FrbcInputs]:
    """A sample fleet for tests and benchmarks: batteries (``kw``, ``kwh``, 95 % one way, fill in
    kWh) at a random fill level, a small drain, and a target of 80 % for one hour somewhere in the day."""
    rng = np.random.default_rng(seed)
    p, eta = kw * 1000.0, 0.95
    out = []
    for i in range(n_dev):
        ch = ModeChoice(uuid.uuid4(), 0.0, p * eta / 3.6e6, 0.0, p)
        dis = ModeChoice(uuid.uuid4(), -p / eta / 3.6e6, 0.0, -p, 0.0)
        idle = ModeChoice(uuid.uuid4(), 0.0, 0.0, 0.0, 0.0)
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        k = int(rng.integers(min(8, n - 1), max(n - 4, min(8, n - 1) + 1)))
        lo[k : k + 4] = 0.8 * kwh
        fill = float(rng.uniform(0.1, 0.9) * kwh)
        act = ActuatorPlanSpec(uuid.uuid4(), ch, dis, idle)
        out.append(FrbcInputs(f"s2-{i}", fill, 0.0, kwh, [act], np.full(n, 0.02), lo, hi))
    return out


def actuator_columns(a: ActuatorPlanSpec) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """((max fill-in rate per hour, kW per fill unit/h), same for fill-out) of an actuator, or None.

    Charging needs a mode with a positive fill rate that takes electricity; discharging a mode with a
    negative fill rate (a battery's discharge gives electricity: negative kW per unit, a cooling mode
    takes it: positive)."""
    charge = discharge = None
    if a.charge is not None:
        f_h, p_kw = _endpoint(a.charge, highest=True)
        if f_h > 1e-12 and p_kw > 1e-9:
            charge = (f_h, p_kw / f_h)
    if a.discharge is not None:
        f_h, p_kw = _endpoint(a.discharge, highest=False)
        if f_h < -1e-12 and abs(p_kw) > 1e-9:
            discharge = (-f_h, p_kw / -f_h)
    return charge, discharge


def fleet_signature(specs: list[FrbcInputs]) -> tuple[Any, ...]:
    """What fixes the structure of the fleet's model part (names, actuators, kW per fill unit):
    two requests with the same signature differ only in bounds and right-hand sides."""
    out = []
    for s in specs:
        cols = []
        for a in s.actuators:
            ch, dis = actuator_columns(a)
            cols.append(
                (None if ch is None else round(ch[1], 12), None if dis is None else round(dis[1], 12))
            )
        out.append((s.name, tuple(cols)))
    return tuple(out)


@dataclass
class FrbcFleet:
    """The FRBC devices of a plan inside the site model (see the module docstring and docs/s2.md).

    Per device and period: the fill level ``soc`` (fill − fill_min, bounded by the storage range and
    the target profile), one fill-in column per charging actuator and one fill-out column per
    discharging actuator (fill units per hour; each feeds the electricity bus with its kW per fill
    unit), and two penalised virtual-fill slacks (``add``: usage that cannot be served or a low target
    that cannot be reached; ``dump``: fill above a high target that cannot be avoided). One row per
    device and period: the fill balance. Usage and leakage are its right-hand side, so a new fill
    level, usage forecast or target changes bounds and right-hand sides only (:meth:`update`).
    """

    specs: list[FrbcInputs]
    n: int
    dt_h: float
    soc: VarBlock  # device-major: device d, period t at d·n + t
    add: VarBlock
    dump: VarBlock
    balance: ConstrBlock
    cols: list[tuple[int, int, VarBlock, float, float]]  # (device, actuator, block, fill sign, kW per unit/h)

    def _data(self, specs: list[FrbcInputs]) -> dict[str, np.ndarray]:
        dt = self.dt_h
        width = np.array([max(s.fill_max - s.fill_min, 1e-6) for s in specs])
        fmin = np.array([s.fill_min for s in specs])
        lo = np.stack([s.target_lo for s in specs]) - fmin[:, None]
        hi = np.stack([s.target_hi for s in specs]) - fmin[:, None]
        lb = np.clip(np.where(np.isfinite(lo), lo, 0.0), 0.0, width[:, None])
        ub = np.clip(np.where(np.isfinite(hi), hi, width[:, None]), 0.0, width[:, None])
        lb = np.minimum(lb, ub)
        rhs = -dt * np.stack([s.drain_per_h for s in specs])
        rhs[:, 0] *= np.array([s.first_frac for s in specs])  # usage in what is left of period 0
        init = np.array([np.clip(s.fill_now - s.fill_min, 0.0, w) for s, w in zip(specs, width, strict=True)])
        rhs[:, 0] += init
        return {"lb": lb.ravel(), "ub": ub.ravel(), "rhs": rhs.ravel()}

    def update(self, model: Any, specs: list[FrbcInputs]) -> None:
        """New data for the same structure (``fleet_signature`` equal): bounds and right-hand sides."""
        d = self._data(specs)
        model.set_bounds(self.soc, d["lb"], d["ub"])
        model.set_row_bounds(self.balance, d["rhs"], d["rhs"])
        for dev, act, block, _, _ in self.cols:
            ch, dis = actuator_columns(specs[dev].actuators[act])
            limit = (ch if block.name.endswith("in") else dis) or (0.0, 0.0)
            ub = np.full(self.n, limit[0])
            ub[0] *= specs[dev].first_frac  # only the rest of the running period can still be used
            model.set_bounds(block, 0.0, ub)
        self.specs = specs

    def device_power_kw(self, sol: Any) -> np.ndarray:
        """Electric power per device and period (kW, + = consumption), shape (devices, n)."""
        out = np.zeros((len(self.specs), self.n))
        for dev, _, block, _, kw in self.cols:
            out[dev] += kw * sol.value(block)
        return out

    def rates_per_s(self, sol: Any) -> list[dict[Any, np.ndarray]]:
        """Net fill rate (fill units per second) per device → actuator id."""
        out: list[dict[Any, np.ndarray]] = [
            {a.actuator_id: np.zeros(self.n) for a in s.actuators} for s in self.specs
        ]
        for dev, act, block, sign, _ in self.cols:
            out[dev][self.specs[dev].actuators[act].actuator_id] += sign * sol.value(block) / 3600.0
        return out

    def fill(self, sol: Any) -> np.ndarray:
        """Planned fill level at the end of each period, shape (devices, n)."""
        fmin = np.array([s.fill_min for s in self.specs])
        return sol.value(self.soc).reshape(len(self.specs), self.n) + fmin[:, None]


def add_frbc_fleet(ctx: Any, specs: list[FrbcInputs], node: str = "site") -> FrbcFleet:
    """Add every FRBC device to the site model being built (before its balances; one pass)."""
    n, dt = ctx.n, ctx.dt_h
    nd = len(specs)
    t = np.arange(n)
    ramp = 1.0 + 1e-3 * np.tile(t[::-1], nd) / max(n, 1)  # a virtual fill is taken as late as possible
    pen = {"penalty": TARGET_PENALTY_EUR * ramp}
    soc = ctx.add_vars("s2 frbc fill level", nd * n, 0.0, np.inf)
    add = ctx.add_vars("s2 frbc virtual fill in", nd * n, 0.0, np.inf, pen)
    dump = ctx.add_vars("s2 frbc virtual fill out", nd * n, 0.0, np.inf, pen)
    rows = [np.arange(nd * n), np.flatnonzero(np.tile(t, nd) > 0), np.arange(nd * n), np.arange(nd * n)]
    cols = [soc.idx, soc.idx[np.tile(t, nd) < n - 1], add.idx, dump.idx]
    vals = [np.ones(nd * n), np.full(nd * (n - 1), -1.0), np.full(nd * n, -1.0), np.ones(nd * n)]
    blocks: list[tuple[int, int, VarBlock, float, float]] = []
    for d, s in enumerate(specs):
        for j, a in enumerate(s.actuators):
            sides: dict[str, tuple[VarBlock, float]] = {}
            for side, col, sign in zip(("in", "out"), actuator_columns(a), (1.0, -1.0), strict=True):
                if col is None:
                    continue
                # a small cost: no needless cycling; and at equal prices fill in early, not at the last
                # moment (a ramp of EARLY_EUR_PER_MWH over the horizon, above the solver's tolerance)
                kw = max(abs(col[1]), 1e-3)
                ramp_eur = EARLY_EUR_PER_MWH * t / n if sign > 0 else 0.0
                eps = (_EPS_EUR_PER_MWH + ramp_eur) * dt / 1000.0 * kw
                b = ctx.add_vars(f"s2 frbc '{s.name}' a{j} fill {side}", n, 0.0, col[0], {"degradation": eps})
                blocks.append((d, j, b, sign, col[1]))
                rows.append(d * n + t)
                cols.append(b.idx)
                vals.append(np.full(n, -sign * dt))
                ctx.flow("electricity", node, t, b.idx, col[1])
                sides[side] = (b, col[0])
            if len(sides) == 2:  # one actuator runs one mode at a time: no filling and emptying at once
                (b_in, in_max), (b_out, out_max) = sides["in"], sides["out"]
                label = f"FRBC device '{s.name}' actuator {j}"
                ctx.pairs.append(Pair(label, [b_in], [b_out], np.full(n, in_max), np.full(n, out_max)))
    balance = ctx.model.add_constrs("s2 frbc fill balance", np.concatenate(rows), np.concatenate(cols),
                                    np.concatenate(vals), 0.0, 0.0, nd * n)  # fmt: skip
    fleet = FrbcFleet(list(specs), n, dt, soc, add, dump, balance, blocks)
    fleet.update(ctx.model, list(specs))
    return fleet


class FrbcFleetAsset(AssetBase):
    """The FRBC devices of a plan as one site asset (kind ``s2_frbc``): :func:`add_frbc_fleet` in
    the site's build pass, so the devices' electricity enters the site balance like any asset's.
    Made by the CEM's planner only (not a site-file kind)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    kind: Literal["s2_frbc"] = "s2_frbc"
    specs: list[Any] = Field(default_factory=list)
    _fleet: FrbcFleet | None = PrivateAttr(None)

    @property
    def fleet(self) -> FrbcFleet:
        assert self._fleet is not None, "build() first"
        return self._fleet

    def build(self, ctx: Context) -> Built:
        fleet = add_frbc_fleet(ctx, list(self.specs), self.node)
        self._fleet = fleet

        def read(sol: Solution) -> Output:
            return Output({"electricity": fleet.device_power_kw(sol).sum(axis=0)})

        return Built(read)
