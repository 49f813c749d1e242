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
declares any) and not before its blocking timers finish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
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
            lo = profile_average(self.target, start, step_s, n, _target_lo, -np.inf)
            hi = profile_average(self.target, start, step_s, n, _target_hi, np.inf)
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
            for k, r in enumerate(rates):
                choice = _choose(act_spec, float(r))
                if choice is None:
                    continue
                factor = round(choice.factor_for_rate(float(r)), 4)
                when = max(start + timedelta(seconds=k * step_s), earliest)
                if current is not None and current[0] == choice.mode_id and abs(current[1] - factor) < 1e-3:
                    continue
                if current is not None and current[0] != choice.mode_id:
                    allowed, when = self._transition_time(desc, current[0], choice.mode_id, when)
                    if not allowed:
                        continue
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

    def _transition_time(
        self, desc: FRBCActuatorDescription, src: uuid.UUID, dst: uuid.UUID, when: datetime
    ) -> tuple[bool, datetime]:
        if not desc.transitions:
            return True, when
        tr = next((t for t in desc.transitions if t.from_ == src and t.to == dst), None)
        if tr is None or tr.abnormal_condition_only:
            return False, when
        for timer_id in tr.blocking_timers:
            done = self.timers_finish.get((desc.id, timer_id))
            if done is not None and done > when:
                when = done
        return True, when


def _actuator_spec(act: FRBCActuatorDescription, fill: float) -> ActuatorPlanSpec:
    choices = []
    for mode in act.operation_modes:
        if mode.abnormal_condition_only:
            continue
        el = element_at(mode, fill)
        f0, f1 = el.fill_rate.start_of_range, el.fill_rate.end_of_range
        choices.append(ModeChoice(mode.id, f0, f1, electric_w(el, 0.0), electric_w(el, 1.0)))
    charge = max((c for c in choices if max(c.f0, c.f1) > 0), key=lambda c: max(c.f0, c.f1), default=None)
    discharge = min((c for c in choices if min(c.f0, c.f1) < 0), key=lambda c: min(c.f0, c.f1), default=None)
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


def frbc_assets(spec: FrbcInputs, node: str = "site") -> list[dict[str, Any]]:
    """The device as site asset dicts: a store on its fill carrier, converters, the fixed drain."""
    carrier = f"s2fill_{spec.name}"
    width = max(spec.fill_max - spec.fill_min, 1e-6)
    assets: list[dict[str, Any]] = []
    max_in, max_out = 0.0, 0.0
    for i, a in enumerate(spec.actuators):
        if (
            a.charge is not None
            and max(a.charge.f0, a.charge.f1) > 0
            and max(a.charge.p0_w, a.charge.p1_w) > 0
        ):
            p_kw = max(a.charge.p0_w, a.charge.p1_w) / 1000.0
            f_h = max(a.charge.f0, a.charge.f1) * 3600.0
            assets.append(
                {"kind": "converter", "name": f"{spec.name}/a{i}/charge", "node": node,
                 "input_carrier": "electricity", "outputs": {carrier: f_h / p_kw}, "input_max_kw": p_kw}
            )  # fmt: skip
            max_in += f_h
        if a.discharge is not None and min(a.discharge.p0_w, a.discharge.p1_w) < 0:
            p_kw = -min(a.discharge.p0_w, a.discharge.p1_w) / 1000.0
            f_h = -min(a.discharge.f0, a.discharge.f1) * 3600.0
            assets.append(
                {"kind": "converter", "name": f"{spec.name}/a{i}/discharge", "node": node,
                 "input_carrier": carrier, "outputs": {"electricity": p_kw / f_h}, "input_max_kw": f_h}
            )  # fmt: skip
            max_out += f_h
    drain_max = float(np.abs(spec.drain_per_h).max(initial=0.0))
    assets.append(
        {"kind": "storage", "name": f"{spec.name}/store", "node": node, "carrier": carrier,
         "capacity_kwh": width, "charge_power_kw": max_in + drain_max + 1e-3,
         "discharge_power_kw": max_out + drain_max + 1e-3,
         "initial_soc_frac": float(np.clip((spec.fill_now - spec.fill_min) / width, 0.0, 1.0)),
         "degradation_eur_per_mwh": 1e-3}
    )  # fmt: skip
    if spec.drain_per_h.any():
        assets.append(
            {"kind": "load", "name": f"{spec.name}/usage", "node": node, "carrier": carrier,
             "profile_kw": [float(x) for x in spec.drain_per_h]}
        )  # fmt: skip
    return assets
