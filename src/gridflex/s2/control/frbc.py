"""FRBC (fill-rate based control): what the RM told us, its linearisation into a fill-rate device
(:mod:`gridflex.assets.fill_rate`), and instructions.

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
from typing import Any, NamedTuple

import numpy as np
from s2python.common import ControlType, RevokableObjects
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

from gridflex.assets.fill_rate import (  # noqa: F401  (TARGET_PENALTY_EUR: its home before)
    TARGET_PENALTY_EUR,
    ActuatorPlanSpec,
    FillRateDevice,
    ModeChoice,
)
from gridflex.s2.control.base import ELECTRIC, Control, changes

FrbcInputs = FillRateDevice
"""The linearised FRBC device (its name before it moved to :mod:`gridflex.assets.fill_rate`)."""


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


class Planned(NamedTuple):
    """An FRBC.Instruction a plan wants, not built yet: a re-plan's are mostly sent already."""

    actuator_id: uuid.UUID
    operation_mode: uuid.UUID
    operation_mode_factor: float
    execution_time: datetime

    def message(self) -> FRBCInstruction:
        return FRBCInstruction(message_id=uuid.uuid4(), id=uuid.uuid4(), actuator_id=self.actuator_id,
                               operation_mode=self.operation_mode, operation_mode_factor=self.operation_mode_factor,
                               execution_time=self.execution_time, abnormal_condition=False)  # fmt: skip


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
        if isinstance(msg, FRBCStorageStatus) and self.system_description is not None:
            # beyond the declared range by more than its width: a broken sensor, not a full storage
            fr = self.system_description.storage.fill_level_range
            w = max(fr.end_of_range - fr.start_of_range, 1e-9)
            if not fr.start_of_range - w <= msg.present_fill_level <= fr.end_of_range + w:
                return (f"present_fill_level {msg.present_fill_level:g} is far outside the declared "
                        f"fill_level_range {fr.start_of_range:g}..{fr.end_of_range:g}")  # fmt: skip
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

    def revoke(self, object_type: str, object_id: uuid.UUID) -> bool:
        return object_type == "FRBC.SystemDescription" and self.revoke_system_description(object_id)

    def revoke_system_description(self, object_id: uuid.UUID) -> bool:
        if self.system_description is not None and self.system_description.message_id == object_id:
            self.system_description = None
            self.actuator_status.clear()
            return True
        return False

    @property
    def ready(self) -> bool:
        return self.system_description is not None and self.storage_status is not None

    def fill_at(self, now: datetime, since: datetime | None, drain_per_s: float) -> float | None:
        """The fill level at ``now``: the last reported one, moved on ``since`` it arrived at the fill
        rate of the modes the actuators report, less ``drain_per_s`` (usage and leakage). An RM reports
        its fill every few seconds; a plan from a stale one changes the later periods at every re-plan."""
        sd, st = self.system_description, self.storage_status
        if sd is None or st is None:
            return None
        fr = sd.storage.fill_level_range
        fill = float(np.clip(st.present_fill_level, fr.start_of_range, fr.end_of_range))
        age = 0.0 if since is None else (now - since).total_seconds()
        if age <= 0.0:
            return fill
        rate = -drain_per_s
        for act in sd.actuators:
            status = self.actuator_status.get(act.id)
            mode = (
                None
                if status is None
                else next((m for m in act.operation_modes if m.id == status.active_operation_mode_id), None)
            )
            if status is not None and mode is not None:
                f = element_at(mode, fill).fill_rate
                rate += f.start_of_range + status.operation_mode_factor * (f.end_of_range - f.start_of_range)
        return float(np.clip(fill + rate * age, fr.start_of_range, fr.end_of_range))

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
            lo, hi = _with_margin(lo, hi, fr.start_of_range, fr.end_of_range)
        return FrbcInputs(name, fill, fr.start_of_range, fr.end_of_range, acts, drain, lo, hi)

    def instructions(
        self,
        spec: FrbcInputs,
        net_rate_per_s: dict[uuid.UUID, np.ndarray],
        start: datetime,
        step_s: int,
        earliest: datetime,
        max_count: int,
    ) -> list[Planned]:
        """FRBC.Instruction per actuator for the planned periods (mode changes only, timers honoured)."""
        out: list[Planned] = []
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
                out.append(Planned(act_spec.actuator_id, choice.mode_id, factor, when))
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


TARGET_MARGIN_FRAC = 0.02
"""The plan aims this share of a target band's width inside it (at most half of it): executed
instructions lag the plan by seconds (transport, the RM's tick, a blocking timer), so a plan that
rides a band's edge exactly ends just outside it in execution."""


def _with_margin(
    lo: np.ndarray, hi: np.ndarray, fill_min: float, fill_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Target bounds moved :data:`TARGET_MARGIN_FRAC` of their band inside it; a side at the
    storage's own limit (no target there) stays."""
    top = np.where(np.isfinite(hi), np.minimum(hi, fill_max), fill_max)
    bottom = np.where(np.isfinite(lo), np.maximum(lo, fill_min), fill_min)
    m = np.clip(TARGET_MARGIN_FRAC * (top - bottom), 0.0, None)
    lo = np.where(np.isfinite(lo) & (lo > fill_min), np.minimum(lo + m, (bottom + top) / 2), lo)
    hi = np.where(np.isfinite(hi) & (hi < fill_max), np.maximum(hi - m, (bottom + top) / 2), hi)
    return lo, hi


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


def _snapshot(dev: Any, state: FrbcState, req: Any, now: datetime, earliest: datetime) -> None:
    fi = state.inputs(dev.name, req.start, req.step_s, req.n)
    if fi is not None:
        fill = state.fill_at(now, dev.received.get("FRBC.StorageStatus"), float(fi.drain_per_h[0]) / 3600.0)
        fi.fill_now = fi.fill_now if fill is None else fill
        # only the rest of the running period can still be used
        fi.first_frac = float(np.clip(1.0 - (now - req.start).total_seconds() / req.step_s, 0.0, 1.0))
        req.frbc.append(fi)


def _instructions(
    dev: Any, state: FrbcState, plan: Any, req: Any, earliest: datetime, now: datetime, max_count: int
) -> list[Any] | None:
    spec = req.by_name.get(dev.name)
    if not isinstance(spec, FillRateDevice) or dev.name not in plan.frbc_rate_per_s:
        return None
    new = state.instructions(
        spec, plan.frbc_rate_per_s[dev.name], plan.start, plan.step_s, earliest, max_count
    )
    out = changes(dev.instructions, new, now, plan.step_s, RevokableObjects.FRBC_Instruction)
    return [m.message() if isinstance(m, Planned) else m for m in out]


CONTROL = Control(
    ControlType.FILL_RATE_BASED_CONTROL,
    "FRBC",
    new_state=lambda records: FrbcState(),
    events={
        "FRBC.SystemDescription": "system",
        "FRBC.FillLevelTargetProfile": "target",
        "FRBC.LeakageBehaviour": "system",
        "FRBC.UsageForecast": "forecast",
    },
    snapshot=_snapshot,
    instructions=_instructions,
)
